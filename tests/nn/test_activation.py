"""Activation modules against torch: forward, input gradient, repr."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

TOL = {np.float32: dict(rtol=1e-4, atol=1e-6), np.float64: dict(rtol=1e-6, atol=1e-12)}

CASES = [  # (our module, torch module name, its arguments)
    (lambda: nn.ReLU(), "ReLU", {}),
    (lambda: nn.LeakyReLU(), "LeakyReLU", {}),
    (lambda: nn.LeakyReLU(0.2), "LeakyReLU", {"negative_slope": 0.2}),
    (lambda: nn.Sigmoid(), "Sigmoid", {}),
    (lambda: nn.Tanh(), "Tanh", {}),
    (lambda: nn.Softplus(), "Softplus", {}),
    (lambda: nn.Softplus(beta=2.0, threshold=3.0), "Softplus", {"beta": 2.0, "threshold": 3.0}),
    (lambda: nn.Softmax(dim=1), "Softmax", {"dim": 1}),
    (lambda: nn.Softmax(dim=-1), "Softmax", {"dim": -1}),
    (lambda: nn.LogSoftmax(dim=1), "LogSoftmax", {"dim": 1}),
    (lambda: nn.LogSoftmax(dim=0), "LogSoftmax", {"dim": 0}),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make,tname,kwargs", CASES)
def test_matches_torch(make, tname, kwargs, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    xa = (rng.standard_normal((4, 5, 3)) * 4).astype(dtype)
    ga = rng.standard_normal((4, 5, 3)).astype(dtype)
    ours, theirs = make(), getattr(torch.nn, tname)(**kwargs)
    x = cr.tensor(xa, requires_grad=True)
    tx = torch.tensor(xa, requires_grad=True)
    y, ty = ours(x), theirs(tx)
    assert y.dtype == dtype
    np.testing.assert_allclose(y.data, ty.detach().numpy(), **TOL[dtype])
    y.backward(cr.tensor(ga))
    ty.backward(torch.from_numpy(ga))
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), **TOL[dtype])
    assert repr(ours) == repr(theirs)


def test_softmax_implicit_dim_warns_like_torch():
    torch = pytest.importorskip("torch")
    xa = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    for ndim_x in (xa, xa[0]):  # 3-D: dim 0; 2-D: dim 1
        with pytest.warns(UserWarning, match="Implicit dimension"):
            y = nn.Softmax()(cr.tensor(ndim_x))
        with pytest.warns(UserWarning):
            ty = torch.nn.Softmax()(torch.from_numpy(ndim_x))
        np.testing.assert_allclose(y.data, ty.numpy(), rtol=1e-5)


def test_gradcheck_float64():
    cr.manual_seed(0)
    x = cr.randn(3, 4, dtype=cr.float64, requires_grad=True)
    for m in (nn.Sigmoid(), nn.Tanh(), nn.Softplus(beta=1.5), nn.Softmax(1), nn.LogSoftmax(0),
              nn.LeakyReLU(0.1)):
        assert cr.autograd.gradcheck(m, [x])


def test_inplace_flag_is_accepted():
    assert repr(nn.ReLU(inplace=True)) == "ReLU(inplace=True)"
    x = cr.tensor([-1.0, 2.0])
    y = nn.ReLU(inplace=True)(x)
    np.testing.assert_array_equal(y.data, [0.0, 2.0])
