"""VGG nets (models/vgg.py): torchvision's sizes and names for the 8 ImageNet nets, the same
function as a torch re-implementation, the initialization, the small net for 28x28 images."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import models, nn
from chainrule.models import VGG
from chainrule.models.vgg import CONFIGS, make_layers

from .cnn_helpers import bn, bn_keys, conv, fc, n_params, no_init, torch_state

# torchvision's numbers (the notes: "The VGG19 has 144 million parameters")
TORCHVISION_COUNTS = {
    "vgg11": 132_863_336, "vgg13": 133_047_848, "vgg16": 138_357_544, "vgg19": 143_667_240,
    "vgg11_bn": 132_868_840, "vgg13_bn": 133_053_736, "vgg16_bn": 138_365_992,
    "vgg19_bn": 143_678_248,
}
ARCH_CONFIG = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}

# torchvision's vgg16 state_dict keys, written out: the convs sit at these indices of features
VGG16_KEYS = ([f"features.{i}.{p}" for i in (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
               for p in ("weight", "bias")]
              + [f"classifier.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")])


def closed_form_count(cfg, batch_norm, in_channels=3, num_classes=1000, pool=7, hidden=4096):
    total, c = 0, in_channels
    for v in cfg:
        if v != "M":
            total += conv(c, v, 3) + (bn(v) if batch_norm else 0)
            c = v
    return total + fc(c * pool * pool, hidden) + fc(hidden, hidden) + fc(hidden, num_classes)


def expected_keys(cfg, batch_norm):
    """torchvision's naming: features.i for the i-th module of features (conv, [bn], relu, pool),
    classifier.{0, 3, 6} for the FC layers."""
    keys, i = [], 0
    for v in cfg:
        if v == "M":
            i += 1
            continue
        keys += [f"features.{i}.weight", f"features.{i}.bias"]
        if batch_norm:
            keys += bn_keys(f"features.{i + 1}")
        i += 3 if batch_norm else 2
    return keys + [f"classifier.{j}.{p}" for j in (0, 3, 6) for p in ("weight", "bias")]


@pytest.mark.parametrize("arch", list(TORCHVISION_COUNTS))
def test_parameter_counts_and_keys_are_torchvisions(arch):
    cfg = CONFIGS[ARCH_CONFIG[arch.replace("_bn", "")]]
    batch_norm = arch.endswith("_bn")
    with no_init():
        net = getattr(models, arch)()
    assert isinstance(net, VGG)
    assert n_params(net) == closed_form_count(cfg, batch_norm) == TORCHVISION_COUNTS[arch]
    assert list(net.state_dict()) == expected_keys(cfg, batch_norm)
    if arch == "vgg16":
        assert list(net.state_dict()) == VGG16_KEYS
    with no_init():
        other = getattr(models, arch)(num_classes=10, in_channels=1)
    assert n_params(other) == closed_form_count(cfg, batch_norm, 1, 10)


def _torch_vgg(torch, cfg, batch_norm, num_classes):
    tn = torch.nn
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(tn.MaxPool2d(2, 2))
        else:
            layers += [tn.Conv2d(c, v, 3, padding=1)] + ([tn.BatchNorm2d(v)] if batch_norm else [])
            layers.append(tn.ReLU())
            c = v
    ref = tn.Module()
    ref.features = tn.Sequential(*layers)
    ref.avgpool = tn.AdaptiveAvgPool2d((7, 7))
    ref.classifier = tn.Sequential(tn.Linear(25088, 4096), tn.ReLU(), tn.Dropout(),
                                   tn.Linear(4096, 4096), tn.ReLU(), tn.Dropout(),
                                   tn.Linear(4096, num_classes))
    return ref.eval()


def test_vgg11_bn_same_function_as_torch_on_32x32():
    """32x32 images (the smallest) go through: five pools leave 1x1 maps, spread to 7x7."""
    torch = pytest.importorskip("torch")
    with no_init():  # fast, then fill with values of the right scale (He et al.)
        net = models.vgg11_bn(num_classes=10)
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(1_000_003, dtype=np.float32)  # repeated: drawing 133M is slow
    for name, p in net.named_parameters():
        fan = p.data[0].size if p.ndim > 1 else 1
        flat = p.data.reshape(-1)
        for i in range(0, flat.size, noise.size):
            chunk = flat[i:i + noise.size]
            np.multiply(noise[:chunk.size], np.float32(np.sqrt(2 / fan)), out=chunk)
    for name, b in net.named_buffers():
        if name.endswith("running_mean"):
            b.data[...] = rng.standard_normal(b.shape) * 0.1
        elif name.endswith("running_var"):
            b.data[...] = rng.uniform(0.5, 2.0, b.shape)
    net.eval()
    with torch.device("meta"):  # no memory and no init: the weights are the net's own
        ref = _torch_vgg(torch, CONFIGS["A"], True, 10)
    ref.load_state_dict(torch_state(net), assign=True)
    x = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    with cr.no_grad():
        got = net(cr.tensor(x)).numpy()
    with torch.no_grad():
        want = ref.classifier(ref.avgpool(ref.features(torch.from_numpy(x))).flatten(1)).numpy()
    assert got.shape == (2, 10)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * np.abs(want).max())


def test_initialization_is_torchvisions():
    """Conv weights ~ N(0, 2 / fan_out), biases 0, BN gamma 1 and beta 0, FC weights
    ~ N(0, 0.01^2)."""
    net = models.vgg_small(width=32)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            w = m.weight.numpy()
            fan_out = w.shape[0] * w.shape[2] * w.shape[3]
            assert abs(w.std() / np.sqrt(2 / fan_out) - 1) < 0.15
            assert np.all(m.bias.numpy() == 0)
        elif isinstance(m, nn.BatchNorm2d):
            assert np.all(m.weight.numpy() == 1) and np.all(m.bias.numpy() == 0)
        elif isinstance(m, nn.Linear):
            assert abs(m.weight.numpy().std() / 0.01 - 1) < 0.1
            assert np.all(m.bias.numpy() == 0)


@pytest.mark.parametrize("batch_norm", [True, False])
def test_vgg_small_on_28x28(batch_norm):
    net = models.vgg_small(num_classes=10, in_channels=1, batch_norm=batch_norm)
    cfg = [32, 32, "M", 64, 64, "M", 128, 128, "M"]
    assert n_params(net) == closed_form_count(cfg, batch_norm, 1, 10, pool=3, hidden=256)
    x = cr.randn(4, 1, 28, 28)
    out = net(x)
    assert out.shape == (4, 10)
    out.sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and np.any(p.grad.numpy() != 0), name
    assert net(cr.randn(2, 1, 32, 32)).shape == (2, 10)  # 4x4 maps pooled to 3x3


def test_make_layers_and_errors():
    feats = make_layers([8, "M", 16], batch_norm=True, in_channels=2)
    assert [type(m).__name__ for m in feats] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d",
                                                 "Conv2d", "BatchNorm2d", "ReLU"]
    with pytest.raises(ValueError, match="VGG"):
        VGG(nn.Sequential(nn.ReLU()))
    net = models.vgg_small()
    with pytest.raises(ValueError, match=r"vgg_small\(in_channels=1\): expected input "
                                         r"\(N, 1, H, W\), got \(2, 3, 28, 28\)"):
        net(cr.randn(2, 3, 28, 28))
    with no_init():
        big = models.vgg16()
    with pytest.raises(ValueError, match=r"vgg16\(in_channels=3\)"):
        big(cr.randn(1, 28, 28))
    with pytest.raises(ValueError, match=r"vgg16\(in_channels=3\): expected images of at least "
                                         r"32x32, got 28x28"):
        big(cr.randn(1, 3, 28, 28))
    with pytest.raises(ValueError, match=r"vgg_small.*at least 8x8, got 7x9"):
        net(cr.randn(1, 1, 7, 9))
