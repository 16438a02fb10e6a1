"""Pooling ops (src/chainrule/ops/pool.py): forward, indices and gradients against PyTorch over
grids of kernel sizes, strides, paddings, dilations and ceil_mode; gradcheck of every Function;
ties; unbatched input; errors."""
import itertools

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import gradcheck
from chainrule.ops.pool import (adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d,
                                max_pool2d)

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _torch():
    return pytest.importorskip("torch")


def _pair_run(ours, theirs, x, rng, dtype):
    """Run both on x (forward, then backward of a random upstream gradient); return
    ((y, gx), (y_t, gx_t)) as arrays, plus the extra outputs (indices) when a tuple comes back."""
    torch = _torch()
    xc = cr.tensor(x.astype(dtype), requires_grad=True)
    xt = torch.tensor(x.astype(dtype), requires_grad=True)
    out = ours(xc)
    ref = theirs(xt)
    y, extra = (out[0], out[1]) if isinstance(out, tuple) else (out, None)
    yt, extra_t = (ref[0], ref[1]) if isinstance(ref, tuple) else (ref, None)
    g = rng.standard_normal(tuple(yt.shape)).astype(dtype)
    y.backward(cr.tensor(g))
    yt.backward(torch.from_numpy(g))
    return ((y.data, xc.grad.data, None if extra is None else extra.data),
            (yt.detach().numpy(), xt.grad.numpy(), None if extra_t is None else extra_t.numpy()))


def _assert_same(ours, theirs, dtype, what):
    (y, gx, idx), (yt, gxt, idxt) = ours, theirs
    assert y.shape == yt.shape, f"{what}: shape {y.shape} vs torch {yt.shape}"
    assert y.dtype == dtype, what
    np.testing.assert_allclose(y, yt, err_msg=what, **TOL[dtype])
    np.testing.assert_allclose(gx, gxt, err_msg=what, **TOL[dtype])
    if idxt is not None:
        assert idx.dtype == np.int64
        np.testing.assert_array_equal(idx, idxt, err_msg=what)


# ---- max pooling ----------------------------------------------------------------------------

MAX_GRID = list(itertools.product(
    [(7, 8), (6, 6)],                      # input H, W
    [1, 2, 3, (2, 3)],                     # kernel_size
    [None, 1, 2, (2, 1)],                  # stride
    [0, 1],                                # padding
    [1, 2],                                # dilation
    [False, True]))                        # ceil_mode


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool2d_matches_torch_over_a_grid(dtype):
    torch = _torch()
    F = torch.nn.functional
    rng = np.random.default_rng(0)
    checked = 0
    for (H, W), k, s, p, d, ceil in MAX_GRID:
        x = rng.standard_normal((2, 3, H, W))
        what = f"H,W={H, W} k={k} s={s} p={p} d={d} ceil={ceil}"
        try:
            F.max_pool2d(torch.tensor(x), k, s, p, d, ceil)
        except RuntimeError:  # torch refuses (padding > k/2, empty output): so must we
            with pytest.raises(ValueError, match="max_pool2d"):
                max_pool2d(cr.tensor(x), k, s, p, d, ceil)
            continue
        ours, theirs = _pair_run(lambda t: max_pool2d(t, k, s, p, d, ceil, return_indices=True),
                                 lambda t: F.max_pool2d(t, k, s, p, d, ceil, return_indices=True),
                                 x, rng, dtype)
        _assert_same(ours, theirs, dtype, what)
        checked += 1
    assert checked > 200


@pytest.mark.parametrize("H, k, s, p", [(6, 2, 4, 1), (2, 2, 3, 1), (5, 2, 2, 0), (7, 3, 2, 1),
                                        (4, 3, 3, 1)])
def test_ceil_mode_output_size_and_dropped_last_window(H, k, s, p):
    """ceil_mode rounds up, but a last window starting in the right padding is dropped."""
    torch = _torch()
    x = np.random.default_rng(1).standard_normal((1, 2, H, H))
    for ceil in (False, True):
        ref = torch.nn.functional.max_pool2d(torch.tensor(x), k, s, p, ceil_mode=ceil)
        out = max_pool2d(cr.tensor(x), k, s, p, ceil_mode=ceil)
        assert out.shape == tuple(ref.shape)
        np.testing.assert_allclose(out.data, ref.numpy())
        ref = torch.nn.functional.avg_pool2d(torch.tensor(x), k, s, p, ceil_mode=ceil)
        out = avg_pool2d(cr.tensor(x), k, s, p, ceil_mode=ceil)
        np.testing.assert_allclose(out.data, ref.numpy(), rtol=1e-12)
    # (6, k=2, s=4, p=1): ceil((6 + 2 - 2) / 4) + 1 = 3 windows, but the third would start at
    # 8 >= 6 + 1, in the right padding
    if (H, k, s, p) == (6, 2, 4, 1):
        assert max_pool2d(cr.tensor(x), k, s, p, ceil_mode=True).shape == (1, 2, 2, 2)


@pytest.mark.parametrize("k, s, p", [(2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 1, 0)])
def test_max_pool2d_ties_send_the_gradient_to_the_first_maximum(k, s, p):
    torch = _torch()
    rng = np.random.default_rng(2)
    x = rng.integers(0, 3, (2, 2, 7, 7)).astype(np.float64)  # many equal values
    x[0, 0] = 0.0  # a whole map of ties (as after a ReLU)
    F = torch.nn.functional
    ours, theirs = _pair_run(lambda t: max_pool2d(t, k, s, p, return_indices=True),
                             lambda t: F.max_pool2d(t, k, s, p, return_indices=True), x, rng,
                             np.float64)
    _assert_same(ours, theirs, np.float64, f"ties k={k} s={s} p={p}")


def test_nan_propagates_with_torchs_index_and_gradient():
    torch = _torch()
    F = torch.nn.functional
    x = np.random.default_rng(6).standard_normal((1, 2, 6, 6))
    x[0, 0, 1, 1] = x[0, 0, 1, 0] = x[0, 1, 3, 3] = np.nan  # two NaNs share windows
    for ours, theirs in [(lambda t: max_pool2d(t, 3, 1, 1, return_indices=True),
                          lambda t: F.max_pool2d(t, 3, 1, 1, return_indices=True)),
                         (lambda t: adaptive_max_pool2d(t, 4, return_indices=True),
                          lambda t: F.adaptive_max_pool2d(t, 4, return_indices=True))]:
        xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        (y, idx), (yt, idxt) = ours(xc), theirs(xt)
        np.testing.assert_array_equal(idx.data, idxt.numpy())
        np.testing.assert_array_equal(y.data, yt.detach().numpy())  # NaN where torch has NaN
        y.sum().backward()
        yt.sum().backward()
        np.testing.assert_array_equal(xc.grad.data, xt.grad.numpy())


def test_max_pool2d_values_and_indices_by_hand():
    x = cr.arange(16.).reshape(1, 1, 4, 4)
    y, idx = max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(y.data, [[[[5, 7], [13, 15]]]])
    np.testing.assert_array_equal(idx.data, [[[[5, 7], [13, 15]]]])
    assert not idx.requires_grad


def test_unbatched_input():
    torch = _torch()
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 7, 6))
    for ours, theirs in [
        (lambda t: max_pool2d(t, 3, 2, 1, return_indices=True),
         lambda t: F.max_pool2d(t, 3, 2, 1, return_indices=True)),
        (lambda t: avg_pool2d(t, 2, ceil_mode=True), lambda t: F.avg_pool2d(t, 2, ceil_mode=True)),
        (lambda t: adaptive_avg_pool2d(t, (3, 4)), lambda t: F.adaptive_avg_pool2d(t, (3, 4))),
        (lambda t: adaptive_max_pool2d(t, 4, True), lambda t: F.adaptive_max_pool2d(t, 4, True)),
    ]:
        _assert_same(*_pair_run(ours, theirs, x, rng, np.float64), np.float64, "unbatched")


# ---- average pooling ------------------------------------------------------------------------

AVG_GRID = list(itertools.product(
    [(7, 8), (6, 6)], [1, 2, 3, (3, 2)], [None, 1, 2, (1, 3)], [0, 1, (1, 0)], [False, True],
    [True, False], [None, 5]))  # ..., ceil_mode, count_include_pad, divisor_override


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_avg_pool2d_matches_torch_over_a_grid(dtype):
    torch = _torch()
    F = torch.nn.functional
    rng = np.random.default_rng(4)
    checked = 0
    for (H, W), k, s, p, ceil, cip, div in AVG_GRID:
        x = rng.standard_normal((2, 2, H, W))
        what = f"H,W={H, W} k={k} s={s} p={p} ceil={ceil} count_include_pad={cip} div={div}"
        try:
            F.avg_pool2d(torch.tensor(x), k, s, p, ceil, cip, div)
        except RuntimeError:
            with pytest.raises(ValueError, match="avg_pool2d"):
                avg_pool2d(cr.tensor(x), k, s, p, ceil, cip, div)
            continue
        ours, theirs = _pair_run(lambda t: avg_pool2d(t, k, s, p, ceil, cip, div),
                                 lambda t: F.avg_pool2d(t, k, s, p, ceil, cip, div), x, rng, dtype)
        _assert_same(ours, theirs, dtype, what)
        checked += 1
    assert checked > 200


# ---- adaptive pooling -----------------------------------------------------------------------

ADAPTIVE = [((7, 9), 1), ((7, 9), 2), ((7, 9), 3), ((7, 9), (5, 4)), ((7, 9), (7, 9)),
            ((6, 8), (3, 4)), ((6, 8), (None, 3)), ((5, 5), 7), ((13, 10), (6, 6)),
            ((4, 4), (1, 3))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adaptive_pools_match_torch(dtype):
    torch = _torch()
    F = torch.nn.functional
    rng = np.random.default_rng(5)
    for (H, W), size in ADAPTIVE:
        x = rng.standard_normal((2, 3, H, W))
        _assert_same(*_pair_run(lambda t: adaptive_avg_pool2d(t, size),
                                lambda t: F.adaptive_avg_pool2d(t, size), x, rng, dtype),
                     dtype, f"adaptive_avg {H, W} -> {size}")
        _assert_same(*_pair_run(lambda t: adaptive_max_pool2d(t, size, return_indices=True),
                                lambda t: F.adaptive_max_pool2d(t, size, return_indices=True),
                                x, rng, dtype),
                     dtype, f"adaptive_max {H, W} -> {size}")


def test_global_average_pooling_is_the_mean():
    x = cr.randn(4, 5, 7, 7)
    y = adaptive_avg_pool2d(x, 1)
    assert y.shape == (4, 5, 1, 1)
    np.testing.assert_allclose(y.data[:, :, 0, 0], x.data.mean(axis=(2, 3)), rtol=1e-5, atol=1e-6)


# ---- gradcheck (float64; distinct values so that max pooling has no ties) --------------------

def _distinct(shape, seed=0):
    rng = np.random.default_rng(seed)
    vals = rng.permutation(int(np.prod(shape))).astype(np.float64) / 7.0
    return cr.tensor(vals.reshape(shape), dtype=cr.float64, requires_grad=True)


@pytest.mark.parametrize("fn", [
    lambda x: max_pool2d(x, 2),
    lambda x: max_pool2d(x, 3, 2, 1),
    lambda x: max_pool2d(x, (2, 3), (1, 2), dilation=(2, 1), ceil_mode=True),
    lambda x: avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
    lambda x: avg_pool2d(x, 2, 1, divisor_override=3),
    lambda x: adaptive_avg_pool2d(x, (3, 2)),
    lambda x: adaptive_avg_pool2d(x, 1),
    lambda x: adaptive_max_pool2d(x, (2, 3)),
], ids=["max2", "max3s2p1", "max_dil_ceil", "avg_ceil_nopad", "avg_div", "adaptive_avg",
        "global_avg", "adaptive_max"])
def test_gradcheck(fn):
    assert gradcheck(fn, [_distinct((2, 2, 5, 6))])


# ---- errors ---------------------------------------------------------------------------------

def test_errors_name_the_op_and_what_came():
    x = cr.randn(1, 3, 4, 4)
    with pytest.raises(ValueError, match=r"max_pool2d: padding should be at most half"):
        max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match=r"max_pool2d: input \(1, 3, 4, 4\) is too small"):
        max_pool2d(x, 5)
    with pytest.raises(ValueError, match=r"avg_pool2d: expected input \(N, C, H, W\) or "
                                         r"\(C, H, W\).*got \(4, 4\)"):
        avg_pool2d(cr.randn(4, 4), 2)
    with pytest.raises(TypeError, match="max_pool2d: expected a floating-point input"):
        max_pool2d(cr.ones(1, 1, 4, 4, dtype=cr.int64), 2)
    with pytest.raises(TypeError, match="kernel_size must be an int or a pair"):
        max_pool2d(x, 2.5)
    with pytest.raises(ValueError, match="stride must be positive"):
        avg_pool2d(x, 2, stride=0)
    with pytest.raises(ValueError, match="divisor_override"):
        avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(ValueError, match="adaptive_avg_pool2d: output_size must be positive"):
        adaptive_avg_pool2d(x, 0)
    with pytest.raises(TypeError, match="adaptive_max_pool2d: output_size"):
        adaptive_max_pool2d(x, "big")
