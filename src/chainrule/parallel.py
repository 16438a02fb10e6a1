"""Intra-op threads: the batch of a convolution or a pooling split over the cores.

NumPy runs one thread per call except inside BLAS, so an op made of copies and additions (the
im2col patches, col2im, the Winograd transforms, pooling) uses one core while the others idle; the
GEMMs between them use OpenBLAS's threads, which gain little on the skinny shapes of small
convolutions. An op whose work is independent per example does better the way PyTorch does it:
split the batch into one contiguous chunk per thread and run the whole op on each chunk at once.
NumPy releases the GIL inside its copy, ufunc and BLAS loops, so Python threads run those loops on
separate cores.

    from chainrule.parallel import parallel_for
    parts = parallel_for(n, lambda lo, hi: work(lo, hi))     # one result per chunk, in order

Two pools of threads on the same cores fight: an OpenBLAS worker keeps spinning for about 0.1 s
after each multithreaded call and takes a core from the chunk that runs there (measured: a LeNet-5
training step 30% slower). So while chainrule uses more than one thread it holds the BLAS at one
thread, and gives the BLAS its threads only around GEMMs big enough to gain from them
(``blas_for(macs)``: the fused linear layer and matmul from ``WIDE_GEMM_MACS`` multiply-adds, e.g.
an MLP's 784x512 layer at batch 128; ``wide_blas()``: the recurrent layers' time loops). NumPy
calls made outside chainrule in the same process then get one BLAS thread too; to keep chainrule
from touching the BLAS, set CHAINRULE_NUM_THREADS=1 before importing it.

The number of threads is the BLAS's own count at import (which follows OMP_NUM_THREADS,
OPENBLAS_NUM_THREADS and the process's CPU affinity) or CHAINRULE_NUM_THREADS, and
``chainrule.set_num_threads`` changes it, as ``torch.set_num_threads``. Where the BLAS is not an
OpenBLAS whose thread count can be set, chainrule runs serially and leaves the BLAS alone.
"""
from __future__ import annotations

import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

__all__ = ["get_num_threads", "set_num_threads", "parallel_for", "parallel_map", "blas_for",
           "wide_blas", "blas_threads", "chunk_bounds", "WIDE_GEMM_MACS"]

WIDE_GEMM_MACS = 1 << 24
"""GEMMs of at least this many multiply-adds run on all threads of the BLAS (see blas_for)."""


class _Blas:
    """OpenBLAS's thread-count functions, found among the libraries the process has loaded."""

    _NAMES = (("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
              ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
              ("openblas_set_num_threads", "openblas_get_num_threads"))

    def __init__(self):
        self.set = self.get = None
        try:
            import numpy  # noqa: F401  (loads its BLAS)

            with open("/proc/self/maps") as f:
                paths = sorted({line.split()[-1] for line in f
                                if "openblas" in line.lower() and ".so" in line})
        except OSError:  # no /proc (not Linux)
            return
        for path in paths:
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for set_name, get_name in self._NAMES:
                if hasattr(lib, set_name) and hasattr(lib, get_name):
                    self.set, self.get = getattr(lib, set_name), getattr(lib, get_name)
                    self.set.argtypes, self.set.restype = [ctypes.c_int], None
                    self.get.argtypes, self.get.restype = [], ctypes.c_int
                    return


_blas = _Blas()
_threads = 1
_pool = None
_pool_lock = threading.Lock()
_inside = threading.local()


def blas_threads():
    """The BLAS's current thread count, or None when it cannot be read (not OpenBLAS)."""
    return None if _blas.get is None else int(_blas.get())


def get_num_threads() -> int:
    """The threads chainrule splits its batch-parallel ops over and gives its big GEMMs."""
    return _threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads: batch-parallel ops split over n, big GEMMs get n BLAS threads, and the
    BLAS is held at one thread in between (see the module's docstring)."""
    global _threads, _pool
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    if _blas.set is None:
        return  # the BLAS's threads cannot be held back: stay serial
    with _pool_lock:
        if _pool is not None and n != _threads:
            _pool.shutdown(wait=True)
            _pool = None
        _threads = n
    _blas.set(1)


def _initial_threads():
    env = os.environ.get("CHAINRULE_NUM_THREADS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise ValueError(f"CHAINRULE_NUM_THREADS must be a positive int, got {env!r}") from None
    return max(1, int(_blas.get())) if _blas.get is not None else 1


if _blas.get is not None and _initial_threads() > 1:
    set_num_threads(_initial_threads())


class _BlasThreads:
    """Context: the BLAS on ``n`` threads inside, its count before restored on exit."""

    __slots__ = ("n", "before")

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        self.before = _blas.get()
        if self.before != self.n:
            _blas.set(self.n)
        return self

    def __exit__(self, *exc):
        if self.before != self.n:
            _blas.set(self.before)
        return False


class _Nothing:
    __slots__ = ()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_NOTHING = _Nothing()


def wide_blas():
    """Context: the BLAS on all of chainrule's threads inside (for GEMM-bound code such as a
    recurrent layer's time loop); nothing changes with one thread or inside a chunk."""
    if _threads <= 1 or getattr(_inside, "active", False):
        return _NOTHING
    return _BlasThreads(_threads)


def blas_for(macs):
    """Context for a GEMM of ``macs`` multiply-adds: all threads from WIDE_GEMM_MACS up, else the
    BLAS stays at one thread (a worker woken for a small GEMM would spin for 0.1 s afterwards)."""
    return wide_blas() if macs >= WIDE_GEMM_MACS else _NOTHING


def _get_pool():
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_threads - 1,
                                       thread_name_prefix="chainrule-intra-op",
                                       initializer=_mark_inside)
        return _pool


def _mark_inside():
    _inside.active = True  # a pool thread never splits its own chunk again


def _forget_pool_after_fork():
    global _pool
    _pool = None  # the child has none of the parent's threads


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def chunk_bounds(n: int, parts: int):
    """``parts`` contiguous (lo, hi) ranges covering 0..n, sizes differing by at most one."""
    return [(n * i // parts, n * (i + 1) // parts) for i in range(parts)]


def parallel_for(n: int, body, min_chunk: int = 1):
    """[body(lo, hi) for each chunk] with the range 0..n split into one chunk per thread (fewer
    where a chunk would hold under ``min_chunk`` items); the chunks run at once, the first on the
    calling thread. ``body`` must only write to disjoint parts of shared arrays (its own lo..hi)."""
    parts = min(_threads, n // max(1, min_chunk))
    if parts <= 1 or getattr(_inside, "active", False):
        return [body(0, n)]
    return parallel_map(lambda bounds: body(*bounds), chunk_bounds(n, parts))


def parallel_map(fn, items):
    """[fn(item) for item in items], the items run at once on the threads (the first on the
    calling thread), each with one BLAS thread; serially where there is one item or one thread,
    or inside a pool thread."""
    items = list(items)
    if len(items) <= 1 or _threads <= 1 or getattr(_inside, "active", False):
        return [fn(item) for item in items]
    pool = _get_pool()
    with _BlasThreads(1):  # the items are the parallelism
        futures = []
        try:
            futures = [pool.submit(fn, item) for item in items[1:]]
            _inside.active = True
            try:
                first = fn(items[0])
            finally:
                _inside.active = False
            return [first] + [f.result() for f in futures]
        finally:
            wait(futures)  # no item may still run when the BLAS gets its threads back
