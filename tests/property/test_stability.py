"""Numerical stability at huge logits: softmax, log_softmax, logsumexp, BCE-with-logits and
cross-entropy give finite, correct values and gradients at |x| = 1e4, where exp(x) overflows
(float32 overflows above 88.7, float64 above 709.8).

The references are float64 NumPy formulas written here from the definitions, shifted by the max
(m = max_j x_j):

    softmax p_j = exp(x_j - m) / sum_k exp(x_k - m)     d<w, p>/dx = p (w - <w, p>)
    log_softmax = x - m - log sum_k exp(x_k - m)         d<w, .>/dx = w - p sum_k w_k
    logsumexp   = m + log sum_k exp(x_k - m)             d(w lse)/dx = w p
    BCE(x, y)   = max(x, 0) - x y + log1p(exp(-|x|))     d/dx = sigmoid(x) - y
    CE(x, y)    = logsumexp(x) - x_y                     d/dx = p - onehot(y)

evaluated on the very values the op saw (float32 inputs are rounded first, then widened), so
only the op's own rounding counts. Fixed cases pin the classic ones (+-1e4 in one row, ties at
the max, 1e4 - 1 next to 1e4); hypothesis adds random ones.
"""
import numpy as np
import pytest

from .support import DTYPES, PROFILE, SEEDS, assert_close

from hypothesis import given  # noqa: E402  (support skips the module without hypothesis)
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.nn import functional as F  # noqa: E402

BIG = 1e4
FIXED = np.array([[BIG, 0.0, -BIG, BIG - 1],
                  [-BIG, -BIG, -BIG, -BIG + 0.5],
                  [BIG, BIG, -BIG, 0.0],
                  [-BIG, BIG, 1.0, -1.0]])


# ---- float64 references ------------------------------------------------------------------------

def _shift(x, dim):
    m = np.max(x, axis=dim, keepdims=True)
    e = np.exp(x - m)
    s = np.sum(e, axis=dim, keepdims=True)
    return m, e / s, np.log(s)


def ref_softmax(x, w, dim):
    _, p, _ = _shift(x, dim)
    return p, p * (w - np.sum(w * p, axis=dim, keepdims=True))


def ref_log_softmax(x, w, dim):
    m, p, logs = _shift(x, dim)
    return x - m - logs, w - p * np.sum(w, axis=dim, keepdims=True)


def ref_logsumexp(x, w, dim):
    m, p, logs = _shift(x, dim)
    return np.squeeze(m + logs, dim), np.expand_dims(w, dim) * p


def _sigmoid(x):
    e = np.exp(-np.abs(x))  # in (0, 1]: no overflow
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def ref_bce(x, y, reduction):
    l = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
    g = _sigmoid(x) - y
    if reduction == "mean":
        return l.mean(), g / x.size
    return (l.sum(), g) if reduction == "sum" else (l, g)


def ref_cross_entropy(x, y, reduction):
    m, p, logs = _shift(x, 1)
    lse = (m + logs)[:, 0]
    l = lse - x[np.arange(len(y)), y]
    g = p.copy()
    g[np.arange(len(y)), y] -= 1
    if reduction == "mean":
        return l.mean(), g / len(y)
    return (l.sum(), g) if reduction == "sum" else (l, g)


# ---- running chainrule --------------------------------------------------------------------------

def run(fn, x, dtype, w=None):
    """fn(x) and the gradient of <w, fn(x)> (or of fn(x) for a scalar), as float64 arrays."""
    xt = cr.tensor(x.astype(dtype), requires_grad=True)
    out = fn(xt)
    if w is None:
        out.backward()
    else:
        out.backward(cr.tensor(w.astype(dtype)))
    assert out.dtype == np.dtype(dtype) and xt.grad.dtype == np.dtype(dtype)
    return out.data.astype(np.float64), xt.grad.data.astype(np.float64)


def check(name, got, ref, dtype):
    for what, g, r in (("value", got[0], ref[0]), ("gradient", got[1], ref[1])):
        assert np.all(np.isfinite(g)), f"{name} {dtype}: non-finite {what}: {g}"
        assert_close(g, r, dtype, f"{name} {dtype}: {what}", floor=1.0 if what == "gradient"
                     else 0.0)


SOFT = {"softmax": (cr.softmax, ref_softmax), "log_softmax": (cr.log_softmax, ref_log_softmax),
        "logsumexp": (cr.logsumexp, ref_logsumexp)}


def check_soft(name, x, dtype, dim, rng):
    fn, ref = SOFT[name]
    x = x.astype(dtype).astype(np.float64)  # the values the op sees
    out_shape = np.delete(np.array(x.shape), dim) if name == "logsumexp" else x.shape
    w = rng.standard_normal(tuple(out_shape)).astype(dtype).astype(np.float64)
    check(f"{name}(dim={dim})", run(lambda t: fn(t, dim=dim), x, dtype, w), ref(x, w, dim), dtype)


# ---- fixed cases -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("name", list(SOFT))
def test_softmax_family_at_1e4(name, dim, dtype):
    check_soft(name, FIXED, dtype, dim, np.random.default_rng(0))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_at_1e4(reduction, dtype):
    x = FIXED.astype(dtype).astype(np.float64)
    y = (np.arange(x.size).reshape(x.shape) % 3 == 0).astype(np.float64)  # right and wrong signs
    yt = cr.tensor(y.astype(dtype))
    w = None if reduction != "none" else np.random.default_rng(1).standard_normal(x.shape)
    got = run(lambda t: F.binary_cross_entropy_with_logits(t, yt, reduction=reduction), x, dtype,
              w)
    l, g = ref_bce(x, y, reduction)
    check(f"BCE-with-logits({reduction})", got, (l, g if w is None else g * w), dtype)


def test_bce_with_logits_at_1e4_exact_values():
    """A confident right answer costs 0, a confident wrong one costs |x|, the gradient is
    sigmoid(x) - y: exactly 0 or +-1, never NaN."""
    x = cr.tensor([BIG, -BIG, BIG, -BIG], requires_grad=True)
    y = cr.tensor([1.0, 0.0, 0.0, 1.0])
    l = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    np.testing.assert_array_equal(l.data, [0.0, 0.0, BIG, BIG])
    l.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 1.0, -1.0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_at_1e4(reduction, dtype):
    x = FIXED.astype(dtype).astype(np.float64)
    y = np.array([0, 3, 2, 1])  # the max, a near-max, the min (a 2e4 loss), ...
    w = None if reduction != "none" else np.random.default_rng(2).standard_normal(len(y))
    got = run(lambda t: F.cross_entropy(t, cr.tensor(y), reduction=reduction), x, dtype, w)
    l, g = ref_cross_entropy(x, y, reduction)
    check(f"cross_entropy({reduction})", got, (l, g if w is None else g * w[:, None]), dtype)


def test_cross_entropy_of_a_confidently_wrong_row_is_the_logit_gap():
    x = cr.tensor([[BIG, -BIG]], requires_grad=True)
    loss = F.cross_entropy(x, cr.tensor([1]))
    assert loss.item() == 2 * BIG
    loss.backward()
    np.testing.assert_array_equal(x.grad.data, [[1.0, -1.0]])


# ---- random cases ------------------------------------------------------------------------------

def _huge_logits(data):
    """(N, C) logits of magnitude about 1e4: random signs times 1e4, plus offsets from 0 to 10
    (so several entries may sit within a few units of the max)."""
    shape = data.draw(hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=5),
                      label="shape")
    rng = np.random.default_rng(data.draw(SEEDS, label="seed"))
    return rng.choice([-BIG, BIG], shape) + rng.uniform(0, 10, shape) * rng.integers(0, 2, shape)


@pytest.mark.parametrize("name", list(SOFT))
@PROFILE
@given(data=st.data())
def test_softmax_family_random_huge_logits(name, data):
    x = _huge_logits(data)
    dim = data.draw(st.sampled_from([0, 1, -1]), label="dim")
    dtype = data.draw(DTYPES, label="dtype")
    check_soft(name, x, dtype, dim, np.random.default_rng(3))


@PROFILE
@given(data=st.data())
def test_losses_random_huge_logits(data):
    x = _huge_logits(data)
    dtype = data.draw(DTYPES, label="dtype")
    reduction = data.draw(st.sampled_from(["mean", "sum"]), label="reduction")
    xs = x.astype(dtype).astype(np.float64)
    rng = np.random.default_rng(4)
    y = rng.integers(0, x.shape[1], x.shape[0])
    got = run(lambda t: F.cross_entropy(t, cr.tensor(y), reduction=reduction), xs, dtype)
    check(f"cross_entropy({reduction})", got, ref_cross_entropy(xs, y, reduction), dtype)
    yb = rng.integers(0, 2, x.shape).astype(np.float64)
    got = run(lambda t: F.binary_cross_entropy_with_logits(t, cr.tensor(yb.astype(dtype)),
                                                           reduction=reduction), xs, dtype)
    check(f"BCE-with-logits({reduction})", got, ref_bce(xs, yb, reduction), dtype)
