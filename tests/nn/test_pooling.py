"""Pooling layers (src/chainrule/nn/pooling.py): outputs and gradients equal torch's layers, the
stride default, return_indices, reprs, no state, errors naming the layer."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

LAYERS = [
    ("MaxPool2d", (2,), {}),
    ("MaxPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True)),
    ("MaxPool2d", ((2, 3),), dict(stride=(1, 2), dilation=(2, 1))),
    ("AvgPool2d", (2,), {}),
    ("AvgPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ("AvgPool2d", (2,), dict(stride=1, divisor_override=3)),
    ("AdaptiveAvgPool2d", ((3, 4),), {}),
    ("AdaptiveAvgPool2d", (1,), {}),
    ("AdaptiveMaxPool2d", ((4, 3),), {}),
]


@pytest.mark.parametrize("name, args, kwargs", LAYERS)
def test_layer_matches_torch(name, args, kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 10)).astype(np.float32)
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert ours.state_dict() == {} and list(ours.parameters()) == []
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = ours(xc), theirs(xt)
    g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    y.backward(cr.tensor(g))
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(xc.grad.data, xt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_stride_defaults_to_kernel_size_and_return_indices():
    torch = pytest.importorskip("torch")
    pool = nn.MaxPool2d(3, return_indices=True)
    assert pool.stride == 3
    x = np.random.default_rng(1).standard_normal((1, 2, 7, 7)).astype(np.float32)
    y, idx = pool(cr.tensor(x))
    yt, idxt = torch.nn.MaxPool2d(3, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(y.data, yt.numpy())
    np.testing.assert_array_equal(idx.data, idxt.numpy())
    y, idx = nn.AdaptiveMaxPool2d(2, return_indices=True)(cr.tensor(x))
    yt, idxt = torch.nn.AdaptiveMaxPool2d(2, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(idx.data, idxt.numpy())


def test_in_a_small_cnn_the_shapes_flow():
    net = nn.Sequential(nn.MaxPool2d(2), nn.AvgPool2d(2, ceil_mode=True), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten())
    assert net(cr.randn(4, 6, 28, 28)).shape == (4, 6)
    assert nn.MaxPool2d(2)(cr.randn(6, 28, 28)).shape == (6, 14, 14)  # unbatched


def test_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=2, stride=2, padding=0, "
                                         r"dilation=1, ceil_mode=False\): expected input "
                                         r"\(N, C, H, W\) or \(C, H, W\), got \(8, 784\)"):
        nn.MaxPool2d(2)(cr.randn(8, 784))
    with pytest.raises(ValueError, match=r"AdaptiveAvgPool2d\(output_size=1\): expected input"):
        nn.AdaptiveAvgPool2d(1)(cr.randn(5))
    with pytest.raises(ValueError, match="avg_pool2d: padding should be at most half"):
        nn.AvgPool2d(2, padding=2)(cr.randn(1, 1, 8, 8))
