"""Side-by-side timing helpers (shared/PERF_NOTES.md: "Measuring honestly").

Both libraries run in one process, in alternating blocks; before each block we sleep 0.25 s so the
other library's BLAS/OpenMP threads stop spinning, and run one untimed step. We report medians.
"""
from __future__ import annotations

import os
import platform
import statistics
import time


def machine_info() -> str:
    import numpy as np

    lines = [f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}",
             f"numpy {np.__version__}"]
    try:
        from threadpoolctl import threadpool_info

        for info in threadpool_info():
            lines.append(f"  {info.get('internal_api')} {info.get('version')} "
                         f"({info.get('threading_layer', '')}, {info.get('num_threads')} threads)")
    except ImportError:
        cfg = np.show_config(mode="dicts") if hasattr(np, "show_config") else {}
        blas = cfg.get("Build Dependencies", {}).get("blas", {}) if isinstance(cfg, dict) else {}
        if blas:
            lines.append(f"  BLAS: {blas.get('name')} {blas.get('version')}")
    try:
        import torch

        lines.append(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    except ImportError:
        lines.append("torch: not installed")
    return "\n".join(lines)


def time_block(step, n, warmup=1, pause=0.25):
    """Median seconds of ``step()`` over n calls, after a pause and ``warmup`` untimed calls."""
    time.sleep(pause)
    for _ in range(warmup):
        step()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def alternate(a, b, n=10, rounds=5):
    """Two forms of one computation (before and after a change) in alternating blocks of n calls,
    each block after one untimed call: the medians of the block medians of a and of b, in ms. No
    pause between blocks: both are NumPy code sharing the same threads."""
    ta, tb = [], []
    for _ in range(rounds):
        ta.append(time_block(a, n, warmup=1, pause=0.0))
        tb.append(time_block(b, n, warmup=1, pause=0.0))
    return 1e3 * statistics.median(ta), 1e3 * statistics.median(tb)


def side_by_side(ours, theirs, n=20, rounds=3, warmup=30):
    """Median times (ours, theirs) over ``rounds`` alternating blocks of ``n`` steps each.

    ``warmup`` untimed steps of each first: the allocator (glibc's adaptive mmap threshold) and
    the BLAS thread pools settle in the first steps, and neither library should pay for that.
    """
    for step in (ours, theirs):
        for _ in range(warmup):
            step()
    a, b = [], []
    for _ in range(rounds):
        a.append(time_block(ours, n))
        b.append(time_block(theirs, n))
    return statistics.median(a), statistics.median(b)
