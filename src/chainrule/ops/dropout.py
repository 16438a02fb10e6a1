"""Dropout: zero each unit with probability p during training, scaling the kept ones by 1/(1-p).

Inverted dropout: with a mask m_i ~ Bernoulli(1 - p), drawn fresh at each call,

    y_i = x_i m_i / (1 - p),

so that E[y_i] = x_i and the layer is the identity at evaluation time. The map is linear in x with
a diagonal Jacobian, so dL/dx_i = dL/dy_i m_i / (1 - p): the backward multiplies by the same
scaled mask.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from ..autograd.function import Function
from ..backend import get_array_module
from ._util import OpError, OpTypeError


class Dropout(Function):
    """y = x * m / (1 - p), m ~ Bernoulli(1 - p) elementwise (drawn from ``backend.get_rng()``)."""

    def forward(self, x, p):
        xp = np if type(x) is np.ndarray else get_array_module(x)
        if x.dtype.kind != "f":
            raise OpTypeError(f"dropout: expected a floating-point input, got dtype {x.dtype}")
        if p >= 1.0:
            mask = xp.zeros(x.shape, x.dtype)  # every unit dropped
        else:
            # draw uniforms in the input's precision (float32 draws are about 2x faster)
            udt = x.dtype if x.dtype in (np.float32, np.float64) else np.float64
            # drawn on the host generator and moved to x's device (seeded runs match across devices)
            keep = backend.host_random(x, "random", x.shape, dtype=udt) < (1.0 - p)
            mask = keep.astype(x.dtype)
            mask *= x.dtype.type(1.0 / (1.0 - p))  # the scaled mask m / (1 - p)
        self.save(mask)
        return x * mask

    def backward(self, gy):
        (mask,) = self.saved
        return gy * mask  # dy/dx = m / (1 - p)


def check_p(p, who="dropout"):
    """p as a float in [0, 1], or a clear error naming ``who``."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise OpTypeError(f"{who}: expected a probability p in [0, 1], got {p!r}")
    if not 0.0 <= p <= 1.0:
        raise OpError(f"{who}: dropout probability has to be between 0 and 1, got {p}")
    return float(p)


def dropout(input, p=0.5, training=True, inplace=False):
    """Inverted dropout: y = x * m / (1 - p), m ~ Bernoulli(1 - p); the identity when not training.

    Shapes: any; the output has the input's shape. ``inplace`` is accepted for PyTorch
    compatibility and ignored (the result is always a new tensor).

    Example::

        >>> cr.manual_seed(0); y = dropout(cr.ones(4), p=0.5)   # entries are 0 or 2
    """
    p = check_p(p)
    if not training or p == 0.0:
        return input
    return Dropout.apply(input, p=p)


class FeatureDropout(Function):
    """y = x * m / (1 - p) with one m ~ Bernoulli(1 - p) per (example, channel): whole feature
    maps are kept or zeroed (``backend.get_rng()``, as Dropout)."""

    fresh_grads = True  # the backward returns a new array

    def forward(self, x, p):
        xp = np if type(x) is np.ndarray else get_array_module(x)
        if x.dtype.kind != "f":
            raise OpTypeError(f"dropout2d: expected a floating-point input, got dtype {x.dtype}")
        mshape = x.shape[:2] + (1,) * (x.ndim - 2)  # one draw per (n, c), broadcast over H, W
        if p >= 1.0:
            mask = xp.zeros(mshape, x.dtype)
        else:
            udt = x.dtype if x.dtype in (np.float32, np.float64) else np.float64
            keep = backend.host_random(x, "random", mshape, dtype=udt) < (1.0 - p)
            mask = keep.astype(x.dtype)
            mask *= x.dtype.type(1.0 / (1.0 - p))  # the scaled mask m / (1 - p)
        self.save(mask)
        return x * mask

    def backward(self, gy):
        (mask,) = self.saved
        return gy * mask  # dy/dx = m / (1 - p), the same for every pixel of a channel


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Channel dropout (Tompson et al. 2015): zero whole feature maps with probability p and scale
    the kept ones by 1/(1-p): y_{n,c,:,:} = x_{n,c,:,:} m_{n,c} / (1 - p), m ~ Bernoulli(1 - p).
    Adjacent pixels of a map are strongly correlated, so dropping single pixels barely
    regularizes a conv net; dropping whole maps does. The identity when not training.

    Shapes: (N, C, H, W) -> the same; a 3-D input is read as (N, C, L), one draw per (n, c), as
    PyTorch does today. ``inplace`` is accepted and ignored.

    Example::

        >>> cr.manual_seed(0); y = dropout2d(cr.ones(2, 3, 4, 4))  # each 4x4 map all 0 or all 2
    """
    p = check_p(p, "dropout2d")
    if not hasattr(input, "data") or input.ndim not in (3, 4):
        got = tuple(input.shape) if hasattr(input, "shape") else type(input).__name__
        raise OpError(f"dropout2d: expected input (N, C, H, W) or (N, C, L), got {got}")
    if not training or p == 0.0:
        return input
    return FeatureDropout.apply(input, p=p)
