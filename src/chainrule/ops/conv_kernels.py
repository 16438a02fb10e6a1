"""Array kernels of the 2-D convolution (notes 2.1), on raw arrays, shared by conv2d and conv_transpose2d.

Layout. The public tensors are NCHW as in PyTorch; inside, a feature map is channels-last (NHWC) so
that a patch, read in (i, j, k) = (kernel row, kernel column, channel) order, is one contiguous run
of KW * C numbers per kernel row. The convolution of the notes,

    s_uvw = sum_ijk W^w_ijk h_{t(u-1)-p+i, t(v-1)-p+j, k} + b^w,

then becomes one matrix product: the patches of every output position (n, u, v) stacked as rows of a
matrix ``cols`` (N Hout Wout, KH KW C) -- "im2col" -- times the kernels as columns, W^T (KH KW C, C_out).
The result, (N Hout Wout, C_out), is the output in NHWC order ("rows"), handed out as an NCHW view.

Its adjoint (the backward of conv2d, the forward of conv_transpose2d) scatters rows back onto the
map -- "col2im": one batched matrix product gives, for every kernel offset (i, j), the (N Hout Wout, C)
block dL/ds W_ij, and each block is added onto the strided window of the map it came from.

Groups split the channels into G independent convolutions; the grouped forms below carry a leading
group axis. Every kernel is written with ``xp`` (NumPy now) and plain strides, no Python loop over
pixels: the loops are over the KH x KW kernel offsets only.
"""
from __future__ import annotations

from numpy.lib.stride_tricks import as_strided

from ..backend import xp


def nhwc_padded(x, pads, size=None):
    """The NCHW map ``x`` as a channels-last array with zero borders.

    ``pads`` = (top, bottom, left, right); ``size`` = (Hbuf, Wbuf) overrides the padded size (extra
    rows and columns at the bottom and right are zero). Returns (N, Hbuf, Wbuf, C); without padding
    this is a view when ``x`` already lies channels-last in memory, else one transposing copy.
    """
    n, c, h, w = x.shape
    pt, pb, pl, pr = pads
    hb, wb = size if size is not None else (h + pt + pb, w + pl + pr)
    xt = x.transpose(0, 2, 3, 1)  # (N, H, W, C) view
    if (hb, wb) == (h, w) and pt == pl == 0:
        if xt.flags.c_contiguous:
            return xt
        return xp.ascontiguousarray(xt)
    out = xp.empty((n, hb, wb, c), x.dtype)
    out[:, :pt] = 0  # zero only the border: the interior is overwritten next
    out[:, pt + h:] = 0
    out[:, pt:pt + h, :pl] = 0
    out[:, pt:pt + h, pl + w:] = 0
    out[:, pt:pt + h, pl:pl + w] = xt
    return out


def im2col(xh, kernel, out_hw, stride, dilation, groups):
    """The patches of ``xh`` (N, Hp, Wp, C) as rows, in (i, j, k) order.

    Row (n, u, v) holds h_{t u + d i, t v + d j, k} for i < KH, j < KW, k < C (0-based, in padded
    coordinates). Returns (N Hout Wout, KH KW C) for one group, else (G, N Hout Wout, KH KW C/G).
    Built from a strided view and one copy; a 1x1 stride-1 convolution of a contiguous map is a
    free reshape.
    """
    n, _, _, c = xh.shape
    kh, kw = kernel
    ho, wo = out_hw
    sh, sw = stride
    dh, dw = dilation
    s0, s1, s2, s3 = xh.strides
    if groups == 1:
        view = as_strided(xh, (n, ho, wo, kh, kw, c), (s0, sh * s1, sw * s2, dh * s1, dw * s2, s3),
                          writeable=False)
        return view.reshape(n * ho * wo, kh * kw * c)
    cg = c // groups
    view = as_strided(xh, (groups, n, ho, wo, kh, kw, cg),
                      (cg * s3, s0, sh * s1, sw * s2, dh * s1, dw * s2, s3), writeable=False)
    return view.reshape(groups, n * ho * wo, kh * kw * cg)


def weight_matrix(w, groups):
    """The kernels W^w_ijk as GEMM columns matching :func:`im2col`'s rows.

    w (C_out, C_in/G, KH, KW) -> (KH KW C_in, C_out) for one group, else (G, KH KW C_in/G, C_out/G).
    """
    co, cg, kh, kw = w.shape
    wt = w.transpose(0, 2, 3, 1)  # (C_out, KH, KW, C_in/G): (w, i, j, k)
    if groups == 1:
        return wt.reshape(co, kh * kw * cg).T
    return wt.reshape(groups, co // groups, kh * kw * cg).transpose(0, 2, 1)


def conv_rows(cols, w, groups):
    """s = cols W^T: the outputs as rows (N Hout Wout, C_out), channels last."""
    wm = weight_matrix(w, groups)
    if groups == 1:
        return cols @ wm
    out = xp.matmul(cols, wm)  # (G, M, C_out/G)
    return out.transpose(1, 0, 2).reshape(cols.shape[1], -1)


def rows_to_nchw(rows, n, h, w):
    """(N H W, C) rows -> the (N, C, H, W) view of the same memory."""
    return rows.reshape(n, h, w, rows.shape[1]).transpose(0, 3, 1, 2)


def nchw_to_rows(g):
    """(N, C, H, W) -> (N H W, C) rows; free when g lies channels-last in memory."""
    return g.transpose(0, 2, 3, 1).reshape(-1, g.shape[1])


def weight_grad(g_rows, cols, wshape, groups):
    """dL/dW^w_ijk = sum over (n, u, v) of dL/ds_nuvw h_{patch(n, u, v), (i, j, k)}: one GEMM,
    (dL/ds)^T cols, reshaped from (C_out, KH KW C/G) back to (C_out, C/G, KH, KW)."""
    co, cg, kh, kw = wshape
    if groups == 1:
        gw = g_rows.T @ cols  # (C_out, KH KW C)
    else:
        m = g_rows.shape[0]
        gg = g_rows.reshape(m, groups, co // groups).transpose(1, 2, 0)  # (G, C_out/G, M)
        gw = xp.matmul(gg, cols)  # (G, C_out/G, KH KW C/G)
    return xp.ascontiguousarray(gw.reshape(co, kh, kw, cg).transpose(0, 3, 1, 2))


def bias_grad(g_rows):
    """dL/db^w = sum over (n, u, v) of dL/ds_nuvw, as a GEMV with a vector of ones (faster than
    a reduction over the long axis)."""
    return xp.ones(g_rows.shape[0], g_rows.dtype) @ g_rows


def col2im(g_rows, w, buf_shape, out_hw, stride, dilation, groups):
    """The adjoint of im2col after the GEMM: dL/dh = sum over kernel offsets (i, j) of the blocks
    dL/ds W_ij added onto the windows they were read from.

    g_rows (N Hout Wout, C_out), w (C_out, C/G, KH, KW), buf_shape = (N, Hp, Wp, C) -> (N, Hp, Wp, C)
    in padded coordinates (the caller crops the padding).
    """
    co, cg, kh, kw = w.shape
    n, _, _, c = buf_shape
    ho, wo = out_hw
    sh, sw = stride
    dh, dw = dilation
    m = g_rows.shape[0]
    if groups == 1:
        wb = w.transpose(2, 3, 0, 1).reshape(kh * kw, co, cg)  # W_ij as (C_out, C) matrices
        blocks = xp.matmul(g_rows, wb)  # (KH KW, M, C): dL/ds W_ij for every offset
    else:
        cog = co // groups
        wb = w.reshape(groups, cog, cg, kh * kw).transpose(0, 3, 1, 2)  # (G, KH KW, C_out/G, C/G)
        gg = g_rows.reshape(m, groups, cog).transpose(1, 0, 2)[:, None]  # (G, 1, M, C_out/G)
        blocks = xp.matmul(gg, wb).transpose(1, 0, 2, 3)  # (KH KW, G, M, C/G)
    out = xp.zeros(buf_shape, g_rows.dtype)
    out_g = out.reshape(n, buf_shape[1], buf_shape[2], groups, cg)
    for i in range(kh):
        rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
        for j in range(kw):
            cols = slice(j * dw, j * dw + sw * (wo - 1) + 1, sw)
            b = blocks[i * kw + j]
            if groups == 1:
                out[:, rows, cols] += b.reshape(n, ho, wo, c)
            else:
                out_g[:, rows, cols] += b.reshape(groups, n, ho, wo, cg).transpose(1, 2, 3, 0, 4)
    return out
