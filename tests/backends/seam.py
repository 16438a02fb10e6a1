"""A CPU test backend that treats NumPy the way CuPy does, to prove the device seam without a GPU.

``SeamArray`` wraps an ndarray (it is NOT an ndarray subclass, so NumPy can't see through it) and
follows CuPy's rules:

- ufuncs and NumPy functions called on seam arrays (``np.exp(s)``, ``np.concatenate([s, t])``) run
  and give seam arrays, as CuPy's ``__array_ufunc__`` / ``__array_function__`` do;
- mixing a seam array with a host ndarray of more than 0 dims raises TypeError naming the function
  (CuPy: "Unsupported type <class 'numpy.ndarray'>");
- ``np.asarray(s)`` / ``np.array(s)`` (an implicit copy to the host) raises TypeError;
- full reductions give 0-d seam arrays, not NumPy scalars;
- ``flags`` has only c_contiguous / f_contiguous / owndata (no ``writeable``).

``xp`` is the array module: NumPy's namespace whose functions take and give seam arrays, and which
refuses host arrays except in ``asarray``/``array`` (explicit host-to-device copies).
"""
from __future__ import annotations

import types

import numpy as np

_CREATE = {"asarray", "array", "ascontiguousarray", "asanyarray"}  # may take host data


def _fail(name, what):
    raise TypeError(f"seam: {name} got a host numpy.ndarray of shape {what.shape} next to seam "
                    f"arrays (implicit host/device mixing, which CuPy refuses)")


def _unwrap(obj, name, allow_host=False):
    """Seam arrays -> their ndarrays (through lists, tuples and dicts); host arrays raise."""
    t = type(obj)
    if t is SeamArray:
        return obj._a
    if t is np.ndarray or isinstance(obj, np.ndarray):
        if obj.ndim and not allow_host:
            _fail(name, obj)
        return obj
    if t is tuple or t is list:
        return t(_unwrap(o, name, allow_host) for o in obj)
    if t is dict:
        return {k: _unwrap(v, name, allow_host) for k, v in obj.items()}
    return obj


def _wrap(obj):
    t = type(obj)
    if t is np.ndarray:
        return SeamArray(obj)
    if isinstance(obj, np.generic):
        return SeamArray(np.asarray(obj))
    if t is tuple or t is list:
        return t(_wrap(o) for o in obj)
    return obj


def _call(fn, name, args, kwargs, allow_host=False):
    args = _unwrap(args, name, allow_host)
    kwargs = _unwrap(kwargs, name, allow_host)
    return _wrap(fn(*args, **kwargs))


class _Flags:
    def __init__(self, a):
        self.c_contiguous = a.flags.c_contiguous
        self.f_contiguous = a.flags.f_contiguous
        self.owndata = a.flags.owndata


class SeamArray:
    """An ndarray on the "seam" device (see the module docstring)."""

    __slots__ = ("_a",)
    __array_priority__ = 2000

    def __init__(self, a):
        if type(a) is not np.ndarray:
            raise TypeError(f"SeamArray wraps a numpy.ndarray, got {type(a).__name__}")
        self._a = a

    # ---- CuPy's interop rules -------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed (seam array of shape "
                        f"{self._a.shape}); use to_host() / Tensor.cpu()")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        name = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        if "out" in kwargs:
            outs = kwargs["out"]
            for o in (outs if isinstance(outs, tuple) else (outs,)):
                if type(o) is not SeamArray and o is not None:
                    raise TypeError(f"seam: {name} got out= of type {type(o).__name__}, expected "
                                    f"a seam array")
        res = _call(getattr(ufunc, method), name, inputs, kwargs)
        return None if method == "at" else res

    def __array_function__(self, func, types_, args, kwargs):
        return _call(func, f"numpy.{func.__name__}", args, kwargs)

    # ---- attributes and methods: those of the wrapped array, with seam results ------------
    @property
    def flags(self):
        return _Flags(self._a)

    @property
    def shape(self):
        return self._a.shape

    @property
    def dtype(self):
        return self._a.dtype

    @property
    def ndim(self):
        return self._a.ndim

    @property
    def size(self):
        return self._a.size

    @property
    def strides(self):
        return self._a.strides

    @property
    def itemsize(self):
        return self._a.itemsize

    @property
    def nbytes(self):
        return self._a.nbytes

    @property
    def T(self):
        return SeamArray(self._a.T)

    @property
    def base(self):
        return None if self._a.base is None else self

    def __getattr__(self, name):
        if name.startswith("__") or name in ("tofile", "tobytes", "ctypes", "data"):
            raise AttributeError(f"SeamArray has no attribute {name!r}")
        attr = getattr(self._a, name)
        if callable(attr):
            qual = f"ndarray.{name}"
            return lambda *a, **k: _call(attr, qual, a, k)
        return _wrap(attr)

    def get(self):
        """The values as a host ndarray (CuPy's explicit copy)."""
        return self._a.copy()

    def item(self):
        return self._a.item()

    def tolist(self):
        return self._a.tolist()

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (self[i] for i in range(len(self._a)))

    def __bool__(self):
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __index__(self):
        return self._a.__index__()

    def __repr__(self):
        return "seam" + repr(self._a)[5:]

    def __getitem__(self, idx):
        return _wrap(self._a[_unwrap(idx, "ndarray.__getitem__")])

    def __setitem__(self, idx, value):
        self._a[_unwrap(idx, "ndarray.__setitem__")] = _unwrap(value, "ndarray.__setitem__")

    def __dlpack__(self, **kw):
        raise BufferError("seam arrays can't be exported through DLPack")

    def __dlpack_device__(self):
        return (2, 0)  # kDLCUDA: like a GPU array, not the host


def _binop(ufunc, reflected=False):
    if reflected:
        return lambda self, o: ufunc(o, self)
    return lambda self, o: ufunc(self, o)


for _n, _u in [("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
               ("truediv", np.true_divide), ("floordiv", np.floor_divide), ("mod", np.remainder),
               ("pow", np.power), ("matmul", np.matmul), ("and", np.bitwise_and),
               ("or", np.bitwise_or), ("xor", np.bitwise_xor)]:
    setattr(SeamArray, f"__{_n}__", _binop(_u))
    setattr(SeamArray, f"__r{_n}__", _binop(_u, True))
    setattr(SeamArray, f"__i{_n}__",
            (lambda u: lambda self, o: u(self, o, out=self))(_u))
for _n, _u in [("eq", np.equal), ("ne", np.not_equal), ("lt", np.less), ("le", np.less_equal),
               ("gt", np.greater), ("ge", np.greater_equal)]:
    setattr(SeamArray, f"__{_n}__", _binop(_u))
SeamArray.__neg__ = lambda self: np.negative(self)
SeamArray.__pos__ = lambda self: self
SeamArray.__abs__ = lambda self: np.absolute(self)
SeamArray.__invert__ = lambda self: np.invert(self)
SeamArray.__hash__ = None


class _Ufunc:
    """``xp.add`` and friends: the NumPy ufunc, refusing host arrays, giving seam arrays."""

    def __init__(self, u):
        self._u = u
        self.__name__ = u.__name__

    def __call__(self, *args, **kwargs):
        return _call(self._u, f"xp.{self.__name__}", args, kwargs)

    def __getattr__(self, method):
        m = getattr(self._u, method)
        if not callable(m):
            return m
        return lambda *a, **k: _call(m, f"xp.{self.__name__}.{method}", a, k)


class _Module(types.ModuleType):
    """An array module over a NumPy (sub)module whose functions take and give seam arrays."""

    def __init__(self, name, np_mod):
        super().__init__(name)
        self._np = np_mod

    def __getattr__(self, name):
        attr = getattr(self._np, name)
        if isinstance(attr, np.ufunc):
            wrapped = _Ufunc(attr)
        elif isinstance(attr, types.ModuleType):
            wrapped = _Module(f"{self.__name__}.{name}", attr)
        elif callable(attr) and not isinstance(attr, type):
            qual = f"xp.{name}"
            allow = name in _CREATE
            wrapped = (lambda f, q, al: lambda *a, **k: _call(f, q, a, k, al))(attr, qual, allow)
        elif name == "ndarray":
            wrapped = SeamArray
        else:
            wrapped = attr  # dtypes, constants (pi, inf, newaxis), classes
        setattr(self, name, wrapped)
        return wrapped


xp = _Module("seam", np)
xp.ndarray = SeamArray


def to_device(a, index=0):
    return SeamArray(np.array(a))


def to_host(s):
    if type(s) is not SeamArray:
        raise TypeError(f"seam.to_host: expected a seam array, got {type(s).__name__}")
    return s._a.copy()


def register():
    """Register the "seam" device with chainrule's backend registry."""
    from chainrule import backend

    return backend.register_backend("seam", xp, SeamArray, to_device, to_host)


def unregister():
    from chainrule import backend

    backend.unregister_backend("seam")
