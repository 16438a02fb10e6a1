"""Comparisons and logical ops: no gradient; they return bool tensors."""
from __future__ import annotations

import numpy as np

from ._util import binary_operands, no_grad_result


def _cmp(fn):
    def op(a, b):
        a, b = binary_operands(a, b)
        try:
            return no_grad_result(fn(a.data, b.data))
        except ValueError as e:
            raise ValueError(f"{fn.__name__}: shapes {tuple(a.shape)} and {tuple(b.shape)} do "
                             f"not broadcast") from e

    op.__name__ = fn.__name__
    op.__doc__ = f"Elementwise {fn.__name__} (no gradient); a bool tensor."
    return op


eq = _cmp(np.equal)
ne = _cmp(np.not_equal)
lt = _cmp(np.less)
le = _cmp(np.less_equal)
gt = _cmp(np.greater)
ge = _cmp(np.greater_equal)
logical_and = _cmp(np.logical_and)
logical_or = _cmp(np.logical_or)
logical_xor = _cmp(np.logical_xor)


def logical_not(a):
    return no_grad_result(np.logical_not(a.data))


def equal(a, b) -> bool:
    """True when both tensors have the same shape and elements."""
    return a.shape == b.shape and bool(np.array_equal(a.data, b.data))


def allclose(a, b, rtol=1e-5, atol=1e-8) -> bool:
    return bool(np.allclose(a.data, b.data, rtol=rtol, atol=atol))
