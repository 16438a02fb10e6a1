"""Gradient clipping: rescale (or clamp) the gradients in place before an optimizer step.

clip_grad_norm_ treats all gradients as one vector g and, when ||g||_p > max_norm, scales it to
g * max_norm / (||g||_p + 1e-6): the direction is kept and the step length bounded (a standard
remedy for exploding gradients in recurrent nets).
"""
from __future__ import annotations

import math

import numpy as np

from ...backend import get_array_module
from ...tensor import Tensor


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale all gradients together so that their joint p-norm is at most ``max_norm``.

    total = (sum over parameters of ||grad||_p^p)^(1/p)  (max |grad| for p = inf);
    each grad is multiplied by min(1, max_norm / (total + 1e-6)).

    Args:
        parameters: a Tensor or an iterable of Tensors (e.g. ``model.parameters()``); those
            without a gradient are skipped.
        max_norm: the largest allowed norm.
        norm_type: p (2 by default; ``float('inf')`` for the max norm).
        error_if_nonfinite: raise if the total norm is nan or inf (otherwise the gradients are
            scaled by the non-finite factor, as PyTorch does).

    Returns the total norm of the gradients before clipping, as a 0-d Tensor.

    Example::

        >>> loss.backward()
        >>> clip_grad_norm_(model.parameters(), max_norm=1.0)
        >>> opt.step()
    """
    grads = _grads(parameters)
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if not grads:
        return Tensor._make(np.zeros((), np.float32), False, None, 0)
    dtype = grads[0].data.dtype
    xp = get_array_module(grads[0].data)  # the gradients' device; one transfer of the total
    if math.isinf(norm_type):
        total = 0.0
        for g in grads:
            if g.data.size:
                total = xp.maximum(total, xp.max(xp.abs(g.data)))
        total = float(total)
    else:
        acc = 0.0
        for g in grads:
            a = g.data.astype(np.float64, copy=False).ravel()
            if norm_type == 2.0:
                acc = acc + a @ a  # ||g||_2^2 as one dot product
            elif norm_type == 0.0:
                acc = acc + xp.count_nonzero(a)  # the "0-norm" counts nonzeros
            else:
                acc = acc + xp.sum(xp.abs(a) ** norm_type)
        acc = float(acc)
        total = acc ** (1.0 / norm_type) if norm_type != 0 else acc
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients "
                           f"is non-finite ({total}), so they cannot be clipped; pass "
                           f"error_if_nonfinite=False to scale them by it anyway")
    coef = max_norm / (total + 1e-6)
    if not coef >= 1.0:  # also true for nan
        for g in grads:
            g.data *= g.data.dtype.type(coef)
    return Tensor._make(xp.asarray(total, dtype), False, None, 0)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element to [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        get_array_module(g.data).clip(g.data, -clip_value, clip_value, out=g.data)
