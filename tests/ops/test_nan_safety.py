"""NaN-safe backward at edge points (src/chainrule/ops/elementwise.py, reduce.py) and anomaly
detection naming the op that made a non-finite gradient (src/chainrule/autograd/anomaly.py).

The rule: no NaN gradient where the forward is finite and the masked branch is not taken. An
element whose incoming gradient is exactly 0 (the branch ``where`` or ``masked_fill`` did not
take) gets gradient 0 even where the op's derivative is infinite (sqrt, log, 1/b at 0, exp
overflow). There chainrule differs on purpose from PyTorch, which gives 0 * inf = NaN; every
other value, including the inf of d sqrt(x)/dx at 0 when the branch is taken, equals PyTorch's.
"""
import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import detect_anomaly

from .registry import import_torch

DTYPES = ["float64", "float32"]


def grads(lib, fn, *values, dtype="float64"):
    """Gradients of fn(*xs).sum() with respect to each x, as float64 arrays."""
    if lib is cr:
        xs = [cr.tensor(np.array(v, dtype), requires_grad=True) for v in values]
    else:
        xs = [lib.tensor(np.array(v, dtype), requires_grad=True) for v in values]
    with np.errstate(all="ignore"):
        out = fn(lib, *xs)
        out.sum().backward()
    return [np.asarray(x.grad.data if lib is cr else x.grad.numpy(), np.float64) for x in xs]


# ---- masked branches: gradient exactly 0, never NaN -------------------------------------------

MASKED = [
    # name, fn(lib, *xs), inputs, expected gradients
    ("where-sqrt", lambda lib, x: lib.where(x > 0, lib.sqrt(x), 0.0),
     ([0.0, -1.0, 4.0],), [[0.0, 0.0, 0.25]]),
    ("where-pow-half", lambda lib, x: lib.where(x > 0, x ** 0.5, 0.0),
     ([0.0, 4.0],), [[0.0, 0.25]]),
    ("where-rsqrt", lambda lib, x: lib.where(x > 0, lib.rsqrt(x), 0.0),
     ([0.0, 4.0],), [[0.0, -0.5 / 8]]),
    ("where-log", lambda lib, x: lib.where(x > 0, lib.log(x), 0.0),
     ([0.0, -2.0, 4.0],), [[0.0, 0.0, 0.25]]),
    ("where-log1p", lambda lib, x: lib.where(x > -1, lib.log1p(x), 0.0),
     ([-1.0, 1.0],), [[0.0, 0.5]]),
    ("where-reciprocal", lambda lib, x: lib.where(x != 0, 1 / x, 0.0),
     ([0.0, 4.0],), [[0.0, -1 / 16]]),
    ("where-div-both", lambda lib, a, b: lib.where(b != 0, a / b, 0.0),
     ([1.0, 0.0, 3.0], [0.0, 0.0, 2.0]), [[0.0, 0.0, 0.5], [0.0, 0.0, -0.75]]),
    ("where-pow-tensors", lambda lib, a, b: lib.where(a > 0, a ** b, 0.0),
     ([0.0, 4.0], [0.5, 0.5]), [[0.0, 0.25], [0.0, 2.0 * np.log(4.0)]]),
    ("where-exp-overflow", lambda lib, x: lib.where(x < 50, lib.exp(x), 0.0),
     ([1000.0, 0.0],), [[0.0, 1.0]]),
    ("where-false-branch", lambda lib, x: lib.where(x <= 0, 0.0, lib.sqrt(x)),
     ([0.0, 4.0],), [[0.0, 0.25]]),
    ("masked_fill-log", lambda lib, x: lib.log(x).masked_fill(x <= 0, 0.0),
     ([0.0, 4.0],), [[0.0, 0.25]]),
    ("where-sqrt-of-sum-of-squares", lambda lib, x: lib.where((x * x).sum(-1) > 0,
                                                             lib.sqrt((x * x).sum(-1)), 0.0),
     ([[0.0, 0.0], [3.0, 4.0]],), [[[0.0, 0.0], [0.6, 0.8]]]),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, fn, inputs, expected", MASKED, ids=[m[0] for m in MASKED])
def test_branch_not_taken_gets_zero_gradient_not_nan(name, fn, inputs, expected, dtype):
    got = grads(cr, fn, *inputs, dtype=dtype)
    for g, e in zip(got, expected):
        assert np.all(np.isfinite(g)), f"{name}: non-finite gradient {g}"
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("name, fn, inputs, expected", MASKED, ids=[m[0] for m in MASKED])
def test_taken_branches_equal_torch(name, fn, inputs, expected):
    """Where torch's gradient is finite it equals ours; where it is NaN (its 0 * inf at a masked
    element) ours is the 0 of the rule."""
    torch = import_torch()
    ours = grads(cr, fn, *inputs)
    theirs = grads(torch, fn, *inputs)
    for g, t in zip(ours, theirs):
        finite = np.isfinite(t)
        np.testing.assert_allclose(g[finite], t[finite], rtol=1e-12, err_msg=name)
        np.testing.assert_array_equal(g[~finite], 0.0, err_msg=name)


# ---- edges that are taken: the same values as PyTorch, inf included ---------------------------

EDGES = [
    ("sqrt-at-0", lambda lib, x: lib.sqrt(x), ([0.0, 4.0],)),  # [inf, 0.25]
    ("rsqrt-at-0", lambda lib, x: lib.rsqrt(x), ([0.0, 4.0],)),  # [-inf, ...]
    ("log-at-0", lambda lib, x: lib.log(x), ([0.0, 4.0],)),  # [inf, 0.25]
    ("reciprocal-at-0", lambda lib, x: 1 / x, ([0.0, 4.0],)),  # [-inf, ...]
    ("pow-half-at-0", lambda lib, x: x ** 0.5, ([0.0, 4.0],)),
    ("pow-2-at-0", lambda lib, x: x ** 2, ([0.0, -3.0],)),
    ("pow-tensors-at-0", lambda lib, a, b: a ** b, ([0.0, 0.0, 2.0], [2.0, 0.5, 3.0])),
    ("exp-overflow", lambda lib, x: lib.exp(x), ([1000.0, 1.0],)),
    ("norm-zero-vector", lambda lib, x: lib.norm(x), ([0.0, 0.0, 0.0],)),
    ("norm-zero-rows", lambda lib, x: lib.norm(x, dim=1), ([[0.0, 0.0], [3.0, 4.0]],)),
    ("norm-zero-matrix-fro", lambda lib, x: lib.norm(x, dim=(1, 2), keepdim=True),
     (np.zeros((2, 2, 3)),)),
    ("norm-p1-zero", lambda lib, x: lib.norm(x, p=1), ([0.0, 0.0, 2.0],)),
    ("std-constant-rows", lambda lib, x: lib.std(x, dim=1), ([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]],)),
    ("where-sqrt-taken-at-0", lambda lib, x: lib.where(x >= 0, lib.sqrt(x), 0.0),
     ([0.0, 4.0],)),  # the branch is taken at 0: inf, as PyTorch
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, fn, inputs", EDGES, ids=[e[0] for e in EDGES])
def test_edge_gradients_equal_torch(name, fn, inputs, dtype):
    torch = import_torch()
    ours = grads(cr, fn, *inputs, dtype=dtype)
    theirs = grads(torch, fn, *inputs, dtype=dtype)
    for g, t in zip(ours, theirs):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(t), err_msg=f"{name}: NaN pattern")
        np.testing.assert_allclose(g, t, rtol=1e-5, err_msg=name)  # infs must match exactly


def test_norm_at_zero_matches_torch_linalg_vector_norm():
    torch = import_torch()
    x = cr.zeros(4, 3, dtype=cr.float64, requires_grad=True)
    cr.norm(x, dim=1).sum().backward()
    tx = torch.zeros(4, 3, dtype=torch.float64, requires_grad=True)
    torch.linalg.vector_norm(tx, dim=1).sum().backward()
    np.testing.assert_array_equal(x.grad.data, tx.grad.numpy())
    np.testing.assert_array_equal(x.grad.data, 0.0)


def test_forward_value_kept_when_branch_is_masked():
    x = cr.tensor([0.0, -1.0, 4.0], dtype=cr.float64, requires_grad=True)
    with np.errstate(invalid="ignore"):
        y = cr.where(x > 0, cr.sqrt(x), 0.0)
    np.testing.assert_array_equal(y.data, [0.0, 0.0, 2.0])


def test_nan_from_a_taken_nan_forward_still_propagates():
    """The rule only removes 0 * inf: a NaN gradient that comes in (or a NaN derivative where the
    gradient is not 0) stays visible."""
    x = cr.tensor([-1.0, 4.0], dtype=cr.float64, requires_grad=True)
    with np.errstate(invalid="ignore"):
        cr.sqrt(x).sum().backward()
    assert np.isnan(x.grad.data[0]) and x.grad.data[1] == 0.25


# ---- anomaly detection -------------------------------------------------------------------------

def _line_of(marker):
    """The line number of the source line of this file holding ``marker``."""
    with open(__file__) as f:
        hits = [i for i, line in enumerate(f, start=1) if marker in line and "_line_of" not in line]
    assert len(hits) == 1, hits
    return hits[0]


def test_anomaly_names_the_op_and_the_line_that_created_it():
    x = cr.tensor([0.0, 1.0], dtype=cr.float64, requires_grad=True)
    w = cr.tensor([2.0, 3.0], dtype=cr.float64)  # a constant: MulBackward gives only w * g
    with detect_anomaly():
        with np.errstate(divide="ignore"):
            y = x.log()  # MARK-LOG
        loss = (y * w).sum()
        with pytest.raises(RuntimeError) as info:
            loss.backward()
    msg = str(info.value)
    assert "LogBackward" in msg and "non-finite" in msg, msg
    assert f"test_nan_safety.py:{_line_of('# MARK-LOG')}" in msg, msg
    assert "x.log()" in msg, msg  # the source line itself


def test_anomaly_stops_at_the_first_op_in_backward_order():
    """d/dx of exp(sqrt(x)) at x = 0: SqrtBackward makes the first inf; ExpBackward, run before
    it, is finite, and the Mul below, which would pass the inf on, is never reached."""
    x = cr.tensor([0.0, 4.0], dtype=cr.float64, requires_grad=True)
    with detect_anomaly():
        h = x * 1.0
        s = h.sqrt()  # MARK-SQRT
        loss = s.exp().sum()
        with pytest.raises(RuntimeError) as info:
            loss.backward()
    msg = str(info.value)
    assert "SqrtBackward" in msg and "Mul" not in msg and "Exp" not in msg, msg
    assert f"test_nan_safety.py:{_line_of('# MARK-SQRT')}" in msg, msg
    assert x.grad is None  # stopped before reaching the leaf


def test_anomaly_names_inf_as_well_as_nan():
    x = cr.tensor([0.0], dtype=cr.float64, requires_grad=True)
    with detect_anomaly(), np.errstate(divide="ignore"):
        y = 1 / x
        with pytest.raises(RuntimeError, match="DivBackward"):
            y.sum().backward()


def test_anomaly_is_silent_for_masked_branches():
    """With the NaN-safe backward a where-masked sqrt/log/div is no anomaly."""
    x = cr.tensor([0.0, -1.0, 4.0], dtype=cr.float64, requires_grad=True)
    with detect_anomaly():
        with np.errstate(all="ignore"):
            y = cr.where(x > 0, cr.sqrt(x) + cr.log(x) + 1 / x, 0.0)
        y.sum().backward()
    assert np.all(np.isfinite(x.grad.data))


def test_anomaly_of_an_op_made_outside_the_context_says_so():
    x = cr.tensor([-1.0], dtype=cr.float64, requires_grad=True)
    with np.errstate(invalid="ignore"):
        y = x.sqrt().sum()
    with detect_anomaly():
        with pytest.raises(RuntimeError) as info:
            y.backward()
    assert "SqrtBackward" in str(info.value) and "before detect_anomaly" in str(info.value)


def test_detect_anomaly_is_a_flag_restored_on_exit():
    assert not cr.autograd.is_anomaly_enabled()
    with detect_anomaly():
        assert cr.autograd.is_anomaly_enabled()
        with detect_anomaly(False):
            assert not cr.autograd.is_anomaly_enabled()
        assert cr.autograd.is_anomaly_enabled()
    assert not cr.autograd.is_anomaly_enabled()
