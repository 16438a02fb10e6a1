"""batch_norm and local_response_norm (src/chainrule/ops/normalization.py): forward, the full backward
through the batch statistics, running-statistics updates and LRN against PyTorch; gradcheck;
closed forms; errors."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import gradcheck
from chainrule.ops.normalization import batch_norm, local_response_norm

TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-9, atol=1e-11)}


def _torch():
    return pytest.importorskip("torch")


def _bn_case(shape, training, affine, dtype, momentum=0.1, seed=0):
    """Run batch_norm and torch's on the same data; compare output, grads and running stats."""
    torch = _torch()
    rng = np.random.default_rng(seed)
    C = shape[1]
    x = (rng.standard_normal(shape) * 2 + 3).astype(dtype)  # away from mean 0, var 1
    g = rng.standard_normal(shape).astype(dtype)
    w, b = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
    rm, rv = rng.standard_normal(C).astype(dtype), rng.uniform(0.5, 2, C).astype(dtype)

    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    wc, wt = cr.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    bc, bt = cr.tensor(b, requires_grad=True), torch.tensor(b, requires_grad=True)
    rmc, rvc, rmt, rvt = cr.tensor(rm), cr.tensor(rv), torch.tensor(rm), torch.tensor(rv)
    y = batch_norm(xc, rmc, rvc, wc if affine else None, bc if affine else None, training,
                   momentum, 1e-5)
    yt = torch.nn.functional.batch_norm(xt, rmt, rvt, wt if affine else None,
                                        bt if affine else None, training, momentum, 1e-5)
    y.backward(cr.tensor(g))
    yt.backward(torch.from_numpy(g))
    tol = TOL[dtype]
    assert y.dtype == dtype and y.shape == shape
    np.testing.assert_allclose(y.data, yt.detach().numpy(), **tol)
    np.testing.assert_allclose(xc.grad.data, xt.grad.numpy(), **tol)
    if affine:
        np.testing.assert_allclose(wc.grad.data, wt.grad.numpy(), **tol)
        np.testing.assert_allclose(bc.grad.data, bt.grad.numpy(), **tol)
    np.testing.assert_allclose(rmc.data, rmt.numpy(), **tol)
    np.testing.assert_allclose(rvc.data, rvt.numpy(), **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (4, 3, 5, 6), (2, 4, 16, 16), (3, 2, 200)])
def test_batch_norm_matches_torch(shape, training, dtype):
    _bn_case(shape, training, True, dtype)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_without_affine_and_other_momenta(training):
    _bn_case((4, 3, 5, 6), training, False, np.float64)
    _bn_case((6, 4), training, True, np.float64, momentum=0.0)
    _bn_case((6, 4, 3), training, True, np.float64, momentum=1.0)


def test_training_output_is_normalized_per_channel():
    x = cr.randn(16, 4, 5, 5) * 3 + 2
    y = batch_norm(x, None, None, training=True).data.astype(np.float64)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-3)


def test_running_stats_update_formula_uses_unbiased_variance():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 2, 3))
    rm, rv = cr.tensor(np.zeros(2)), cr.tensor(np.ones(2))
    batch_norm(cr.tensor(x), rm, rv, training=True, momentum=0.25)
    np.testing.assert_allclose(rm.data, 0.25 * x.mean(axis=(0, 2)), rtol=1e-12)
    np.testing.assert_allclose(rv.data, 0.75 + 0.25 * x.var(axis=(0, 2), ddof=1), rtol=1e-12)


def test_backward_is_the_notes_formula():
    """dL/dx = (1/sqrt(var + eps)) (g - mean(g) - xhat mean(g xhat)), g = gamma dL/dy (2.4)."""
    rng = np.random.default_rng(2)
    x, dy = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    gamma = rng.standard_normal(3)
    xc, wc = cr.tensor(x, requires_grad=True), cr.tensor(gamma, requires_grad=True)
    bc = cr.tensor(np.zeros(3), requires_grad=True)
    batch_norm(xc, None, None, wc, bc, training=True, eps=1e-5).backward(cr.tensor(dy))
    mu, var = x.mean(0), x.var(0)
    xhat = (x - mu) / np.sqrt(var + 1e-5)
    g = gamma * dy
    dx = (g - g.mean(0) - xhat * (g * xhat).mean(0)) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(xc.grad.data, dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(wc.grad.data, (dy * xhat).sum(0), rtol=1e-10)
    np.testing.assert_allclose(bc.grad.data, dy.sum(0), rtol=1e-12)


def test_batch_norm_where_the_one_pass_variance_would_cancel():
    """mean(x^2) - mu^2 cancels for a channel far from 0 (|mu| = 1000 sigma) or constant: such a
    batch takes the two-pass variance, and output and gradients stay those of float64 torch."""
    torch = _torch()
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 3, 4, 4))
    x[:, 0] += 1000.0  # far from 0
    x[:, 1] = 7.0  # constant: sigma^2 = 0
    g = rng.standard_normal(x.shape)
    x32 = x.astype(np.float32)
    xc = cr.tensor(x32, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    y = batch_norm(xc, None, None, training=True)
    yt = torch.nn.functional.batch_norm(xt, None, None, training=True)
    y.backward(cr.tensor(g.astype(np.float32)))
    yt.backward(torch.from_numpy(g))
    # float32 input rounding alone moves channel 0's centered values by up to 3e-5 (of sigma 1)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-3, atol=2e-3)
    np.testing.assert_allclose(xc.grad.data, xt.grad.numpy(), rtol=1e-3, atol=2e-3)
    assert not y.data[:, 1].any()  # a constant channel normalizes to 0


@pytest.mark.parametrize("offset", [0.0, 50.0])  # one-pass variance; two-pass (|mu| > 30 sigma)
def test_gradcheck_batch_norm_both_variance_forms(offset):
    rng = np.random.default_rng(5)
    x = cr.tensor(rng.standard_normal((4, 2, 3)) + offset, requires_grad=True)
    w = cr.tensor(rng.standard_normal(2), requires_grad=True)
    b = cr.tensor(rng.standard_normal(2), requires_grad=True)
    assert gradcheck(lambda x, w, b: batch_norm(x, None, None, w, b, training=True), [x, w, b])


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 2, 3)])
def test_gradcheck_batch_norm(shape, training):
    rng = np.random.default_rng(3)
    C = shape[1]
    x = cr.tensor(rng.standard_normal(shape), requires_grad=True)
    w = cr.tensor(rng.standard_normal(C), requires_grad=True)
    b = cr.tensor(rng.standard_normal(C), requires_grad=True)
    rm, rv = rng.standard_normal(C), rng.uniform(0.5, 2, C)

    def f(x, w, b):  # fresh running stats each call (training updates them in place)
        return batch_norm(x, cr.tensor(rm), cr.tensor(rv), w, b, training=training)

    assert gradcheck(f, [x, w, b])
    assert gradcheck(lambda x: batch_norm(x, cr.tensor(rm), cr.tensor(rv), training=training), [x])


def test_batch_norm_errors():
    x = cr.randn(1, 16)
    with pytest.raises(ValueError, match=r"batch_norm: expected more than 1 value per channel "
                                         r"when training, got input size \(1, 16\)"):
        batch_norm(x, None, None, training=True)
    batch_norm(x, cr.zeros(16), cr.ones(16), training=False)  # fine when not training
    with pytest.raises(ValueError, match=r"batch_norm: expected running_mean of shape \(3,\) for "
                                         r"an input with 3 channels, got \(4,\)"):
        batch_norm(cr.randn(4, 3), cr.zeros(4), cr.ones(3), training=True)
    with pytest.raises(ValueError, match=r"batch_norm: expected weight of shape \(3,\)"):
        batch_norm(cr.randn(4, 3), None, None, cr.ones(2), training=True)
    with pytest.raises(ValueError, match="must be given when not training"):
        batch_norm(cr.randn(4, 3), None, None, training=False)
    with pytest.raises(ValueError, match=r"batch_norm: expected input \(N, C, \*\).*got \(5,\)"):
        batch_norm(cr.randn(5), None, None, training=True)


# ---- local response normalization -----------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 9])
@pytest.mark.parametrize("shape", [(2, 7, 4, 5), (3, 6, 8)])
def test_local_response_norm_matches_torch(shape, size, dtype):
    torch = _torch()
    rng = np.random.default_rng(size)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    args = (size, 0.05, 0.75, 2.0)
    y = local_response_norm(xc, *args)
    yt = torch.nn.functional.local_response_norm(xt, *args)
    y.backward(cr.tensor(g))
    yt.backward(torch.from_numpy(g))
    tol = TOL[dtype]
    assert y.dtype == dtype
    np.testing.assert_allclose(y.data, yt.detach().numpy(), **tol)
    np.testing.assert_allclose(xc.grad.data, xt.grad.numpy(), **tol)


def test_local_response_norm_closed_form_and_defaults():
    """b_c = a_c / (k + alpha/n sum_{c'} a_{c'}^2)^beta, window c-2..c+2 for n = 5."""
    a = np.random.default_rng(4).standard_normal((1, 6, 1, 1))
    out = local_response_norm(cr.tensor(a), 5).data  # alpha 1e-4, beta 0.75, k 1
    sq = np.pad(a[0, :, 0, 0] ** 2, 2)
    ref = a[0, :, 0, 0] / (1.0 + 1e-4 / 5 * np.array([sq[c:c + 5].sum() for c in range(6)])) ** 0.75
    np.testing.assert_allclose(out[0, :, 0, 0], ref, rtol=1e-12)


@pytest.mark.parametrize("size", [2, 3, 5])
def test_gradcheck_local_response_norm(size):
    x = cr.tensor(np.random.default_rng(5).standard_normal((2, 6, 3, 2)), requires_grad=True)
    assert gradcheck(lambda x: local_response_norm(x, size, alpha=0.3, beta=0.75, k=1.5), [x])


def test_local_response_norm_errors():
    with pytest.raises(ValueError, match=r"local_response_norm: expected input \(N, C, \*\) with "
                                         r"at least 3 dims, got \(4, 5\)"):
        local_response_norm(cr.randn(4, 5), 3)
    with pytest.raises(ValueError, match="size must be a positive int, got 0"):
        local_response_norm(cr.randn(2, 4, 5), 0)
