"""GoogLeNet (models/googlenet.py): torchvision's size and names, the same function as a torch
re-implementation, auxiliary classifiers, errors."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.models import GoogLeNet, GoogLeNetOutputs, Inception, googlenet

from .cnn_helpers import bn_keys, n_params, no_init, torch_state

# (in, 1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5", pool proj) of each Inception block
BLOCKS = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32), "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64), "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}


def basic_keys(prefix):
    return [f"{prefix}.conv.weight"] + bn_keys(f"{prefix}.bn")


def torchvision_keys(aux_logits=False):
    """torchvision's googlenet state_dict keys, from its naming scheme."""
    keys = basic_keys("conv1") + basic_keys("conv2") + basic_keys("conv3")
    for name in BLOCKS:
        keys += basic_keys(f"{name}.branch1")
        for branch in ("branch2", "branch3"):
            keys += basic_keys(f"{name}.{branch}.0") + basic_keys(f"{name}.{branch}.1")
        keys += basic_keys(f"{name}.branch4.1")
    if aux_logits:
        for aux in ("aux1", "aux2"):
            keys += basic_keys(f"{aux}.conv") + [f"{aux}.{fc}.{p}" for fc in ("fc1", "fc2")
                                                 for p in ("weight", "bias")]
    return keys + ["fc.weight", "fc.bias"]


def closed_form_count(aux_logits=False, in_channels=3, num_classes=1000):
    def basic(cin, cout, k):  # conv without bias + BN
        return cout * cin * k * k + 2 * cout
    total = basic(in_channels, 64, 7) + basic(64, 64, 1) + basic(64, 192, 3)
    for cin, c1, r3, c3, r5, c5, pp in BLOCKS.values():
        total += (basic(cin, c1, 1) + basic(cin, r3, 1) + basic(r3, c3, 3) + basic(cin, r5, 1)
                  + basic(r5, c5, 3) + basic(cin, pp, 1))
    if aux_logits:
        for cin in (512, 528):
            total += basic(cin, 128, 1) + 2048 * 1024 + 1024 + 1024 * num_classes + num_classes
    return total + 1024 * num_classes + num_classes


def test_parameter_count_and_keys_are_torchvisions():
    with no_init():
        net = googlenet()
        aux = googlenet(aux_logits=True)
    assert n_params(net) == closed_form_count() == 6_624_904
    assert n_params(aux) == closed_form_count(True) == 13_004_888
    assert list(net.state_dict()) == torchvision_keys()
    assert list(aux.state_dict()) == torchvision_keys(True)
    for name, c in BLOCKS.items():
        assert getattr(net, name).out_channels == c[1] + c[3] + c[5] + c[6], name


def _torch_googlenet(torch, num_classes):
    """A torch re-implementation with torchvision's names (aux classifiers left out)."""
    tn, F = torch.nn, torch.nn.functional

    class Basic(tn.Module):
        def __init__(self, cin, cout, **kw):
            super().__init__()
            self.conv = tn.Conv2d(cin, cout, bias=False, **kw)
            self.bn = tn.BatchNorm2d(cout, eps=0.001)

        def forward(self, x):
            return F.relu(self.bn(self.conv(x)))

    class Block(tn.Module):
        def __init__(self, cin, c1, r3, c3, r5, c5, pp):
            super().__init__()
            self.branch1 = Basic(cin, c1, kernel_size=1)
            self.branch2 = tn.Sequential(Basic(cin, r3, kernel_size=1),
                                         Basic(r3, c3, kernel_size=3, padding=1))
            self.branch3 = tn.Sequential(Basic(cin, r5, kernel_size=1),
                                         Basic(r5, c5, kernel_size=3, padding=1))
            self.branch4 = tn.Sequential(tn.MaxPool2d(3, 1, 1, ceil_mode=True),
                                         Basic(cin, pp, kernel_size=1))

        def forward(self, x):
            return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x),
                              self.branch4(x)], 1)

    ref = tn.Module()
    ref.conv1 = Basic(3, 64, kernel_size=7, stride=2, padding=3)
    ref.conv2 = Basic(64, 64, kernel_size=1)
    ref.conv3 = Basic(64, 192, kernel_size=3, padding=1)
    for name, cfg in BLOCKS.items():
        setattr(ref, name, Block(*cfg))
    ref.fc = tn.Linear(1024, num_classes)

    def forward(x):
        pool = lambda x, k=3: F.max_pool2d(x, k, 2, ceil_mode=True)  # noqa: E731
        x = pool(ref.conv3(ref.conv2(pool(ref.conv1(x)))))
        x = pool(ref.inception3b(ref.inception3a(x)))
        for name in ("inception4a", "inception4b", "inception4c", "inception4d", "inception4e"):
            x = getattr(ref, name)(x)
        x = ref.inception5b(ref.inception5a(pool(x, 2)))
        return ref.fc(x.mean((2, 3)))
    return ref.eval(), forward


def test_same_function_as_torch_on_64x64():
    """In training mode (batch statistics; no dropout) the net is torch's function of x."""
    torch = pytest.importorskip("torch")
    net = googlenet(num_classes=10, dropout=0.0)
    assert isinstance(net, GoogLeNet)
    ref, forward = _torch_googlenet(torch, 10)
    ref.load_state_dict(torch_state(net))
    ref.train()
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    got = net(cr.tensor(x)).numpy()
    want = forward(torch.from_numpy(x)).detach().numpy()
    assert got.shape == (2, 10)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * np.abs(want).max())


def test_aux_logits_in_training_only():
    net = googlenet(num_classes=7, aux_logits=True, in_channels=1)
    x = cr.randn(2, 1, 64, 64)
    out = net(x)
    assert isinstance(out, GoogLeNetOutputs)
    assert [o.shape for o in out] == [(2, 7)] * 3
    (out.logits.sum() + 0.3 * (out.aux_logits1.sum() + out.aux_logits2.sum())).backward()
    assert all(p.grad is not None for p in net.parameters())
    net.eval()
    with cr.no_grad():
        assert net(x).shape == (2, 7)


def test_inception_block_and_errors():
    block = Inception(8, 2, 3, 4, 1, 5, 6)
    assert block(cr.randn(2, 8, 5, 5)).shape == (2, 2 + 4 + 5 + 6, 5, 5)
    with no_init():
        net = googlenet()
    with pytest.raises(ValueError, match=r"googlenet\(in_channels=3\): expected input "
                                         r"\(N, 3, H, W\), got \(2, 1, 64, 64\)"):
        net(cr.randn(2, 1, 64, 64))
