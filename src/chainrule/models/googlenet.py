"""GoogLeNet, the Inception net v1 (Szegedy et al. 2015), the notes' section 2.3.

The net makes extensive use of 1x1 filters: a 1x1 convolution s_uvw = sum_k W^w_k h_uvk + b^w
(notes 2.1 with R = 1) fuses the channels at each pixel. An Inception block computes four feature
maps side by side from the same input and stacks them along the channels:

    1x1 conv  |  1x1 reduce -> 3x3 conv  |  1x1 reduce -> "5x5" conv  |  3x3 max pool -> 1x1 proj

The 1x1 reductions shrink the channels before the expensive 3x3 and 5x5 filters, which is what
lets the net be deep (22 layers with weights) yet have 12x fewer parameters than AlexNet.

The layout follows torchvision's googlenet: every convolution is a ``BasicConv2d`` (conv without
bias, batch normalization with eps 0.001, ReLU; the paper predates batch normalization), and the
"5x5" branch uses a 3x3 filter (a known deviation of torchvision's model, kept so that the
parameter count, 6,624,904, and the state_dict keys match it). The paper uses 5x5 filters there.
"""
from __future__ import annotations

from collections import namedtuple

from .. import nn, ops
from ..nn import init
from ._image import check_images

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])
GoogLeNetOutputs.__doc__ = """What GoogLeNet returns in training mode with ``aux_logits=True``:
the logits (N, K) of the main classifier and of the auxiliary classifiers after inception4d
(``aux_logits2``) and inception4a (``aux_logits1``)."""


class BasicConv2d(nn.Module):
    """h = max(BN(W (x) x), 0): a convolution without bias (batch normalization's beta is the
    bias), batch normalization (eps = 0.001) and ReLU.

    Args: in_channels, out_channels, and the Conv2d keywords (kernel_size, stride, padding).
    Shape: (N, in_channels, H, W) -> (N, out_channels, H', W').
    """

    def __init__(self, in_channels, out_channels, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        return ops.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """An Inception block: four branches on the same input, concatenated along the channels.

    branch1: 1x1 conv, ``ch1x1`` filters;
    branch2: 1x1 conv (``ch3x3red``) then 3x3 conv, padding 1 (``ch3x3``);
    branch3: 1x1 conv (``ch5x5red``) then a 3x3 conv, padding 1 (``ch5x5``; 5x5 in the paper);
    branch4: 3x3 max pool, stride 1, padding 1, then a 1x1 projection (``pool_proj``).

    Shape: (N, in_channels, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W).
    """

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1))
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, kernel_size=1),
            BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1))
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, kernel_size=1))

    def forward(self, x):
        return ops.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)

    def extra_repr(self):
        return f"in_channels={self.in_channels}, out_channels={self.out_channels}"


class InceptionAux(nn.Module):
    """An auxiliary classifier on an intermediate feature map (training only): adaptive average
    pool to 4x4, 1x1 conv to 128 channels, FC 2048-1024 with ReLU, dropout, FC 1024-K.

    Shape: (N, in_channels, H, W) -> (N, K).
    """

    def __init__(self, in_channels, num_classes, dropout=0.7):
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)
        self.pool = nn.AdaptiveAvgPool2d((4, 4))

    def forward(self, x):
        x = self.conv(self.pool(x))                              # (N, 128, 4, 4)
        x = ops.relu(self.fc1(ops.flatten(x, 1)))                # (N, 1024)
        return self.fc2(self.dropout(x))                         # (N, K)


class GoogLeNet(nn.Module):
    """GoogLeNet (Inception v1) in torchvision's layout.

    ===================  ======================================  ===============
    layer                operation                               output, 224^2
    ===================  ======================================  ===============
    conv1                7x7 conv, stride 2, 64                   (64, 112, 112)
    maxpool1             3x3 max pool, stride 2                   (64, 56, 56)
    conv2, conv3         1x1 conv 64, 3x3 conv 192                (192, 56, 56)
    maxpool2             3x3 max pool, stride 2                   (192, 28, 28)
    inception3a, 3b      Inception blocks                         (480, 28, 28)
    maxpool3             3x3 max pool, stride 2                   (480, 14, 14)
    inception4a .. 4e    Inception blocks (aux1 after 4a,         (832, 14, 14)
                         aux2 after 4d)
    maxpool4             2x2 max pool, stride 2                   (832, 7, 7)
    inception5a, 5b      Inception blocks                         (1024, 7, 7)
    avgpool, dropout     global average pool                      (1024,)
    fc                   FC 1024-K                                (K,)
    ===================  ======================================  ===============

    The max pools round up (ceil_mode). Weights of convolutions and fully connected layers are
    drawn from N(0, 0.01^2) truncated to [-2, 2], as torchvision does.

    Args:
        num_classes: K, the number of outputs (logits).
        in_channels: channels of the input images (3 for RGB).
        aux_logits: build the two auxiliary classifiers (``aux1``, ``aux2``); their losses were
            added with weight 0.3 in the paper. 13,004,888 parameters with them, 6,624,904
            without.
        dropout: p of the dropout before ``fc``.
        dropout_aux: p of the dropout in the auxiliary classifiers.

    Returns: the logits (N, K); in training mode with ``aux_logits``, a ``GoogLeNetOutputs``
    (logits, aux_logits2, aux_logits1).

    Shape: input (N, C, H, W); designed for 224x224 (7x7 maps at the top, 32-fold smaller);
    smaller images pass too, as the pools round up (32x32 leaves 1x1 maps).
    """

    def __init__(self, num_classes=1000, in_channels=3, aux_logits=False, dropout=0.2,
                 dropout_aux=0.7):
        super().__init__()
        self.num_classes, self.in_channels, self.aux_logits = num_classes, in_channels, aux_logits
        self.conv1 = BasicConv2d(in_channels, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)

        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)

        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, dropout=dropout_aux)
            self.aux2 = InceptionAux(528, num_classes, dropout=dropout_aux)
        else:
            self.add_module("aux1", None)
            self.add_module("aux2", None)

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)
        self._init_weights()

    def _init_weights(self):
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)

    def forward(self, x):
        check_images(f"googlenet(in_channels={self.in_channels})", x, self.in_channels)
        x = self.maxpool1(self.conv1(x))                      # (N, 64, H/4, W/4)
        x = self.maxpool2(self.conv3(self.conv2(x)))          # (N, 192, H/8, W/8)
        x = self.maxpool3(self.inception3b(self.inception3a(x)))  # (N, 480, H/16, W/16)
        x = self.inception4a(x)                               # (N, 512, H/16, W/16)
        with_aux = self.aux1 is not None and self.training
        aux1 = self.aux1(x) if with_aux else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))  # (N, 528, H/16, W/16)
        aux2 = self.aux2(x) if with_aux else None
        x = self.maxpool4(self.inception4e(x))                # (N, 832, H/32, W/32)
        x = self.inception5b(self.inception5a(x))             # (N, 1024, H/32, W/32)
        x = ops.flatten(self.avgpool(x), 1)                   # (N, 1024)
        logits = self.fc(self.dropout(x))                     # (N, K)
        return GoogLeNetOutputs(logits, aux2, aux1) if with_aux else logits

    def extra_repr(self):
        return (f"num_classes={self.num_classes}, in_channels={self.in_channels}, "
                f"aux_logits={self.aux_logits}")


def googlenet(num_classes=1000, in_channels=3, aux_logits=False, dropout=0.2, dropout_aux=0.7):
    """GoogLeNet / Inception v1 (see ``GoogLeNet``); 6,624,904 parameters at the defaults."""
    return GoogLeNet(num_classes=num_classes, in_channels=in_channels, aux_logits=aux_logits,
                     dropout=dropout, dropout_aux=dropout_aux)
