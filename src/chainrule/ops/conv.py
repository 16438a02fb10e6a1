"""2-D convolution and its adjoint, the transposed convolution (notes 2.1), each one fused Function.

The notes' convolution, for kernel size R, stride t, padding p and input channels k:

    s_uvw = sum_{i=1}^{R} sum_{j=1}^{R} sum_{k=1}^{C} W^w_ijk h_{t(u-1)-p+i, t(v-1)-p+j, k} + b^w

is linear in h and in W, so its backward is three sums over the same index set:

    dL/dW^w_ijk = sum_{u,v} dL/ds_uvw h_{t(u-1)-p+i, t(v-1)-p+j, k}    (output grad x input patch)
    dL/db^w     = sum_{u,v} dL/ds_uvw
    dL/dh_xyk   = sum_{u,v,w,i,j: t(u-1)-p+i = x, t(v-1)-p+j = y} dL/ds_uvw W^w_ijk

The last one is the transposed convolution of dL/ds with the same kernels: conv_transpose2d is that
map as a layer (its forward is conv2d's input gradient, and its backward uses conv2d's forward).
The kernels are in conv_kernels.py: patches as a matrix (im2col) and one GEMM, col2im for the
adjoint (at stride 1 with C_out <= C_in, the same sum as a convolution with the flipped kernels), and
Winograd F(2x2, 3x3) for 3x3 stride-1 kernels (the same sums with fewer multiplies).
"""
from __future__ import annotations

import numbers

import numpy as np

from ..autograd.function import Function
from ..backend import get_array_module
from ..parallel import get_num_threads
from ..tensor import Tensor
from ._util import OpError, OpTypeError
from .conv_kernels import (ConvGeometry, apply_kernels, conv_backward, conv_forward, grad_matrix,
                           kernel_grad, patch_grad, patches, winograd_applies, winograd_backward,
                           winograd_forward)


class Conv2d(Function):
    """s = W (x) h + b on NCHW arrays: patches (im2col), one GEMM, and col2im in backward; 3x3
    stride-1 kernels with enough channels go through Winograd F(2x2, 3x3) instead (same sums).

    Params: pads (top, bottom, left, right), stride (t_h, t_w), dilation (d_h, d_w), groups.
    """

    fresh_grads = True  # every gradient is a newly allocated array

    def forward(self, x, w, b=None, *, pads, stride, dilation, groups):
        geo = ConvGeometry(x.shape, w.shape, pads, stride, dilation, groups)
        nx, nw = self.needs_input_grad[:2]
        self.geo = geo
        # Winograd on the CPU only: on a GPU the one big GEMM of im2col is the faster form
        self.winograd = type(x) is np.ndarray and winograd_applies(
            (geo.kh, geo.kw), stride, dilation, groups, geo.c, geo.co, geo.m, get_num_threads(),
            x.itemsize)
        if self.winograd:
            y, v = winograd_forward(x, w, b, pads, keep_v=nw)  # V: the input tiles, for dL/dW
            self.save(v, w if nx else None)
            return y
        y, parts = conv_forward(x, w, b, geo, keep_patches=nw)  # patches and GEMM, per thread
        self.save(parts, w if nx else None)
        return y

    def backward(self, gs):
        p, w = self.saved
        geo = self.geo
        needs = self.needs_input_grad
        need_b = len(needs) == 3 and needs[2]
        if self.winograd:  # the adjoints of the Winograd transforms (see conv_kernels.py)
            gx, gw, gb = winograd_backward(gs, w, p, geo.pads, (geo.c, geo.h, geo.w), needs[0],
                                           needs[1], need_b)
        else:  # dL/dh = col2im(dL/ds W), dL/dW = (dL/ds)^T P, dL/db = sum_{n,u,v} dL/ds
            gx, gw, gb = conv_backward(gs, w, p, geo, needs[0], needs[1], need_b)  # (dL/dh by
            # the flipped kernels where conv_kernels.adjoint_as_conv applies)
        return (gx, gw) if len(needs) == 2 else (gx, gw, gb)


class ConvTranspose2d(Function):
    """y = W^T (x) x + b: the adjoint of Conv2d in its input (weight (C_in, C_out/G, KH, KW)).

    The adjoint convolution maps (N, C_out, Hout, Wout) -> (N, C_in, H, W) with pads (p_h, p_h,
    p_w, p_w) and output size (H, W) = the input's size here; its geometry is built once.
    Params: pads, out_hw (Hout, Wout), stride, dilation, groups.
    """

    fresh_grads = True

    def forward(self, x, w, b=None, *, pads, out_hw, stride, dilation, groups):
        n, _, h, wd = x.shape
        co = w.shape[1] * groups
        geo = ConvGeometry((n, co) + out_hw, w.shape, pads, stride, dilation, groups, (h, wd))
        nx, nw = self.needs_input_grad[:2]
        gm = grad_matrix(x, geo)  # x plays the adjoint conv's output gradient
        self.save(gm if nw else None, w if nx else None)
        self.geo = geo
        # y_xyk = sum over the (u, v, w, i, j) that read pixel (x, y) of x_uvw W^w_ijk, + b^k
        return patch_grad(gm, w, geo, b)

    def backward(self, gy):
        gm, w = self.saved
        geo = self.geo
        needs = self.needs_input_grad
        # the patches of dL/dy: the windows each input pixel wrote to
        p = patches(gy, geo) if needs[0] or needs[1] else None
        gx = apply_kernels(p, w, None, geo) if needs[0] else None  # dL/dx = conv2d(dL/dy, W)
        gw = kernel_grad(gm, p, geo) if needs[1] else None  # dL/dW = sum x_uvw (dL/dy)_patch
        if len(needs) == 2:
            return gx, gw
        gb = None
        if needs[2]:  # dL/db^k = sum_{n,x,y} dL/dy_nkxy, as two GEMVs
            xp = np if type(gy) is np.ndarray else get_array_module(gy)
            g2 = gy.reshape(geo.n, -1)
            gb = ((xp.ones(geo.n, gy.dtype) @ g2).reshape(geo.c, -1)
                  @ xp.ones(geo.h * geo.w, gy.dtype))
        return gx, gw, gb


# ---- the functional forms: argument checks, then one node ---------------------------------------

def _pair(v, name, op, minimum):
    """(a, b) from an int or a pair of ints, each at least ``minimum``."""
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        v = (int(v), int(v))
    elif (isinstance(v, (tuple, list)) and len(v) == 2
          and all(isinstance(e, numbers.Integral) and not isinstance(e, bool) for e in v)):
        v = (int(v[0]), int(v[1]))
    else:
        raise OpTypeError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")
    if min(v) < minimum:
        raise OpError(f"{op}: {name} must be >= {minimum}, got {v}")
    return v


def _check_operands(op, x, w, b):
    for name, t in (("input", x), ("weight", w)):
        if not isinstance(t, Tensor):
            raise OpTypeError(f"{op}: expected {name} to be a Tensor, got {type(t).__name__}")
    if b is not None and not isinstance(b, Tensor):
        raise OpTypeError(f"{op}: expected bias to be a Tensor or None, got {type(b).__name__}")
    if x.ndim not in (3, 4):
        raise OpError(f"{op}: expected input (N, C, H, W) or unbatched (C, H, W), got "
                      f"{tuple(x.shape)}")
    if w.ndim != 4:
        raise OpError(f"{op}: expected a 4-D weight, got shape {tuple(w.shape)}")
    for name, t in (("input", x), ("weight", w), ("bias", b)):
        if t is not None and t.dtype.kind != "f":
            raise OpTypeError(f"{op}: expected a floating-point {name}, got dtype {t.dtype}")
    if w.dtype != x.dtype or (b is not None and b.dtype != x.dtype):
        got = f"input {x.dtype}, weight {w.dtype}" + ("" if b is None else f", bias {b.dtype}")
        raise OpTypeError(f"{op}: input, weight and bias must have the same dtype, got {got}")


def _check_groups(op, groups, channels, what):
    if not isinstance(groups, numbers.Integral) or isinstance(groups, bool) or groups < 1:
        raise OpError(f"{op}: groups must be a positive int, got {groups!r}")
    if channels % groups:
        raise OpError(f"{op}: {what} ({channels}) must be divisible by groups ({groups})")


def _run(fn, x, w, b, **params):
    """Apply ``fn`` to a batch, adding and removing the batch axis of an unbatched input."""
    unbatched = x.ndim == 3
    if unbatched:
        x = x.reshape(1, *x.shape)
    y = fn.apply(x, w, **params) if b is None else fn.apply(x, w, b, **params)
    return y.reshape(*y.shape[1:]) if unbatched else y


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (notes 2.1): s = W (x) h + b,

        s_uvw = sum_ijk W^w_ijk h_{t(u-1)-p+i, t(v-1)-p+j, k} + b^w

    (kernel size R = KH x KW, stride t, padding p, channels k of the group of output channel w; with
    dilation d the kernel taps are d apart: h_{t(u-1)-p+d(i-1)+1, ...}).

    Args:
        input: (N, C_in, H, W), or unbatched (C_in, H, W).
        weight: (C_out, C_in / groups, KH, KW): the C_out kernels W^w.
        bias: (C_out,) or None.
        stride: t, an int or a pair (t_h, t_w).
        padding: p, an int, a pair, 'valid' (no padding) or 'same' (output size = input size,
            stride 1 only; when d(K-1) is odd the extra zero goes at the bottom/right, as PyTorch).
        dilation: an int or a pair.
        groups: split the channels into this many independent convolutions (groups = C_in is the
            depthwise convolution).

    Returns: (N, C_out, H_out, W_out) with H_out = floor((H + 2p - d(KH - 1) - 1) / t) + 1 (and the
    same for W_out). One autograd node; its backward is dL/dW = (dL/ds)^T im2col(h),
    dL/db = sum_{n,u,v} dL/ds, dL/dh = the transposed convolution of dL/ds.

    Example::

        >>> x = cr.randn(8, 3, 32, 32)
        >>> conv2d(x, cr.randn(16, 3, 3, 3), padding=1).shape    # (8, 16, 32, 32)
    """
    op = "conv2d"
    _check_operands(op, input, weight, bias)
    co, cg, kh, kw = weight.shape
    _check_groups(op, groups, co, "out_channels (weight.shape[0])")
    c = input.shape[-3]
    if c != cg * groups:
        lead = "N, " if input.ndim == 4 else ""
        raise OpError(f"{op}: expected input ({lead}{cg * groups}, H, W) for a weight"
                      f" of shape {tuple(weight.shape)} with groups={groups}, got "
                      f"{tuple(input.shape)}")
    if bias is not None and tuple(bias.shape) != (co,):
        raise OpError(f"{op}: expected bias of shape ({co},), got {tuple(bias.shape)}")
    stride = _pair(stride, "stride", op, 1)
    dilation = _pair(dilation, "dilation", op, 1)
    span = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)  # the dilated kernel
    if isinstance(padding, str):
        if padding == "valid":
            pads = (0, 0, 0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise OpError(f"{op}: padding='same' is only supported with stride 1, got stride "
                              f"{stride}")
            th, tw = span[0] - 1, span[1] - 1  # total zeros per dim; the odd one goes last
            pads = (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        else:
            raise OpError(f"{op}: padding must be 'same', 'valid', an int or a pair, got "
                          f"{padding!r}")
    else:
        ph, pw = _pair(padding, "padding", op, 0)
        pads = (ph, ph, pw, pw)
    h, wd = input.shape[-2:]
    hp, wp = h + pads[0] + pads[1], wd + pads[2] + pads[3]
    if hp < span[0] or wp < span[1]:
        raise OpError(f"{op}: the input's spatial size ({h}, {wd}) (padded: ({hp}, {wp})) is "
                      f"smaller than the kernel ({kh}, {kw})"
                      + (f" dilated to {span}" if span != (kh, kw) else ""))
    return _run(Conv2d, input, weight, bias, pads=pads, stride=stride, dilation=dilation,
                groups=int(groups))


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """2-D transposed convolution: the adjoint (in h) of conv2d with the same weight,

        y_xyw = sum_{u,v,k,i,j: t(u-1)-p+d(i-1)+1 = x, t(v-1)-p+d(j-1)+1 = y} W^k_ijw h_uvk + b^w,

    i.e. each input pixel spreads its kernel-weighted copy onto an output window; it maps a conv2d's
    output shape back to its input shape (the "deconvolution" of decoders, notes 4).

    Args:
        input: (N, C_in, H, W), or unbatched (C_in, H, W).
        weight: (C_in, C_out / groups, KH, KW) (PyTorch's layout: that of the conv2d it transposes).
        bias: (C_out,) or None.
        stride, padding, dilation: those of that conv2d (ints or pairs); padding p crops p rows
            and columns from each border of the full result.
        output_padding: extra rows/columns at the bottom/right (an int or a pair, each smaller than
            the stride or the dilation), to pick among the input sizes a strided conv2d maps to H.
        groups: as in conv2d.

    Returns: (N, C_out, H_out, W_out). One autograd node: its forward is col2im of the GEMM
    h W, its backward uses conv2d's kernels (dL/dh = conv2d(dL/dy, W), dL/dW = h^T im2col(dL/dy)).

    Example::

        >>> conv_transpose2d(cr.randn(8, 16, 7, 7), cr.randn(16, 8, 4, 4), stride=2,
        ...                  padding=1).shape                       # (8, 8, 14, 14)
    """
    op = "conv_transpose2d"
    _check_operands(op, input, weight, bias)
    ci, cog, kh, kw = weight.shape
    _check_groups(op, groups, ci, "in_channels (weight.shape[0])")
    if input.shape[-3] != ci:
        raise OpError(f"{op}: expected input ({'N, ' if input.ndim == 4 else ''}{ci}, H, W) for a "
                      f"weight of shape {tuple(weight.shape)}, got {tuple(input.shape)}")
    co = cog * groups
    if bias is not None and tuple(bias.shape) != (co,):
        raise OpError(f"{op}: expected bias of shape ({co},), got {tuple(bias.shape)}")
    if isinstance(padding, str):
        raise OpError(f"{op}: padding must be an int or a pair, got {padding!r}")
    stride = _pair(stride, "stride", op, 1)
    dilation = _pair(dilation, "dilation", op, 1)
    pad = _pair(padding, "padding", op, 0)
    out_pad = _pair(output_padding, "output_padding", op, 0)
    for k in range(2):
        if out_pad[k] >= max(stride[k], dilation[k]):
            raise OpError(f"{op}: output_padding {out_pad} must be smaller than the stride "
                          f"{stride} or the dilation {dilation}")
    h, wd = input.shape[-2:]
    out_hw = tuple((n - 1) * stride[k] - 2 * pad[k] + dilation[k] * (kk - 1) + 1 + out_pad[k]
                   for k, (n, kk) in enumerate(((h, kh), (wd, kw))))
    if min(out_hw) < 1 or min(h, wd) < 1:
        raise OpError(f"{op}: the output size {out_hw} of an input of spatial size ({h}, {wd}) "
                      f"with kernel ({kh}, {kw}), stride {stride}, padding {pad}, dilation "
                      f"{dilation} and output_padding {out_pad} is not positive")
    return _run(ConvTranspose2d, input, weight, bias, pads=(pad[0], pad[0], pad[1], pad[1]),
                out_hw=out_hw, stride=stride, dilation=dilation, groups=int(groups))
