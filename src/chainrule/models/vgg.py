"""VGG nets (Simonyan and Zisserman 2015), the notes' section 2.3: an improvement on AlexNet whose
filters are all 3x3. VGG16 and VGG19 have 16 and 19 layers with weights (13 or 16 convolutional
layers and 3 fully connected ones) and, like AlexNet, a softmax output layer; VGG19 has 144
million parameters (143,667,240).

Each convolutional layer is s = W (x) h + b, a 3x3 filter with padding 1 that keeps the size of
the feature maps, followed by the ReLU layer h = max(s, 0) (notes 2.1) and, in the ``_bn``
variants, by batch normalization before the ReLU (notes 2.4). A 2x2 max pool of stride 2 ('M' in
the configurations below) halves the maps after each group, while the number of channels doubles
from 64 to 512: the box of Figure 10 gets smaller and longer.
"""
from __future__ import annotations

from .. import nn, ops
from ..nn import init
from ._image import check_images

# The paper's configurations: numbers are the filters of 3x3 conv layers, "M" a 2x2 max pool.
CONFIGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],              # VGG11
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],     # VGG13
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
          512, 512, 512, "M"],                                                          # VGG16
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],                                                     # VGG19
}


def make_layers(cfg, batch_norm=False, in_channels=3):
    """The ``features`` Sequential of a configuration: for each number v a conv 3x3 (padding 1)
    with v filters, [BatchNorm2d(v)], ReLU; for each "M" a max pool 2x2 of stride 2."""
    layers = []
    c = in_channels
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(c, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        c = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """A VGG net: ``features`` (3x3 conv layers and max pools), ``avgpool`` (adaptive average pool
    to ``pool_size``), ``classifier`` (three fully connected layers with ReLU and dropout).

    The layout and initialization are torchvision's: conv weights from N(0, 2 / fan_out) (He et
    al., mode fan_out), conv biases 0, batch-norm gamma 1 and beta 0, fully connected weights
    from N(0, 0.01^2) and their biases 0.

    Args:
        features: the convolutional part (see ``make_layers``); its last conv layer gives the
            channels C of the classifier's input C * pool_size[0] * pool_size[1].
        num_classes: K, the number of outputs (logits).
        init_weights: draw the initial weights as above (else the layers' own defaults).
        dropout: the probability p of the two dropout layers.
        pool_size: the (H, W) the adaptive pool brings the feature maps to (7x7 for 224x224).
        hidden: the width of the two hidden fully connected layers (4096 in the paper).

    Shape: input (N, C_in, H, W) -> logits (N, K). The ImageNet nets are designed for 224x224
    images (five pools: 224 -> 7); the adaptive pool lets any size from 32x32 up through.
    """

    def __init__(self, features, num_classes=1000, init_weights=True, dropout=0.5, *,
                 pool_size=(7, 7), hidden=4096):
        super().__init__()
        convs = [m for m in features.modules() if isinstance(m, nn.Conv2d)]
        if not convs:
            raise ValueError("VGG: features must contain at least one Conv2d")
        self.in_channels = convs[0].in_channels
        # each 2x2 pool halves (rounding down): k of them need at least 2^k pixels
        self.min_size = 2 ** sum(isinstance(m, nn.MaxPool2d) for m in features.modules())
        self.num_classes = num_classes
        self.arch = "VGG"
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d(pool_size)
        flat = convs[-1].out_channels * pool_size[0] * pool_size[1]
        self.classifier = nn.Sequential(
            nn.Linear(flat, hidden), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
            nn.Linear(hidden, num_classes),
        )
        if init_weights:
            self._init_weights()

    def _init_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                init.normal_(m.weight, 0.0, 0.01)
                init.zeros_(m.bias)

    def forward(self, x):
        check_images(f"{self.arch}(in_channels={self.in_channels})", x, self.in_channels,
                     min_size=self.min_size)
        x = self.avgpool(self.features(x))             # (N, C, *pool_size)
        return self.classifier(ops.flatten(x, 1))      # (N, C * ph * pw) -> (N, K)

    def extra_repr(self):
        return f"num_classes={self.num_classes}, in_channels={self.in_channels}"


def _vgg(arch, cfg, batch_norm, num_classes, in_channels, dropout):
    net = VGG(make_layers(CONFIGS[cfg], batch_norm, in_channels), num_classes=num_classes,
              dropout=dropout)
    net.arch = arch
    return net


def vgg11(num_classes=1000, in_channels=3, dropout=0.5):
    """VGG11, configuration A: 8 conv layers (64, M, 128, M, 256 x2, M, 512 x2, M, 512 x2, M) and
    3 FC layers; 132,863,336 parameters at the defaults. Input 224x224 (any >= 32x32 passes)."""
    return _vgg("vgg11", "A", False, num_classes, in_channels, dropout)


def vgg13(num_classes=1000, in_channels=3, dropout=0.5):
    """VGG13, configuration B: 10 conv layers (two per group) and 3 FC layers; 133,047,848
    parameters at the defaults. Input 224x224 (any >= 32x32 passes)."""
    return _vgg("vgg13", "B", False, num_classes, in_channels, dropout)


def vgg16(num_classes=1000, in_channels=3, dropout=0.5):
    """VGG16, configuration D: 13 conv layers (64 x2, M, 128 x2, M, 256 x3, M, 512 x3, M,
    512 x3, M) and 3 FC layers; 138,357,544 parameters at the defaults. Input 224x224."""
    return _vgg("vgg16", "D", False, num_classes, in_channels, dropout)


def vgg19(num_classes=1000, in_channels=3, dropout=0.5):
    """VGG19, configuration E: 16 conv layers (64 x2, M, 128 x2, M, 256 x4, M, 512 x4, M,
    512 x4, M) and 3 FC layers; 143,667,240 parameters at the defaults. Input 224x224."""
    return _vgg("vgg19", "E", False, num_classes, in_channels, dropout)


def vgg11_bn(num_classes=1000, in_channels=3, dropout=0.5):
    """VGG11 (configuration A) with batch normalization after every conv layer."""
    return _vgg("vgg11_bn", "A", True, num_classes, in_channels, dropout)


def vgg13_bn(num_classes=1000, in_channels=3, dropout=0.5):
    """VGG13 (configuration B) with batch normalization after every conv layer."""
    return _vgg("vgg13_bn", "B", True, num_classes, in_channels, dropout)


def vgg16_bn(num_classes=1000, in_channels=3, dropout=0.5):
    """VGG16 (configuration D) with batch normalization after every conv layer."""
    return _vgg("vgg16_bn", "D", True, num_classes, in_channels, dropout)


def vgg19_bn(num_classes=1000, in_channels=3, dropout=0.5):
    """VGG19 (configuration E) with batch normalization after every conv layer."""
    return _vgg("vgg19_bn", "E", True, num_classes, in_channels, dropout)


def vgg_small(num_classes=10, in_channels=1, batch_norm=True, dropout=0.5, width=32):
    """A small VGG-style net for 28x28 images (Fashion-MNIST): three groups of two 3x3 conv
    layers with ``width``, 2 ``width`` and 4 ``width`` filters (32, 64, 128 by default), each
    group closed by a 2x2 max pool (28 -> 14 -> 7 -> 3), then FC 4w*9-256, FC 256-256 and
    FC 256-K with ReLU and dropout, as in VGG. Batch normalization follows each conv layer when
    ``batch_norm`` is True.

    Shape: (N, C, 28, 28) -> (N, K); any size from 8x8 up passes (the adaptive pool brings the
    maps to 3x3, e.g. 4x4 for 32x32 images). Parameters: 650,858 with the defaults (649,962
    without batch normalization).
    """
    w = width
    cfg = [w, w, "M", 2 * w, 2 * w, "M", 4 * w, 4 * w, "M"]
    net = VGG(make_layers(cfg, batch_norm, in_channels), num_classes=num_classes,
              dropout=dropout, pool_size=(3, 3), hidden=256)
    net.arch = "vgg_small"
    return net
