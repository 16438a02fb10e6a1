"""AlexNet (Krizhevsky, Sutskever and Hinton 2012), the network of the notes' section 2.3 that
achieved the initial breakthrough on ImageNet: 5 convolutional layers and 3 fully connected
layers, followed by the softmax output layer.

Each convolutional layer is s = W (x) h + b followed by the ReLU layer h = max(s, 0) (notes 2.1);
max pooling with overlapping 3x3 windows of stride 2 shrinks the feature maps three times.
"""
from __future__ import annotations

from .. import nn, ops
from ._image import check_images


class AlexNet(nn.Module):
    """AlexNet in torchvision's single-tower layout (61,100,840 parameters at the defaults).

    ============  =========================================  =============
    layer         operation                                  output, 224^2
    ============  =========================================  =============
    conv1         conv 11x11, stride 4, pad 2, 64 filters    (64, 55, 55)
                  ReLU, [LRN], max pool 3x3 stride 2         (64, 27, 27)
    conv2         conv 5x5, pad 2, 192 filters, ReLU, [LRN]  (192, 27, 27)
                  max pool 3x3 stride 2                      (192, 13, 13)
    conv3..conv5  conv 3x3, pad 1: 384, 256, 256 filters,    (256, 13, 13)
                  each with ReLU
                  max pool 3x3 stride 2                      (256, 6, 6)
    avgpool       adaptive average pool to 6x6               (256, 6, 6)
    classifier    dropout, FC 9216-4096, ReLU, dropout,      (K,)
                  FC 4096-4096, ReLU, FC 4096-K
    ============  =========================================  =============

    The paper's network split the filters over two GPUs (96, 256, 384, 384, 256 of them) and
    normalized the responses after the first two convolutional layers; this is the one-tower
    variant with 64, 192, 384, 256, 256 filters that torchvision and most later work use. With
    ``lrn=True``, local response normalization follows the ReLU of the first two convolutional
    layers as in the paper,

        b = a / (k + alpha / n * sum of a^2 over the n = 5 neighbouring channels)^beta

    with k = 2, alpha / n = 1e-4 (the paper's alpha = 1e-4 multiplies the sum itself, so
    ``LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2)``), beta = 0.75. It adds no
    parameters but shifts the indices inside ``features``, so the state_dict keys then differ
    from torchvision's.

    Args:
        num_classes: K, the number of outputs (logits).
        in_channels: channels of the input images (3 for RGB).
        dropout: the probability p of both dropout layers.
        lrn: add the paper's local response normalization (off by default).

    Shape: input (N, C, H, W) -> logits (N, K). Designed for 224x224 images; the adaptive pool lets
    any size from 63x63 up through (the smallest for which the last max pool has a window).

    Example::

        >>> net = alexnet(num_classes=10)
        >>> net(cr.randn(2, 3, 64, 64)).shape    # (2, 10)
    """

    def __init__(self, num_classes=1000, in_channels=3, dropout=0.5, lrn=False):
        super().__init__()
        self.num_classes, self.in_channels, self.lrn = num_classes, in_channels, lrn

        def norm():  # the paper's response normalization, or nothing
            return [nn.LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2.0)] if lrn else []

        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            *norm(), nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
            *norm(), nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        check_images(f"alexnet(in_channels={self.in_channels})", x, self.in_channels, min_size=63)
        x = self.avgpool(self.features(x))                   # (N, 256, 6, 6)
        return self.classifier(ops.flatten(x, 1))            # (N, 9216) -> (N, K)

    def extra_repr(self):
        return f"num_classes={self.num_classes}, in_channels={self.in_channels}, lrn={self.lrn}"


def alexnet(num_classes=1000, in_channels=3, dropout=0.5, lrn=False):
    """AlexNet (see ``AlexNet``): 5 conv layers (64, 192, 384, 256, 256 filters) and 3 FC layers;
    ``lrn=True`` adds the paper's local response normalization after the first two."""
    return AlexNet(num_classes=num_classes, in_channels=in_channels, dropout=dropout, lrn=lrn)
