"""Comparisons and logical ops: no gradient; they return bool tensors."""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from ._util import OpError, binary_operands, no_grad_result


def _cmp(fn, name):
    def op(a, b):
        a, b = binary_operands(a, b)
        try:
            x, y = a.data, b.data
            xp = np if type(x) is np.ndarray and type(y) is np.ndarray else get_array_module(x, y)
            return no_grad_result(getattr(xp, fn.__name__)(x, y))
        except ValueError as e:
            raise OpError(f"{name}: shapes {tuple(a.shape)} and {tuple(b.shape)} do not "
                          f"broadcast") from e

    op.__name__ = name
    op.__doc__ = f"Elementwise {fn.__name__} (no gradient); a bool tensor."
    return op


eq = _cmp(np.equal, "eq")
ne = _cmp(np.not_equal, "ne")
lt = _cmp(np.less, "lt")
le = _cmp(np.less_equal, "le")
gt = _cmp(np.greater, "gt")
ge = _cmp(np.greater_equal, "ge")
logical_and = _cmp(np.logical_and, "logical_and")
logical_or = _cmp(np.logical_or, "logical_or")
logical_xor = _cmp(np.logical_xor, "logical_xor")


def logical_not(a):
    return no_grad_result(get_array_module(a.data).logical_not(a.data))


def equal(a, b) -> bool:
    """True when both tensors have the same shape and elements."""
    return a.shape == b.shape and bool(get_array_module(a.data, b.data).array_equal(a.data,
                                                                                     b.data))


def allclose(a, b, rtol=1e-5, atol=1e-8) -> bool:
    return bool(get_array_module(a.data, b.data).allclose(a.data, b.data, rtol=rtol, atol=atol))
