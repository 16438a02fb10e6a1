"""Where the LSTM's backward time loop spends its time: the loop of ops/recurrent.py's LSTM.backward
re-enacted on arrays of the same sizes and layouts as benchmarks/rnn.py (H = 256, B = 32, T = 64),
with the GEMM, the elementwise ops and the strided copy of dL/ds switched on and off. NumPy only;
medians of 30 loops. Quiet machine, 2 cores (Intel), two runs: all 8.8-10.2 ms, GEMMs alone
5.0-5.4 ms, elementwise alone 1.0-1.2 ms, without the copy 7.2-7.9 ms.

    python benchmarks/lstm_backward_loop.py

It re-enacts the loop as it was when measured: since then ops/recurrent.py has no per-step copy
(each step writes dL/ds into a step-major (T, 4H, B) array, transposed once after the loop), which
made no difference beyond noise on the whole step of benchmarks/rnn.py (docs/RESULTS.md).
"""
import time

import numpy as np

H, B, T = 256, 32, 64
dt = np.float32


def loop(arrays, with_mm=True, with_copy=True, with_elem=True):
    """One backward time loop; the parts not asked for are skipped."""
    P, OT, Gf, gy, dS, ds, ds2, whT, tmp = arrays
    dh = np.zeros((H, B), dt)
    dc = np.zeros((H, B), dt)
    for t in range(T - 1, -1, -1):
        if with_elem:
            np.add(dh, gy[t], out=dh)  # dL/dh_t += dL/dy_t
            np.multiply(dh, OT[t], out=tmp)
            np.add(dc, tmp, out=dc)  # dL/dc_t += dL/dh_t o (1 - tanh^2 c_t)
            np.multiply(P[t, 1:], dc, out=ds[1:])  # dL/ds_{i,f,g}
            np.multiply(P[t, 0], dh, out=ds[0])  # dL/ds_o
            np.multiply(dc, Gf[t], out=dc)  # dL/dc_{t-1}
        if with_mm:
            np.matmul(whT, ds2, out=dh)  # dL/dh_{t-1} = W_hh^T dL/ds_t
        if with_copy:
            np.copyto(dS[:, t], ds2)  # into the (4H, T, B) layout of the weight-gradient GEMMs


def main():
    rng = np.random.default_rng(0)
    ds = np.empty((4, H, B), dt)
    arrays = (rng.random((T, 4, H, B), dtype=dt), rng.random((T, H, B), dtype=dt),
              rng.random((T, H, B), dtype=dt), rng.random((T, H, B), dtype=dt) * 1e-3,
              np.empty((4 * H, T, B), dt), ds, ds.reshape(4 * H, B),
              (rng.random((H, 4 * H), dtype=dt) - 0.5) * 0.1, np.empty((H, B), dt))
    cases = [("all", {}), ("no GEMM", dict(with_mm=False)), ("no copy", dict(with_copy=False)),
             ("GEMM only", dict(with_copy=False, with_elem=False)),
             ("elementwise only", dict(with_mm=False, with_copy=False))]
    for name, kw in cases:
        ts = []
        for _ in range(30):
            t0 = time.perf_counter()
            loop(arrays, **kw)
            ts.append(time.perf_counter() - t0)
        print(f"{name:17s} {1e3 * np.median(ts):6.2f} ms")


if __name__ == "__main__":
    main()
