"""The choices inside conv2d's im2col path, each against the form it replaced, in one process.

1. Patch layout for convolutions with few input channels: "planes" (one patch matrix per example,
   (N, C KH KW, Hout Wout); the GEMM writes NCHW and dL/dW needs no transposed dL/ds) against
   "cols" (one (C KH KW, N Hout Wout) matrix). Forward, and backward with dL/dh and dL/dW.
2. dL/dh at stride 1: a convolution of dL/ds with the flipped kernels (conv_kernels.adjoint_as_conv:
   patches of dL/ds and one GEMM) against col2im (KH KW GEMM blocks added back onto the windows).
   conv2d takes the flipped form where C_out <= C_in.

Both forms run on the same arrays in alternating blocks (the machine's drift hits both alike);
medians of the block medians, in ms. NumPy only, the threads as chainrule uses them.

    python benchmarks/conv_layouts.py
    OMP_NUM_THREADS=1 python benchmarks/conv_layouts.py   # one thread
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import alternate  # noqa: E402

from chainrule.ops import conv_kernels as K  # noqa: E402

LAYOUT_CASES = [  # (N, C, H, W), (C_out, K), padding
    ((128, 1, 28, 28), (6, 5), 2),     # LeNet-5's first convolution
    ((32, 3, 32, 32), (16, 3), 1),     # a CIFAR first layer
    ((64, 8, 28, 28), (16, 3), 1),
    ((16, 4, 64, 64), (8, 5), 2),
    ((64, 1, 28, 28), (32, 3), 0),
]
ADJOINT_CASES = [
    ((16, 16, 32, 32), (16, 3), 1),    # the ResNet stage's convolution, one thread's half batch
    ((16, 32, 32, 32), (16, 3), 1),
    ((16, 64, 16, 16), (64, 3), 1),
    ((64, 32, 14, 14), (32, 3), 1),    # ResNet-20's second and third stages on 28x28, batch 128
    ((64, 64, 7, 7), (64, 3), 1),
    ((64, 6, 14, 14), (16, 5), 0),     # LeNet-5's second (C_out > C_in: col2im is kept)
    ((16, 16, 32, 32), (32, 3), 1),
]


def arrays(xshape, kernel, padding, seed=0):
    rng = np.random.default_rng(seed)
    co, k = kernel
    x = rng.standard_normal(xshape).astype(np.float32)
    w = rng.standard_normal((co, xshape[1], k, k)).astype(np.float32)
    geo = K.ConvGeometry(x.shape, w.shape, (padding,) * 4, (1, 1), (1, 1), 1)
    gs = rng.standard_normal((xshape[0], co, geo.ho, geo.wo)).astype(np.float32)
    return x, w, gs, geo


def layouts():
    print("patch layout: forward | backward (dL/dh, dL/dW, dL/db), ms")
    print(f"{'input, C_out, K':32s} {'cols':>15s} {'planes':>15s}")
    for xshape, kernel, padding in LAYOUT_CASES:
        x, w, gs, geo = arrays(xshape, kernel, padding)
        if geo.layout != "planes":
            print(f"{str(xshape):20s} {kernel}: takes {geo.layout}")
            continue
        cols = K.ConvGeometry(x.shape, w.shape, geo.pads, (1, 1), (1, 1), 1)
        cols.layout = "cols"

        def run(g):
            def fwd():
                return K.conv_forward(x, w, None, g, True)
            _, parts = fwd()
            return fwd, lambda: K.conv_backward(gs, w, parts, g, True, True, True)

        (fc, bc), (fp, bp) = run(cols), run(geo)
        f = alternate(fc, fp)
        b = alternate(bc, bp)
        print(f"{str(xshape):20s} {str(kernel):11s} {f[0]:6.2f} | {b[0]:6.2f} {f[1]:6.2f} | "
              f"{b[1]:6.2f}")


def adjoints():
    print("\ndL/dh at stride 1, one thread's part (no threads): col2im against the flipped-kernel "
          "convolution, ms")
    for xshape, kernel, padding in ADJOINT_CASES:
        x, w, gs, geo = arrays(xshape, kernel, padding)
        gm = K.grad_matrix(gs, geo)
        adj = K.ConvGeometry(gs.shape, (geo.c, geo.co) + (kernel[1],) * 2,
                             (kernel[1] - 1 - padding,) * 4, (1, 1), (1, 1), 1, (geo.h, geo.w))
        w_flip = np.ascontiguousarray(w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])
        out = np.empty(x.shape, np.float32)

        def col2im():
            return K.patch_grad(gm, w, geo, out=out)

        def flipped():
            return K.apply_kernels(K.patches(gs, adj), w_flip, None, adj, out=out)

        ref = col2im().copy()
        err = float(np.abs(flipped() - ref).max() / np.abs(ref).max())
        a, b = alternate(col2im, flipped)
        taken = "flipped" if K.adjoint_as_conv(geo) is not None else "col2im"
        print(f"{str(xshape):20s} C_out {kernel[0]:3d} K {kernel[1]}: col2im {a:6.2f}, flipped "
              f"{b:6.2f} (rel. diff {err:.1e}); conv2d takes {taken}")


if __name__ == "__main__":
    layouts()
    adjoints()
