"""Conv2d and ConvTranspose2d layers: against torch with the same weights, init, repr, errors."""
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")


def _copy_params(ours, theirs):
    import torch

    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.data))
        if ours.bias is not None:
            theirs.bias.copy_(torch.from_numpy(ours.bias.data))


def _check_layer(ours, theirs, xshape, dtype=np.float64, **call):
    torch = pytest.importorskip("torch")
    _copy_params(ours, theirs)
    xa = np.random.default_rng(0).standard_normal(xshape).astype(dtype)
    x, tx = cr.tensor(xa, requires_grad=True), torch.tensor(xa, requires_grad=True)
    y, ty = ours(x, **call), theirs(tx, **call)
    assert y.shape == tuple(ty.shape)
    tol = dict(rtol=1e-9, atol=1e-9) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), **tol)
    ga = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    y.backward(cr.tensor(ga))
    ty.backward(torch.from_numpy(ga))
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), **tol)
    np.testing.assert_allclose(ours.weight.grad.data, theirs.weight.grad.numpy(), **tol)
    if ours.bias is not None:
        np.testing.assert_allclose(ours.bias.grad.data, theirs.bias.grad.numpy(), **tol)


@pytest.mark.parametrize("args,kw,xshape", [
    ((3, 16, 3), dict(padding=1), (2, 3, 8, 8)),
    ((4, 6, (3, 2)), dict(stride=(2, 1), dilation=(1, 2), groups=2, bias=False), (2, 4, 9, 8)),
    ((4, 4, 4), dict(padding="same"), (2, 4, 7, 6)),
    ((3, 5, 3), dict(padding="valid"), (3, 7, 7)),                      # unbatched input
    ((3, 4, 3), dict(padding=(2, 1), padding_mode="reflect"), (2, 3, 6, 5)),
    ((3, 4, 3), dict(padding=1, padding_mode="replicate", stride=2), (2, 3, 6, 5)),
    ((3, 4, 3), dict(padding=2, padding_mode="circular"), (2, 3, 6, 5)),
    ((3, 4, 4), dict(padding="same", padding_mode="reflect"), (2, 3, 6, 5)),
])
def test_conv2d_layer_matches_torch(args, kw, xshape):
    torch = pytest.importorskip("torch")
    ours = nn.Conv2d(*args, **kw, dtype=cr.float64)
    theirs = torch.nn.Conv2d(*args, **kw, dtype=torch.float64)
    _check_layer(ours, theirs, xshape)


def test_conv2d_layer_float32():
    torch = pytest.importorskip("torch")
    ours, theirs = nn.Conv2d(6, 16, 5), torch.nn.Conv2d(6, 16, 5)
    assert ours.weight.dtype == np.float32
    _check_layer(ours, theirs, (4, 6, 14, 14), dtype=np.float32)


@pytest.mark.parametrize("args,kw,xshape,call", [
    ((16, 8, 4), dict(stride=2, padding=1), (2, 16, 5, 5), {}),
    ((4, 6, 3), dict(stride=2, padding=1, output_padding=1, groups=2), (2, 4, 4, 5), {}),
    ((4, 2, (3, 2)), dict(dilation=(2, 1), bias=False), (4, 3, 3), {}),
    ((4, 3, 3), dict(stride=2, padding=1), (2, 4, 5, 5), dict(output_size=(10, 10))),
    ((4, 3, 3), dict(stride=2, padding=1), (2, 4, 5, 5), dict(output_size=(2, 3, 9, 10))),
])
def test_conv_transpose2d_layer_matches_torch(args, kw, xshape, call):
    torch = pytest.importorskip("torch")
    ours = nn.ConvTranspose2d(*args, **kw, dtype=cr.float64)
    theirs = torch.nn.ConvTranspose2d(*args, **kw, dtype=torch.float64)
    _check_layer(ours, theirs, xshape, **call)


@pytest.mark.parametrize("cls,args,kw,wshape,fan_in", [
    (nn.Conv2d, (64, 128, 3), {}, (128, 64, 3, 3), 64 * 9),
    (nn.Conv2d, (64, 128, (5, 3)), dict(groups=4), (128, 16, 5, 3), 16 * 15),
    (nn.ConvTranspose2d, (128, 64, 4), {}, (128, 64, 4, 4), 64 * 16),
    (nn.ConvTranspose2d, (128, 64, 4), dict(groups=2), (128, 32, 4, 4), 32 * 16),
])
def test_init_like_torch(cls, args, kw, wshape, fan_in):
    """Shapes as torch's; weight and bias drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    torch = pytest.importorskip("torch")
    layer = cls(*args, **kw)
    ref = getattr(torch.nn, cls.__name__)(*args, **kw)
    assert layer.weight.shape == tuple(ref.weight.shape) == wshape
    assert layer.bias.shape == tuple(ref.bias.shape)
    bound = 1 / math.sqrt(fan_in)
    w = layer.weight.data
    assert np.abs(w).max() <= bound and np.abs(layer.bias.data).max() <= bound
    assert np.abs(w).max() > 0.99 * bound
    assert abs(w.std() / (bound / math.sqrt(3)) - 1) < 0.02  # std of U(-a, a) is a / sqrt(3)
    assert abs(w.std() / ref.weight.detach().numpy().std() - 1) < 0.03
    assert list(layer.state_dict()) == list(ref.state_dict()) == ["weight", "bias"]


def test_init_reproducible_and_dtype():
    cr.manual_seed(0)
    a = nn.Conv2d(3, 8, 3)
    cr.manual_seed(0)
    np.testing.assert_array_equal(nn.Conv2d(3, 8, 3).weight.data, a.weight.data)
    assert nn.Conv2d(3, 8, 3, dtype=cr.float64).weight.dtype == np.float64
    assert nn.Conv2d(3, 8, 3, bias=False).bias is None
    assert list(nn.Conv2d(3, 8, 3, bias=False).state_dict()) == ["weight"]


def test_repr_like_torch():
    torch = pytest.importorskip("torch")
    cases = [
        (nn.Conv2d, (3, 16, 3), dict(padding=1)),
        (nn.Conv2d, (3, 16, (3, 5)), dict(stride=2, dilation=(1, 2), groups=1, bias=False)),
        (nn.Conv2d, (4, 8, 3), dict(padding="same", groups=4, padding_mode="reflect")),
        (nn.Conv2d, (4, 8, 1), {}),
        (nn.ConvTranspose2d, (16, 8, 4), dict(stride=2, padding=1, output_padding=1, groups=2)),
    ]
    for cls, args, kw in cases:
        ref = getattr(torch.nn, cls.__name__)(*args, **kw)
        assert repr(cls(*args, **kw)) == repr(ref)
    assert repr(nn.Conv2d(3, 16, 3, padding=1)) == \
        "Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"


def test_load_state_dict_from_torch_weights():
    torch = pytest.importorskip("torch")
    ref = torch.nn.Conv2d(3, 4, 3, padding=1)
    layer = nn.Conv2d(3, 4, 3, padding=1)
    layer.load_state_dict({k: cr.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    xa = np.random.default_rng(0).standard_normal((1, 3, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(layer(cr.tensor(xa)).data,
                               ref(torch.from_numpy(xa)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_layer_input_errors():
    conv = nn.Conv2d(3, 16, 3)
    with pytest.raises(ValueError, match=r"^Conv2d\(3, 16\): expected input \(N, 3, H, W\), "
                                         r"got \(8, 1, 28, 28\)$"):
        conv(cr.zeros(8, 1, 28, 28))
    with pytest.raises(ValueError, match=r"Conv2d\(3, 16\): expected input \(N, 3, H, W\), got "
                                         r"\(3, 28\)"):
        conv(cr.zeros(3, 28))
    with pytest.raises(ValueError, match=r"Conv2d\(3, 16\): expected input .* got ndarray"):
        conv(np.zeros((1, 3, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"Conv2d\(3, 16\): the input's spatial size \(2, 2\) "
                                         r"\(padded: \(2, 2\)\) is smaller than the kernel "
                                         r"\(3, 3\)"):
        conv(cr.zeros(1, 3, 2, 2))
    with pytest.raises(ValueError, match=r"kernel \(3, 3\) dilated to \(5, 5\)"):
        nn.Conv2d(3, 16, 3, dilation=2)(cr.zeros(1, 3, 4, 4))
    up = nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1)
    with pytest.raises(ValueError, match=r"^ConvTranspose2d\(16, 8\): expected input "
                                         r"\(N, 16, H, W\), got \(2, 8, 5, 5\)$"):
        up(cr.zeros(2, 8, 5, 5))
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(16, 8\): output_size \(13, 10\) is "
                                         r"not reachable.*\[10, 11\]"):
        up(cr.zeros(2, 16, 5, 5), output_size=(13, 10))


def test_constructor_errors():
    with pytest.raises(ValueError, match=r"Conv2d\(3, 16\): in_channels and out_channels must be "
                                         r"divisible by groups \(2\)"):
        nn.Conv2d(3, 16, 3, groups=2)
    with pytest.raises(ValueError, match=r"padding='same' is only supported with stride 1"):
        nn.Conv2d(3, 16, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match=r"padding_mode must be one of"):
        nn.Conv2d(3, 16, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match=r"kernel_size must be >= 1"):
        nn.Conv2d(3, 16, 0)
    with pytest.raises(TypeError, match=r"kernel_size must be an int or a pair"):
        nn.Conv2d(3, 16, (3, 3, 3))
    with pytest.raises(ValueError, match=r"Conv2d: in_channels must be a positive int"):
        nn.Conv2d(0, 16, 3)
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(4, 4\): output_padding \(2, 2\) must "
                                         r"be smaller"):
        nn.ConvTranspose2d(4, 4, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"only padding_mode='zeros'"):
        nn.ConvTranspose2d(4, 4, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match=r"padding='reflect' needs|padding_mode='reflect' needs"):
        nn.Conv2d(1, 1, 3, padding=3, padding_mode="reflect")(cr.zeros(1, 1, 3, 3))


def test_functional_names():
    from chainrule.nn import functional as F

    x, w = cr.randn(1, 2, 5, 5), cr.randn(3, 2, 3, 3)
    np.testing.assert_array_equal(F.conv2d(x, w, padding=1).data,
                                  cr.ops.conv2d(x, w, padding=1).data)
    assert F.conv_transpose2d(x, cr.randn(2, 3, 3, 3), stride=2).shape == (1, 3, 11, 11)
