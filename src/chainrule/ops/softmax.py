"""softmax, log_softmax and logsumexp along a dim, stable for large logits (max subtracted).

notes 2.2: p_k = exp(s_k) / sum_j exp(s_j); the Jacobian dp_k/ds_j = p_k (1(k = j) - p_j), so the
backward of a gradient g is p * (g - sum_j g_j p_j).
"""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..backend import get_array_module
from ._util import normalize_dim


class LogSumExp(Function):
    """z = log sum_j exp(a_j) = m + log sum_j exp(a_j - m), m = max_j a_j.

    The backward uses p = exp(a - m) / sum_j exp(a_j - m) kept from the forward, not exp(a - z):
    z rounded to the dtype carries an absolute error of about eps |z|, which exp(a - z) would
    turn into a relative error of eps |z| (5e-4 at |a| = 1e4 in float32)."""

    def forward(self, a, dim, keepdim):
        xp = np if type(a) is np.ndarray else get_array_module(a)
        self.meta = (dim, keepdim)
        if a.shape[dim] == 0:  # the log of an empty sum: -inf (as PyTorch); no gradient to pass
            self.save(xp.zeros_like(a))
            z = xp.full(a.shape[:dim] + (1,) + a.shape[dim + 1:], -np.inf, a.dtype)
            return z if keepdim else xp.squeeze(z, axis=dim)
        m = xp.max(a, axis=dim, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        e = xp.exp(a - m)
        se = xp.sum(e, axis=dim, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):  # a row of -inf: log 0 = -inf
            z = m + xp.log(se)
            if self.needs_input_grad[0]:
                self.save(e / se)  # softmax(a); NaN for a row of -inf, as exp(a - z) was
        return z if keepdim else xp.squeeze(z, axis=dim)

    def backward(self, gz):
        xp = np if type(gz) is np.ndarray else get_array_module(gz)
        (p,) = self.saved
        dim, keepdim = self.meta
        g = gz if keepdim else xp.expand_dims(gz, dim)
        return g * p  # dz/da_j = softmax(a)_j


class Softmax(Function):
    """p = exp(s - max s) / sum exp(s - max s) along dim."""

    def forward(self, s, dim):
        xp = np if type(s) is np.ndarray else get_array_module(s)
        self.dim = dim
        if s.shape[dim] == 0:  # nothing to normalize: an empty result (as PyTorch)
            self.save(s.copy())
            return s.copy()
        e = xp.exp(s - xp.max(s, axis=dim, keepdims=True))
        p = e / xp.sum(e, axis=dim, keepdims=True)
        self.dim = dim
        self.save(p)
        return p

    def backward(self, gp):
        xp = np if type(gp) is np.ndarray else get_array_module(gp)
        (p,) = self.saved
        gpp = gp * p
        return gpp - p * xp.sum(gpp, axis=self.dim, keepdims=True)  # p (g - sum_j g_j p_j)


class LogSoftmax(Function):
    """log p = s - logsumexp(s) along dim."""

    def forward(self, s, dim):
        xp = np if type(s) is np.ndarray else get_array_module(s)
        self.dim = dim
        if s.shape[dim] == 0:  # nothing to normalize: an empty result (as PyTorch)
            self.save(s.copy())
            return s.copy()
        m = xp.max(s, axis=dim, keepdims=True)
        sh = s - m
        out = sh - xp.log(xp.sum(xp.exp(sh), axis=dim, keepdims=True))
        self.dim = dim
        self.save(out)
        return out

    def backward(self, g):
        xp = np if type(g) is np.ndarray else get_array_module(g)
        (out,) = self.saved
        return g - xp.exp(out) * xp.sum(g, axis=self.dim, keepdims=True)  # g - p sum_j g_j


def logsumexp(a, dim, keepdim=False):
    """log sum exp(a) along ``dim``, without overflow."""
    return LogSumExp.apply(a, dim=normalize_dim(dim, a.ndim, "logsumexp"), keepdim=keepdim)


def softmax(s, dim=-1, dtype=None):
    """Softmax along ``dim`` (notes 2.2: p_k = exp(s_k) / sum_j exp(s_j))."""
    if dtype is not None:
        s = s.to(dtype)
    return Softmax.apply(s, dim=normalize_dim(dim, s.ndim, "softmax"))


def log_softmax(s, dim=-1, dtype=None):
    """log of softmax along ``dim``, computed as s - logsumexp(s)."""
    if dtype is not None:
        s = s.to(dtype)
    return LogSoftmax.apply(s, dim=normalize_dim(dim, s.ndim, "log_softmax"))
