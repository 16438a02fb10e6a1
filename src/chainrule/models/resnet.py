"""Residual nets (He et al. 2015, 2016), the notes' section 2.5.

A residual block computes x_{l+1} = x_l + F(x_l): F models the residual of the mapping on top of
the identity, which is easier for SGD to find (notes 2.5, rationale 1), and a stack of blocks is
an implicit ensemble of the networks in the expansion of prod_l (1 + F_l) (rationale 3).

Two forms of the block, as in the notes' Figure 14:

- the original (left, He et al. 2015): x_{l+1} = ReLU(x_l + F(x_l)), with
  F = BN o conv o ReLU o BN o conv (``BasicBlock``; ``Bottleneck`` has three convs 1x1, 3x3, 1x1);
- the pre-activation form (right, He et al. 2016, "Identity mappings in deep residual
  networks"): x_{l+1} = x_l + F(x_l) exactly, with F = conv o ReLU o BN o conv o ReLU o BN, each
  weighted sum preceded by batch normalization and ReLU (``PreActBasicBlock``,
  ``PreActBottleneck``). Nothing acts on the sum, so the identity path runs from the first block
  to the last.

When a block changes the size of the maps (stride 2) or the number of channels, the shortcut
cannot be the identity; x_l is replaced by a projection of it: option B, a 1x1 convolution with
stride (plus BN in the original form), or option A, the identity on every other pixel with the
extra channels filled with zeros (``ZeroPadShortcut``, no parameters).

The nets:

- ImageNet nets in torchvision's layout and names (conv1, bn1, relu, maxpool, layer1..layer4,
  avgpool, fc; ``downsample`` = conv1x1 + BN): ``resnet18`` (11,689,512 parameters),
  ``resnet34`` (21,797,672), ``resnet50`` (25,557,032), ``resnet101`` (44,549,160),
  ``resnet152`` (60,192,808); ``preact_resnet18`` ... ``preact_resnet152``, the same with
  pre-activation blocks. Designed for 224x224; smaller images pass too (32x32 leaves 1x1
  maps in layer4).
- The CIFAR nets of He et al. 2015, section 4.2: a 3x3 conv with 16 filters, then 3 stages of n
  basic blocks with 16, 32, 64 filters (the maps halve at stages 2 and 3), global average pool and
  FC: 6n + 2 layers with weights, ``resnet20`` (n = 3, 0.27M parameters), ``resnet32``,
  ``resnet44``, ``resnet56``, ``resnet110``, and their ``preact_`` forms. They take 32x32 (CIFAR)
  or 28x28 (Fashion-MNIST, ``in_channels=1``) images, and use option A shortcuts by default, as
  the paper does on CIFAR.
"""
from __future__ import annotations

from .. import nn, ops
from ..nn import init
from ._image import check_images


def conv3x3(in_planes, out_planes, stride=1):
    """3x3 convolution with padding 1 and no bias (the BN that follows has the bias)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    """1x1 convolution without bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class ZeroPadShortcut(nn.Module):
    """Option A shortcut: x[:, :, ::stride, ::stride] with ``out_planes - in_planes`` zero channels
    appended (He et al. 2015, "extra zero entries padded for increasing dimensions"). No parameters.

    Shape: (N, in_planes, H, W) -> (N, out_planes, ceil(H / stride), ceil(W / stride)), the shape
    of a 3x3 conv with padding 1 and that stride.
    """

    def __init__(self, in_planes, out_planes, stride=1):
        super().__init__()
        if out_planes < in_planes:
            raise ValueError(f"ZeroPadShortcut: out_planes ({out_planes}) must be >= in_planes "
                             f"({in_planes})")
        self.in_planes, self.out_planes, self.stride = in_planes, out_planes, stride

    def forward(self, x):
        s = self.stride
        if s != 1:
            x = x[:, :, ::s, ::s]
        extra = self.out_planes - self.in_planes
        return ops.pad(x, (0, 0, 0, 0, 0, extra)) if extra else x

    def extra_repr(self):
        return f"{self.in_planes}, {self.out_planes}, stride={self.stride}"


class BasicBlock(nn.Module):
    """The original residual block of two 3x3 convs (Figure 14, left):

        x_{l+1} = ReLU(shortcut(x_l) + BN(conv(ReLU(BN(conv(x_l))))))

    The first conv has the block's stride. ``shortcut`` is the identity, or ``downsample`` when
    given. Shape: (N, inplanes, H, W) -> (N, planes, H / stride, W / stride).
    """

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))                   # F(x_l)
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)

    def last_bn(self):
        return self.bn2


class Bottleneck(nn.Module):
    """The original bottleneck block (He et al. 2015, for the 50+ layer nets): 1x1 conv to
    ``planes`` channels, 3x3 conv with the stride, 1x1 conv to 4 ``planes``, each followed by BN,
    ReLU after the first two and after the sum:

        x_{l+1} = ReLU(shortcut(x_l) + BN(conv1x1(ReLU(BN(conv3x3(ReLU(BN(conv1x1(x_l)))))))))

    The stride sits on the 3x3 conv, as in torchvision ("ResNet v1.5").
    Shape: (N, inplanes, H, W) -> (N, 4 planes, H / stride, W / stride).
    """

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))                   # F(x_l)
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)

    def last_bn(self):
        return self.bn3


class PreActBasicBlock(nn.Module):
    """The pre-activation block (Figure 14, right; He et al. 2016):

        a = ReLU(BN(x_l)),   x_{l+1} = shortcut + conv(ReLU(BN(conv(a))))

    where shortcut = x_l (identity) or ``downsample(a)`` (a projection takes the activated input,
    as in the paper's code). With ``preact=False`` the block takes an input that is already
    activated (the first block after the stem's BN-ReLU) and a = x_l: no ``bn1``.
    Shape: (N, inplanes, H, W) -> (N, planes, H / stride, W / stride).
    """

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, preact=True):
        super().__init__()
        self.preact = preact
        if preact:
            self.bn1 = nn.BatchNorm2d(inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        a = self.relu(self.bn1(x)) if self.preact else x
        shortcut = x if self.downsample is None else self.downsample(a)
        out = self.conv2(self.relu(self.bn2(self.conv1(a))))  # F(x_l)
        return shortcut + out                                 # x_{l+1} = x_l + F(x_l)

    def last_conv(self):
        return self.conv2

    def extra_repr(self):
        return "" if self.preact else "preact=False"


class PreActBottleneck(nn.Module):
    """The pre-activation bottleneck block (He et al. 2016): BN-ReLU-conv1x1, BN-ReLU-conv3x3
    (with the stride), BN-ReLU-conv1x1 to 4 ``planes`` channels, and x_{l+1} = shortcut + F(x_l)
    with the shortcut as in ``PreActBasicBlock``.
    Shape: (N, inplanes, H, W) -> (N, 4 planes, H / stride, W / stride).
    """

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, preact=True):
        super().__init__()
        self.preact = preact
        if preact:
            self.bn1 = nn.BatchNorm2d(inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = conv1x1(inplanes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        a = self.relu(self.bn1(x)) if self.preact else x
        shortcut = x if self.downsample is None else self.downsample(a)
        out = self.conv1(a)
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))            # F(x_l)
        return shortcut + out                                 # x_{l+1} = x_l + F(x_l)

    def last_conv(self):
        return self.conv3

    def extra_repr(self):
        return "" if self.preact else "preact=False"


_PREACT = (PreActBasicBlock, PreActBottleneck)
_SHORTCUTS = ("A", "B")


class ResNet(nn.Module):
    """A residual net: a stem, stages of residual blocks, global average pooling and FC.

    ImageNet stem (``small_input=False``): conv1 7x7 stride 2 (widths[0] filters), bn1, ReLU,
    3x3 max pool stride 2 (the maps shrink 4-fold). CIFAR stem (``small_input=True``): conv1 3x3
    stride 1, bn1, ReLU. Stage i (``layer{i+1}``) has ``layers[i]`` blocks of width widths[i]
    (times the block's expansion); every stage after the first starts with a stride-2 block.
    With pre-activation blocks the first block of layer1 takes the stem's activated output
    (``preact=False``), and a final BN-ReLU (``final_bn``) follows the last stage, as in He et
    al. 2016.

    Args:
        block: ``BasicBlock``, ``Bottleneck``, ``PreActBasicBlock`` or ``PreActBottleneck``.
        layers: the number of blocks of each stage, e.g. [2, 2, 2, 2] for ResNet-18.
        num_classes: K, the number of outputs (logits).
        in_channels: channels of the input images.
        zero_init_residual: start each residual branch at F = 0 so that every block is the
            identity: zero the gamma of its last BN (original blocks, as torchvision) or the
            weights of its last conv (pre-activation blocks, which end with a conv).
        widths: the channels of the stages (64, 128, 256, 512 for ImageNet nets).
        small_input: the CIFAR stem instead of the ImageNet one.
        shortcut: "B" (1x1 conv projection, plus BN for original blocks) or "A" (zero-padding,
            ``ZeroPadShortcut``) where a block changes the shape.

    Initialization (torchvision's): conv weights from N(0, 2 / fan_out) (He et al.), BN gamma 1
    and beta 0, the default of ``nn.Linear`` for fc.

    Shape: (N, in_channels, H, W) -> logits (N, K).
    """

    def __init__(self, block, layers, num_classes=1000, in_channels=3, zero_init_residual=False,
                 *, widths=(64, 128, 256, 512), small_input=False, shortcut="B"):
        super().__init__()
        if len(layers) != len(widths):
            raise ValueError(f"ResNet: got {len(layers)} stage depths {list(layers)} for "
                             f"{len(widths)} stage widths {list(widths)}")
        if shortcut not in _SHORTCUTS:
            raise ValueError(f"ResNet: shortcut must be 'A' or 'B', got {shortcut!r}")
        self.arch = "ResNet"
        self.num_classes, self.in_channels = num_classes, in_channels
        self.shortcut = shortcut
        self._preact = block in _PREACT
        self.inplanes = widths[0]
        if small_input:
            self.conv1 = conv3x3(in_channels, widths[0])
        else:
            self.conv1 = nn.Conv2d(in_channels, widths[0], kernel_size=7, stride=2, padding=3,
                                   bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = (nn.Identity() if small_input
                        else nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        for i, (n, w) in enumerate(zip(layers, widths)):
            setattr(self, f"layer{i + 1}", self._make_layer(block, w, n, stride=1 if i == 0 else 2,
                                                            first=i == 0))
        if self._preact:
            self.final_bn = nn.BatchNorm2d(self.inplanes)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(self.inplanes, num_classes)
        self._init_weights(zero_init_residual)

    def _make_layer(self, block, planes, blocks, stride, first):
        out = planes * block.expansion
        downsample = None
        if stride != 1 or self.inplanes != out:
            if self.shortcut == "A":
                downsample = ZeroPadShortcut(self.inplanes, out, stride)
            elif self._preact:  # the next block's BN normalizes the sum: no BN here
                downsample = nn.Sequential(conv1x1(self.inplanes, out, stride))
            else:
                downsample = nn.Sequential(conv1x1(self.inplanes, out, stride),
                                           nn.BatchNorm2d(out))
        # the first pre-activation block of the net takes the stem's BN-ReLU output as it is
        extra = {"preact": not first} if self._preact else {}
        layer = [block(self.inplanes, planes, stride, downsample, **extra)]
        self.inplanes = out
        layer += [block(out, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layer)

    def _init_weights(self, zero_init_residual):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    init.zeros_(m.last_bn().weight)
                elif isinstance(m, _PREACT):
                    init.zeros_(m.last_conv().weight)

    def stages(self):
        """The stages layer1, layer2, ... in order."""
        return [m for name, m in self._modules.items() if name.startswith("layer")]

    def forward(self, x):
        check_images(f"{self.arch}(in_channels={self.in_channels})", x, self.in_channels)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, widths[0], H', W')
        for stage in self.stages():
            x = stage(x)
        if self._preact:
            x = self.relu(self.final_bn(x))
        x = ops.flatten(self.avgpool(x), 1)                  # (N, C)
        return self.fc(x)                                    # (N, K)

    def extra_repr(self):
        return (f"num_classes={self.num_classes}, in_channels={self.in_channels}, "
                f"shortcut={self.shortcut}")


def _resnet(arch, block, layers, num_classes, in_channels, zero_init_residual, **kwargs):
    net = ResNet(block, layers, num_classes=num_classes, in_channels=in_channels,
                 zero_init_residual=zero_init_residual, **kwargs)
    net.arch = arch
    return net


def resnet18(num_classes=1000, in_channels=3, zero_init_residual=False):
    """ResNet-18: BasicBlock stages [2, 2, 2, 2] of 64, 128, 256, 512 channels; 11,689,512
    parameters at the defaults. Input 224x224 (smaller sizes pass, e.g. 32x32)."""
    return _resnet("resnet18", BasicBlock, [2, 2, 2, 2], num_classes, in_channels,
                   zero_init_residual)


def resnet34(num_classes=1000, in_channels=3, zero_init_residual=False):
    """ResNet-34: BasicBlock stages [3, 4, 6, 3]; 21,797,672 parameters at the defaults."""
    return _resnet("resnet34", BasicBlock, [3, 4, 6, 3], num_classes, in_channels,
                   zero_init_residual)


def resnet50(num_classes=1000, in_channels=3, zero_init_residual=False):
    """ResNet-50: Bottleneck stages [3, 4, 6, 3] (256 ... 2048 output channels); 25,557,032
    parameters at the defaults."""
    return _resnet("resnet50", Bottleneck, [3, 4, 6, 3], num_classes, in_channels,
                   zero_init_residual)


def resnet101(num_classes=1000, in_channels=3, zero_init_residual=False):
    """ResNet-101: Bottleneck stages [3, 4, 23, 3]; 44,549,160 parameters at the defaults."""
    return _resnet("resnet101", Bottleneck, [3, 4, 23, 3], num_classes, in_channels,
                   zero_init_residual)


def resnet152(num_classes=1000, in_channels=3, zero_init_residual=False):
    """ResNet-152: Bottleneck stages [3, 8, 36, 3]; 60,192,808 parameters at the defaults."""
    return _resnet("resnet152", Bottleneck, [3, 8, 36, 3], num_classes, in_channels,
                   zero_init_residual)


def preact_resnet18(num_classes=1000, in_channels=3, zero_init_residual=False):
    """Pre-activation ResNet-18 (He et al. 2016): PreActBasicBlock stages [2, 2, 2, 2],
    x_{l+1} = x_l + F(x_l) with F = conv o ReLU o BN o conv o ReLU o BN."""
    return _resnet("preact_resnet18", PreActBasicBlock, [2, 2, 2, 2], num_classes, in_channels,
                   zero_init_residual)


def preact_resnet34(num_classes=1000, in_channels=3, zero_init_residual=False):
    """Pre-activation ResNet-34: PreActBasicBlock stages [3, 4, 6, 3]."""
    return _resnet("preact_resnet34", PreActBasicBlock, [3, 4, 6, 3], num_classes, in_channels,
                   zero_init_residual)


def preact_resnet50(num_classes=1000, in_channels=3, zero_init_residual=False):
    """Pre-activation ResNet-50: PreActBottleneck stages [3, 4, 6, 3]."""
    return _resnet("preact_resnet50", PreActBottleneck, [3, 4, 6, 3], num_classes, in_channels,
                   zero_init_residual)


def preact_resnet101(num_classes=1000, in_channels=3, zero_init_residual=False):
    """Pre-activation ResNet-101: PreActBottleneck stages [3, 4, 23, 3]."""
    return _resnet("preact_resnet101", PreActBottleneck, [3, 4, 23, 3], num_classes,
                   in_channels, zero_init_residual)


def preact_resnet152(num_classes=1000, in_channels=3, zero_init_residual=False):
    """Pre-activation ResNet-152: PreActBottleneck stages [3, 8, 36, 3]."""
    return _resnet("preact_resnet152", PreActBottleneck, [3, 8, 36, 3], num_classes,
                   in_channels, zero_init_residual)


def cifar_resnet(depth, num_classes=10, in_channels=3, shortcut="A", zero_init_residual=False,
                 preact=False):
    """The CIFAR ResNet of depth 6n + 2 (He et al. 2015, section 4.2): 3x3 conv with 16 filters,
    three stages of n basic blocks with 16, 32, 64 filters (stride 2 at the start of stages 2 and
    3), global average pool, FC 64-K. Pre-activation blocks when ``preact``.

    Args:
        depth: 6n + 2 (20, 32, 44, 56, 110, ...).
        shortcut: "A" (zero-padding, no parameters; the paper's choice on CIFAR) or "B" (1x1 conv
            projection).

    Shape: (N, in_channels, H, W) -> (N, K), for 32x32 (CIFAR) or 28x28 (MNIST-like) images; the
    maps are H x W, H/2 x W/2 and H/4 x W/4 in the three stages.
    """
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"cifar_resnet: depth must be 6n + 2 with n >= 1 (20, 32, 44, 56, 110), "
                         f"got {depth!r}")
    n = (depth - 2) // 6
    block = PreActBasicBlock if preact else BasicBlock
    return _resnet(f"{'preact_' if preact else ''}resnet{depth}", block, [n, n, n], num_classes,
                   in_channels, zero_init_residual, widths=(16, 32, 64), small_input=True,
                   shortcut=shortcut)


def resnet20(num_classes=10, in_channels=3, shortcut="A", zero_init_residual=False):
    """CIFAR ResNet-20 (n = 3): 269,722 parameters with option A shortcuts (3 input channels,
    10 classes). For 32x32 or 28x28 images."""
    return cifar_resnet(20, num_classes, in_channels, shortcut, zero_init_residual)


def resnet32(num_classes=10, in_channels=3, shortcut="A", zero_init_residual=False):
    """CIFAR ResNet-32 (n = 5), 0.46M parameters with option A."""
    return cifar_resnet(32, num_classes, in_channels, shortcut, zero_init_residual)


def resnet44(num_classes=10, in_channels=3, shortcut="A", zero_init_residual=False):
    """CIFAR ResNet-44 (n = 7), 0.66M parameters with option A."""
    return cifar_resnet(44, num_classes, in_channels, shortcut, zero_init_residual)


def resnet56(num_classes=10, in_channels=3, shortcut="A", zero_init_residual=False):
    """CIFAR ResNet-56 (n = 9), 0.85M parameters with option A."""
    return cifar_resnet(56, num_classes, in_channels, shortcut, zero_init_residual)


def resnet110(num_classes=10, in_channels=3, shortcut="A", zero_init_residual=False):
    """CIFAR ResNet-110 (n = 18), 1.7M parameters with option A."""
    return cifar_resnet(110, num_classes, in_channels, shortcut, zero_init_residual)


def preact_resnet20(num_classes=10, in_channels=3, shortcut="A", zero_init_residual=False):
    """CIFAR ResNet-20 with pre-activation blocks (He et al. 2016)."""
    return cifar_resnet(20, num_classes, in_channels, shortcut, zero_init_residual, preact=True)


def preact_resnet56(num_classes=10, in_channels=3, shortcut="A", zero_init_residual=False):
    """CIFAR ResNet-56 with pre-activation blocks."""
    return cifar_resnet(56, num_classes, in_channels, shortcut, zero_init_residual, preact=True)


def preact_resnet110(num_classes=10, in_channels=3, shortcut="A", zero_init_residual=False):
    """CIFAR ResNet-110 with pre-activation blocks (the He et al. 2016 CIFAR-10 net)."""
    return cifar_resnet(110, num_classes, in_channels, shortcut, zero_init_residual, preact=True)
