"""Normalization: batch normalization (notes 2.4) and AlexNet's local response normalization
(notes 2.3), each one fused Function with a hand-derived backward.

Batch normalization, per channel d over the n = N * (H * W) values x_{id} of a batch:

    mu_d = (1/n) sum_i x_id,    sigma_d^2 = (1/n) sum_i (x_id - mu_d)^2,
    xhat_id = (x_id - mu_d) / sqrt(sigma_d^2 + eps),    y_id = beta_d + gamma_d xhat_id.

"mu and sigma are functions of the whole batch ... it is as if the whole batch becomes a single
example" (notes 2.4): the backward goes through them. With g_i = gamma dL/dy_i, chain rule through
xhat, sigma^2 and mu gives, per channel,

    dL/dx_i = (1 / sqrt(sigma^2 + eps)) (g_i - mean_j g_j - xhat_i mean_j (g_j xhat_j)),
    dL/dgamma = sum_i dL/dy_i xhat_i,    dL/dbeta = sum_i dL/dy_i.

At evaluation time mu and sigma^2 are the running estimates, constants, so y is an affine map
of x per channel and dL/dx = gamma / sqrt(running_var + eps) dL/dy.

Layout: the input (N, C, *) is viewed as (N, C M), M = prod(*), and each per-channel vector is
expanded once into a (C M,) "plane": broadcasting a plane over the N rows runs at full speed in
NumPy, where broadcasting a (C, 1) column over (N, C, M) is about 2x slower. Per-channel sums are
GEMVs with vectors of ones.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..autograd.function import Function
from ..backend import get_array_module
from ._util import OpError, OpTypeError

# ---- per-channel helpers on (N, C M) arrays -----------------------------------------------------


def _plane(v, M, dtype):
    """A per-channel vector (C,) repeated into the (C M,) layout of one example."""
    xp = np if type(v) is np.ndarray else get_array_module(v)
    v = xp.asarray(v, dtype)
    return v if M == 1 else xp.repeat(v, M)


def _channel_sum(a, C, M):
    """(N, C M) -> (C,): sum over the examples and the M positions of each channel (two GEMVs)."""
    xp = np if type(a) is np.ndarray else get_array_module(a)
    s = xp.ones(a.shape[0], a.dtype) @ a
    return s if M == 1 else s.reshape(C, M) @ xp.ones(M, a.dtype)


def _channel_dot(a, b, C, M):
    """(N, C M), (N, C M) -> (C,): sum_i a_i b_i per channel."""
    xp = np if type(a) is np.ndarray else get_array_module(a)
    N = a.shape[0]
    if M >= 128:  # long rows: one BLAS dot per (example, channel)
        rows = xp.matmul(a.reshape(N * C, 1, M), b.reshape(N * C, M, 1)).reshape(N, C)
        return xp.ones(N, a.dtype) @ rows
    return _channel_sum(a * b, C, M)


# ---- batch normalization --------------------------------------------------------------------


class BatchNorm(Function):
    """Training mode: y = beta + gamma (x - mu) / sqrt(sigma^2 + eps) with the batch's mu and
    sigma^2 per channel; the backward goes through mu and sigma^2 (notes 2.4)."""

    fresh_grads = True  # backward returns new arrays only

    def forward(self, x, *affine, has_weight, has_bias, running_mean, running_var, momentum, eps):
        xp = np if type(x) is np.ndarray else get_array_module(x)
        N, C = x.shape[:2]
        M = x.size // (N * C)
        n = N * M
        dt = x.dtype
        xw = x.reshape(N, C * M)
        mu = _channel_sum(xw, C, M) / dt.type(n)  # mu_d = (1/n) sum_i x_id
        # sigma_d^2 (biased: divides by n) = mean(x^2) - mu^2 in one pass, without an x - mu
        # array (0.94 -> 0.70 ms for (32, 16, 32, 32), benchmarks/passes.py); where that
        # difference cancels (|mu| > 30 sigma, a constant channel, round-off below 0, NaN), the
        # two-pass mean((x - mu)^2)
        var = _channel_dot(xw, xw, C, M) / dt.type(n) - mu * mu
        d = None
        if not bool((var >= 1e-3 * (mu * mu)).all()):
            d = xw - _plane(mu, M, dt)  # x - mu
            var = _channel_dot(d, d, C, M) / dt.type(n)
        invstd = (1.0 / xp.sqrt(var + eps)).astype(dt)
        w = affine[0].astype(dt) if has_weight else None  # gamma (a copy, in x's dtype)
        b = affine[-1] if has_bias else None
        scale = invstd if w is None else w * invstd  # gamma / sqrt(sigma^2 + eps)
        if d is None:  # y = x scale + (beta - mu scale)
            y = xw * _plane(scale, M, dt)
            shift = -mu * scale if b is None else b.astype(dt) - mu * scale
            y += _plane(shift, M, dt)
        else:
            y = d * _plane(scale, M, dt)
            if b is not None:
                y += _plane(b.astype(dt), M, dt)  # + beta
        if running_mean is not None:  # in place, as PyTorch: r <- (1 - m) r + m (batch value)
            running_mean *= 1 - momentum
            running_mean += momentum * mu
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += momentum * var * (n / (n - 1))  # the unbiased batch variance
        if d is None:  # for backward: x itself and mu
            self.save(xw, invstd, w, mu)
        else:  # x - mu
            self.save(d, invstd, w, None)
        self.dims = (C, M, n)
        self.has = (has_weight, has_bias)
        return y.reshape(x.shape)

    def backward(self, gy):
        d, invstd, w, mu = self.saved  # d = x - mu (mu None), or x itself (and its mu)
        C, M, n = self.dims
        N = d.shape[0]
        dt = d.dtype
        g = gy.reshape(N, C * M)
        need = self.needs_input_grad
        need_x = need[0]
        need_w = self.has[0] and need[1]
        need_b = self.has[1] and need[-1]
        sg = _channel_sum(g, C, M)  # sum_i dL/dy_i = dL/dbeta
        sgd = None
        if need_x or need_w:  # sum_i dL/dy_i (x_i - mu)
            sgd = _channel_dot(g, d, C, M)
            if mu is not None:
                sgd -= mu * sg
        gx = None
        if need_x:
            a = invstd if w is None else w * invstd  # gamma / sqrt(sigma^2 + eps)
            # dL/dx = a (dL/dy - mean dL/dy - xhat mean(dL/dy xhat)), written per channel as
            # a dL/dy + b (x - mu) + c with b = -a invstd^2 mean(dL/dy (x - mu)), c = -a mean dL/dy
            bcoef = -a * invstd * invstd * (sgd / dt.type(n))
            ccoef = -a * (sg / dt.type(n))
            gx = g * _plane(a, M, dt)
            gx += d * _plane(bcoef, M, dt)
            gx += _plane(ccoef if mu is None else ccoef - mu * bcoef, M, dt)  # x b + c - mu b
            gx = gx.reshape(gy.shape)
        grads = [gx]
        if self.has[0]:
            grads.append(sgd * invstd if need_w else None)  # dL/dgamma = sum dL/dy xhat
        if self.has[1]:
            grads.append(sg if need_b else None)  # dL/dbeta = sum dL/dy
        return tuple(grads)


class BatchNormEval(Function):
    """Evaluation mode: y = beta + gamma (x - running_mean) / sqrt(running_var + eps), an affine
    map per channel; dL/dx = gamma / sqrt(running_var + eps) dL/dy."""

    fresh_grads = True  # backward returns new arrays only

    def forward(self, x, *affine, has_weight, has_bias, running_mean, running_var, eps):
        xp = np if type(x) is np.ndarray else get_array_module(x)
        N, C = x.shape[:2]
        M = x.size // (N * C)
        dt = x.dtype
        invstd = (1.0 / xp.sqrt(running_var.astype(dt) + eps)).astype(dt)
        mean = running_mean.astype(dt)
        w = affine[0] if has_weight else None
        b = affine[-1] if has_bias else None
        scale = invstd if w is None else w.astype(dt) * invstd
        shift = -mean * scale if b is None else b.astype(dt) - mean * scale
        y = x.reshape(N, C * M) * _plane(scale, M, dt)
        y += _plane(shift, M, dt)
        self.save(x, invstd, mean, scale)
        self.dims = (C, M)
        self.has = (has_weight, has_bias)
        return y.reshape(x.shape)

    def backward(self, gy):
        x, invstd, mean, scale = self.saved
        C, M = self.dims
        N = x.shape[0]
        dt = x.dtype
        need = self.needs_input_grad
        g = gy.reshape(N, C * M)
        # dy/dx = gamma / sqrt(running_var + eps), a constant per channel
        grads = [(g * _plane(scale, M, dt)).reshape(gy.shape) if need[0] else None]
        if self.has[0]:
            gw = None
            if need[1]:
                centered = x.reshape(N, C * M) - _plane(mean, M, dt)
                gw = _channel_dot(g, centered, C, M) * invstd  # dL/dgamma = sum dL/dy xhat
            grads.append(gw)
        if self.has[1]:
            grads.append(_channel_sum(g, C, M) if need[-1] else None)  # dL/dbeta = sum dL/dy
        return tuple(grads)


def _check_channel_vector(v, name, C, op):
    if v is None:
        return None
    if not hasattr(v, "data") or tuple(v.shape) != (C,):
        got = tuple(v.shape) if hasattr(v, "shape") else type(v).__name__
        raise OpError(f"{op}: expected {name} of shape ({C},) for an input with {C} channels, "
                      f"got {got}")
    return v


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalization (notes 2.4): y = beta + gamma (x - mu) / sqrt(sigma^2 + eps) per channel.

    In training, mu and sigma^2 are the batch's mean and biased variance over the N M values of
    each channel (M = H W for images, L for sequences, 1 for (N, C)); the gradient flows through
    them (see the module docstring). The running estimates, when given, are updated in place:
    running_mean <- (1 - momentum) running_mean + momentum mu and running_var likewise with the
    unbiased variance n/(n-1) sigma^2. Not training, the running estimates are used.

    Args:
        input: (N, C), (N, C, L) or (N, C, H, W), floating point.
        running_mean, running_var: (C,) tensors, or None (then training must be True).
        weight, bias: gamma and beta, (C,) tensors, or None (gamma = 1, beta = 0).
        training: use batch statistics (and update the running ones).
        momentum: weight of the new batch value in the running estimates.
        eps: added to the variance for numerical stability.

    Shape: the output has the input's shape.

    Example::

        >>> x = cr.randn(8, 3, 4, 4)
        >>> y = batch_norm(x, None, None, training=True)   # y.mean((0, 2, 3)) ~ 0, var ~ 1
    """
    op = "batch_norm"
    if not hasattr(input, "data") or not hasattr(input, "shape"):
        raise OpTypeError(f"{op}: expected a Tensor input, got {type(input).__name__}")
    shape = tuple(input.shape)
    if len(shape) < 2:
        raise OpError(f"{op}: expected input (N, C, *) with at least 2 dims, got {shape}")
    if input.data.dtype.kind != "f":
        raise OpTypeError(f"{op}: expected a floating-point input, got dtype {input.data.dtype}")
    C = shape[1]
    for name, v in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _check_channel_vector(v, name, C, op)
    if not isinstance(eps, numbers.Real) or eps < 0:
        raise OpError(f"{op}: eps must be a non-negative number, got {eps!r}")
    affine = tuple(t for t in (weight, bias) if t is not None)
    flags = dict(has_weight=weight is not None, has_bias=bias is not None)
    rm = None if running_mean is None else running_mean.data
    rv = None if running_var is None else running_var.data
    if training:
        per_channel = input.data.size // max(C, 1)
        if per_channel <= 1:
            raise OpError(f"{op}: expected more than 1 value per channel when training, got input "
                          f"size {shape}")
        if not isinstance(momentum, numbers.Real):
            raise OpTypeError(f"{op}: momentum must be a number, got {momentum!r}")
        return BatchNorm.apply(input, *affine, running_mean=rm, running_var=rv,
                               momentum=float(momentum), eps=float(eps), **flags)
    if rm is None or rv is None:
        raise OpError(f"{op}: running_mean and running_var must be given when not training")
    return BatchNormEval.apply(input, *affine, running_mean=rm, running_var=rv, eps=float(eps),
                               **flags)


# ---- local response normalization ---------------------------------------------------------------


def _channel_window_sum(a, before, after):
    """s_c = sum of a_{c'} for c' in [c - before, c + after] (clipped to the channels), along
    axis 1 of a (N, C, *): zero padding then one shifted add per window position."""
    xp = np if type(a) is np.ndarray else get_array_module(a)
    N, C = a.shape[:2]
    size = before + after + 1
    padded = xp.zeros((N, C + size - 1) + a.shape[2:], a.dtype)
    padded[:, before:before + C] = a
    s = padded[:, 0:C].copy()
    for j in range(1, size):
        s += padded[:, j:j + C]
    return s


class LocalResponseNorm(Function):
    """b_c = a_c / (k + alpha/n sum_{c' in W(c)} a_{c'}^2)^beta over the n channels around c."""

    fresh_grads = True  # backward returns new arrays only

    def forward(self, a, size, alpha, beta, k):
        before, after = size // 2, (size - 1) // 2
        den = _channel_window_sum(a * a, before, after)  # sum of squares over the window
        den *= a.dtype.type(alpha / size)
        den += a.dtype.type(k)  # D_c = k + alpha/n sum a^2
        scale = den ** -a.dtype.type(beta)  # D_c^(-beta)
        self.save(a, den, scale)
        self.params = (before, after, alpha, beta, size)
        return a * scale

    def backward(self, gb):
        a, den, scale = self.saved
        before, after, alpha, beta, size = self.params
        # db_c/da_j = D_c^(-beta) [c = j] - 2 alpha beta / n  a_c a_j D_c^(-beta - 1) [j in W(c)]:
        # the second term sums over the channels c whose window holds j, i.e. c in
        # [j - after, j + before] (the window reversed)
        t = gb * a * scale / den  # dL/db_c a_c D_c^(-beta-1)
        back = _channel_window_sum(t, after, before)
        back *= a
        back *= a.dtype.type(2.0 * alpha * beta / size)
        return gb * scale - back


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalization across channels (AlexNet, notes 2.3):

        b_c = a_c / (k + (alpha / n) sum_{c'} a_{c'}^2)^beta,

    the sum over the n = ``size`` channels c' from c - floor(n/2) to c + floor((n-1)/2) that exist
    (missing channels count as 0; the divisor stays n), as PyTorch.

    Shape: (N, C, *) with at least 3 dims -> the same shape.

    Example::

        >>> local_response_norm(cr.randn(2, 96, 55, 55), size=5, alpha=1e-4, beta=0.75, k=2.0)
    """
    op = "local_response_norm"
    if not hasattr(input, "data") or not hasattr(input, "shape"):
        raise OpTypeError(f"{op}: expected a Tensor input, got {type(input).__name__}")
    if input.ndim < 3:
        raise OpError(f"{op}: expected input (N, C, *) with at least 3 dims, got "
                      f"{tuple(input.shape)}")
    if input.data.dtype.kind != "f":
        raise OpTypeError(f"{op}: expected a floating-point input, got dtype {input.data.dtype}")
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise OpError(f"{op}: size must be a positive int, got {size!r}")
    return LocalResponseNorm.apply(input, size=int(size), alpha=float(alpha), beta=float(beta),
                                   k=float(k))
