"""Residual nets (models/resnet.py): torchvision's sizes and names, the same function (and, in
training mode, the same gradients) as a torch re-implementation of every block form, the CIFAR
nets' sizes, zero_init_residual, option A shortcuts, errors."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import models
from chainrule.models import (BasicBlock, Bottleneck, PreActBasicBlock, PreActBottleneck, ResNet,
                              ZeroPadShortcut)

from .cnn_helpers import bn, bn_keys, conv, fc, n_params, no_init, torch_state

TORCHVISION_COUNTS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
                      "resnet101": 44_549_160, "resnet152": 60_192_808}


@pytest.mark.parametrize("arch", list(TORCHVISION_COUNTS))
def test_parameter_counts_are_torchvisions(arch):
    with no_init():
        net = getattr(models, arch)()
    assert isinstance(net, ResNet)
    assert n_params(net) == TORCHVISION_COUNTS[arch]


def test_resnet18_keys_are_torchvisions():
    """conv1, bn1, layer1..4 of BasicBlocks (conv1, bn1, conv2, bn2, downsample.0/1), fc."""
    keys = ["conv1.weight"] + bn_keys("bn1")
    for stage in range(1, 5):
        for b in range(2):
            p = f"layer{stage}.{b}"
            keys += [f"{p}.conv1.weight"] + bn_keys(f"{p}.bn1") + [f"{p}.conv2.weight"]
            keys += bn_keys(f"{p}.bn2")
            if stage > 1 and b == 0:
                keys += [f"{p}.downsample.0.weight"] + bn_keys(f"{p}.downsample.1")
    keys += ["fc.weight", "fc.bias"]
    with no_init():
        net = models.resnet18()
    assert list(net.state_dict()) == keys
    assert len(keys) == 122


def cifar_count(n, in_channels=3, num_classes=10, shortcut="A"):
    """6n + 2 layers: conv 3x3 (16) + BN, 3 stages of n blocks (two conv 3x3 + BN), FC."""
    total, c = conv(in_channels, 16, 3, bias=False) + bn(16), 16
    for w in (16, 32, 64):
        for _ in range(n):
            total += 2 * bn(w) + conv(c, w, 3, bias=False) + conv(w, w, 3, bias=False)
            if c != w and shortcut == "B":
                total += conv(c, w, 1, bias=False) + bn(w)
            c = w
    return total + fc(64, num_classes)


@pytest.mark.parametrize("depth, millions", [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85),
                                             (110, 1.7)])
def test_cifar_resnet_counts(depth, millions):
    """He et al. 2015, Table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M parameters (option A)."""
    n = (depth - 2) // 6
    with no_init():
        net = getattr(models, f"resnet{depth}")()
        b = getattr(models, f"resnet{depth}")(shortcut="B", in_channels=1, num_classes=5)
    assert n_params(net) == cifar_count(n)
    assert round(n_params(net) / 1e6, 2 if depth < 100 else 1) == millions
    assert n_params(b) == cifar_count(n, 1, 5, "B")
    if depth == 20:
        assert n_params(net) == 269_722


# ---- a torch re-implementation with torchvision's names --------------------------------------

def torch_resnet(torch, block, layers, num_classes, in_channels=3, widths=(64, 128, 256, 512),
                 small_input=False, shortcut="B"):
    tn, F = torch.nn, torch.nn.functional
    preact = block in ("preact_basic", "preact_bottleneck")
    expansion = 4 if block.endswith("bottleneck") else 1

    def c3(i, o, s=1):
        return tn.Conv2d(i, o, 3, s, 1, bias=False)

    def c1(i, o, s=1):
        return tn.Conv2d(i, o, 1, s, bias=False)

    class Pad(tn.Module):
        def __init__(self, i, o, s):
            super().__init__()
            self.extra, self.s = o - i, s

        def forward(self, x):
            return F.pad(x[:, :, ::self.s, ::self.s], (0, 0, 0, 0, 0, self.extra))

    class Block(tn.Module):
        def __init__(self, i, planes, s=1, down=None, first=False):
            super().__init__()
            o = planes * expansion
            self.pre = preact and not first
            if block == "basic":
                self.conv1, self.bn1 = c3(i, planes, s), tn.BatchNorm2d(planes)
                self.conv2, self.bn2 = c3(planes, planes), tn.BatchNorm2d(planes)
            elif block == "bottleneck":
                self.conv1, self.bn1 = c1(i, planes), tn.BatchNorm2d(planes)
                self.conv2, self.bn2 = c3(planes, planes, s), tn.BatchNorm2d(planes)
                self.conv3, self.bn3 = c1(planes, o), tn.BatchNorm2d(o)
            else:  # pre-activation: BN-ReLU before each conv
                if self.pre:
                    self.bn1 = tn.BatchNorm2d(i)
                if block == "preact_basic":
                    self.conv1, self.bn2 = c3(i, planes, s), tn.BatchNorm2d(planes)
                    self.conv2 = c3(planes, planes)
                else:
                    self.conv1, self.bn2 = c1(i, planes), tn.BatchNorm2d(planes)
                    self.conv2, self.bn3 = c3(planes, planes, s), tn.BatchNorm2d(planes)
                    self.conv3 = c1(planes, o)
            self.downsample = down

        def forward(self, x):
            if block == "basic":
                out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            elif block == "bottleneck":
                out = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))
                out = self.bn3(self.conv3(out))
            else:
                a = F.relu(self.bn1(x)) if self.pre else x
                out = self.conv2(F.relu(self.bn2(self.conv1(a))))
                if block == "preact_bottleneck":
                    out = self.conv3(F.relu(self.bn3(out)))
                return out + (x if self.downsample is None else self.downsample(a))
            return F.relu(out + (x if self.downsample is None else self.downsample(x)))

    ref = tn.Module()
    ref.conv1 = (c3(in_channels, widths[0]) if small_input
                 else tn.Conv2d(in_channels, widths[0], 7, 2, 3, bias=False))
    ref.bn1 = tn.BatchNorm2d(widths[0])
    c = widths[0]
    for k, (n, w) in enumerate(zip(layers, widths)):
        s, o = (1 if k == 0 else 2), w * expansion
        down = None
        if s != 1 or c != o:
            down = (Pad(c, o, s) if shortcut == "A" else tn.Sequential(c1(c, o, s)) if preact
                    else tn.Sequential(c1(c, o, s), tn.BatchNorm2d(o)))
        blocks = [Block(c, w, s, down, first=k == 0)] + [Block(o, w) for _ in range(1, n)]
        setattr(ref, f"layer{k + 1}", tn.Sequential(*blocks))
        c = o
    if preact:
        ref.final_bn = tn.BatchNorm2d(c)
    ref.fc = tn.Linear(c, num_classes)

    def forward(x):
        x = F.relu(ref.bn1(ref.conv1(x)))
        if not small_input:
            x = F.max_pool2d(x, 3, 2, 1)
        for k in range(len(layers)):
            x = getattr(ref, f"layer{k + 1}")(x)
        if preact:
            x = F.relu(ref.final_bn(x))
        return ref.fc(x.mean((2, 3)))
    return ref, forward


def _compare_eval(torch, net, ref, forward, x):
    net.eval()
    ref.load_state_dict(torch_state(net))
    ref.eval()
    with cr.no_grad():
        got = net(cr.tensor(x)).numpy()
    with torch.no_grad():
        want = forward(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * np.abs(want).max())
    return got


@pytest.mark.parametrize("arch, block", [("resnet18", "basic"),
                                         ("preact_resnet18", "preact_basic")])
def test_resnet18_same_function_as_torch_on_32x32(arch, block):
    torch = pytest.importorskip("torch")
    net = getattr(models, arch)(num_classes=10)
    ref, forward = torch_resnet(torch, block, [2, 2, 2, 2], 10)
    assert n_params(net) == sum(p.numel() for p in ref.parameters())
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    assert _compare_eval(torch, net, ref, forward, x).shape == (2, 10)


@pytest.mark.parametrize("arch, block", [("resnet50", "bottleneck"),
                                         ("preact_resnet50", "preact_bottleneck")])
def test_resnet50_names_and_count_match_torch(arch, block):
    """The torch re-implementation loads the net's state_dict strictly: same keys, same shapes."""
    torch = pytest.importorskip("torch")
    with no_init():
        net = getattr(models, arch)()
    ref, _ = torch_resnet(torch, block, [3, 4, 6, 3], 1000)
    assert set(ref.state_dict()) == set(net.state_dict())
    for k, v in ref.state_dict().items():
        assert tuple(v.shape) == tuple(net.state_dict()[k].shape), k
    assert n_params(net) == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize("block_cls, block", [(Bottleneck, "bottleneck"),
                                              (PreActBottleneck, "preact_bottleneck")])
def test_bottleneck_nets_same_function_as_torch(block_cls, block):
    torch = pytest.importorskip("torch")
    widths = (8, 16, 16, 32)
    net = ResNet(block_cls, [1, 2, 1, 1], num_classes=5, widths=widths)
    ref, forward = torch_resnet(torch, block, [1, 2, 1, 1], 5, widths=widths)
    x = np.random.default_rng(1).standard_normal((2, 3, 48, 48)).astype(np.float32)
    _compare_eval(torch, net, ref, forward, x)


@pytest.mark.parametrize("shortcut, preact", [("A", False), ("B", False), ("A", True)])
def test_resnet20_on_28x28_same_values_and_gradients_as_torch(shortcut, preact):
    """Training mode (batch statistics): logits and every parameter's gradient match torch's
    (in float64: through 19 batch norms in float32 the gradients would differ by rounding)."""
    torch = pytest.importorskip("torch")
    arch = "preact_resnet20" if preact else "resnet20"
    net = getattr(models, arch)(num_classes=10, in_channels=1, shortcut=shortcut)
    ref, forward = torch_resnet(torch, "preact_basic" if preact else "basic", [3, 3, 3], 10,
                                in_channels=1, widths=(16, 32, 64), small_input=True,
                                shortcut=shortcut)
    net.double()
    ref.double().load_state_dict(torch_state(net))
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 1, 28, 28))
    w = rng.standard_normal((4, 10))
    out = net(cr.tensor(x))
    (out * cr.tensor(w)).sum().backward()
    tout = forward(torch.from_numpy(x))
    (tout * torch.from_numpy(w)).sum().backward()
    assert out.shape == (4, 10)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-9, atol=1e-10)
    tgrads = dict(ref.named_parameters())
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        np.testing.assert_allclose(p.grad.numpy(), tgrads[name].grad.numpy(), rtol=1e-7,
                                   atol=1e-9, err_msg=name)


def test_zero_init_residual():
    r18 = models.resnet18(zero_init_residual=True)
    r50 = ResNet(Bottleneck, [1, 2, 1, 1], widths=(8, 8, 16, 16), zero_init_residual=True)
    pre = models.preact_resnet18(zero_init_residual=True)
    assert all(np.all(b.bn2.weight.numpy() == 0) for s in r18.stages() for b in s)
    assert all(np.all(b.bn1.weight.numpy() == 1) for s in r18.stages() for b in s)
    assert all(np.all(b.bn3.weight.numpy() == 0) for s in r50.stages() for b in s)
    assert all(np.all(b.conv2.weight.numpy() == 0) for s in pre.stages() for b in s)
    assert not np.all(models.resnet18().layer1[0].bn2.weight.numpy() == 0)
    # each block starts as x_{l+1} = ReLU(shortcut(x_l)) (original) or x_l (pre-activation)
    net = models.resnet20(zero_init_residual=True).eval()
    x = cr.randn(2, 16, 8, 8)
    with cr.no_grad():
        np.testing.assert_allclose(net.layer1[0](x).numpy(), np.maximum(x.numpy(), 0))
        y = net.layer2[0](x).numpy()
    np.testing.assert_allclose(y[:, :16], np.maximum(x.numpy()[:, :, ::2, ::2], 0))
    assert np.all(y[:, 16:] == 0)


def test_zero_pad_shortcut_option_a():
    x = cr.randn(2, 3, 7, 7)
    y = ZeroPadShortcut(3, 8, stride=2)(x).numpy()
    assert y.shape == (2, 8, 4, 4)
    np.testing.assert_array_equal(y[:, :3], x.numpy()[:, :, ::2, ::2])
    assert np.all(y[:, 3:] == 0)
    assert n_params(ZeroPadShortcut(3, 8, 2)) == 0
    with pytest.raises(ValueError, match="ZeroPadShortcut"):
        ZeroPadShortcut(8, 3)


def test_blocks_keep_or_change_shape():
    x = cr.randn(2, 8, 9, 9)
    assert BasicBlock(8, 8)(x).shape == (2, 8, 9, 9)
    assert PreActBasicBlock(8, 8)(x).shape == (2, 8, 9, 9)
    assert PreActBasicBlock(8, 8, preact=False).bn2 is not None
    assert not hasattr(PreActBasicBlock(8, 8, preact=False), "bn1")
    down = ZeroPadShortcut(8, 16, 2)
    assert PreActBasicBlock(8, 16, 2, down)(x).shape == (2, 16, 5, 5)


def test_errors_name_the_model():
    net = models.resnet20(in_channels=1)
    with pytest.raises(ValueError, match=r"resnet20\(in_channels=1\): expected input "
                                         r"\(N, 1, H, W\), got \(2, 3, 28, 28\)"):
        net(cr.randn(2, 3, 28, 28))
    with no_init():
        r18 = models.resnet18()
    with pytest.raises(ValueError, match=r"resnet18\(in_channels=3\).*got \(3, 32, 32\)"):
        r18(cr.randn(3, 32, 32))
    with pytest.raises(ValueError, match="6n \\+ 2"):
        models.cifar_resnet(21)
    with pytest.raises(ValueError, match="shortcut must be 'A' or 'B'"):
        models.resnet20(shortcut="C")
    with pytest.raises(ValueError, match="stage depths"):
        ResNet(BasicBlock, [1, 1], widths=(8, 16, 32))
