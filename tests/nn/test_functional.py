"""nn.functional: torch.nn.functional's names and results."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import functional as F

RNG = np.random.default_rng(0)
X = (RNG.standard_normal((4, 6)) * 3).astype(np.float32)

UNARY = [  # (name, our kwargs = torch kwargs)
    ("relu", {}), ("leaky_relu", {"negative_slope": 0.3}), ("sigmoid", {}), ("tanh", {}),
    ("softplus", {"beta": 2.0, "threshold": 5.0}), ("softmax", {"dim": 1}),
    ("softmax", {"dim": 0}), ("log_softmax", {"dim": -1}),
]


@pytest.mark.parametrize("name,kwargs", UNARY)
def test_unary_match_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    x = cr.tensor(X, requires_grad=True)
    tx = torch.tensor(X, requires_grad=True)
    y, ty = getattr(F, name)(x, **kwargs), getattr(torch.nn.functional, name)(tx, **kwargs)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-4, atol=1e-6)
    g = RNG.standard_normal(X.shape).astype(np.float32)
    y.backward(cr.tensor(g))
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_linear_embedding_pad_match_torch():
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    w = RNG.standard_normal((3, 6)).astype(np.float32)
    b = RNG.standard_normal(3).astype(np.float32)
    np.testing.assert_allclose(F.linear(cr.tensor(X), cr.tensor(w), cr.tensor(b)).data,
                               tF.linear(*map(torch.from_numpy, (X, w, b))).numpy(), rtol=1e-5)
    np.testing.assert_allclose(F.linear(cr.tensor(X), cr.tensor(w)).data,
                               tF.linear(torch.from_numpy(X), torch.from_numpy(w)).numpy(),
                               rtol=1e-5)
    idx = np.array([[0, 2], [1, 0]])
    np.testing.assert_array_equal(F.embedding(cr.tensor(idx), cr.tensor(w)).data,
                                  tF.embedding(torch.from_numpy(idx), torch.from_numpy(w)).numpy())
    np.testing.assert_array_equal(F.pad(cr.tensor(X), (1, 2, 0, 1), value=-1.0).data,
                                  tF.pad(torch.from_numpy(X), (1, 2, 0, 1), value=-1.0).numpy())


def test_dropout():
    x = cr.ones(200, 50)
    assert F.dropout(x, 0.5, training=False) is x
    cr.manual_seed(0)
    y = F.dropout(x)  # p = 0.5, training = True by default, as torch
    assert abs((y.data == 0).mean() - 0.5) < 0.02 and set(np.unique(y.data)) == {0.0, 2.0}


def test_one_hot_matches_torch():
    torch = pytest.importorskip("torch")
    t = np.array([[0, 3], [2, 1]])
    for n in (-1, 5):
        y = F.one_hot(cr.tensor(t), n)
        assert y.dtype == np.int64 and not y.requires_grad
        np.testing.assert_array_equal(y.data, torch.nn.functional.one_hot(torch.from_numpy(t),
                                                                         n).numpy())
    assert F.one_hot(cr.tensor(2), 3).tolist() == [0, 0, 1]
    with pytest.raises(IndexError, match="index 3 is out of range"):
        F.one_hot(cr.tensor([3]), 3)
    with pytest.raises(TypeError, match="integer"):
        F.one_hot(cr.tensor([1.0]))


def test_losses_are_reexported():
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    logits = RNG.standard_normal((5, 3)).astype(np.float32)
    target = np.array([0, 2, 1, 1, 0])
    prob = 1 / (1 + np.exp(-logits))
    y01 = (RNG.random((5, 3)) > 0.5).astype(np.float32)
    L, T = cr.tensor, torch.from_numpy
    pairs = [
        (F.cross_entropy(L(logits), L(target)), tF.cross_entropy(T(logits), T(target))),
        (F.nll_loss(L(logits), L(target)), tF.nll_loss(T(logits), T(target))),
        (F.binary_cross_entropy(L(prob), L(y01)), tF.binary_cross_entropy(T(prob), T(y01))),
        (F.binary_cross_entropy_with_logits(L(logits), L(y01)),
         tF.binary_cross_entropy_with_logits(T(logits), T(y01))),
        (F.mse_loss(L(logits), L(prob)), tF.mse_loss(T(logits), T(prob))),
        (F.l1_loss(L(logits), L(prob)), tF.l1_loss(T(logits), T(prob))),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-5)


def test_names_exist():
    for name in F.__all__:
        assert callable(getattr(F, name)), name
