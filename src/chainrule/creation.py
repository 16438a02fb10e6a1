"""Creation ops (no gradient flows into them): tensor, zeros, ones, arange, rand, randn, ...

Random ones draw from the one seeded generator of ``chainrule.backend`` (see ``manual_seed``).
Every op takes ``device=`` ("cpu", "cuda", "cuda:1", ...): the values are made on the host and
moved there, so a seeded random tensor has the same values on every device. ``*_like`` ops default
to the device of the tensor given, as PyTorch.
"""
from __future__ import annotations

import numpy as np

from . import backend
from .tensor import Tensor, _to_array


def _size(size, fn):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool) or s < 0:
            raise ValueError(f"{fn}: expected a size of non-negative ints, got {tuple(size)}")
    return tuple(int(s) for s in size)


def _fdt(dtype):
    return backend.get_default_dtype() if dtype is None else np.dtype(dtype)


def _new(arr, requires_grad, device=None):
    if device is not None:
        arr = backend.to_device(arr, device)
    t = Tensor._make(arr, False, None, 0)
    return t.requires_grad_(True) if requires_grad else t


def tensor(data, dtype=None, requires_grad=False, device=None):
    """A new tensor (a copy) from data; Python floats become float32, ints int64."""
    return _new(_to_array(data, None if dtype is None else np.dtype(dtype)), requires_grad, device)


def as_tensor(data, dtype=None, device=None):
    """``data`` as a tensor, sharing memory when it already is one (or an array) of that dtype
    and device."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtype):
        return data if device is None else data.to(device)
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == dtype):
        return _new(data, False, device)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array):
    """A tensor sharing memory with a NumPy array (its dtype kept)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor._make(array, False, None, 0)


def from_dlpack(ext_tensor):
    """A tensor sharing memory with any CPU array that speaks DLPack (has ``__dlpack__``): a
    PyTorch tensor, a NumPy array, a JAX array, another chainrule Tensor. No copy is made: writes
    through either side show in the other. The dtype is kept; the result does not require grad.

    Raises:
        TypeError: ``ext_tensor`` has no ``__dlpack__``.
        BufferError: the producer can't hand its memory over (another device than the CPU, a
            dtype NumPy lacks such as bfloat16, a torch tensor that requires grad: ``.detach()``
            it first); the message names the type, device, shape and dtype.
    """
    if not hasattr(ext_tensor, "__dlpack__"):
        raise TypeError(f"from_dlpack: expected an object with __dlpack__ (a torch tensor, a "
                        f"numpy array, ...), got {type(ext_tensor).__name__}")
    try:
        arr = np.from_dlpack(ext_tensor)
    except (BufferError, RuntimeError, TypeError, ValueError) as e:
        what = type(ext_tensor).__name__
        if hasattr(ext_tensor, "shape"):
            what += f", shape {tuple(ext_tensor.shape)}"
        if hasattr(ext_tensor, "dtype"):
            what += f", dtype {ext_tensor.dtype}"
        try:
            dev = tuple(int(v) for v in ext_tensor.__dlpack_device__())
            what += f", DLPack device {dev} (the CPU is (1, 0))"
        except Exception:  # noqa: BLE001 - only for the message
            pass
        raise BufferError(f"from_dlpack: can't share the memory of ({what}): {e}") from e
    return Tensor._make(arr, False, None, 0)


def zeros(*size, dtype=None, requires_grad=False, device=None):
    return _new(np.zeros(_size(size, "zeros"), _fdt(dtype)), requires_grad, device)


def ones(*size, dtype=None, requires_grad=False, device=None):
    return _new(np.ones(_size(size, "ones"), _fdt(dtype)), requires_grad, device)


def empty(*size, dtype=None, requires_grad=False, device=None):
    return _new(np.empty(_size(size, "empty"), _fdt(dtype)), requires_grad, device)


def full(size, fill_value, dtype=None, requires_grad=False, device=None):
    if dtype is None:
        dtype = np.int64 if isinstance(fill_value, (int, np.integer)) and not isinstance(
            fill_value, bool) else (np.bool_ if isinstance(fill_value, bool) else None)
    return _new(np.full(_size((size,), "full"), fill_value, _fdt(dtype)), requires_grad, device)


def eye(n, m=None, dtype=None, requires_grad=False, device=None):
    return _new(np.eye(n, m, dtype=_fdt(dtype)), requires_grad, device)


def arange(start, end=None, step=1, dtype=None, requires_grad=False, device=None):
    """Values from start to end (excluded) by step; int64 unless an argument is a float."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if is_int else backend.get_default_dtype()
    return _new(np.arange(start, end, step).astype(dtype), requires_grad, device)


def linspace(start, end, steps, dtype=None, requires_grad=False, device=None):
    return _new(np.linspace(start, end, steps).astype(_fdt(dtype)), requires_grad, device)


def rand(*size, dtype=None, requires_grad=False, device=None):
    """Uniform on [0, 1)."""
    return _new(backend.get_rng().random(_size(size, "rand")).astype(_fdt(dtype)), requires_grad,
                device)


def randn(*size, dtype=None, requires_grad=False, device=None):
    """Standard normal."""
    arr = backend.get_rng().standard_normal(_size(size, "randn"))
    return _new(arr.astype(_fdt(dtype)), requires_grad, device)


def randint(low, high=None, size=None, dtype=None, device=None):
    """Integers uniform on [low, high); ``randint(high, size)`` draws from [0, high) as PyTorch."""
    if size is None and isinstance(high, (tuple, list)):
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if size is None:
        raise ValueError("randint: size is required, e.g. randint(0, 10, (3,))")
    arr = backend.get_rng().integers(low, high, _size((size,), "randint"))
    return _new(arr.astype(np.int64 if dtype is None else dtype), False, device)


def randperm(n, dtype=None, device=None):
    return _new(backend.get_rng().permutation(n).astype(np.int64 if dtype is None else dtype),
                False, device)


def _like_device(t, device):
    """The device of a ``*_like`` result: ``device``, else t's (None, the plain path, on the CPU)."""
    if device is None and type(t.data) is not np.ndarray:
        return t.device
    return device


def _like(fn):
    def like(t, dtype=None, requires_grad=False, device=None):
        return fn(t.shape, dtype=t.dtype if dtype is None else dtype, requires_grad=requires_grad,
                  device=_like_device(t, device))

    like.__name__ = fn.__name__ + "_like"
    like.__doc__ = f"{fn.__name__} with the shape (and dtype) of another tensor."
    return like


zeros_like = _like(zeros)
ones_like = _like(ones)
empty_like = _like(empty)
rand_like = _like(rand)
randn_like = _like(randn)


def full_like(t, fill_value, dtype=None, requires_grad=False, device=None):
    return full(t.shape, fill_value, dtype=t.dtype if dtype is None else dtype,
                requires_grad=requires_grad, device=_like_device(t, device))
