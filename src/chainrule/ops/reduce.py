"""Reductions: sum, mean, var, std, max/min (with indices), norm; argmax/argmin without gradient.

The backward of a reduction over dims D spreads the output gradient back over D: each input
element gets the gradient of the output it contributed to, times its partial derivative.
"""
from __future__ import annotations

import builtins
from collections import namedtuple

import numpy as np

from ..autograd.function import Function
from .. import backend
from ..backend import get_array_module
from ._util import OpError, no_grad_result, normalize_dim, normalize_dims

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _expand_back(g, in_shape, dims, keepdim):
    """Put the reduced dims back as size 1 so that g broadcasts against the input."""
    xp = np if type(g) is np.ndarray else get_array_module(g)
    if not keepdim and dims:
        g = xp.expand_dims(g, dims)
    return g


class Sum(Function):
    """z = sum over dims of a."""

    def forward(self, a, dims, keepdim):
        xp = np if type(a) is np.ndarray else get_array_module(a)
        self.meta = (a.shape, dims, keepdim)
        return xp.sum(a, axis=dims, keepdims=keepdim)

    def backward(self, gz):
        xp = np if type(gz) is np.ndarray else get_array_module(gz)
        shape, dims, keepdim = self.meta
        return xp.broadcast_to(_expand_back(gz, shape, dims, keepdim), shape)  # dz/da_i = 1


class Mean(Function):
    """z = (1/n) sum over dims of a."""

    def forward(self, a, dims, keepdim):
        xp = np if type(a) is np.ndarray else get_array_module(a)
        self.meta = (a.shape, dims, keepdim)
        self.n = int(np.prod([a.shape[d] for d in dims], dtype=np.int64))
        return xp.mean(a, axis=dims, keepdims=keepdim)

    def backward(self, gz):
        xp = np if type(gz) is np.ndarray else get_array_module(gz)
        shape, dims, keepdim = self.meta
        g = _expand_back(gz, shape, dims, keepdim) / gz.dtype.type(self.n)
        return xp.broadcast_to(g, shape)  # dz/da_i = 1/n


class Var(Function):
    """z = sum (a - mean)^2 / (n - correction) over dims."""

    def forward(self, a, dims, keepdim, correction):
        xp = np if type(a) is np.ndarray else get_array_module(a)
        n = int(np.prod([a.shape[d] for d in dims], dtype=np.int64))
        self.meta = (a.shape, dims, keepdim)
        self.denom = builtins.max(n - correction, 0)  # (max here is the op)
        centered = a - a.mean(axis=dims, keepdims=True)
        self.save(centered)
        with np.errstate(divide="ignore", invalid="ignore"):
            return xp.sum(centered * centered, axis=dims, keepdims=keepdim) / self.denom

    def backward(self, gz):
        (c,) = self.saved
        shape, dims, keepdim = self.meta
        g = _expand_back(gz, shape, dims, keepdim)
        with np.errstate(divide="ignore", invalid="ignore"):  # n - corr = 0: NaN, as the forward
            return g * c * np.divide(2.0, self.denom, dtype=c.dtype)  # 2 (a_i - mean)/(n - corr)


class Std(Function):
    """z = sqrt(var) over dims; gradient 0 where z = 0 (all equal), as PyTorch."""

    def forward(self, a, dims, keepdim, correction):
        xp = np if type(a) is np.ndarray else get_array_module(a)
        n = int(np.prod([a.shape[d] for d in dims], dtype=np.int64))
        self.meta = (a.shape, dims, keepdim)
        self.denom = builtins.max(n - correction, 0)  # (max here is the op)
        c = a - a.mean(axis=dims, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = xp.sqrt(xp.sum(c * c, axis=dims, keepdims=True) / self.denom)
        self.save(c, z)
        return z if keepdim else xp.squeeze(z, axis=dims)

    def backward(self, gz):
        xp = np if type(gz) is np.ndarray else get_array_module(gz)
        c, z = self.saved
        shape, dims, keepdim = self.meta
        g = _expand_back(gz, shape, dims, keepdim)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = c / (self.denom * xp.where(z == 0, 1, z))  # std = 0: c = 0, gradient 0 (PyTorch)
            return g * d  # dz/da_i = (a_i - mean) / ((n - corr) std)


class MaxMinAll(Function):
    """z = max (or min) over dims; ties share the gradient equally (as PyTorch's amax)."""

    def forward(self, a, dims, keepdim, is_max):
        xp = np if type(a) is np.ndarray else get_array_module(a)
        z = (xp.max if is_max else xp.min)(a, axis=dims, keepdims=True)
        self.meta = (a.shape, dims, keepdim)
        self.save(a, z)
        return z if keepdim else xp.squeeze(z, axis=dims) if dims else z

    def backward(self, gz):
        a, z = self.saved
        shape, dims, keepdim = self.meta
        mask = a == z
        count = mask.sum(axis=dims, keepdims=True)
        g = _expand_back(gz, shape, dims, keepdim)
        return g * mask / count.astype(g.dtype)  # 1/(number of ties) at the extremes, 0 elsewhere


class MaxMinDim(Function):
    """values = max (or min) along one dim; indices = where; the gradient goes to that index."""

    def forward(self, a, dim, keepdim, is_max):
        xp = np if type(a) is np.ndarray else get_array_module(a)
        idx = (xp.argmax if is_max else xp.argmin)(a, axis=dim, keepdims=True)
        self.meta = (a.shape, a.dtype, dim, keepdim)
        self.idx = idx
        vals = xp.take_along_axis(a, idx, axis=dim)
        return vals if keepdim else xp.squeeze(vals, axis=dim)

    def backward(self, gz):
        xp = np if type(gz) is np.ndarray else get_array_module(gz)
        shape, dtype, dim, keepdim = self.meta
        g = gz if keepdim else xp.expand_dims(gz, dim)
        ga = xp.zeros(shape, g.dtype)
        backend.put_along_axis(xp, ga, self.idx, g, dim)  # d values / d a = 1 at the chosen index
        return ga


class Norm(Function):
    """z = ||a||_2 = sqrt(sum a^2) over dims; gradient a / z (0 where z = 0)."""

    def forward(self, a, dims, keepdim):
        xp = np if type(a) is np.ndarray else get_array_module(a)
        z = xp.sqrt(xp.sum(a * a, axis=dims, keepdims=True))
        self.meta = (a.shape, dims, keepdim)
        self.save(a, z)
        return z if keepdim else xp.squeeze(z, axis=dims)

    def backward(self, gz):
        xp = np if type(gz) is np.ndarray else get_array_module(gz)
        a, z = self.saved
        shape, dims, keepdim = self.meta
        g = _expand_back(gz, shape, dims, keepdim)
        safe = xp.where(z == 0, 1, z)
        return g * a / safe  # dz/da = a / ||a||


# ---- public functions --------------------------------------------------------------------------
def sum(a, dim=None, keepdim=False, dtype=None):
    """Sum over ``dim`` (an int, a tuple, or None for all dims)."""
    if dtype is not None:
        from .elementwise import cast

        a = cast(a, dtype)
    elif a.data.dtype.kind in "biu":
        a = no_grad_result(a.data.astype(np.int64))
    return Sum.apply(a, dims=normalize_dims(dim, a.ndim, "sum"), keepdim=keepdim)


def mean(a, dim=None, keepdim=False):
    """Mean over ``dim``."""
    if a.data.dtype.kind != "f":
        raise OpError(f"mean: expected a floating-point tensor, got dtype {a.dtype}; use "
                      f".float() first")
    return Mean.apply(a, dims=normalize_dims(dim, a.ndim, "mean"), keepdim=keepdim)


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    return 1 if unbiased in (None, True) else 0


def var(a, dim=None, unbiased=None, keepdim=False, correction=None):
    """Variance over ``dim``, divided by n - correction (Bessel's correction 1 by default)."""
    return Var.apply(a, dims=normalize_dims(dim, a.ndim, "var"), keepdim=keepdim,
                     correction=_correction(unbiased, correction))


def std(a, dim=None, unbiased=None, keepdim=False, correction=None):
    """Standard deviation over ``dim``."""
    return Std.apply(a, dims=normalize_dims(dim, a.ndim, "std"), keepdim=keepdim,
                     correction=_correction(unbiased, correction))


def _maxmin(a, dim, keepdim, is_max, name):
    xp = get_array_module(a.data)
    if a.data.size == 0:
        raise OpError(f"{name}: the tensor is empty (shape {tuple(a.shape)})")
    if dim is None:
        return MaxMinAll.apply(a, dims=normalize_dims(None, a.ndim), keepdim=False, is_max=is_max)
    d = normalize_dim(dim, a.ndim, name)
    if a.ndim == 0:  # a 0-d tensor's one element is its max and min, at index 0 (as PyTorch)
        from .shape import reshape

        return ValuesIndices(reshape(a, ()), no_grad_result(xp.zeros((), np.int64)))
    vals = MaxMinDim.apply(a, dim=d, keepdim=keepdim, is_max=is_max)
    idx = (xp.argmax if is_max else xp.argmin)(a.data, axis=d, keepdims=keepdim)
    return ValuesIndices(vals, no_grad_result(idx.astype(np.int64)))


def max(a, dim=None, keepdim=False):
    """Largest element; with ``dim``, (values, indices) along that dim."""
    from ..tensor import Tensor

    if isinstance(dim, Tensor):  # max(a, b) as torch.max(a, b)
        from .elementwise import maximum

        return maximum(a, dim)
    return _maxmin(a, dim, keepdim, True, "max")


def min(a, dim=None, keepdim=False):
    """Smallest element; with ``dim``, (values, indices) along that dim."""
    from ..tensor import Tensor

    if isinstance(dim, Tensor):
        from .elementwise import minimum

        return minimum(a, dim)
    return _maxmin(a, dim, keepdim, False, "min")


def amax(a, dim=None, keepdim=False):
    """Largest elements over ``dim`` (ties share the gradient)."""
    return MaxMinAll.apply(a, dims=normalize_dims(dim, a.ndim, "amax"), keepdim=keepdim,
                           is_max=True)


def amin(a, dim=None, keepdim=False):
    return MaxMinAll.apply(a, dims=normalize_dims(dim, a.ndim, "amin"), keepdim=keepdim,
                           is_max=False)


def norm(a, p=2, dim=None, keepdim=False):
    """The p-norm over ``dim`` (p = 2 or 1)."""
    if p == 2 or p == "fro":
        return Norm.apply(a, dims=normalize_dims(dim, a.ndim, "norm"), keepdim=keepdim)
    if p == 1:
        from .elementwise import abs as _abs

        return sum(_abs(a), dim=dim, keepdim=keepdim)
    raise OpError(f"norm: p must be 1 or 2, got {p!r}")


def _argext(a, dim, keepdim, name):
    xp = get_array_module(a.data)
    fn = getattr(xp, name)
    if dim is None:
        return no_grad_result(xp.asarray(fn(a.data), np.int64))  # a 0-d array, not a scalar
    d = normalize_dim(dim, a.ndim, name)
    return no_grad_result(fn(a.data, axis=d, keepdims=keepdim).astype(np.int64))


def argmax(a, dim=None, keepdim=False):
    """Index of the largest element (flattened when dim is None); no gradient."""
    return _argext(a, dim, keepdim, "argmax")


def argmin(a, dim=None, keepdim=False):
    return _argext(a, dim, keepdim, "argmin")


def all(a, dim=None):
    axis = None if dim is None else normalize_dim(dim, a.ndim)
    return no_grad_result(get_array_module(a.data).all(a.data, axis=axis))


def any(a, dim=None):
    axis = None if dim is None else normalize_dim(dim, a.ndim)
    return no_grad_result(get_array_module(a.data).any(a.data, axis=axis))
