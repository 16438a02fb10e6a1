"""Forms tried for issues 4 and 5 (speed) and not adopted, each against what chainrule does, so
that the finding can be checked again (on another machine, another NumPy or BLAS). 1-3 were slower
here; 4 was equal or faster by up to a fifth of the forward loop, varying from run to run (a lead
for the LSTM forward); 5 rules page faults out; 6 (only where numexpr is installed) tries fused
multi-threaded elementwise passes.

1. conv: a "shifted GEMM" 3x3 convolution with no patch matrix. Over the flat zero-padded NHWC map,
   s = sum over the 9 kernel offsets of X[rows + offset] (M, C) @ W_ij (C, C_out): nine GEMMs with
   K = C. Forward and dL/dW against im2col, for the ResNet stage's 16 -> 16 on (16, 16, 32, 32).
2. conv: Winograd F(2x2, 3x3) for the ResNet stage of benchmarks/cnn.py on 2 threads: whole
   training steps with conv_kernels.WINOGRAD_MIN_PATCH_BYTES at 0 (always Winograd) against its
   default (im2col there).
3. LSTM: the forward time loop (H = 256, T = 64, B = 32) as one loop with the BLAS on all threads
   against the batch split in two halves, each looping on its own thread (chainrule.parallel)
   with a one-thread BLAS.
4. LSTM: the input projection folded into the recurrent GEMM ([W_hh | W_ih | b] against
   [h_{t-1}; x_t; 1], K = H + I + 1) against one batched GEMM before the loop and an add per step.
5. Page faults: minor faults per training step of the three benchmark steps, in steady state
   (fresh large arrays could fault every step; glibc reuses them).
6. numexpr (not a dependency): batch norm's y = x scale + shift and ReLU's forward on 2 MB, as
   fused numexpr expressions on all threads against NumPy's.

Alternating blocks, medians of the block medians (ms).

    python benchmarks/alternatives.py
    pip install numexpr && python benchmarks/alternatives.py   # with 6
"""
from __future__ import annotations

import os
import resource
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import alternate  # noqa: E402

from chainrule import parallel  # noqa: E402
from chainrule.ops import conv_kernels as K  # noqa: E402


def shifted_gemm_conv():
    rng = np.random.default_rng(0)
    n, c, h, w, co, k, p = 16, 16, 32, 32, 16, 3, 1
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = rng.standard_normal((co, c, k, k)).astype(np.float32)
    gs = rng.standard_normal((n, co, h, w)).astype(np.float32)
    geo = K.ConvGeometry(x.shape, wt.shape, (p,) * 4, (1, 1), (1, 1), 1)
    hp, wp = h + 2 * p, w + 2 * p
    offsets = [i * wp + j for i in range(k) for j in range(k)]
    w_ij = np.ascontiguousarray(wt.transpose(2, 3, 1, 0)).reshape(k * k, c, co)
    mp = n * hp * wp

    def flat_input():  # the padded NHWC map as rows, with room for the largest offset
        ext = np.zeros((mp + offsets[-1], c), np.float32)
        ext[:mp] = K._padded(x, (p,) * 4, True).reshape(mp, c)
        return ext

    def forward_shifted():
        ext = flat_input()
        s = ext[:mp] @ w_ij[0]
        tmp = np.empty_like(s)
        for q in range(1, k * k):
            np.matmul(ext[offsets[q]:offsets[q] + mp], w_ij[q], out=tmp)
            s += tmp
        return np.ascontiguousarray(s.reshape(n, hp, wp, co)[:, :h, :w].transpose(0, 3, 1, 2))

    def forward_im2col():
        return K.apply_kernels(K.patches(x, geo), wt, None, geo)

    def weight_grad_shifted():
        ext = flat_input()
        g = np.zeros((n, hp, wp, co), np.float32)
        g[:, :h, :w] = gs.transpose(0, 2, 3, 1)
        g = g.reshape(mp, co)
        dw = np.stack([ext[o:o + mp].T @ g for o in offsets])  # (9, C, C_out)
        return np.ascontiguousarray(dw.reshape(k, k, c, co).transpose(3, 2, 0, 1))

    kept = K.patches(x, geo)  # im2col keeps the forward's patches for dL/dW

    def weight_grad_im2col():
        return K.kernel_grad(K.grad_matrix(gs, geo), kept, geo)

    assert np.allclose(forward_shifted(), forward_im2col(), atol=1e-3)
    ref = weight_grad_im2col()
    assert np.allclose(weight_grad_shifted(), ref, atol=1e-3 * np.abs(ref).max())
    f = alternate(forward_im2col, forward_shifted)
    b = alternate(weight_grad_im2col, weight_grad_shifted)
    print(f"1. conv 16->16 3x3 on (16, 16, 32, 32): forward im2col {f[0]:.2f}, shifted GEMMs "
          f"{f[1]:.2f} ms; dL/dW im2col (patches kept) {b[0]:.2f}, shifted GEMMs {b[1]:.2f} ms")


def winograd_stage():
    import cnn

    step, _ = cnn.chainrule_step("resnet_stage")
    default = K.WINOGRAD_MIN_PATCH_BYTES

    def with_threshold(value):
        def run():
            K.WINOGRAD_MIN_PATCH_BYTES = value
            step()
        return run

    im2col, winograd = alternate(with_threshold(default), with_threshold(0), n=15, rounds=6)
    K.WINOGRAD_MIN_PATCH_BYTES = default
    print(f"2. ResNet stage training step, {parallel.get_num_threads()} threads: im2col "
          f"{im2col:.2f}, Winograd {winograd:.2f} ms")


H, T, B, I = 256, 64, 32, 64
HALF = np.float32(0.5)


def _cell(G, t, C, TC, S, tmp, p, q):
    """The elementwise part of one LSTM step on gates G[t] (4H, B) in the order (o, i, f, g)."""
    np.tanh(G[t], out=G[t])
    np.multiply(G[t, :3 * H], HALF, out=G[t, :3 * H])
    np.add(G[t, :3 * H], HALF, out=G[t, :3 * H])
    np.multiply(G[t, 2 * H:3 * H], C[p], out=C[q])
    np.multiply(G[t, H:2 * H], G[t, 3 * H:], out=tmp)
    np.add(C[q], tmp, out=C[q])
    np.tanh(C[q], out=TC[t])
    np.multiply(G[t, :H], TC[t], out=S[q, :H])


def _loop(wh, G):
    """chainrule's forward time loop on input parts G (T, 4H, b), updated in place: W_hh h_{t-1}
    per step, added to G[t], then the cell. Returns h_t for every t, (T + 1, H, b)."""
    b = G.shape[2]
    S, C = np.zeros((T + 1, H, b), np.float32), np.zeros((T + 1, H, b), np.float32)
    TC, tmp4, tmp = (np.empty((T, H, b), np.float32), np.empty((4 * H, b), np.float32),
                     np.empty((H, b), np.float32))
    for t in range(T):
        np.matmul(wh, S[t], out=tmp4)
        np.add(G[t], tmp4, out=G[t])
        _cell(G, t, C, TC, S, tmp, t, t + 1)
    return S


def lstm_batch_split():
    rng = np.random.default_rng(0)
    wh = ((rng.random((4 * H, H)) - 0.5) * 0.1).astype(np.float32)
    g0 = rng.random((T, 4 * H, B)).astype(np.float32)
    halves = [np.ascontiguousarray(g0[:, :, :B // 2]), np.ascontiguousarray(g0[:, :, B // 2:])]

    def one_loop():
        with parallel.wide_blas():
            _loop(wh, g0.copy())

    def two_halves():
        parts = [h.copy() for h in halves]
        parallel.parallel_for(2, lambda lo, hi: [_loop(wh, parts[i]) for i in range(lo, hi)])

    a, b = alternate(one_loop, two_halves)
    print(f"3. LSTM forward loop: one loop, BLAS on all threads {a:.2f} ms; the batch in two "
          f"halves on two threads {b:.2f} ms")


def lstm_fused_input():
    rng = np.random.default_rng(0)
    wh = ((rng.random((4 * H, H)) - 0.5) * 0.1).astype(np.float32)
    wi = ((rng.random((4 * H, I)) - 0.5) * 0.1).astype(np.float32)
    bias = rng.random(4 * H).astype(np.float32)
    x = rng.random((T, B, I)).astype(np.float32)

    def separate():  # chainrule's: W_ih x_t + b for all t in one batched GEMM, then W_hh h per step
        xa = np.empty((T, I + 1, B), np.float32)
        xa[:, :I] = x.transpose(0, 2, 1)
        xa[:, I] = 1
        return _loop(wh, np.matmul(np.concatenate((wi, bias[:, None]), 1), xa))

    def fused():  # one GEMM per step over [h_{t-1}; x_t; 1]
        r = H + I + 1
        wc = np.concatenate((wh, wi, bias[:, None]), 1)
        S = np.zeros((T + 1, r, B), np.float32)
        S[:, H + I] = 1
        S[:T, H:H + I] = x.transpose(0, 2, 1)
        C = np.zeros((T + 1, H, B), np.float32)
        TC, G, tmp = (np.empty((T, H, B), np.float32), np.empty((T, 4 * H, B), np.float32),
                      np.empty((H, B), np.float32))
        for t in range(T):
            np.matmul(wc, S[t], out=G[t])
            _cell(G, t, C, TC, S, tmp, t, t + 1)
        return S[:, :H]

    assert np.allclose(separate(), fused(), atol=1e-5)
    with parallel.wide_blas():
        a, b = alternate(separate, fused)
    print(f"4. LSTM forward: input projection before the loop {a:.2f} ms; folded into the "
          f"recurrent GEMM (K = {H + I + 1}) {b:.2f} ms")


def page_faults():
    import cnn
    import op_profile

    out = []
    for name in ("lenet5", "resnet_stage", "lstm"):
        step = op_profile.make_step(name) if name == "lstm" else cnn.chainrule_step(name)[0]
        for _ in range(10):
            step()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(20):
            step()
        out.append(f"{name} {(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20:.2f}")
    print("5. minor page faults per training step, steady state: " + ", ".join(out))


def numexpr_passes():
    try:
        import numexpr as ne
    except ImportError:
        print("6. numexpr is not installed: skipped")
        return
    ne.set_num_threads(parallel.get_num_threads())
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 16 * 1024)).astype(np.float32)  # (32, 16, 32, 32) as (N, C M)
    scale, shift = rng.random((2, 16 * 1024)).astype(np.float32)
    arrays = {"x": x, "scale": scale, "shift": shift}

    def affine_numpy():
        y = x * scale
        y += shift
        return y

    a, b = alternate(affine_numpy, lambda: ne.evaluate("x * scale + shift", local_dict=arrays), n=30, rounds=7)
    c, d = alternate(lambda: np.maximum(x, 0), lambda: ne.evaluate("where(x > 0, x, 0)", local_dict=arrays), n=30,
                     rounds=7)
    print(f"6. 2 MB passes: x scale + shift NumPy {a:.3f}, numexpr {b:.3f} ms; ReLU NumPy "
          f"{c:.3f}, numexpr {d:.3f} ms")


if __name__ == "__main__":
    shifted_gemm_conv()
    winograd_stage()
    lstm_batch_split()
    lstm_fused_input()
    page_faults()
    numexpr_passes()
