"""Helpers shared by the op families: undoing broadcasting, reading dims, making operands."""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from ..backend import get_array_module
from ..tensor import Tensor  # defined before chainrule.tensor imports the ops


class OpError(ValueError):
    """A bad argument to an op; the message names the op, what it expected and what it got."""

    chainrule_named = True


class OpTypeError(TypeError):
    chainrule_named = True


class OpIndexError(IndexError):
    chainrule_named = True


def unbroadcast(g, shape):
    """Sum gradient ``g`` down to ``shape``: the adjoint of NumPy broadcasting.

    A broadcast copies x along new leading axes and along axes of size 1, so its backward sums
    the gradient over exactly those axes.
    """
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    size1 = tuple(i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1)
    if not size1 and lead > 0 and g.dtype.kind == "f" and g.size:  # (reshape(-1, 0) is ambiguous)
        # only leading axes: a (rows, features) GEMV is much faster than ndarray.sum(0)
        g2 = g.reshape(-1, int(np.prod(shape, dtype=np.int64)))
        xp = np if type(g) is np.ndarray else get_array_module(g)
        return (xp.ones(g2.shape[0], g.dtype) @ g2).reshape(shape)
    if lead:
        g = g.sum(axis=tuple(range(lead)))
    if size1:
        g = g.sum(axis=tuple(a - lead for a in size1), keepdims=True)
    return g.reshape(shape)


def normalize_dim(dim, ndim, op="op"):
    """A dim in [0, ndim) from a possibly negative one, with a clear error when out of range."""
    n = max(ndim, 1)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise OpTypeError(f"{op}: dim must be an int, got {type(dim).__name__}")
    if not -n <= dim < n:
        raise OpIndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dims "
                           f"(expected one in [{-n}, {n - 1}])")
    return dim % n


def normalize_dims(dim, ndim, op="op"):
    """A sorted tuple of dims from None (all), an int or a sequence."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (list, tuple)):
        dims = tuple(sorted({normalize_dim(d, ndim, op) for d in dim}))
    else:
        dims = (normalize_dim(dim, ndim, op),)
    return dims if ndim else ()  # a 0-d tensor accepts dim 0 or -1, and has no dim to reduce


def as_tensor_operand(x, like=None):
    """A Tensor for an op's operand: Tensors pass through; Python numbers become 0-d arrays whose
    dtype follows PyTorch (a float scalar keeps a float tensor's dtype; an int scalar keeps an
    int tensor's)."""
    if isinstance(x, Tensor):
        return x
    if type(x) is float and like is not None and like.dtype.kind == "f":  # the common case, fast
        return Tensor._make(np.asarray(x, like.dtype), False, None, 0)
    if isinstance(x, (bool, np.bool_)):
        dt = like.dtype if like is not None else np.bool_
        return Tensor._make(np.asarray(x, dt), False, None, 0)
    if isinstance(x, numbers.Integral):
        dt = like.dtype if like is not None and like.dtype.kind in "iuf" else np.int64
        return Tensor._make(np.asarray(x, dt), False, None, 0)
    if isinstance(x, numbers.Real):
        dt = like.dtype if like is not None and like.dtype.kind == "f" else \
            backend.get_default_dtype()
        return Tensor._make(np.asarray(x, dt), False, None, 0)
    if isinstance(x, np.ndarray):
        return Tensor._make(x, False, None, 0)
    if isinstance(x, (list, tuple)):
        return Tensor(x)
    raise OpTypeError(f"expected a Tensor or a number as operand, got {type(x).__name__}")


def _scalar_to_device(t, like):
    """A 0-d host tensor ``t`` next to ``like``, a tensor on another device: a constant becomes a
    NumPy scalar (device array modules take those as they take Python numbers, with no copy); one
    in a graph is moved there. Other tensors are returned as they are."""
    d = t.data
    if type(d) is np.ndarray and d.ndim == 0 and not backend.is_host(like.data):
        if t._ctx is None and not t.requires_grad:
            return Tensor._make(d[()], False, None, 0)
        from .elementwise import to_device

        return to_device(t, backend.device_of(like.data))
    return t


def binary_operands(a, b):
    """Two Tensors from a pair of operands, an integer operand converted to the float one's dtype
    (PyTorch's promotion: int64 tensor + float32 tensor is float32). A number (or a 0-d CPU tensor)
    next to a tensor on another device moves to that device."""
    ta = isinstance(a, Tensor)
    tb = isinstance(b, Tensor)
    if ta and not tb:
        b = as_tensor_operand(b, a)
    elif tb and not ta:
        a = as_tensor_operand(a, b)
    elif not ta and not tb:
        a = as_tensor_operand(a)
        b = as_tensor_operand(b, a)
    if type(a.data) is not type(b.data):
        a, b = _scalar_to_device(a, b), _scalar_to_device(b, a)
        da, db = backend.device_of(a.data), backend.device_of(b.data)
        if da != db and not isinstance(a.data, np.generic) and not isinstance(b.data, np.generic):
            raise RuntimeError(f"expected both operands on one device, got a tensor of shape "
                               f"{tuple(a.shape)} on {da} and one of shape {tuple(b.shape)} on "
                               f"{db}; move one with .to(device)")
    ka, kb = a.data.dtype.kind, b.data.dtype.kind
    if ka != kb:
        if ka == "f" and kb != "f":
            b = Tensor._make(b.data.astype(a.data.dtype), False, None, 0)
        elif kb == "f" and ka != "f":
            a = Tensor._make(a.data.astype(b.data.dtype), False, None, 0)
    return a, b


def no_grad_result(arr):
    """A Tensor from a non-differentiable op."""
    return Tensor._make(arr, False, None, 0)


def to_array(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def zero_where_no_grad(g, gz):
    """``g`` with 0 wherever the incoming gradient ``gz`` is exactly 0 (same shape as ``g``).

    The chain rule multiplies gz by the local derivative d; where d is infinite or NaN (sqrt, log,
    1/b at 0, exp overflow) and gz = 0, plain arithmetic gives 0 * inf = NaN. gz = 0 there means no
    gradient flows through that element (e.g. the branch ``where`` did not take), so its
    contribution is 0: ``where(x > 0, sqrt(x), 0)`` has gradient 0 at x = 0, not NaN. Where gz is
    not 0 the non-finite value stays (d sqrt(x)/dx at 0 is inf, as in PyTorch). The check costs
    one pass; the ``np.where`` only runs when g has a non-finite value.
    """
    xp = np if type(g) is np.ndarray else get_array_module(g)
    if g.size and not xp.isfinite(g).all():
        g = xp.where(gz == 0, g.dtype.type(0), g)
    return g
