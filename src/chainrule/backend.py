"""The array backend: which array module kernels use, the default dtype, and the random generator.

Every kernel takes its array module from here (``from chainrule.backend import xp``) instead of
importing NumPy directly, so that a CuPy backend is a new module here, not a rewrite of the ops.
"""
from __future__ import annotations

import numpy as np

xp = np
"""The array module of the active backend (NumPy on the CPU)."""

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
