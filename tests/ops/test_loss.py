"""Tests of chainrule.ops.loss: values and gradients against PyTorch, gradcheck of every fused
Function, stability for huge scores, the notes' error e = Y - p, and clear errors."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import gradcheck
from chainrule.ops import loss as L

pytestmark = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")

REDUCTIONS = ["mean", "sum", "none"]
TOL = {np.float32: dict(rtol=1e-4, atol=1e-6), np.float64: dict(rtol=1e-6, atol=1e-10)}


def _rng(seed=0):
    return np.random.default_rng(seed)


def _probs(rng, shape, axis=1):
    t = rng.random(shape) + 0.05
    return t / t.sum(axis=axis, keepdims=True)


# Each case: arrays(rng) -> list of arrays (floating ones are cast to the tested dtype),
# which of them get gradients, and the chainrule / torch calls given (tensors, reduction, lib).
def _ce_case(shape, classes_dim=1, weight=False, ignore=False, eps=0.0):
    def arrays(rng):
        s = rng.standard_normal(shape) * 2
        C = shape[classes_dim] if len(shape) > 1 else shape[0]
        tshape = (shape[0],) + shape[2:] if len(shape) > 1 else ()
        y = rng.integers(0, C, tshape)
        if ignore and y.ndim:
            y.flat[1] = -100
        out = [s, np.asarray(y, np.int64)]
        if weight:
            out.append(rng.random(C) + 0.1)
        return out

    def call(lib, ts, reduction):
        kw = dict(reduction=reduction, label_smoothing=eps)
        if weight:
            kw["weight"] = ts[2]
        return lib.cross_entropy(ts[0], ts[1], **kw)

    return arrays, (True, False, False), call


def _ce_probs_case(shape, weight=False, eps=0.0):
    def arrays(rng):
        out = [rng.standard_normal(shape) * 2, _probs(rng, shape)]
        if weight:
            out.append(rng.random(shape[1]) + 0.1)
        return out

    def call(lib, ts, reduction):
        kw = dict(reduction=reduction, label_smoothing=eps)
        if weight:
            kw["weight"] = ts[2]
        return lib.cross_entropy(ts[0], ts[1], **kw)

    return arrays, (True, True, False), call


def _nll_case(shape, weight=False, ignore=False):
    ce_arrays = _ce_case(shape, weight=weight, ignore=ignore)[0]

    def arrays(rng):
        a = ce_arrays(rng)
        s = a[0]
        a[0] = s - np.log(np.exp(s).sum(axis=1, keepdims=True))  # log-probabilities
        return a

    def call(lib, ts, reduction):
        kw = dict(reduction=reduction)
        if weight:
            kw["weight"] = ts[2]
        return lib.nll_loss(ts[0], ts[1], **kw)

    return arrays, (True, False, False), call


def _bce_case(weight=False):
    def arrays(rng):
        out = [rng.uniform(0.05, 0.95, (4, 3)), rng.random((4, 3))]
        if weight:
            out.append(rng.random(3) + 0.1)
        return out

    def call(lib, ts, reduction):
        kw = dict(reduction=reduction)
        if weight:
            kw["weight"] = ts[2]
        return lib.binary_cross_entropy(ts[0], ts[1], **kw)

    return arrays, (True, True, False), call


def _bcel_case(weight=False, pos_weight=False):
    def arrays(rng):
        out = [rng.standard_normal((4, 3)) * 3, rng.random((4, 3))]
        out.append(rng.random((4, 1)) + 0.1 if weight else None)
        out.append(rng.random(3) * 3 if pos_weight else None)
        return out

    def call(lib, ts, reduction):
        return lib.binary_cross_entropy_with_logits(ts[0], ts[1], weight=ts[2],
                                                    pos_weight=ts[3], reduction=reduction)

    return arrays, (True, True, False, False), call


def _residual_case(name, **kw):
    def arrays(rng):
        return [rng.standard_normal((3, 4)) * 2, rng.standard_normal((3, 4))]

    def call(lib, ts, reduction):
        return getattr(lib, name)(ts[0], ts[1], reduction=reduction, **kw)

    return arrays, (True, True), call


def _kl_case(log_target):
    def arrays(rng):
        t = _probs(rng, (3, 4))
        t[0, 0] = 0.0  # t log t = 0 at t = 0
        return [np.log(_probs(rng, (3, 4))), np.log(_probs(rng, (3, 4))) if log_target else t]

    def call(lib, ts, reduction):
        return lib.kl_div(ts[0], ts[1], reduction=reduction, log_target=log_target)

    # the target gradient at t = 0 is log 0 = -inf: only checked for log targets
    return arrays, (True, log_target), call


CASES = {
    "ce": _ce_case((6, 5)),
    "ce_weight_ignore": _ce_case((6, 5), weight=True, ignore=True),
    "ce_smoothing": _ce_case((6, 5), eps=0.2),
    "ce_smoothing_weight_ignore": _ce_case((6, 5), weight=True, ignore=True, eps=0.15),
    "ce_kdim": _ce_case((2, 4, 3, 2), weight=True, ignore=True, eps=0.1),
    "ce_unbatched": _ce_case((5,), eps=0.1),
    "ce_probs": _ce_probs_case((6, 5)),
    "ce_probs_weight_smoothing": _ce_probs_case((6, 5), weight=True, eps=0.2),
    "ce_probs_kdim": _ce_probs_case((2, 3, 4), weight=True),
    "nll": _nll_case((6, 5)),
    "nll_weight_ignore": _nll_case((6, 5), weight=True, ignore=True),
    "nll_kdim": _nll_case((2, 4, 3), weight=True, ignore=True),
    "bce": _bce_case(),
    "bce_weight": _bce_case(weight=True),
    "bce_logits": _bcel_case(),
    "bce_logits_weight_pos_weight": _bcel_case(weight=True, pos_weight=True),
    "bce_logits_pos_weight": _bcel_case(pos_weight=True),
    "mse": _residual_case("mse_loss"),
    "l1": _residual_case("l1_loss"),
    "smooth_l1": _residual_case("smooth_l1_loss", beta=0.5),
    "smooth_l1_beta0": _residual_case("smooth_l1_loss", beta=0.0),
    "huber": _residual_case("huber_loss", delta=0.7),
    "kl_div": _kl_case(False),
    "kl_div_log_target": _kl_case(True),
}


def _make(arrays, grads, dtype, torch=None):
    """chainrule (or torch) tensors: floating arrays in ``dtype``, int arrays as int64."""
    out = []
    for a, g in zip(arrays, grads):
        if a is None:
            out.append(None)
            continue
        a = a.astype(dtype) if a.dtype.kind == "f" else a
        if torch is None:
            out.append(cr.tensor(a, requires_grad=g))
        else:
            out.append(torch.tensor(a, requires_grad=g))
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", list(CASES))
def test_against_torch(case, reduction, dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    arrays_fn, grads, call = CASES[case]
    rng = _rng(sum(map(ord, case)))
    arrays = arrays_fn(rng)
    ours = _make(arrays, grads, dtype)
    theirs = _make(arrays, grads, dtype, torch)
    out = call(L, ours, reduction)
    ref = call(F, theirs, reduction)
    assert out.dtype == dtype
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), **TOL[dtype])
    g = rng.standard_normal(out.shape).astype(dtype)
    out.backward(cr.tensor(g))
    ref.backward(torch.tensor(g))
    for k, (a, b) in enumerate(zip(ours, theirs)):
        if a is not None and a.requires_grad:
            assert a.grad.dtype == dtype
            np.testing.assert_allclose(a.grad.data, b.grad.numpy(), **TOL[dtype],
                                       err_msg=f"gradient of input {k}")
        elif a is not None:
            assert a.grad is None


@pytest.mark.parametrize("reduction", ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_batchmean(reduction, log_target):
    torch = pytest.importorskip("torch")
    arrays, grads, call = _kl_case(log_target)
    a = arrays(_rng(3))
    ours, theirs = _make(a, grads, np.float64), _make(a, grads, np.float64, torch)
    out = L.kl_div(*ours, reduction=reduction, log_target=log_target)
    ref = torch.nn.functional.kl_div(*theirs, reduction=reduction, log_target=log_target)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-10)
    out.backward()
    ref.backward()
    np.testing.assert_allclose(ours[0].grad.data, theirs[0].grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("case", list(CASES))
def test_gradcheck(case, reduction):
    arrays_fn, grads, call = CASES[case]
    arrays = arrays_fn(_rng(1))
    if case.startswith(("l1", "smooth_l1", "huber")):
        # residuals away from the kinks at 0, +-beta (0.5) and +-delta (0.7)
        rng = _rng(8)
        mag = np.where(rng.random(arrays[1].shape) < 0.5, rng.uniform(0.2, 0.4, arrays[1].shape),
                       rng.uniform(0.9, 2.0, arrays[1].shape))
        arrays[0] = arrays[1] + np.sign(rng.standard_normal(mag.shape)) * mag
    ts = _make(arrays, grads, np.float64)
    assert gradcheck(lambda *a: call(L, list(a), reduction), ts)


def test_gradcheck_sum_reduction_ce_probs():
    arrays_fn, grads, call = CASES["ce_probs_weight_smoothing"]
    ts = _make(arrays_fn(_rng(2)), grads, np.float64)
    assert gradcheck(lambda *a: call(L, list(a), "sum"), ts)


# ---- the notes' error ---------------------------------------------------------------------------
def test_cross_entropy_gradient_is_p_minus_onehot():
    """notes 2.2: d log p_y / ds = Y - p = e; the mean loss has gradient (p - Y) / N = -e / N."""
    rng = _rng(4)
    s = rng.standard_normal((7, 4))
    y = rng.integers(0, 4, 7)
    st = cr.tensor(s, requires_grad=True)
    L.cross_entropy(st, cr.tensor(y)).backward()
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    Y = np.eye(4)[y]
    np.testing.assert_allclose(st.grad.data, (p - Y) / 7, rtol=1e-12, atol=1e-15)


def test_logistic_gradient_is_sigmoid_minus_y():
    """notes 1.1: d log P / dA = y - p; the mean logistic loss has gradient (p - y) / n."""
    rng = _rng(5)
    a = rng.standard_normal(9) * 3
    y = (rng.random(9) > 0.5).astype(np.float64)
    at = cr.tensor(a, requires_grad=True)
    loss = L.binary_cross_entropy_with_logits(at, cr.tensor(y))
    loss.backward()
    p = 1 / (1 + np.exp(-a))
    np.testing.assert_allclose(at.grad.data, (p - y) / 9, rtol=1e-12)
    # the value is minus the notes' log-likelihood sum_i [y_i A_i - log(1 + exp(A_i))], over n
    np.testing.assert_allclose(loss.item(), -np.mean(y * a - np.log1p(np.exp(a))), rtol=1e-12)


def test_mse_gradient_is_minus_two_e():
    """notes 2.2: d ||y - h||^2 / dh = -2 (y - h) = -2 e."""
    h, y = np.array([[1.0, -2.0], [0.5, 3.0]]), np.array([[0.0, 1.0], [2.0, 2.0]])
    ht = cr.tensor(h, requires_grad=True)
    L.mse_loss(ht, cr.tensor(y), reduction="sum").backward()
    np.testing.assert_allclose(ht.grad.data, -2 * (y - h))


def test_cross_entropy_equals_nll_of_log_softmax():
    rng = _rng(6)
    s = rng.standard_normal((5, 3, 2))
    y = cr.tensor(rng.integers(0, 3, (5, 2)))
    a = cr.tensor(s, requires_grad=True)
    b = cr.tensor(s, requires_grad=True)
    la = L.cross_entropy(a, y)
    lb = L.nll_loss(cr.log_softmax(b, 1), y)
    np.testing.assert_allclose(la.item(), lb.item(), rtol=1e-12)
    la.backward()
    lb.backward()
    np.testing.assert_allclose(a.grad.data, b.grad.data, rtol=1e-10, atol=1e-15)


# ---- stability ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_huge_logits(dtype):
    torch = pytest.importorskip("torch")
    s = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3], [1e4, 1e4, -1e4]])
    y = np.array([1, 1, 0])
    for eps in (0.0, 0.1):
        ours = cr.tensor(s.astype(dtype), requires_grad=True)
        theirs = torch.tensor(s.astype(dtype), requires_grad=True)
        out = L.cross_entropy(ours, cr.tensor(y), reduction="sum", label_smoothing=eps)
        ref = torch.nn.functional.cross_entropy(theirs, torch.tensor(y), reduction="sum",
                                                label_smoothing=eps)
        out.backward()
        ref.backward()
        assert np.isfinite(out.item()) and np.all(np.isfinite(ours.grad.data))
        np.testing.assert_allclose(out.item(), ref.item(), rtol=1e-6)
        np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy(), rtol=1e-6, atol=1e-6)
    assert out.item() > 2e4  # row 0 puts -2e4 on its target


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_huge_logits(dtype):
    torch = pytest.importorskip("torch")
    x = np.array([1e4, -1e4, 1e4, -1e4, 3e4, -3e4])
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.3, 0.7])
    pw = np.array(2.0)
    for kw in ({}, {"pos_weight": pw}):
        ours = cr.tensor(x.astype(dtype), requires_grad=True)
        theirs = torch.tensor(x.astype(dtype), requires_grad=True)
        out = L.binary_cross_entropy_with_logits(
            ours, cr.tensor(y.astype(dtype)), reduction="none",
            **{k: cr.tensor(v.astype(dtype)) for k, v in kw.items()})
        ref = torch.nn.functional.binary_cross_entropy_with_logits(
            theirs, torch.tensor(y.astype(dtype)), reduction="none",
            **{k: torch.tensor(v.astype(dtype)) for k, v in kw.items()})
        out.sum().backward()
        ref.sum().backward()
        assert np.all(np.isfinite(out.data)) and np.all(np.isfinite(ours.grad.data))
        np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-6)
        np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out.data[:4], [0.0, 0.0, 1e4, 2e4])


def test_bce_saturated_probabilities_are_clamped():
    torch = pytest.importorskip("torch")
    x = np.array([0.0, 1.0, 0.0, 1.0])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    ours = cr.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    out = L.binary_cross_entropy(ours, cr.tensor(y), reduction="none")
    ref = torch.nn.functional.binary_cross_entropy(theirs, torch.tensor(y), reduction="none")
    np.testing.assert_allclose(out.data, [100.0, 100.0, 0.0, 0.0])
    np.testing.assert_allclose(out.data, ref.detach().numpy())
    out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy())


def test_all_targets_ignored_gives_nan_mean_like_torch():
    torch = pytest.importorskip("torch")
    s = np.zeros((2, 3))
    y = np.array([-100, -100])
    for fn in ("cross_entropy", "nll_loss"):
        ours = cr.tensor(s, requires_grad=True)
        theirs = torch.tensor(s, requires_grad=True)
        out = getattr(L, fn)(ours, cr.tensor(y))
        ref = getattr(torch.nn.functional, fn)(theirs, torch.tensor(y))
        assert np.isnan(out.item()) and np.isnan(ref.item())
        out.backward()
        ref.backward()
        np.testing.assert_array_equal(ours.grad.data, theirs.grad.numpy())  # zeros, as torch
    assert L.cross_entropy(cr.tensor(s), cr.tensor(y), reduction="sum").item() == 0.0


def test_custom_ignore_index():
    torch = pytest.importorskip("torch")
    rng = _rng(7)
    s = rng.standard_normal((5, 4))
    y = np.array([0, 3, 2, 3, 1])
    ours = cr.tensor(s, requires_grad=True)
    theirs = torch.tensor(s, requires_grad=True)
    out = L.cross_entropy(ours, cr.tensor(y), ignore_index=3)
    ref = torch.nn.functional.cross_entropy(theirs, torch.tensor(y), ignore_index=3)
    np.testing.assert_allclose(out.item(), ref.item(), rtol=1e-12)
    out.backward()
    ref.backward()
    np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy(), rtol=1e-10, atol=1e-15)
    assert np.all(ours.grad.data[[1, 3]] == 0)


def test_no_grad_records_nothing_and_target_only_grad():
    x = cr.tensor(np.ones((2, 2)), requires_grad=True)
    with cr.no_grad():
        assert not L.mse_loss(x, cr.tensor(np.zeros((2, 2)))).requires_grad
    t = cr.tensor(np.zeros((2, 2)), requires_grad=True)
    L.mse_loss(cr.tensor(np.ones((2, 2))), t, reduction="sum").backward()
    np.testing.assert_allclose(t.grad.data, -2 * np.ones((2, 2)))


# ---- errors ------------------------------------------------------------------------------------
def _t(a, **kw):
    return cr.tensor(np.asarray(a), **kw)


S = _t(np.zeros((4, 5), np.float32))
Y = _t(np.array([0, 1, 2, 3]))
P = _t(np.full((4, 5), 0.5, np.float32))

ALL_FUNCS = {
    "cross_entropy": lambda r: L.cross_entropy(S, Y, reduction=r),
    "nll_loss": lambda r: L.nll_loss(S, Y, reduction=r),
    "binary_cross_entropy": lambda r: L.binary_cross_entropy(P, P, reduction=r),
    "binary_cross_entropy_with_logits": lambda r: L.binary_cross_entropy_with_logits(
        S, P, reduction=r),
    "mse_loss": lambda r: L.mse_loss(S, P, reduction=r),
    "l1_loss": lambda r: L.l1_loss(S, P, reduction=r),
    "smooth_l1_loss": lambda r: L.smooth_l1_loss(S, P, reduction=r),
    "huber_loss": lambda r: L.huber_loss(S, P, reduction=r),
    "kl_div": lambda r: L.kl_div(S, P, reduction=r),
}


@pytest.mark.parametrize("name", list(ALL_FUNCS))
def test_bad_reduction(name):
    with pytest.raises(ValueError, match=rf"{name}: reduction must be one of .*got 'avg'"):
        ALL_FUNCS[name]("avg")
    for r in REDUCTIONS:
        ALL_FUNCS[name](r)  # the valid ones work


@pytest.mark.parametrize("fn", [L.cross_entropy, L.nll_loss])
@pytest.mark.parametrize("bad", [5, 7, -1])
def test_class_index_out_of_range(fn, bad):
    y = _t(np.array([0, bad, 2, 3]))
    with pytest.raises(IndexError, match=rf"{fn.__name__}: target class index {bad} is out of "
                                         rf"range \[0, 5\) for 5 classes"):
        fn(S, y)


def test_float_class_indices_are_rejected():
    with pytest.raises(ValueError, match=r"cross_entropy: a floating-point target is read as "
                                         r"class probabilities and must have the input's shape "
                                         r"\(4, 5\), got \(4,\); for class indices pass an "
                                         r"integer"):
        L.cross_entropy(S, _t(np.array([0.0, 1.0, 2.0, 3.0])))
    with pytest.raises(TypeError, match=r"nll_loss: expected class indices of an integer dtype "
                                        r"\(int64\), got float32"):
        L.nll_loss(S, _t(np.array([0.0, 1.0, 2.0, 3.0], np.float32)))
    with pytest.raises(TypeError, match=r"cross_entropy: expected target of class indices"):
        L.cross_entropy(S, _t(np.array([True, False, True, True])))


def test_wrong_target_shape():
    with pytest.raises(ValueError, match=r"cross_entropy: expected target of shape \(4,\) "
                                         r"\(class indices\) for input of shape \(4, 5\), got "
                                         r"\(4, 2\)"):
        L.cross_entropy(S, _t(np.zeros((4, 2), np.int64)))
    with pytest.raises(ValueError, match=r"nll_loss: expected target of shape \(2, 3\) .*input "
                                         r"of shape \(2, 5, 3\), got \(2,\)"):
        L.nll_loss(_t(np.zeros((2, 5, 3))), _t(np.array([0, 1])))
    with pytest.raises(ValueError, match=r"cross_entropy: expected target of shape \(\) "):
        L.cross_entropy(_t(np.zeros(5)), _t(np.array([1])))


def test_wrong_input_rank_and_dtype():
    with pytest.raises(ValueError, match=r"cross_entropy: expected input of shape \(C,\), "
                                         r"\(N, C\) or \(N, C, d1, ...\), got a 0-d tensor"):
        L.cross_entropy(_t(np.float32(1.0)), _t(np.int64(0)))
    with pytest.raises(TypeError, match=r"nll_loss: expected input of a floating-point dtype, "
                                        r"got int64"):
        L.nll_loss(_t(np.zeros((2, 3), np.int64)), _t(np.array([0, 1])))
    with pytest.raises(TypeError, match=r"mse_loss: expected target to be a Tensor, got list"):
        L.mse_loss(S, [[0.0] * 5] * 4)


@pytest.mark.parametrize("fn", [L.mse_loss, L.l1_loss, L.smooth_l1_loss, L.huber_loss,
                                L.binary_cross_entropy, L.binary_cross_entropy_with_logits,
                                L.kl_div])
def test_shape_mismatch_is_an_error(fn):
    with pytest.raises(ValueError, match=rf"{fn.__name__}: expected target of the input's shape "
                                         rf"\(4, 5\), got \(4, 1\)"):
        fn(P, _t(np.full((4, 1), 0.5, np.float32)))


def test_bad_weights_and_params():
    with pytest.raises(ValueError, match=r"cross_entropy: expected weight of shape \(5,\) \(one "
                                         r"per class\), got \(4,\)"):
        L.cross_entropy(S, Y, weight=_t(np.ones(4, np.float32)))
    with pytest.raises(ValueError, match=r"nll_loss: weight requires grad, but the loss is not "
                                         r"differentiable with respect to weight"):
        L.nll_loss(S, Y, weight=_t(np.ones(5, np.float32), requires_grad=True))
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: pos_weight of shape "
                                         r"\(3,\) does not broadcast to the input's shape "
                                         r"\(4, 5\)"):
        L.binary_cross_entropy_with_logits(S, P, pos_weight=_t(np.ones(3, np.float32)))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: weight of shape \(4,\) does not "
                                         r"broadcast"):
        L.binary_cross_entropy(P, P, weight=_t(np.ones(4, np.float32)))
    with pytest.raises(ValueError, match=r"cross_entropy: label_smoothing must be in \[0, 1\], "
                                         r"got 1.5"):
        L.cross_entropy(S, Y, label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"smooth_l1_loss: beta must be >= 0, got -1"):
        L.smooth_l1_loss(S, P, beta=-1)
    with pytest.raises(ValueError, match=r"huber_loss: delta must be > 0, got 0"):
        L.huber_loss(S, P, delta=0)


def test_bce_values_outside_unit_interval():
    with pytest.raises(ValueError, match=r"binary_cross_entropy: all elements of input should be "
                                         r"between 0 and 1, got values in \[-0.5, 0.5\]"):
        L.binary_cross_entropy(_t(np.array([-0.5, 0.5])), _t(np.array([0.0, 1.0])))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: all elements of target should "
                                         r"be between 0 and 1"):
        L.binary_cross_entropy(_t(np.array([0.5, 0.5])), _t(np.array([0.0, 2.0])))
