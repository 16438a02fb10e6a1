"""The GEMM floor: NumPy's BLAS against PyTorch's on the matrix products of the other benchmarks.

chainrule's dense layers are GEMMs through NumPy (OpenBLAS in the PyPI wheels); PyTorch's CPU
wheels use MKL / oneDNN. Where a training step is GEMM-bound (the MLP, the LSTM's time loop), the
step's ratio to PyTorch cannot go below the ratio of the two GEMMs, which depends on the machine:
this script measures it side by side (alternating blocks, float32, all cores for both).

    python benchmarks/gemm.py

Shapes (M, K, N) for C = A B with A (M, K), B (K, N): the MLP's layers at batch 128, its weight
gradient, the LSTM's per-step recurrent product (batch 32, 4 x 256 gates) and its products over
all 2048 steps x batch columns, and a square 1024 product.
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import machine_info, side_by_side  # noqa: E402

SHAPES = [
    ((128, 784, 512), "MLP layer 1, batch 128"),
    ((128, 512, 512), "MLP layer 2"),
    ((512, 128, 784), "MLP dL/dW_1 = dL/dy^T x"),
    ((1024, 256, 32), "LSTM step W_hh h_{t-1}, batch 32"),
    ((256, 1024, 32), "LSTM step W_hh^T dL/ds_t"),
    ((1024, 2048, 256), "LSTM dL/dW_hh over T*B = 2048 columns"),
    ((1024, 1024, 1024), "square"),
]


def main():
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    import chainrule  # noqa: F401  (its thread policy: big GEMMs on all cores)
    from chainrule.parallel import wide_blas

    print(machine_info())
    print(f"{'M x K x N':>18}  {'numpy':>9}  {'torch':>9}  ratio  GFLOP/s numpy  what")
    rng = np.random.default_rng(0)
    with wide_blas():  # the BLAS on all threads, as chainrule runs its big GEMMs
        for (m, k, n), what in SHAPES:
            a = rng.standard_normal((m, k)).astype(np.float32)
            b = rng.standard_normal((k, n)).astype(np.float32)
            c = np.empty((m, n), np.float32)
            ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.empty(m, n)
            ours, theirs = side_by_side(lambda: np.matmul(a, b, out=c),
                                        lambda: torch.matmul(ta, tb, out=tc), n=200, rounds=3,
                                        warmup=50)
            print(f"{m:>5} x {k:>4} x {n:>4}  {ours * 1e6:7.1f}us  {theirs * 1e6:7.1f}us  "
                  f"{ours / theirs:5.2f}  {2 * m * k * n / ours / 1e9:13.0f}  {what}")


if __name__ == "__main__":
    main()
