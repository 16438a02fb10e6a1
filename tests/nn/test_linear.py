"""Linear, Identity, Flatten, Unflatten against torch (forward and gradients) and their init."""
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-6, atol=1e-9)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("xshape", [(8, 5), (2, 3, 5), (5,)])
def test_linear_matches_torch(dtype, bias, xshape):
    torch = pytest.importorskip("torch")
    cr.manual_seed(1)
    ours = nn.Linear(5, 4, bias=bias, dtype=dtype)
    theirs = torch.nn.Linear(5, 4, bias=bias, dtype=getattr(torch, np.dtype(dtype).name))
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.data))
        if bias:
            theirs.bias.copy_(torch.from_numpy(ours.bias.data))
    xa = np.random.default_rng(0).standard_normal(xshape).astype(dtype)
    ga = np.random.default_rng(1).standard_normal(xshape[:-1] + (4,)).astype(dtype)
    x = cr.tensor(xa, requires_grad=True)
    tx = torch.tensor(xa, requires_grad=True)
    y, ty = ours(x), theirs(tx)
    assert y.dtype == dtype
    np.testing.assert_allclose(y.data, ty.detach().numpy(), **TOL[dtype])
    y.backward(cr.tensor(ga))
    ty.backward(torch.from_numpy(ga))
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), **TOL[dtype])
    np.testing.assert_allclose(ours.weight.grad.data, theirs.weight.grad.numpy(), **TOL[dtype])
    if bias:
        np.testing.assert_allclose(ours.bias.grad.data, theirs.bias.grad.numpy(), **TOL[dtype])


def test_linear_gradcheck():
    cr.manual_seed(0)
    fc = nn.Linear(3, 2).double()
    x = cr.randn(4, 3, dtype=cr.float64, requires_grad=True)
    assert cr.autograd.gradcheck(lambda x, w, b: cr.ops.linear(x, w, b), [x, fc.weight, fc.bias])


def test_linear_default_init_bounds_like_torch():
    cr.manual_seed(0)
    fc = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = fc.weight.data, fc.bias.data
    assert w.dtype == np.float32 and w.shape == (300, 400) and b.shape == (300,)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # U(-bound, bound) has std bound / sqrt(3); 120k samples pin it to within 1%
    assert abs(w.std() / (bound / math.sqrt(3)) - 1) < 0.01
    assert np.abs(w).max() > 0.99 * bound
    cr.manual_seed(0)
    np.testing.assert_array_equal(nn.Linear(400, 300).weight.data, w)  # reproducible by seed


def test_linear_errors_and_repr():
    fc = nn.Linear(784, 512)
    with pytest.raises(ValueError, match=r"Linear\(784, 512\): expected input \(\*, 784\), "
                                         r"got \(8, 100\)"):
        fc(cr.zeros(8, 100))
    with pytest.raises(ValueError, match=r"Linear\(784, 512\)"):
        fc(np.zeros((8, 784)))
    assert repr(fc) == "Linear(in_features=784, out_features=512, bias=True)"
    assert nn.Linear(2, 3, bias=False).extra_repr() == "in_features=2, out_features=3, bias=False"
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(-1, 3)
    assert nn.Linear(2, 3, dtype=cr.float64).weight.dtype == np.float64


def test_identity():
    x = cr.randn(2, 3)
    assert nn.Identity(54, unused="x")(x) is x


@pytest.mark.parametrize("start,end", [(1, -1), (0, -1), (1, 2), (2, 3)])
def test_flatten_matches_torch(start, end):
    torch = pytest.importorskip("torch")
    xa = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    x = cr.tensor(xa, requires_grad=True)
    y = nn.Flatten(start, end)(x)
    ty = torch.nn.Flatten(start, end)(torch.from_numpy(xa))
    assert y.shape == tuple(ty.shape)
    np.testing.assert_array_equal(y.data, ty.numpy())
    y.sum().backward()
    assert x.grad.shape == x.shape and (x.grad.data == 1).all()
    assert repr(nn.Flatten()) == repr(torch.nn.Flatten())


def test_unflatten_matches_torch():
    torch = pytest.importorskip("torch")
    xa = np.arange(2 * 12, dtype=np.float32).reshape(2, 12)
    for dim, sizes in [(1, (3, 4)), (-1, (2, -1, 3)), (0, (1, 2))]:
        y = nn.Unflatten(dim, sizes)(cr.tensor(xa))
        ty = torch.nn.Unflatten(dim, sizes)(torch.from_numpy(xa))
        assert y.shape == tuple(ty.shape)
        np.testing.assert_array_equal(y.data, ty.numpy())
    assert repr(nn.Unflatten(1, (3, 4))) == repr(torch.nn.Unflatten(1, (3, 4)))
    with pytest.raises(ValueError, match="cannot split dim 1 of size 12"):
        nn.Unflatten(1, (5, 3))(cr.tensor(xa))
    x = cr.tensor(xa, requires_grad=True)
    (nn.Unflatten(1, (3, 4))(x) * 2).sum().backward()
    assert (x.grad.data == 2).all()
