"""The array backend: devices and their array modules, the default dtype, and the random generator.

A tensor's ``data`` is an array of one backend: a NumPy ``ndarray`` on the CPU, a CuPy array on a
CUDA GPU (registered only when ``import cupy`` works), or any module registered with
:func:`register_backend` (the tests register a CPU "seam" backend that obeys CuPy's rules). Kernels
take the module from their inputs, ``xp = get_array_module(x, w)``, and call ``xp.exp``,
``xp.zeros`` ... instead of NumPy directly, so the same op runs on every backend; NumPy stays the
fast path (``type(a) is np.ndarray`` is checked first).

Random numbers: every random op draws from the one seeded host generator (:func:`get_rng`) and moves
the result to the tensor's device (:func:`host_random`), so a seeded run draws the same numbers on
every device. A backend may pass its own ``random`` to :func:`register_backend` to draw on the
device instead (faster, but the numbers then differ from the CPU's); the CuPy entry does not.
"""
from __future__ import annotations

import numbers

import numpy as np

xp = np
"""The array module of the CPU backend (NumPy). Kernels use :func:`get_array_module` instead."""

_ndarray = np.ndarray


class Device:
    """A device: ``type`` ("cpu", "cuda" or a registered backend's name) and ``index`` (None for the
    CPU; 0, 1, ... for the others). Equal to its string form: ``Device("cuda", 0) == "cuda:0"``."""

    __slots__ = ("type", "index")

    def __init__(self, type, index=None):
        self.type = type
        self.index = index

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device(type={self.type!r}" + ("" if self.index is None else
                                               f", index={self.index}") + ")"

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except (ValueError, RuntimeError):
                return False
        if not isinstance(other, Device):
            return NotImplemented
        return self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self):
        return hash((self.type, self.index or 0))


CPU = Device("cpu")


class Backend:
    """One registered array backend (see :func:`register_backend`)."""

    __slots__ = ("name", "module", "array_type", "to_device", "to_host", "index_of",
                 "device_count", "random", "add_at")

    def __init__(self, name, module, array_type, to_device, to_host, index_of=None,
                 device_count=None, random=None, add_at=None):
        self.name = name
        self.module = module
        self.array_type = array_type
        self.to_device = to_device
        self.to_host = to_host
        self.index_of = index_of
        self.device_count = device_count
        self.random = random
        self.add_at = add_at


_backends: dict = {}
_by_type: dict = {}
_by_module: dict = {}


def register_backend(name, module, array_type, to_device, to_host, *, index_of=None,
                     device_count=None, random=None, add_at=None) -> Backend:
    """Register an array backend as device ``name`` (``name`` or ``name:i``).

    Args:
        module: its NumPy-like array module (``cupy``): kernels call ``module.exp`` and so on.
        array_type: the class of its arrays (``cupy.ndarray``).
        to_device: ``to_device(host_array, index) -> array`` on device ``index`` (an int).
        to_host: ``to_host(array) -> numpy.ndarray``.
        index_of: ``index_of(array) -> int``, the device an array is on (default: always 0).
        device_count: ``device_count() -> int`` (default: 1).
        random: optional ``random(method, args, kwargs, index) -> array``; without it random ops
            draw from the host generator and move the result (seeded runs match across devices).
        add_at: optional ``add_at(a, indices, values)`` (unbuffered a[indices] += values) when the
            module has no ``add.at`` (CuPy's is ``cupyx.scatter_add``).
    """
    if name == "cpu":
        raise ValueError("register_backend: 'cpu' is NumPy's and can't be replaced")
    b = Backend(name, module, array_type, to_device, to_host, index_of, device_count, random,
                add_at)
    _backends[name] = b
    _by_type[array_type] = b
    _by_module[id(module)] = b
    return b


def unregister_backend(name) -> None:
    """Remove a backend registered with :func:`register_backend` (tests use it to clean up)."""
    b = _backends.pop(name, None)
    if b is not None:
        _by_type.pop(b.array_type, None)
        _by_module.pop(id(b.module), None)


def backends() -> list:
    """The names of the available devices' backends ("cpu" first)."""
    return ["cpu", *_backends]


def device(spec) -> Device:
    """A :class:`Device` from "cpu", "cuda", "cuda:1", a registered backend's name, a Device, or
    an int (a CUDA index, as PyTorch)."""
    if isinstance(spec, Device):
        return spec
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        return Device("cuda", int(spec))
    if not isinstance(spec, str):
        raise TypeError(f"device: expected a string such as 'cpu' or 'cuda:0', a Device or an "
                        f"int, got {type(spec).__name__}")
    kind, _, idx = spec.partition(":")
    if kind == "cpu":
        if idx not in ("", "0"):
            raise ValueError(f"device: the CPU has no index, got {spec!r}")
        return CPU
    if kind != "cuda" and kind not in _backends:
        known = ", ".join(repr(k) for k in ["cpu", "cuda", *(k for k in _backends if k != "cuda")])
        raise ValueError(f"device: expected one of {known} (optionally with ':index'), got "
                         f"{spec!r}")
    if idx == "":
        return Device(kind, 0)
    if not idx.isdigit():
        raise ValueError(f"device: expected a non-negative device index after ':', got {spec!r}")
    return Device(kind, int(idx))


def _backend_of_device(dev: Device) -> Backend:
    b = _backends.get(dev.type)
    if b is None:
        if dev.type == "cuda":
            raise RuntimeError(f"chainrule.cuda is not available: install cupy (pip install "
                               f"cupy-cuda12x) on a machine with an NVIDIA GPU to use device "
                               f"{str(dev)!r}; the devices here are: "
                               f"{', '.join(repr(b) for b in backends())}")
        raise RuntimeError(f"device {str(dev)!r}: no backend of that name is registered (the "
                           f"devices here are: {', '.join(repr(b) for b in backends())})")
    count = b.device_count() if b.device_count is not None else 1
    if not 0 <= (dev.index or 0) < count:
        raise RuntimeError(f"device {str(dev)!r}: index out of range ({dev.type} has {count} "
                           f"device{'s' if count != 1 else ''})")
    return b


def _backend_of_array(a):
    """The Backend of a non-NumPy array, or None when ``a`` is not an array of any backend."""
    b = _by_type.get(type(a))
    if b is not None:
        return b
    for t, b in _by_type.items():
        if isinstance(a, t):
            return b
    return None


def get_array_module(*arrays):
    """The array module of the arrays given (NumPy, CuPy, ...); ``None`` and Python or NumPy
    scalars are ignored. Raises RuntimeError when arrays of two devices are mixed (a host array
    with more than 0 dims next to a device array).

    This is on every kernel's path: a run of plain ndarrays returns after one type check each.
    """
    for a in arrays:
        if type(a) is not _ndarray:
            return _module_of(arrays)
    return np


def _module_of(arrays):
    found = None
    host = None
    for a in arrays:
        t = type(a)
        if t is _ndarray:
            if a.ndim and host is None:
                host = a
            continue
        if a is None or isinstance(a, (numbers.Number, np.generic)):
            continue
        b = _backend_of_array(a)
        if b is None:
            if isinstance(a, _ndarray):  # a subclass of ndarray: NumPy's
                if a.ndim and host is None:
                    host = a
            continue
        if found is None:
            found = b
        elif b is not found:
            raise RuntimeError(f"expected all arrays on one device, got arrays of "
                               f"{found.name!r} and {b.name!r}")
    if found is None:
        return np
    if host is not None:
        raise RuntimeError(f"expected all arrays on one device, got a host (cpu) array of shape "
                           f"{tuple(host.shape)} next to a {found.name!r} array; move it with "
                           f".to(device)")
    return found.module


def is_host(a) -> bool:
    """True for NumPy arrays and scalars (what lives on the CPU)."""
    return type(a) is _ndarray or _backend_of_array(a) is None


def is_array(a) -> bool:
    """True for an array of any backend (a NumPy ndarray, a CuPy array, ...)."""
    return isinstance(a, _ndarray) or _backend_of_array(a) is not None


def device_of(a) -> Device:
    """The :class:`Device` an array lives on."""
    if type(a) is _ndarray:
        return CPU
    b = _backend_of_array(a)
    if b is None:
        return CPU
    return Device(b.name, b.index_of(a) if b.index_of is not None else 0)


def to_device(a, dev):
    """Array ``a`` on device ``dev`` (a Device or a string); ``a`` itself when it is there."""
    dev = device(dev)
    src = device_of(a)
    if src == dev:
        return a
    host = a if src.type == "cpu" else _backends[src.type].to_host(a)
    if dev.type == "cpu":
        return np.asarray(host)
    return _backend_of_device(dev).to_device(np.asarray(host, order="C"), dev.index or 0)


def to_host(a):
    """A NumPy array with the values of ``a`` (``a`` itself when it is one)."""
    if type(a) is _ndarray:
        return a
    b = _backend_of_array(a)
    return np.asarray(a) if b is None else b.to_host(a)


def asarray_like(like, data, dtype=None):
    """``data`` (an array of any device, a number, a list) as an array on ``like``'s device."""
    if type(like) is _ndarray:
        return np.asarray(data if is_host(data) else to_host(data), dtype)
    dev = device_of(like)
    if not is_host(data):
        data = to_device(data, dev)
        return data if dtype is None else data.astype(dtype, copy=False)
    return to_device(np.asarray(data, dtype), dev)


def add_at(xp_, a, indices, values) -> None:
    """Unbuffered ``a[indices] += values`` (repeated indices add up): ``np.add.at`` on NumPy."""
    if xp_ is np:
        np.add.at(a, indices, values)
        return
    b = _by_module.get(id(xp_))
    if b is not None and b.add_at is not None:
        b.add_at(a, indices, values)
    else:
        xp_.add.at(a, indices, values)


def index_grids(xp_, shape):
    """Open index grids (``np.indices(shape, sparse=True)``), made with ``xp_.arange`` (CuPy's
    ``indices`` has no ``sparse``): grid i has shape (1, .., shape[i], .., 1)."""
    if xp_ is np:
        return list(np.indices(shape, sparse=True))
    n = len(shape)
    return [xp_.arange(s).reshape((1,) * i + (s,) + (1,) * (n - i - 1))
            for i, s in enumerate(shape)]


def put_along_axis(xp_, a, indices, values, axis) -> None:
    """``a`` with ``values`` written at ``indices`` along ``axis`` (``np.put_along_axis``), through
    index grids on a module that lacks it."""
    if xp_ is np or hasattr(xp_, "put_along_axis"):
        xp_.put_along_axis(a, indices, values, axis=axis)
        return
    axis = axis % a.ndim
    grids = index_grids(xp_, indices.shape)
    grids[axis] = indices
    a[tuple(grids)] = values


def host_random(like, method, *args, **kwargs):
    """Draw ``get_rng().<method>(*args, **kwargs)`` for an array on ``like``'s device: on the host
    generator, moved to that device (a backend with its own ``random`` draws there instead).
    ``like`` may also be a Device or a device string."""
    if type(like) is _ndarray:
        return getattr(_rng, method)(*args, **kwargs)
    dev = like if isinstance(like, (Device, str)) else device_of(like)
    dev = device(dev)
    if dev.type == "cpu":
        return getattr(_rng, method)(*args, **kwargs)
    b = _backend_of_device(dev)
    if b.random is not None:
        return b.random(method, args, kwargs, dev.index or 0)
    return b.to_device(np.asarray(getattr(_rng, method)(*args, **kwargs)), dev.index or 0)


def _register_cupy() -> bool:
    """Register CuPy as device "cuda" when it imports; True when it did."""
    try:
        import cupy  # noqa: F401
        import cupyx
    except Exception:  # noqa: BLE001 - not installed, or no CUDA runtime: no "cuda" device
        return False

    def to_dev(a, index):
        with cupy.cuda.Device(index):
            return cupy.asarray(a)

    def count():
        try:
            return int(cupy.cuda.runtime.getDeviceCount())
        except Exception:  # noqa: BLE001 - a driver error means no usable GPU
            return 0

    register_backend("cuda", cupy, cupy.ndarray, to_dev, cupy.asnumpy,
                     index_of=lambda a: int(a.device.id), device_count=count,
                     add_at=cupyx.scatter_add)
    return True


float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
float16 = np.dtype(np.float16)
int64 = np.dtype(np.int64)
int32 = np.dtype(np.int32)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)

_default_dtype = float32


def get_default_dtype() -> np.dtype:
    """The dtype that floating-point tensors get when none is asked for (float32, as PyTorch)."""
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Set the default floating-point dtype (float32 or float64)."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating-point dtype, got {dtype}")
    _default_dtype = dtype


_rng = np.random.default_rng(0)
_seed = 0


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the one random generator behind every random op (rand, randn, dropout, init, shuffle)."""
    global _rng, _seed
    if not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed: expected an int seed, got {type(seed).__name__}")
    _seed = int(seed)
    _rng = np.random.default_rng(_seed)
    return _rng


def initial_seed() -> int:
    """The seed last given to :func:`manual_seed` (0 before any call)."""
    return _seed


def get_rng() -> np.random.Generator:
    """The generator every random op draws from."""
    return _rng


def get_rng_state() -> dict:
    """The generator's state, as a plain dict (saved in checkpoints so a resumed run draws the same)."""
    return _rng.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state from :func:`get_rng_state`."""
    _rng.bit_generator.state = state


def is_floating(dtype) -> bool:
    return np.dtype(dtype).kind == "f"


def result_dtype(a: np.dtype, b: np.dtype) -> np.dtype:
    """Type promotion as PyTorch: a float beats an integer whatever their sizes; otherwise NumPy's rule."""
    fa, fb = a.kind == "f", b.kind == "f"
    if fa and not fb:
        return a
    if fb and not fa:
        return b
    return np.result_type(a, b)


def tune_allocator(mmap_threshold: int = 32 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Keep freed large arrays in the C heap instead of returning them to the OS (glibc only).

    Every eager op allocates its result. glibc serves blocks above its mmap threshold (128 KiB at
    start) with a fresh ``mmap`` and gives them back with ``munmap`` when freed, so the next step
    page-faults the same memory in again: with a 784-512-512-10 MLP at batch 128 that was a third
    of a training step (benchmarks/mlp.py). Raising the mmap and trim thresholds lets the heap
    reuse the blocks of the previous step. Called once on import; set the environment variable
    CHAINRULE_NO_MALLOC_TUNING=1 to leave the allocator as it is. Returns True if applied.
    """
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (e.g. musl): nothing to tune
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    ok = mallopt(M_MMAP_THRESHOLD, int(mmap_threshold)) == 1
    ok = mallopt(M_TRIM_THRESHOLD, int(trim_threshold)) == 1 and ok
    return ok


import os as _os  # noqa: E402

if _os.environ.get("CHAINRULE_NO_MALLOC_TUNING", "") in ("", "0"):
    ALLOCATOR_TUNED = tune_allocator()
else:
    ALLOCATOR_TUNED = False

HAS_CUPY = _register_cupy()
