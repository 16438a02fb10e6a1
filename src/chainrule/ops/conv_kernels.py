"""Array kernels of the 2-D convolution (notes 2.1) on raw arrays, for conv2d and conv_transpose2d.

The convolution of the notes,

    s_uvw = sum_ijk W^w_ijk h_{t(u-1)-p+i, t(v-1)-p+j, k} + b^w,

is one matrix product once the input patches are laid out as a matrix ("im2col"): one patch per
output position (n, u, v), its KH KW C numbers h_{patch, (i, j, k)} in a row (or a column), times
the kernels W^w as a (KH KW C, C_out) matrix. Its two other sums are products with the same matrix:
dL/dW = (dL/ds)^T patches, and dL/dh = the patches of dL/ds W added back where they were read
("col2im"), which is also the forward of the transposed convolution. At stride 1 with no more
output than input channels, dL/dh is computed instead as what it also is, a convolution of dL/ds
(padded by K - 1 - p) with the flipped kernels: patches and one GEMM (adjoint_as_conv).

Four layouts of the patch matrix, picked per convolution (ConvGeometry.layout); "rows" or "cols"
by which one copies longer contiguous runs of memory, "cols" becoming "planes" without groups:

- "rows": P (N Hout Wout, KH KW C), channels last inside a patch, built from a zero-padded NHWC copy
  of the input; each patch row is KH runs of KW C numbers. Best when C is not small.
- "cols": P (KH KW C, N Hout Wout) ordered (k, i, j) like the weight, built from the NCHW input;
  each row of P is N Hout runs of Wout numbers. Best for few channels (a first layer on
  grayscale images) and for groups (each group's block of rows is contiguous).
- "planes": the "cols" matrix one example at a time, P (N, KH KW C, Hout Wout), for ungrouped
  convolutions where "cols" would be picked: s_n = W P_n is one GEMM per example that writes the
  NCHW output directly, and dL/dW = sum_n P_n dL/ds_n^T needs no transposed copy of dL/ds either
  (LeNet-5's first layer on 2 threads: forward 2.1 -> 1.2 ms, backward 5.1 -> 2.8 ms; never slower
  than "cols" in benchmarks/conv_layouts.py).
- "image": a 1x1 unpadded ungrouped convolution needs no patches at all: P is the input itself,
  (N, C, Hout Wout) (subsampled when strided), and s = W h is one GEMM per example, NCHW in and out:
  "planes" with P = h.

Inputs and outputs are NCHW arrays, contiguous as PyTorch's. Groups split the channels into G
independent convolutions (a leading group axis on P and W). 3x3 stride-1 convolutions with enough
channels take the Winograd path at the end of this file instead. Every kernel uses ``xp`` (NumPy
now) and strides; the only Python loops are over the KH x KW kernel offsets and over batch chunks.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from ..parallel import parallel_for as _parallel_for, parallel_map as _parallel_map


def parallel_for(n, body, min_chunk=1, xp=np):
    """chainrule.parallel.parallel_for for NumPy work (``xp`` NumPy); on a device (whose kernels
    run asynchronously there) one call over the whole range."""
    if xp is np:
        return _parallel_for(n, body, min_chunk=min_chunk)
    return [body(0, n)]


def parallel_map(fn, items, xp=np):
    """chainrule.parallel.parallel_map for NumPy work; on a device, a plain loop."""
    if xp is np:
        return _parallel_map(fn, items)
    return [fn(item) for item in items]


def as_strided(a, shape, strides, writeable=False):
    """A strided read-only view; CuPy's as_strided has no ``writeable``."""
    if type(a) is np.ndarray:
        return np.lib.stride_tricks.as_strided(a, shape, strides, writeable=writeable)
    return get_array_module(a).lib.stride_tricks.as_strided(a, shape, strides)


class ConvGeometry:
    """The sizes of one convolution: input (N, C, H, W), weight (C_out, C/G, KH, KW), pads
    (top, bottom, left, right), stride, dilation, groups, output (Hout, Wout) (computed unless
    given) and the layout of its patch matrix."""

    __slots__ = ("n", "c", "h", "w", "co", "cg", "kh", "kw", "pads", "stride", "dilation",
                 "groups", "hp", "wp", "ho", "wo", "layout")

    def __init__(self, xshape, wshape, pads, stride, dilation, groups, out_hw=None):
        self.n, self.c, self.h, self.w = xshape
        self.co, self.cg, self.kh, self.kw = wshape
        self.pads, self.stride, self.dilation, self.groups = pads, stride, dilation, groups
        self.hp = self.h + pads[0] + pads[1]
        self.wp = self.w + pads[2] + pads[3]
        if out_hw is None:
            out_hw = ((self.hp - dilation[0] * (self.kh - 1) - 1) // stride[0] + 1,
                      (self.wp - dilation[1] * (self.kw - 1) - 1) // stride[1] + 1)
        self.ho, self.wo = out_hw
        run_rows = self.kw * self.cg if dilation[1] == 1 else self.cg
        run_cols = self.wo if stride[1] == 1 else 1
        if (self.kh, self.kw) == (1, 1) and not any(pads) and groups == 1:
            self.layout = "image"
        else:
            self.layout = "cols" if run_cols > run_rows else "rows"
            if self.layout == "cols" and groups == 1:
                self.layout = "planes"

    @property
    def m(self):
        return self.n * self.ho * self.wo

    def with_batch(self, n):
        """The same convolution on a batch of n examples (a thread's part of the batch)."""
        geo = object.__new__(ConvGeometry)
        for name in self.__slots__:
            setattr(geo, name, getattr(self, name))
        geo.n = n
        return geo


def _padded(x, pads, channels_last):
    """x (N, C, H, W) with zero borders, as (N, Hp, Wp, C) or (N, C, Hp, Wp); without padding
    the NCHW form is x itself and the NHWC form one transposing copy."""
    xp = np if type(x) is np.ndarray else get_array_module(x)
    n, c, h, w = x.shape
    pt, pb, pl, pr = pads
    src = x.transpose(0, 2, 3, 1) if channels_last else x
    if not any(pads):
        return xp.ascontiguousarray(src) if channels_last else x
    shape = (n, h + pt + pb, w + pl + pr, c) if channels_last else (n, c, h + pt + pb, w + pl + pr)
    out = xp.empty(shape, x.dtype)
    hv = out if channels_last else out.transpose(0, 2, 3, 1)  # (N, Hp, Wp, C) view either way
    hv[:, :pt] = 0  # zero only the border: the interior is overwritten next
    hv[:, pt + h:] = 0
    hv[:, pt:pt + h, :pl] = 0
    hv[:, pt:pt + h, pl + w:] = 0
    hv[:, pt:pt + h, pl:pl + w] = x.transpose(0, 2, 3, 1)
    return out


def patches(x, geo):
    """The patch matrix P of x (N, C, H, W): (M, K) / (G, M, K/G) in the "rows" layout, (G, K/G, M)
    in the "cols" layout, (N, K, Hout Wout) in the "planes" layout, with M = N Hout Wout and
    K = KH KW C. Entry (patch (n, u, v), (i, j, k))
    is h_{t u + d i, t v + d j, k} of the zero-padded input (0-based). A strided view, one copy."""
    g, cg, kh, kw = geo.groups, geo.cg, geo.kh, geo.kw
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    n, ho, wo = geo.n, geo.ho, geo.wo
    if geo.layout == "image":  # 1x1: the (subsampled) input itself
        return x[:, :, :sh * (ho - 1) + 1:sh, :sw * (wo - 1) + 1:sw].reshape(n, geo.c, ho * wo)
    if geo.layout == "rows":
        xh = _padded(x, geo.pads, True)  # (N, Hp, Wp, C)
        s0, s1, s2, s3 = xh.strides
        if g == 1:
            view = as_strided(xh, (n, ho, wo, kh, kw, cg),
                              (s0, sh * s1, sw * s2, dh * s1, dw * s2, s3), writeable=False)
            return view.reshape(n * ho * wo, kh * kw * cg)
        view = as_strided(xh, (g, n, ho, wo, kh, kw, cg),
                          (cg * s3, s0, sh * s1, sw * s2, dh * s1, dw * s2, s3), writeable=False)
        return view.reshape(g, n * ho * wo, kh * kw * cg)
    xq = _padded(x, geo.pads, False)  # (N, C, Hp, Wp), any strides
    s0, s1, s2, s3 = xq.strides
    if geo.layout == "planes":  # rows (k, i, j), columns (u, v), one block per example
        view = as_strided(xq, (n, geo.c, kh, kw, ho, wo),
                          (s0, s1, dh * s2, dw * s3, sh * s2, sw * s3), writeable=False)
        return view.reshape(n, geo.c * kh * kw, ho * wo)
    view = as_strided(xq, (geo.c, kh, kw, n, ho, wo),
                      (s1, dh * s2, dw * s3, s0, sh * s2, sw * s3), writeable=False)
    return view.reshape(g, cg * kh * kw, n * ho * wo)


def grad_matrix(gs, geo):
    """dL/ds (N, C_out, Hout, Wout) as the GEMM operand of the layout: (M, C_out) rows, or
    (G, C_out/G, M) for "cols" (one transposing copy either way, unless already laid out so).

    The result is always a BLAS operand: a broadcast dL/ds (strides 0, as from ``y.sum()``) is
    copied first, and with one output channel a plain reshape replaces the transpose, whose
    view's odd stride on the length-1 axis sent NumPy's matmul to its slow non-BLAS loop (10x)."""
    xp = np if type(gs) is np.ndarray else get_array_module(gs)
    gs = xp.ascontiguousarray(gs)  # no copy for the usual C-contiguous gradient
    if geo.layout in ("image", "planes"):
        return gs.reshape(geo.n, geo.co, geo.ho * geo.wo)
    if geo.co == 1:  # (N, 1, Ho, Wo) is already in (n, u, v) order
        return gs.reshape(geo.m, 1) if geo.layout == "rows" else gs.reshape(1, 1, geo.m)
    if geo.layout == "rows":
        return gs.transpose(0, 2, 3, 1).reshape(geo.m, geo.co)
    return gs.transpose(1, 0, 2, 3).reshape(geo.groups, geo.co // geo.groups, geo.m)


def apply_kernels(p, w, b, geo, out=None):
    """s = P W^T + b as an NCHW array (N, C_out, Hout, Wout): the forward of the convolution
    (written into ``out``, a C-contiguous array of that shape, when given)."""
    xp = np if type(p) is np.ndarray else get_array_module(p)
    g, co, cg = geo.groups, geo.co, geo.cg
    n, hw = geo.n, geo.ho * geo.wo
    k = cg * geo.kh * geo.kw
    y = xp.empty((n, co, hw), p.dtype) if out is None else out.reshape(n, co, hw)
    if geo.layout in ("image", "planes"):
        xp.matmul(w.reshape(co, k), p, out=y)  # s_n = W P_n for every example n: (N, C_out, HW)
        if b is not None:
            y += b[:, None]  # + b^w
        return y.reshape(n, co, geo.ho, geo.wo)
    if geo.layout == "rows":
        wt = w.transpose(0, 2, 3, 1)  # (C_out, KH, KW, C/G): W^w_ijk in the patch order
        if g == 1:
            s = p @ wt.reshape(co, k).T  # (M, C_out)
        else:
            s = xp.matmul(p, wt.reshape(g, co // g, k).transpose(0, 2, 1))  # (G, M, C_out/G)
            s = s.transpose(1, 0, 2)
        src = s.reshape(n, hw, co).transpose(0, 2, 1)
    else:
        wm = w.reshape(g, co // g, k)  # (k, i, j) order as P's rows
        s = wm[0] @ p[0] if g == 1 else xp.matmul(wm, p)  # (C_out, M)
        src = s.reshape(co, n, hw).transpose(1, 0, 2)
    if b is None:
        y[...] = src
    else:
        xp.add(src, b[:, None], out=y)  # + b^w, fused with the copy into NCHW
    return y.reshape(n, co, geo.ho, geo.wo)


def kernel_grad(gm, p, geo):
    """dL/dW^w_ijk = sum over positions (n, u, v) of dL/ds_nuvw h_{patch(n,u,v), ijk}: one GEMM of
    the gradient matrix with P, reshaped to the weight's (C_out, C/G, KH, KW)."""
    xp = np if type(gm) is np.ndarray else get_array_module(gm)
    g, co, cg, kh, kw = geo.groups, geo.co, geo.cg, geo.kh, geo.kw
    if geo.layout == "planes":  # sum over n of P_n dL/ds_n^T, (K, C_out): one GEMM per example,
        # P_n (K, HW) on the left (with dL/ds_n on the left, the backward of (16, 4, 64, 64) -> 8
        # 5x5 in benchmarks/conv_layouts.py took 9.8 ms against "cols"' 8.9; now they are equal)
        n, k, _ = p.shape
        per_example = xp.matmul(p, gm.transpose(0, 2, 1)).reshape(n, k * co)
        gw = (xp.ones(n, p.dtype) @ per_example).reshape(k, co).T
        return xp.ascontiguousarray(gw).reshape(co, cg, kh, kw)
    if geo.layout == "image":  # sum over n of dL/ds_n h_n^T
        n, c, hw = p.shape
        if co * c <= (co + c) * hw:  # one GEMM per example, then their sum (a GEMV)
            gw = xp.ones(n, p.dtype) @ xp.matmul(gm, p.transpose(0, 2, 1)).reshape(n, co * c)
        else:  # one GEMM over every position, after putting the examples side by side
            gw = (gm.transpose(1, 0, 2).reshape(co, n * hw)
                  @ p.transpose(1, 0, 2).reshape(c, n * hw).T)
        return gw.reshape(co, cg, kh, kw)
    if geo.layout == "rows":
        if g == 1:
            gw = gm.T @ p  # (C_out, KH KW C)
        else:
            gg = gm.reshape(geo.m, g, co // g).transpose(1, 2, 0)  # (G, C_out/G, M)
            gw = xp.matmul(gg, p)  # (G, C_out/G, KH KW C/G)
        return xp.ascontiguousarray(gw.reshape(co, kh, kw, cg).transpose(0, 3, 1, 2))
    if g == 1:
        gw = (p[0] @ gm[0].T).T  # (C_out, C KH KW); P (K, M) times dL/ds^T (M, C_out)
    else:
        gw = xp.matmul(gm, p.transpose(0, 2, 1))  # (G, C_out/G, K/G)
    return xp.ascontiguousarray(gw).reshape(co, cg, kh, kw)


def conv_forward(x, w, b, geo, keep_patches):
    """s = W (x) h + b by patches and GEMM, the batch split over the threads (chainrule.parallel):
    (s (N, C_out, Hout, Wout), parts), parts being (lo, hi, P of examples lo..hi or None) per
    thread, what conv_backward takes."""
    xp = np if type(x) is np.ndarray else get_array_module(x)
    y = xp.empty((geo.n, geo.co, geo.ho, geo.wo), x.dtype)

    def part(lo, hi):
        g = geo.with_batch(hi - lo)
        p = patches(x[lo:hi], g)  # h_{patch(n,u,v), (i,j,k)} for every output position
        apply_kernels(p, w, b, g, out=y[lo:hi])  # s = sum_ijk W^w_ijk h_patch + b^w
        return lo, hi, p if keep_patches else None

    macs = geo.ho * geo.wo * geo.kh * geo.kw * geo.cg * geo.co
    return y, parallel_for(geo.n, part, min_chunk=_min_chunk(macs), xp=xp)


def conv_backward(gs, w, parts, geo, need_x, need_w, need_b):
    """(dL/dh, dL/dW, dL/db) of conv_forward, each of its parts on a thread; dL/dW and dL/db are
    the sums of the parts' sums."""
    xp = np if type(gs) is np.ndarray else get_array_module(gs)
    gx = xp.empty((geo.n, geo.c, geo.h, geo.w), gs.dtype) if need_x else None
    adjoint = adjoint_as_conv(geo) if need_x else None
    if adjoint is not None:  # the flipped kernels, W'^k_ijw = W^w_{KH-1-i, KW-1-j, k}
        w_flip = xp.ascontiguousarray(w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])
    need_gm = need_w or need_b or (need_x and adjoint is None)

    def part(item):
        lo, hi, p = item
        g = geo.with_batch(hi - lo)
        gm = grad_matrix(gs[lo:hi], g) if need_gm else None  # dL/ds as a GEMM operand
        if adjoint is not None:  # dL/dh = dL/ds (x) W' with zero borders of K - 1 - p: a conv
            ga = adjoint.with_batch(hi - lo)
            apply_kernels(patches(gs[lo:hi], ga), w_flip, None, ga, out=gx[lo:hi])
        elif need_x:  # dL/dh = col2im(dL/ds W): the transposed convolution of dL/ds
            patch_grad(gm, w, g, out=gx[lo:hi])
        # dL/dW^w_ijk = sum_{n,u,v} dL/ds_nuvw h_patch(n,u,v),ijk = (dL/ds)^T P
        gw = kernel_grad(gm, p, g) if need_w else None
        return gw, bias_grad(gm, g) if need_b else None  # dL/db^w = sum_{n,u,v} dL/ds_nuvw

    sums = parallel_map(part, parts, xp=xp)
    gw = _total(s[0] for s in sums) if need_w else None
    gb = _total(s[1] for s in sums) if need_b else None
    return gx, gw, gb


def adjoint_as_conv(geo):
    """The geometry of dL/dh as a convolution, or None where col2im is the better form.

    For stride 1, no dilation and no groups, dL/dh_xyk = sum_{u,v,w,i,j} dL/ds_uvw W^w_ijk over
    u + i - p = x is the correlation of dL/ds (padded by K - 1 - p) with the kernels flipped in
    both spatial axes and with in/out channels swapped: patches of dL/ds and one GEMM, like the
    forward. It replaces col2im's KH KW GEMM blocks and slice-adds where C_out <= C_in
    (benchmarks/conv_layouts.py, one thread's half batch: 4.0 -> 2.6 ms for 16 -> 16 channels 3x3
    on (16, 16, 32, 32), 6.2 -> 2.9 for 32 -> 16); with more output than input channels its patch
    matrix is the larger one and col2im stays (1.6 against 4.1 ms for LeNet-5's 6 -> 16 5x5, 4.2
    against 4.1 for 16 -> 32)."""
    kh, kw = geo.kh, geo.kw
    pt, pb, pl, pr = geo.pads
    if (geo.stride != (1, 1) or geo.dilation != (1, 1) or geo.groups != 1 or geo.co > geo.c
            or (kh, kw) == (1, 1) or max(pt, pb) > kh - 1 or max(pl, pr) > kw - 1):
        return None
    return ConvGeometry((geo.n, geo.co, geo.ho, geo.wo), (geo.c, geo.co, kh, kw),
                        (kh - 1 - pt, kh - 1 - pb, kw - 1 - pl, kw - 1 - pr), (1, 1), (1, 1), 1,
                        (geo.h, geo.w))


def bias_grad(gm, geo):
    """dL/db^w = sum over (n, u, v) of dL/ds_nuvw, as a GEMV with ones (faster than .sum)."""
    xp = np if type(gm) is np.ndarray else get_array_module(gm)
    if geo.layout in ("image", "planes"):
        per_pos = xp.ones(geo.n, gm.dtype) @ gm.reshape(geo.n, -1)  # (C_out HW,)
        return per_pos.reshape(geo.co, -1) @ xp.ones(gm.shape[2], gm.dtype)
    if geo.layout == "rows":
        return xp.ones(gm.shape[0], gm.dtype) @ gm
    return gm.reshape(geo.co, geo.m) @ xp.ones(geo.m, gm.dtype)


def patch_grad(gm, w, geo, b=None, out=None):
    """dL/dh: every patch's gradient dL/ds W (a GEMM) added back onto the window it was read from,
    then cropped to the input: (N, C, H, W) (written into ``out`` when given). With ``b``, adds b
    per channel (the transposed convolution's bias). Loops over the KH x KW kernel offsets only."""
    gx = _patch_grad(gm, w, geo, b, out)
    if out is not None and gx is not out:
        out[...] = gx
        return out
    return gx


def _patch_grad(gm, w, geo, b, out):
    xp = np if type(gm) is np.ndarray else get_array_module(gm)
    g, co, cg, kh, kw = geo.groups, geo.co, geo.cg, geo.kh, geo.kw
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    n, ho, wo, c = geo.n, geo.ho, geo.wo, geo.c
    pt, _, pl, _ = geo.pads
    if geo.layout == "image":  # dL/dh_n = W^T dL/ds_n, spread back onto the strided positions
        gx = xp.matmul(w.reshape(co, cg).T, gm).reshape(n, c, ho, wo)
        if b is None and (ho, wo) == (geo.h, geo.w):
            return gx
        out = xp.zeros((n, c, geo.h, geo.w), gm.dtype)
        out[:, :, :sh * (ho - 1) + 1:sh, :sw * (wo - 1) + 1:sw] = gx
        if b is not None:
            out += b[:, None, None]
        return out
    offsets = [(i, j, slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
                slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))
               for i in range(kh) for j in range(kw)]
    if geo.layout == "rows":
        if g == 1:
            wb = w.transpose(2, 3, 0, 1).reshape(kh * kw, co, cg)  # W_ij as (C_out, C) matrices
            blocks = xp.matmul(gm, wb)  # (KH KW, M, C): dL/ds W_ij for every offset
        else:
            cog = co // g
            wb = w.reshape(g, cog, cg, kh * kw).transpose(0, 3, 1, 2)  # (G, KH KW, C_out/G, C/G)
            gg = gm.reshape(geo.m, g, cog).transpose(1, 0, 2)[:, None]  # (G, 1, M, C_out/G)
            blocks = xp.matmul(gg, wb).transpose(1, 0, 2, 3)  # (KH KW, G, M, C/G)
        buf = xp.zeros((n, geo.hp, geo.wp, c), gm.dtype)  # dL/dh on the padded map, NHWC
        bg = buf.reshape(n, geo.hp, geo.wp, g, cg)
        for i, j, rows, cols in offsets:
            blk = blocks[i * kw + j]
            if g == 1:
                buf[:, rows, cols] += blk.reshape(n, ho, wo, c)
            else:
                bg[:, rows, cols] += blk.reshape(g, n, ho, wo, cg).transpose(1, 2, 3, 0, 4)
        src = buf[:, pt:pt + geo.h, pl:pl + geo.w].transpose(0, 3, 1, 2)
    else:
        wm = w.reshape(g, co // g, cg * kh * kw)
        if geo.layout == "planes":  # W^T dL/ds_n per example, written (K, N, HW) so that each
            # kernel offset's plane below is contiguous over the examples (on the per-example
            # (N, K, HW) order the adds were slower than in "cols", as for (16, 4, 64, 64) -> 8
            # 5x5 of benchmarks/conv_layouts.py)
            dp = xp.empty((cg * kh * kw, n, ho * wo), gm.dtype)
            xp.matmul(wm[0].T, gm, out=dp.transpose(1, 0, 2))
        elif g == 1:
            dp = wm[0].T @ gm[0]  # (K, M): W^T dL/ds, the patches' gradients
        else:
            dp = xp.matmul(wm.transpose(0, 2, 1), gm)  # (G, K/G, M)
        dp = dp.reshape(c, kh, kw, n, ho, wo)
        buf = xp.zeros((n, c, geo.hp, geo.wp), gm.dtype)
        bt = buf.transpose(1, 0, 2, 3)  # (C, N, Hp, Wp): each window add runs along Wout
        for i, j, rows, cols in offsets:
            bt[:, :, rows, cols] += dp[:, i, j]
        src = buf[:, :, pt:pt + geo.h, pl:pl + geo.w]
        if b is None and src.shape == buf.shape:
            return buf
    if out is None:
        out = xp.empty((n, c, geo.h, geo.w), gm.dtype)
    if b is None:
        out[...] = src
    else:
        xp.add(src, b[:, None, None], out=out)
    return out


# ---- Winograd F(2x2, 3x3): a 3x3 stride-1 convolution with 2.25x fewer multiplies ----------------
#
# Split the output into 2x2 tiles; tile (a, b) reads the 4x4 input tile d at rows 2a.., cols 2b...
# For one input and one output channel the tile's output is (Lavin & Gray, 2015)
#
#     Y = A^T [ (G g G^T) * (B^T d B) ] A        (* elementwise, g the 3x3 kernel)
#
# so with U_ab = (G g G^T)_ab (per channel pair) and V_ab = (B^T d B)_ab (per tile and channel),
# the sum over input channels is, for each of the 16 (a, b), one GEMM M_ab = V_ab U_ab over
# (tiles, C_in) x (C_in, C_out). Everything else is additions. The backward is the adjoint of the
# same three linear maps: with dM = A dY A^T (per tile), dU_ab = V_ab^T dM_ab (then dW = G^T dU G)
# and dV_ab = dM_ab U_ab^T (then dd = B dV B^T, added back onto the overlapping input tiles).
#
# Layout: tiles are taken from a padded NHWC map whose columns are split by parity
# (xd[n, h, e, q, c] = h[n, h, 2q + e, c]), so every addition below runs over long contiguous rows;
# the batch is processed in chunks small enough for the temporaries to stay in cache.

# B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
# G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]],
# A^T = [[1, 1, 1, 0], [0, 1, -1, -1]] are applied as the additions they are.
_SIGN = (1, 1, 1, -1)  # dM = A dY A^T has row 3 = -dY_1; we build it with +dY_1 and fold the sign


WINOGRAD_MIN_PATCH_BYTES = 16 << 20
"""With several threads, Winograd only where a thread's im2col patch matrix would be larger."""


def winograd_applies(kernel, stride, dilation, groups, c_in, c_out, positions, threads=1,
                     itemsize=4):
    """Winograd F(2x2, 3x3) is used for 3x3 stride-1 undilated ungrouped convolutions with enough
    channels and output positions (N Hout Wout) for the saved multiplies to outweigh the
    transforms (measured on one thread: 1.2-1.7x faster from 8 channels and 512 positions up).
    Split over threads, im2col scales better (its transforms are a copy and a GEMM), and
    Winograd stayed ahead only where each thread's patch matrix (positions / threads x 9 C_in
    numbers) was too large for the caches: forward + backward on 2 threads, im2col against
    Winograd, 1.95 + 4.29 ms against 3.28 + 4.46 ms for (32, 16, 32, 32) (9 MiB of patches a
    thread), 12.2 + 20.7 against 11.2 + 14.2 for (128, 16, 28, 28) (29 MiB)."""
    if not (kernel == (3, 3) and stride == (1, 1) and dilation == (1, 1) and groups == 1
            and c_in >= 8 and c_out >= 8 and positions >= 512):
        return False
    return threads <= 1 or positions * 9 * c_in * itemsize / threads > WINOGRAD_MIN_PATCH_BYTES


def winograd_geometry(h, w, pads):
    """(output size, tile counts) for a 3x3 stride-1 convolution of an (h, w) map."""
    ho, wo = h + pads[0] + pads[1] - 2, w + pads[2] + pads[3] - 2
    return (ho, wo), ((ho + 1) // 2, (wo + 1) // 2)


def _chunks(lo, hi, tiles_per_image, target=1024):
    """Examples lo..hi in runs of about ``target`` tiles (their temporaries stay in cache)."""
    step = max(1, target // max(1, tiles_per_image))
    return [(i, min(hi, i + step)) for i in range(lo, hi, step)]


PARALLEL_MIN_MACS = 1 << 20
"""The work a thread should get at least when a convolution splits its batch: about a million
multiply-adds (some 50 us), below which the split costs more than it saves."""


def _min_chunk(macs_per_example):
    """Examples a thread should get at least (see PARALLEL_MIN_MACS)."""
    return max(1, -(-PARALLEL_MIN_MACS // max(1, macs_per_example)))


def winograd_weights(w):
    """U_ab = (G g G^T)_ab for every kernel g = W^o_c: w (C_out, C_in, 3, 3) -> (16, C_in, C_out).

    G's rows combine the kernel's rows as (g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2); the
    same on the columns."""
    co, ci = w.shape[:2]
    gt = _g_combine(w.transpose(3, 2, 1, 0))  # g G^T, columns first: (4 b, 3 i, C_in, C_out)
    return _g_combine(gt.transpose(1, 0, 2, 3)).reshape(16, ci, co)  # G g G^T: (4 a, 4 b, ...)


def _g_combine(a):
    """G a along the first axis: (3, ...) -> (4, ...) contiguous."""
    xp = np if type(a) is np.ndarray else get_array_module(a)
    out = xp.empty((4,) + a.shape[1:], a.dtype)
    out[0] = a[0]
    xp.add(a[0], a[2], out=out[1])
    xp.subtract(out[1], a[1], out=out[2])
    out[1] += a[1]
    out[1:3] *= 0.5
    out[3] = a[2]
    return out


def _g_adjoint(a):
    """G^T a along the first axis: (4, ...) -> (3, ...): the rows
    (a0 + (a1 + a2) / 2, (a1 - a2) / 2, (a1 + a2) / 2 + a3)."""
    xp = np if type(a) is np.ndarray else get_array_module(a)
    half = xp.add(a[1], a[2])
    half *= 0.5
    out = xp.empty((3,) + a.shape[1:], a.dtype)
    xp.add(a[0], half, out=out[0])
    xp.subtract(a[1], a[2], out=out[1])
    out[1] *= 0.5
    xp.add(half, a[3], out=out[2])
    return out


def winograd_forward(x, w, b, pads, keep_v):
    """s = W (x) h + b for a 3x3 stride-1 kernel. x (N, C, H, W) -> (N, C_out, H_out, W_out),
    and V (16, tiles, C) when ``keep_v`` (for dL/dW). The batch is split over the threads
    (chainrule.parallel), each thread's part in cache-sized chunks."""
    xp = np if type(x) is np.ndarray else get_array_module(x)
    n, c, h, wd = x.shape
    co = w.shape[0]
    (ho, wo), (th, tw) = winograd_geometry(h, wd, pads)
    u = winograd_weights(w)
    t_img = th * tw
    # the zero-padded map, columns split by parity: xd[n, r, e, q, :] = h_pad[n, r, 2q + e, :]
    xd = xp.empty((n, 2 * th + 2, 2, tw + 1, c), x.dtype)
    xt = x.transpose(0, 2, 3, 1)
    v_all = xp.empty((4, 4, n, th, tw, c), x.dtype) if keep_v else None
    ut = u.transpose(0, 2, 1)  # (16, C_out, C_in)
    y = xp.empty((n, co, th, 2, tw, 2), x.dtype)  # NCHW: y[n, o, a, r, b, s] = s_{o, 2a+r, 2b+s}

    def part(lo, hi):
        xd[lo:hi] = 0
        for e in range(2):
            j0 = (e - pads[2]) % 2
            cnt = len(range(j0, wd, 2))
            if cnt:
                q0 = (j0 + pads[2]) // 2
                xd[lo:hi, pads[0]:pads[0] + h, e, q0:q0 + cnt] = xt[lo:hi, :, j0::2]
        for n0, n1 in _chunks(lo, hi, t_img):
            nb = n1 - n0
            v = v_all[:, :, n0:n1] if keep_v else xp.empty((4, 4, nb, th, tw, c), x.dtype)
            _input_transform(xd[n0:n1], th, tw, v)  # V = B^T d B for every tile and channel
            # M_ab = V_ab U_ab, the sum over input channels, computed transposed: (16, C_out, tiles)
            m = xp.matmul(ut, v.reshape(16, nb * t_img, c).transpose(0, 2, 1))
            if b is not None:
                m[5] += b[:, None]  # + b^w: A^T e_1 e_1^T A is all ones, so M_11 + b adds b to all 4
            _output_transform(m.reshape(4, 4, co, nb, th, tw), y[n0:n1])  # Y = A^T M A

    parallel_for(n, part, min_chunk=_min_chunk(t_img * 4 * 9 * c * co), xp=xp)
    y = y.reshape(n, co, 2 * th, 2 * tw)
    if (2 * th, 2 * tw) != (ho, wo):
        y = xp.ascontiguousarray(y[:, :, :ho, :wo])
    return y, None if v_all is None else v_all.reshape(16, n * t_img, c)


def _input_transform(xd, th, tw, v):
    """v[a, b] = (B^T d B)_ab for every 4x4 tile d of xd (nb, 2th+2, 2, tw+1, C)."""
    xp = np if type(xd) is np.ndarray else get_array_module(xd)
    r = [xd[:, k:k + 2 * th:2] for k in range(4)]  # row k of every tile: (nb, th, 2, tw+1, C)
    t = xp.empty((4,) + r[0].shape, xd.dtype)
    xp.subtract(r[0], r[2], out=t[0])  # B^T d: rows (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
    xp.add(r[1], r[2], out=t[1])
    xp.subtract(r[2], r[1], out=t[2])
    xp.subtract(r[1], r[3], out=t[3])
    col = [t[:, :, :, 0, :tw], t[:, :, :, 1, :tw], t[:, :, :, 0, 1:], t[:, :, :, 1, 1:]]
    xp.subtract(col[0], col[2], out=v[:, 0])  # (B^T d) B: the same on the columns
    xp.add(col[1], col[2], out=v[:, 1])
    xp.subtract(col[2], col[1], out=v[:, 2])
    xp.subtract(col[1], col[3], out=v[:, 3])


def _output_transform(m, y):
    """y[:, :, a, r, b, s] = (A^T M A)_rs for every tile: m (4, 4, C_out, nb, th, tw),
    y (nb, C_out, th, 2, tw, 2)."""
    xp = np if type(m) is np.ndarray else get_array_module(m)
    z = xp.empty((2,) + m.shape[1:], m.dtype)
    xp.add(m[0], m[1], out=z[0])  # A^T M: rows (M0 + M1 + M2, M1 - M2 - M3)
    z[0] += m[2]
    xp.subtract(m[1], m[2], out=z[1])
    z[1] -= m[3]
    yt = xp.empty((2, 2) + m.shape[2:], m.dtype)
    xp.add(z[:, 0], z[:, 1], out=yt[:, 0])  # (A^T M) A: the same on the columns
    yt[:, 0] += z[:, 2]
    xp.subtract(z[:, 1], z[:, 2], out=yt[:, 1])
    yt[:, 1] -= z[:, 3]
    for r in range(2):  # interleave the 2x2 tile outputs into the NCHW map
        for c in range(2):
            y[:, :, :, r, :, c] = yt[r, c].transpose(1, 0, 2, 3)


def winograd_backward(gs, w, v_all, pads, in_chw, need_x, need_w, need_b):
    """(dL/dh, dL/dW, dL/db) of winograd_forward for an input of shape (N, *in_chw); w is None
    when dL/dh is not needed, v_all (the V it kept) when dL/dW is not. The batch is split over
    the threads as in the forward; dL/dW and dL/db are the sums of the parts' sums."""
    xp = np if type(gs) is np.ndarray else get_array_module(gs)
    n, co, ho, wo = gs.shape
    c, h, wd = in_chw
    _, (th, tw) = winograd_geometry(h, wd, pads)
    t_img = th * tw
    dt = gs.dtype
    # dL/ds as tiles, columns split by parity: gd[n, 2a + r, s, b, :] = dL/ds_{2a+r, 2b+s}
    gd = xp.empty((n, 2 * th, 2, tw, co), dt)
    gt = gs.transpose(0, 2, 3, 1)
    sign = xp.asarray(_SIGN, dt)
    sign2 = (sign[:, None] * sign[None, :]).reshape(16, 1, 1)
    ut = (winograd_weights(w) * sign2).transpose(0, 2, 1) if need_x else None  # signs folded
    gxd = xp.empty((n, th + 1, 2, tw + 1, 2, c), dt) if need_x else None  # interleaved 2x2
    gx = xp.empty((n, c, h, wd), dt) if need_x else None
    v6 = v_all.reshape(4, 4, n, th, tw, c) if need_w else None

    def part(lo, hi):
        if (ho, wo) != (2 * th, 2 * tw):
            gd[lo:hi] = 0
        gd[lo:hi, :ho, 0, :(wo + 1) // 2] = gt[lo:hi, :, 0::2]
        gd[lo:hi, :ho, 1, :wo // 2] = gt[lo:hi, :, 1::2]
        gpart = gd[lo:hi].reshape(-1, co)
        gb = xp.ones(gpart.shape[0], dt) @ gpart if need_b else None  # dL/db = sum dL/ds
        du = xp.zeros((16, c, co), dt) if need_w else None
        for n0, n1 in _chunks(lo, hi, t_img):  # one pass per chunk, its temporaries in cache
            tc = (n1 - n0) * t_img
            z = xp.empty((4, 4, n1 - n0, th, tw, co), dt)  # dM' = A dY A^T, row/column 3 negated
            _grad_output_transform(gd[n0:n1], z)
            z = z.reshape(16, tc, co)
            if need_w:  # dL/dU'_ab = V_ab^T dM'_ab, summed over the chunks
                du += xp.matmul(v6[:, :, n0:n1].reshape(16, tc, c).transpose(0, 2, 1), z)
            if need_x:  # dL/dV_ab = dM_ab U_ab^T, then dL/dd = B dV B^T onto overlapping tiles
                dv = xp.matmul(z, ut)
                _grad_input_transform(dv.reshape(4, 4, n1 - n0, th, tw, c), gxd[n0:n1])
        if need_x:  # crop the padded map, NHWC -> NCHW
            full = gxd[lo:hi].reshape(hi - lo, 2 * th + 2, 2 * tw + 2, c)
            gx[lo:hi] = full[:, pads[0]:pads[0] + h, pads[2]:pads[2] + wd].transpose(0, 3, 1, 2)
        return du, gb

    parts = parallel_for(n, part, min_chunk=_min_chunk(t_img * 4 * 9 * c * co), xp=xp)
    gw = gb = None
    if need_w:  # dL/dg = G^T dU G with the signs of dM put back
        du = _total(p[0] for p in parts)
        du = (du * sign2).reshape(4, 4, c, co)
        dg = _g_adjoint(_g_adjoint(du).transpose(1, 0, 2, 3))  # (3 cols j, 3 rows i, C_in, C_out)
        gw = xp.ascontiguousarray(dg.transpose(3, 2, 1, 0))  # (C_out, C_in, 3, 3)
    if need_b:
        gb = _total(p[1] for p in parts)
    return gx, gw, gb


def _total(arrays):
    """The sum of the threads' partial sums (the first one is added to in place)."""
    arrays = iter(arrays)
    total = next(arrays)
    for a in arrays:
        total += a
    return total


def _grad_output_transform(gd, z):
    """z[a, b] = (A dY A^T)_ab with row and column 3 negated, for every tile of
    gd (nb, 2th, 2, tw, C_out)."""
    xp = np if type(gd) is np.ndarray else get_array_module(gd)
    g0, g1 = gd[:, 0::2], gd[:, 1::2]  # rows r = 0, 1 of every tile: (nb, th, 2, tw, C_out)
    r = xp.empty((4,) + g0.shape, gd.dtype)
    r[0] = g0  # A dY: rows (dY0, dY0 + dY1, dY0 - dY1, -dY1 -> +dY1)
    xp.add(g0, g1, out=r[1])
    xp.subtract(g0, g1, out=r[2])
    r[3] = g1
    c0, c1 = r[:, :, :, 0], r[:, :, :, 1]
    z[:, 0] = c0  # (A dY) A^T: the same on the columns
    xp.add(c0, c1, out=z[:, 1])
    xp.subtract(c0, c1, out=z[:, 2])
    z[:, 3] = c1


def _grad_input_transform(dv, out):
    """out[:, q, e, p, f] = sum of (B dV B^T) over the tiles covering padded input pixel
    (2q + e, 2p + f): tile rows 0, 1 of tile q and rows 2, 3 of tile q - 1 land on rows 2q, 2q + 1.
    dv (4, 4, nb, th, tw, C) -> out (nb, th+1, 2, tw+1, 2, C)."""
    xp = np if type(dv) is np.ndarray else get_array_module(dv)
    _, _, nb, th, tw, c = dv.shape
    # rows of B dV: (dV0, dV1 - dV2 + dV3, -dV0 + dV1 + dV2, -dV3); row e of tile q and row e + 2
    # of tile q - 1 sum onto padded row 2q + e
    r = xp.empty((2, 4, nb, th + 1, tw, c), dv.dtype)
    r[:, :, :, th] = 0
    r[0, :, :, :th] = dv[0]
    t = xp.add(dv[1], dv[2])
    t -= dv[0]
    r[0, :, :, 1:] += t
    xp.subtract(dv[1], dv[2], out=r[1, :, :, :th])
    r[1, :, :, :th] += dv[3]
    r[1, :, :, 1:] -= dv[3]
    # the same on the columns: (rows of) R B^T, columns f of tile p and f + 2 of tile p - 1
    s = xp.empty((2, 2, nb, th + 1, tw + 1, c), dv.dtype)
    s[:, :, :, :, tw] = 0
    s[:, 0, :, :, :tw] = r[:, 0]
    t = xp.add(r[:, 1], r[:, 2])
    t -= r[:, 0]
    s[:, 0, :, :, 1:] += t
    xp.subtract(r[:, 1], r[:, 2], out=s[:, 1, :, :, :tw])
    s[:, 1, :, :, :tw] += r[:, 3]
    s[:, 1, :, :, 1:] -= r[:, 3]
    out[...] = s.transpose(2, 3, 0, 4, 1, 5)
