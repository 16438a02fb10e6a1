"""AlexNet (models/alexnet.py): torchvision's size and names, the same function as a torch
re-implementation (with and without the paper's response normalization), errors."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.models import AlexNet, alexnet

from .cnn_helpers import conv, fc, n_params, no_init, torch_state

TORCHVISION_KEYS = [f"{part}.{i}.{p}" for part, idx in (("features", (0, 3, 6, 8, 10)),
                                                        ("classifier", (1, 4, 6)))
                    for i in idx for p in ("weight", "bias")]


def test_parameter_count_and_keys_are_torchvisions():
    with no_init():
        net = alexnet()
        lrn = alexnet(lrn=True)
        small = alexnet(num_classes=10, in_channels=1)
    want = (conv(3, 64, 11) + conv(64, 192, 5) + conv(192, 384, 3) + conv(384, 256, 3)
            + conv(256, 256, 3) + fc(9216, 4096) + fc(4096, 4096) + fc(4096, 1000))
    assert want == 61_100_840
    assert n_params(net) == want
    assert list(net.state_dict()) == TORCHVISION_KEYS
    assert n_params(lrn) == want  # LRN has no parameters ...
    assert [type(m).__name__ for m in lrn.features][:8] == [  # ... and follows the first two ReLUs
        "Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d", "Conv2d", "ReLU", "LocalResponseNorm",
        "MaxPool2d"]
    assert n_params(small) == want - 2 * 64 * 121 - 990 * 4097


def _torch_alexnet(torch, lrn):
    tn = torch.nn
    norm = [tn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)] if lrn else []
    ref = tn.Module()
    ref.features = tn.Sequential(
        tn.Conv2d(3, 64, 11, stride=4, padding=2), tn.ReLU(), *norm, tn.MaxPool2d(3, 2),
        tn.Conv2d(64, 192, 5, padding=2), tn.ReLU(), *norm, tn.MaxPool2d(3, 2),
        tn.Conv2d(192, 384, 3, padding=1), tn.ReLU(), tn.Conv2d(384, 256, 3, padding=1), tn.ReLU(),
        tn.Conv2d(256, 256, 3, padding=1), tn.ReLU(), tn.MaxPool2d(3, 2))
    ref.avgpool = tn.AdaptiveAvgPool2d((6, 6))
    ref.classifier = tn.Sequential(tn.Dropout(), tn.Linear(9216, 4096), tn.ReLU(), tn.Dropout(),
                                   tn.Linear(4096, 4096), tn.ReLU(), tn.Linear(4096, 10))
    return ref.eval()


def test_same_function_as_torch_on_64x64():
    """64x64 images (the smallest are 63x63) go through: the 1x1 maps are spread to 6x6. With
    lrn=True the same weights give torch's net with LocalResponseNorm(5, 5e-4, 0.75, 2)."""
    torch = pytest.importorskip("torch")
    net = alexnet(num_classes=10).eval()
    assert isinstance(net, AlexNet)
    with no_init():
        net_lrn = alexnet(num_classes=10, lrn=True).eval()
    for p, q in zip(net_lrn.parameters(), net.parameters()):
        p.data[...] = q.data
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    for lrn, model in ((False, net), (True, net_lrn)):
        with torch.device("meta"):  # no memory and no init: the weights are the net's own
            ref = _torch_alexnet(torch, lrn)
        ref.load_state_dict(torch_state(model), assign=True)
        with cr.no_grad():
            got = model(cr.tensor(x)).numpy()
        with torch.no_grad():
            r = ref.avgpool(ref.features(torch.from_numpy(x)))
            want = ref.classifier(r.flatten(1)).numpy()
        assert got.shape == (2, 10)
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5, err_msg=f"lrn={lrn}")


def test_dropout_only_in_training():
    with no_init():
        net = alexnet(dropout=0.3)
    drops = [m for m in net.modules() if isinstance(m, nn.Dropout)]
    assert [d.p for d in drops] == [0.3, 0.3]
    net.eval()
    assert not any(d.training for d in drops)


def test_wrong_input_names_the_model():
    with no_init():
        net = alexnet()
    with pytest.raises(ValueError, match=r"alexnet\(in_channels=3\): expected input "
                                         r"\(N, 3, H, W\), got \(1, 1, 64, 64\)"):
        net(cr.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match=r"alexnet\(in_channels=3\): expected images of at least "
                                         r"63x63, got 62x64"):
        net(cr.randn(1, 3, 62, 64))
