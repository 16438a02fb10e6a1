"""Tensor: an n-dimensional array with a gradient and the node of the graph that made it.

A Tensor holds ``data`` (an array of the backend), ``grad`` (a Tensor of the same shape, or None),
``requires_grad``, and, for results of differentiable ops, the Function node that made it. Operators
and methods call the functional ops of ``chainrule.ops``; they follow PyTorch's names.
"""
from __future__ import annotations

import weakref

import numpy as np

from . import backend
from .autograd.grad_mode import _State


def _to_array(data, dtype=None):
    """An array from Python data, NumPy arrays or Tensors, with PyTorch's dtype defaults."""
    if isinstance(data, Tensor):
        arr = data.data
        return arr.astype(dtype) if dtype is not None and arr.dtype != dtype else arr.copy()
    if type(data) is not np.ndarray and not backend.is_host(data):  # a device array stays there
        return data.astype(dtype) if dtype is not None and data.dtype != dtype else data.copy()
    if dtype is not None:
        return np.array(data, dtype=dtype)
    if isinstance(data, np.ndarray):
        return data.copy()
    if isinstance(data, np.generic):
        return np.array(data)
    try:
        arr = np.array(data)
    except ValueError as e:
        raise ValueError(f"tensor: could not make an array from the {type(data).__name__} given "
                         f"(ragged nested lists?): {e}") from None
    if arr.dtype == object:
        raise TypeError(f"tensor: could not make a numeric array from {type(data).__name__} "
                        f"(ragged nested lists or non-numbers?)")
    if arr.dtype.kind == "f":
        return arr.astype(backend.get_default_dtype(), copy=False)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind in "US":
        raise TypeError(f"tensor: expected numbers, got strings ({arr.dtype})")
    return arr


class Tensor:
    """An array with reverse-mode autodiff.

    Args:
        data: array-like (nested lists, numbers, NumPy arrays).
        dtype: dtype; float32 for Python floats by default, int64 for ints.
        requires_grad: record operations on this tensor so that ``backward`` fills ``.grad``.
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_out_idx", "__weakref__")
    __array_priority__ = 1000  # NumPy scalars on the left defer to Tensor's reflected operators

    def __init__(self, data, dtype=None, requires_grad=False):
        self.data = _to_array(data, None if dtype is None else np.dtype(dtype))
        self.grad = None
        self._ctx = None
        self._out_idx = 0
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, arr, requires_grad, ctx, idx):
        t = object.__new__(Tensor)
        t.data = arr
        t.grad = None
        t.requires_grad = requires_grad
        t._ctx = ctx
        t._out_idx = idx
        return t

    # ---- properties -------------------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def device(self):
        """The :class:`chainrule.Device` the data lives on (equal to "cpu", "cuda:0", ...)."""
        return backend.device_of(self.data)

    @property
    def is_cuda(self):
        return backend.device_of(self.data).type == "cuda"

    @property
    def is_leaf(self):
        return self._ctx is None

    @property
    def grad_fn(self):
        return self._ctx

    @property
    def T(self):
        return ops.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self):
        return ops.transpose(self, -2, -1)

    def t(self):
        """The transpose of a matrix (a 0-D or 1-D tensor is returned as it is), as PyTorch."""
        if self.ndim > 2:
            raise ValueError(f"t: expected a tensor of at most 2 dimensions, got shape "
                             f"{tuple(self.shape)}; use .transpose(dim0, dim1) or .mT")
        return ops.transpose(self, 0, 1) if self.ndim == 2 else self

    def size(self, dim=None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def dim(self):
        return self.data.ndim

    def numel(self):
        return int(self.data.size)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item(): only a one-element tensor can be converted to a Python "
                             f"number, got shape {tuple(self.shape)}")
        return self.data.reshape(()).item()

    def numpy(self):
        """The underlying array (shared, not copied); a tensor on another device than the CPU
        raises (call ``.cpu()`` first)."""
        if type(self.data) is not np.ndarray and not backend.is_host(self.data):
            raise TypeError(f"numpy(): the tensor (shape {tuple(self.shape)}) is on device "
                            f"{self.device}; call .cpu() first")
        return self.data

    def tolist(self):
        return self.data.tolist()

    def __array__(self, dtype=None, copy=None):
        if type(self.data) is not np.ndarray and not backend.is_host(self.data):
            raise TypeError(f"can't convert a tensor on device {self.device} (shape "
                            f"{tuple(self.shape)}) to a NumPy array; call .cpu() first")
        return self.data if dtype is None else self.data.astype(dtype)

    def __dlpack__(self, **kwargs):
        """A DLPack capsule of ``data`` (no copy), so that ``torch.from_dlpack(t)``,
        ``numpy.from_dlpack(t)`` or ``jax.dlpack.from_dlpack(t)`` share this tensor's memory.
        Only the values travel: the autograd graph and ``grad`` stay here. Keyword arguments
        (``stream``, ``max_version``, ``dl_device``, ``copy``) go to ndarray.__dlpack__."""
        try:
            return self.data.__dlpack__(**kwargs)
        except (BufferError, TypeError, ValueError) as e:
            raise type(e)(f"Tensor.__dlpack__: can't export a tensor of shape {tuple(self.shape)} "
                          f"and dtype {self.data.dtype} through DLPack: {e}") from e

    def __dlpack_device__(self):
        """(device type, device id) for DLPack: (1, 0) on the CPU; a device array's own otherwise."""
        return self.data.__dlpack_device__()

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"Boolean value of a tensor with {self.data.size} elements is "
                               f"ambiguous")
        return bool(self.data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.data.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.item())

    __hash__ = object.__hash__

    def __repr__(self):
        dev = backend.device_of(self.data)
        body = np.array2string(backend.to_host(self.data), separator=", ", precision=4,
                               prefix="tensor(")
        extra = [] if dev.type == "cpu" else [f"device='{dev}'"]
        if self.data.dtype not in (backend.get_default_dtype(), np.int64, np.bool_):
            extra.append(f"dtype={self.data.dtype}")
        if self._ctx is not None:
            extra.append(f"grad_fn=<{self._ctx.name}Backward>")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extra) + ")"

    # ---- autograd ----------------------------------------------------------------------------
    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.data.dtype.kind not in "fc":
            raise RuntimeError(f"only floating-point tensors can require gradients, got dtype "
                               f"{self.data.dtype}")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor: use detach() instead")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self):
        """The same data, cut from the graph (no gradient flows back through it)."""
        return Tensor._make(self.data, False, None, 0)

    def detach_(self):
        self._ctx = None
        self.requires_grad = False
        return self

    def retain_grad(self):
        """Keep ``.grad`` for this non-leaf tensor during backward."""
        if self._ctx is None:
            return self
        ctx = self._ctx
        if ctx.retained is None:
            ctx.retained = {}
        ctx.retained[self._out_idx] = weakref.ref(self)
        return self

    def _accumulate_grad(self, g, fresh=False):
        """.grad += g; the first gradient is copied unless ``fresh`` (a new array only we hold)."""
        if self.grad is None:
            if type(g) is np.ndarray or isinstance(g, np.generic):
                own = fresh and type(g) is np.ndarray and g.flags.writeable
                # np.array copies, and gives an ndarray (one we can add into) for a NumPy scalar
                self.grad = Tensor._make(g if own else np.array(g), False, None, 0)
            else:  # a device array: kept when fresh, else copied on its device
                self.grad = Tensor._make(g if fresh else g.copy(), False, None, 0)
        else:
            gd = self.grad.data
            if type(gd) is np.ndarray:
                np.add(gd, g, out=gd)
            else:
                gd += g

    def backward(self, gradient=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) (times ``gradient`` for non-scalars) into each leaf's .grad."""
        from .autograd.engine import backward

        backward(self, gradient, retain_graph=retain_graph)

    # ---- dtype and device ------------------------------------------------------------------
    def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False):
        """This tensor on another device and/or with another dtype: ``to("cuda")``,
        ``to(float64)``, ``to("cuda", float16)``, ``to(other)`` (other's device and dtype).
        Differentiable: the gradient goes back to this tensor's device and dtype. Returns self
        when nothing changes (and ``copy`` is false)."""
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, (str, backend.Device)):
                device = a
            elif a is not None:
                dtype = a
        out = self
        if device is not None:
            dev = backend.device(device)
            if dev != backend.device_of(self.data):
                try:
                    out = ops.to_device(out, dev)
                except RuntimeError as e:
                    if "is not available" not in str(e) and "registered" not in str(e):
                        raise
                    raise RuntimeError(f"to({str(device)!r}): {e}") from None
        if dtype is not None:
            out = ops.cast(out, dtype)
        if copy and out is self:
            out = ops.clone(self)
        return out

    def cuda(self, device=None):
        """This tensor on GPU ``device`` (an index or "cuda:i"; default 0)."""
        if device is None:
            device = "cuda"
        elif isinstance(device, (int, np.integer)):
            device = f"cuda:{int(device)}"
        return self.to(device)

    def cpu(self):
        """This tensor on the CPU (self when it is there)."""
        if type(self.data) is np.ndarray:
            return self
        return self.to("cpu")

    def type(self, dtype):
        return ops.cast(self, dtype)

    def float(self):
        return ops.cast(self, np.float32)

    def double(self):
        return ops.cast(self, np.float64)

    def half(self):
        return ops.cast(self, np.float16)

    def long(self):
        return ops.cast(self, np.int64)

    def int(self):
        return ops.cast(self, np.int32)

    def bool(self):
        return ops.cast(self, np.bool_)

    def type_as(self, other):
        return ops.cast(self, other.dtype)

    def clone(self):
        return ops.clone(self)

    def contiguous(self):
        return self

    # ---- operators ---------------------------------------------------------------------------
    def __add__(self, o): return ops.add(self, o)
    def __radd__(self, o): return ops.add(o, self)
    def __sub__(self, o): return ops.sub(self, o)
    def __rsub__(self, o): return ops.sub(o, self)
    def __mul__(self, o): return ops.mul(self, o)
    def __rmul__(self, o): return ops.mul(o, self)
    def __truediv__(self, o): return ops.div(self, o)
    def __rtruediv__(self, o): return ops.div(o, self)
    def __pow__(self, o): return ops.pow(self, o)
    def __rpow__(self, o): return ops.pow(o, self)
    def __matmul__(self, o): return ops.matmul(self, o)
    def __rmatmul__(self, o): return ops.matmul(o, self)
    def __neg__(self): return ops.neg(self)
    def __pos__(self): return self
    def __abs__(self): return ops.abs(self)
    def __floordiv__(self, o): return ops.floor_divide(self, o)
    def __mod__(self, o): return ops.remainder(self, o)
    def __eq__(self, o): return ops.eq(self, o)
    def __ne__(self, o): return ops.ne(self, o)
    def __lt__(self, o): return ops.lt(self, o)
    def __le__(self, o): return ops.le(self, o)
    def __gt__(self, o): return ops.gt(self, o)
    def __ge__(self, o): return ops.ge(self, o)
    def __and__(self, o): return ops.logical_and(self, o)
    def __or__(self, o): return ops.logical_or(self, o)
    def __xor__(self, o): return ops.logical_xor(self, o)
    def __invert__(self): return ops.logical_not(self)
    def __getitem__(self, idx): return ops.getitem(self, idx)

    def where(self, condition, other):
        """self where condition else other (``x.where(c, y)`` is ``where(c, x, y)``)."""
        return ops.where(condition, self, other)

    def _inplace(self, name, o, fn):
        """Update ``data`` in place and return self, or return None where the graph needs the
        out-of-place op instead.

        With grad mode on, a leaf that requires grad raises (backward differentiates at its value);
        a non-leaf that requires grad, or a plain tensor updated with an operand that requires grad,
        gets None: ``x += y`` then rebinds x to the recorded ``x + y``, so no gradient is lost.
        """
        if _State.enabled:
            if self.requires_grad:
                if self._ctx is None:
                    raise RuntimeError(f"{name}: a leaf tensor that requires grad (shape "
                                       f"{tuple(self.shape)}) is used in an in-place operation; "
                                       f"wrap the update in chainrule.no_grad()")
                return None
            if isinstance(o, Tensor) and o.requires_grad:
                return None
        od = o.data if isinstance(o, Tensor) else o
        if isinstance(fn, str):  # a ufunc's name, taken from the data's array module
            fn = getattr(backend.get_array_module(self.data, od), fn)
        res = fn(self.data, od)
        if res.dtype != self.data.dtype and not np.can_cast(res.dtype, self.data.dtype,
                                                             "same_kind"):
            raise RuntimeError(f"{name}: result dtype {res.dtype} can't be cast to the tensor's "
                               f"dtype {self.data.dtype}")
        if res.shape != self.data.shape:
            raise RuntimeError(f"{name}: operand of shape {tuple(getattr(od, 'shape', ()))} does "
                               f"not broadcast to "
                               f"the tensor's shape {tuple(self.shape)}")
        self.data[...] = res
        return self

    def __iadd__(self, o):
        r = self._inplace("add_", o, "add")
        return ops.add(self, o) if r is None else r

    def __isub__(self, o):
        r = self._inplace("sub_", o, "subtract")
        return ops.sub(self, o) if r is None else r

    def __imul__(self, o):
        r = self._inplace("mul_", o, "multiply")
        return ops.mul(self, o) if r is None else r

    def __itruediv__(self, o):
        r = self._inplace("div_", o, "true_divide")
        return ops.div(self, o) if r is None else r

    def _inplace_strict(self, name, o, fn):
        r = self._inplace(name, o, fn)
        if r is None:
            raise RuntimeError(f"{name}: in-place update of a tensor of shape {tuple(self.shape)} "
                               f"that is part of a graph (or with an operand that requires grad); "
                               f"use the out-of-place op")
        return r

    def add_(self, o, alpha=1):
        return self._inplace_strict("add_", o, lambda a, b: a + alpha * b)

    def sub_(self, o, alpha=1):
        return self._inplace_strict("sub_", o, lambda a, b: a - alpha * b)

    def mul_(self, o):
        return self._inplace_strict("mul_", o, "multiply")

    def div_(self, o):
        return self._inplace_strict("div_", o, "true_divide")

    def clamp_(self, min=None, max=None):
        return self._inplace_strict(
            "clamp_", None, lambda a, _: backend.get_array_module(a).clip(a, min, max))

    def copy_(self, src):
        def copy(a, b):
            xp = backend.get_array_module(a)
            return xp.broadcast_to(backend.asarray_like(a, b, a.dtype), a.shape)

        return self._inplace_strict("copy_", src, copy)

    def fill_(self, value):
        return self._inplace_strict("fill_", value,
                                    lambda a, b: backend.get_array_module(a).full_like(a, b))

    def zero_(self):
        return self.fill_(0)

    def uniform_(self, a=0.0, b=1.0):
        return self.copy_(backend.host_random(self.data, "uniform", a, b, self.shape))

    def normal_(self, mean=0.0, std=1.0):
        return self.copy_(backend.host_random(self.data, "normal", mean, std, self.shape))

    def __setitem__(self, idx, value):
        if self.requires_grad and _State.enabled:
            raise RuntimeError("item assignment into a tensor that requires grad; do it under "
                               "chainrule.no_grad() or build the tensor with where/cat")
        idx = ops.index.index_on_device(ops.index.normalize_index(idx), self.data)
        value = value.data if isinstance(value, Tensor) else value
        if type(self.data) is not np.ndarray and not isinstance(value, (int, float, bool)):
            value = backend.asarray_like(self.data, value)
        self.data[idx] = value


def _method(fn):
    def m(self, *args, **kwargs):
        return fn(self, *args, **kwargs)

    m.__name__ = fn.__name__
    m.__doc__ = fn.__doc__
    return m


_METHODS = [
    "exp", "log", "log1p", "sqrt", "rsqrt", "abs", "sigmoid", "tanh", "relu", "sin", "cos", "square",
    "reciprocal", "sign", "floor", "ceil", "round", "clamp", "clip", "maximum", "minimum", "pow",
    "add", "sub", "mul", "div", "neg", "isnan", "isinf", "isfinite",
    "sum", "mean", "var", "std", "max", "min", "amax", "amin", "argmax", "argmin",
    "logsumexp", "softmax", "log_softmax", "all", "any", "norm",
    "matmul", "mm", "bmm", "dot",
    "reshape", "view", "transpose", "permute", "flatten", "squeeze", "unsqueeze", "expand",
    "expand_as", "repeat", "split", "chunk", "view_as", "reshape_as", "unbind", "flip",
    "index_select", "gather", "masked_fill", "eq", "ne", "lt", "le", "gt", "ge",
    "logical_and", "logical_or", "logical_not",
]

from . import ops  # noqa: E402  (ops need Tensor defined)

for _name in _METHODS:
    setattr(Tensor, _name, _method(getattr(ops, _name)))
