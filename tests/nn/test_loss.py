"""Tests of chainrule.nn.loss: each loss module against torch.nn's, with its constructor
arguments; buffers, repr, deprecated flags and argument errors."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import loss as nnl
from chainrule.nn.module import Module

pytestmark = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")


def _rng(seed=0):
    return np.random.default_rng(seed)


def _probs(rng, shape):
    t = rng.random(shape) + 0.05
    return t / t.sum(axis=-1, keepdims=True)


def _data(kind, rng):
    """(input, target) arrays for a kind of loss."""
    if kind == "class":
        return rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    if kind == "logprob":
        s = rng.standard_normal((6, 4))
        return s - np.log(np.exp(s).sum(1, keepdims=True)), rng.integers(0, 4, 6)
    if kind == "prob":
        return rng.uniform(0.05, 0.95, (5, 3)), rng.random((5, 3))
    if kind == "kl":
        return np.log(_probs(rng, (5, 3))), _probs(rng, (5, 3))
    return rng.standard_normal((5, 3)) * 2, rng.standard_normal((5, 3))


W4 = np.array([0.5, 1.0, 2.0, 0.25])
# name, kind, kwargs (arrays become tensors on each side)
MODULES = [
    ("CrossEntropyLoss", "class", {}),
    ("CrossEntropyLoss", "class", {"weight": W4, "label_smoothing": 0.1, "reduction": "sum"}),
    ("CrossEntropyLoss", "class", {"ignore_index": 2, "reduction": "none"}),
    ("NLLLoss", "logprob", {}),
    ("NLLLoss", "logprob", {"weight": W4, "ignore_index": 1}),
    ("BCELoss", "prob", {}),
    ("BCELoss", "prob", {"weight": np.array([1.0, 2.0, 0.5]), "reduction": "none"}),
    ("BCEWithLogitsLoss", "real", {}),
    ("BCEWithLogitsLoss", "real", {"pos_weight": np.array([3.0, 1.0, 0.5]),
                                   "weight": np.array([[1.0], [2.0], [1.0], [0.5], [1.0]])}),
    ("MSELoss", "real", {}),
    ("MSELoss", "real", {"reduction": "sum"}),
    ("L1Loss", "real", {"reduction": "none"}),
    ("SmoothL1Loss", "real", {"beta": 0.5}),
    ("HuberLoss", "real", {"delta": 0.7, "reduction": "sum"}),
    ("KLDivLoss", "kl", {"reduction": "batchmean"}),
    ("KLDivLoss", "kl", {}),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kind,kwargs", MODULES)
def test_module_against_torch(name, kind, kwargs, dtype):
    torch = pytest.importorskip("torch")
    rng = _rng(len(name) + len(kwargs))
    x, y = _data(kind, rng)
    y = y.astype(dtype) if y.dtype.kind == "f" else y
    ours = getattr(nnl, name)(**{k: cr.tensor(v.astype(dtype)) if isinstance(v, np.ndarray)
                                 else v for k, v in kwargs.items()})
    theirs = getattr(torch.nn, name)(**{k: torch.tensor(v.astype(dtype))
                                        if isinstance(v, np.ndarray) else v
                                        for k, v in kwargs.items()})
    assert isinstance(ours, Module)
    xa = cr.tensor(x.astype(dtype), requires_grad=True)
    xt = torch.tensor(x.astype(dtype), requires_grad=True)
    out = ours(xa, cr.tensor(y))
    ref = theirs(xt, torch.tensor(y))
    tol = dict(rtol=1e-4, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), **tol)
    g = rng.standard_normal(out.shape).astype(dtype)
    out.backward(cr.tensor(g))
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(xa.grad.data, xt.grad.numpy(), **tol)


def test_training_step_learns():
    """A linear classifier trained with CrossEntropyLoss: the loss goes down."""
    rng = _rng(1)
    x = cr.tensor(rng.standard_normal((32, 5)))
    y = cr.tensor((x.data[:, 0] > 0).astype(np.int64))
    w = cr.tensor(np.zeros((5, 2)), requires_grad=True)
    crit = nnl.CrossEntropyLoss()
    first = None
    for _ in range(30):
        loss = crit(x @ w, y)
        first = loss.item() if first is None else first
        w.grad = None
        loss.backward()
        with cr.no_grad():
            w -= 0.5 * w.grad
    assert first == pytest.approx(np.log(2))
    assert loss.item() < 0.5 * first


def test_weight_is_a_buffer():
    w = cr.tensor(np.array([1.0, 2.0, 3.0], np.float32))
    crit = nnl.CrossEntropyLoss(weight=w)
    assert crit.weight is w
    assert list(crit.state_dict()) == ["weight"]
    assert list(crit.parameters()) == []
    crit.double()
    assert crit.weight.dtype == np.float64
    assert list(nnl.CrossEntropyLoss().state_dict()) == []
    bce = nnl.BCEWithLogitsLoss(pos_weight=cr.tensor([2.0]))
    assert list(bce.state_dict()) == ["pos_weight"]


def test_extra_repr():
    assert repr(nnl.MSELoss()) == "MSELoss(reduction='mean')"
    assert repr(nnl.CrossEntropyLoss(weight=cr.ones(3), ignore_index=0, label_smoothing=0.1,
                                     reduction="sum")) == \
        "CrossEntropyLoss(reduction='sum', weight=<(3,)>, ignore_index=0, label_smoothing=0.1)"
    assert repr(nnl.NLLLoss()) == "NLLLoss(reduction='mean')"
    assert repr(nnl.BCEWithLogitsLoss(pos_weight=cr.ones(4))) == \
        "BCEWithLogitsLoss(reduction='mean', pos_weight=<(4,)>)"
    assert repr(nnl.SmoothL1Loss(beta=0.5)) == "SmoothL1Loss(reduction='mean', beta=0.5)"
    assert repr(nnl.HuberLoss(delta=2.0)) == "HuberLoss(reduction='mean', delta=2.0)"
    assert repr(nnl.KLDivLoss(reduction="batchmean", log_target=True)) == \
        "KLDivLoss(reduction='batchmean', log_target=True)"
    assert repr(nnl.L1Loss(reduction="none")) == "L1Loss(reduction='none')"
    assert repr(nnl.BCELoss()) == "BCELoss(reduction='mean')"


@pytest.mark.parametrize("size_average,reduce,expected", [
    (None, False, "none"), (False, None, "sum"), (True, True, "mean"), (False, False, "none")])
def test_deprecated_size_average_and_reduce(size_average, reduce, expected):
    with pytest.warns(DeprecationWarning, match=f"MSELoss: size_average and reduce are "
                                                f"deprecated; use reduction='{expected}'"):
        crit = nnl.MSELoss(size_average=size_average, reduce=reduce)
    assert crit.reduction == expected


@pytest.mark.parametrize("cls", [nnl.CrossEntropyLoss, nnl.NLLLoss, nnl.BCELoss,
                                 nnl.BCEWithLogitsLoss, nnl.MSELoss, nnl.L1Loss,
                                 nnl.SmoothL1Loss, nnl.HuberLoss, nnl.KLDivLoss])
def test_bad_reduction_in_constructor(cls):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: reduction must be one of 'mean', "
                                         rf"'sum', 'none'.* got 'avg'"):
        cls(reduction="avg")


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"CrossEntropyLoss: label_smoothing must be in \[0, 1\]"):
        nnl.CrossEntropyLoss(label_smoothing=-0.1)
    with pytest.raises(ValueError, match=r"SmoothL1Loss: beta must be >= 0"):
        nnl.SmoothL1Loss(beta=-1.0)
    with pytest.raises(ValueError, match=r"HuberLoss: delta must be > 0"):
        nnl.HuberLoss(delta=0.0)
    with pytest.raises(TypeError, match=r"CrossEntropyLoss: cannot assign list object to buffer "
                                        r"'weight'"):
        nnl.CrossEntropyLoss(weight=[1.0, 2.0])
    # errors of the functional come through, naming the function and the shapes
    with pytest.raises(ValueError, match=r"mse_loss: expected target of the input's shape "
                                         r"\(2, 3\), got \(3,\)"):
        nnl.MSELoss()(cr.zeros(2, 3), cr.zeros(3))
    with pytest.raises(IndexError, match=r"cross_entropy: target class index 3 is out of range "
                                         r"\[0, 3\)"):
        nnl.CrossEntropyLoss()(cr.zeros(2, 3), cr.tensor([0, 3]))
