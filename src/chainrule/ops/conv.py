"""2-D convolution and its adjoint, the transposed convolution (notes 2.1), each one fused Function.

The notes' convolution, for kernel size R, stride t, padding p and input channels k:

    s_uvw = sum_{i=1}^{R} sum_{j=1}^{R} sum_{k=1}^{C} W^w_ijk h_{t(u-1)-p+i, t(v-1)-p+j, k} + b^w

is linear in h and in W, so its backward is three sums over the same index set:

    dL/dW^w_ijk = sum_{u,v} dL/ds_uvw h_{t(u-1)-p+i, t(v-1)-p+j, k}    (output grad x input patch)
    dL/db^w     = sum_{u,v} dL/ds_uvw
    dL/dh_xyk   = sum_{u,v,w,i,j: t(u-1)-p+i = x, t(v-1)-p+j = y} dL/ds_uvw W^w_ijk

The last one is the transposed convolution of dL/ds with the same kernels: conv_transpose2d is that
map as a layer (its forward is conv2d's input gradient, and its backward uses conv2d's forward).
The kernels (im2col, GEMM, col2im) are in conv_kernels.py.
"""
from __future__ import annotations

import numbers

from ..autograd.function import Function
from ..backend import xp
from ..tensor import Tensor
from ._util import OpError, OpTypeError
from .conv_kernels import (bias_grad, col2im, conv_rows, im2col, nchw_to_rows, nhwc_padded,
                           rows_to_nchw, weight_grad)


class Conv2d(Function):
    """s = W (x) h + b on NCHW arrays: im2col, one GEMM, and col2im in backward.

    Params: pads (top, bottom, left, right), stride (t_h, t_w), dilation (d_h, d_w), groups.
    """

    fresh_grads = True  # every gradient is a new array (dx a view of a new buffer)

    def forward(self, x, w, b=None, *, pads, stride, dilation, groups):
        n, _, h, wd = x.shape
        co, _, kh, kw = w.shape
        xh = nhwc_padded(x, pads)  # (N, Hp, Wp, C): h with the zero border p
        ho = (xh.shape[1] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
        wo = (xh.shape[2] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
        cols = im2col(xh, (kh, kw), (ho, wo), stride, dilation, groups)  # patches as rows
        rows = conv_rows(cols, w, groups)  # (N Hout Wout, C_out): sum_ijk W^w_ijk h_patch
        if b is not None:
            rows += b  # + b^w
        nx, nw = self.needs_input_grad[:2]
        self.save(cols if nw else None, w if nx else None)
        self.geom = (xh.shape, (ho, wo), (h, wd))
        self.wshape = w.shape
        self.params = (pads, stride, dilation, groups)
        return rows_to_nchw(rows, n, ho, wo)

    def backward(self, gs):
        cols, w = self.saved
        buf_shape, out_hw, (h, wd) = self.geom
        pads, stride, dilation, groups = self.params
        needs = self.needs_input_grad
        g_rows = nchw_to_rows(gs)  # dL/ds as (N Hout Wout, C_out)
        gx = gw = gb = None
        if needs[0]:  # dL/dh = col2im(dL/ds W): the transposed convolution, then crop the padding
            gxh = col2im(g_rows, w, buf_shape, out_hw, stride, dilation, groups)
            gx = gxh[:, pads[0]:pads[0] + h, pads[2]:pads[2] + wd].transpose(0, 3, 1, 2)
        if needs[1]:  # dL/dW^w_ijk = sum_uv dL/ds_uvw h_patch(u,v),ijk = (dL/ds)^T cols
            gw = weight_grad(g_rows, cols, self.wshape, groups)
        if len(needs) == 3 and needs[2]:  # dL/db^w = sum_{n,u,v} dL/ds_nuvw
            gb = bias_grad(g_rows)
        return (gx, gw) if len(needs) == 2 else (gx, gw, gb)


class ConvTranspose2d(Function):
    """y = W^T (x) x + b: the adjoint of Conv2d in its input (weight (C_in, C_out/G, KH, KW)).

    Params: crop (top, left) of the col2im buffer, buf (Hbuf, Wbuf) its size, stride, dilation,
    groups. The output is buf cropped to [top : Hbuf - top, left : Wbuf - left].
    """

    fresh_grads = True

    def forward(self, x, w, b=None, *, crop, buf, stride, dilation, groups):
        n, ci, h, wd = x.shape
        _, cog, _, _ = w.shape
        x_rows = nchw_to_rows(x)  # the "output gradient" of the adjoint conv: (N H W, C_in)
        yh = col2im(x_rows, w, (n, buf[0], buf[1], cog * groups), (h, wd), stride, dilation,
                    groups)  # y_xyk = sum_{u,v,w,i,j -> x,y} x_uvw W^w_ijk
        pt, pl = crop
        y = yh[:, pt:buf[0] - pt, pl:buf[1] - pl]  # (N, Hout, Wout, C_out) view
        if b is not None:
            y += b  # + b^k
        nx, nw = self.needs_input_grad[:2]
        self.save(x_rows if nw else None, w if nx else None)
        self.geom = ((h, wd), y.shape[1:3])
        self.params = (crop, buf, stride, dilation, groups)
        return y.transpose(0, 3, 1, 2)

    def backward(self, gy):
        x_rows, w = self.saved
        (h, wd), (ho, wo) = self.geom
        (pt, pl), buf, stride, dilation, groups = self.params
        needs = self.needs_input_grad
        kernel = w.shape[2:]
        gyh = nhwc_padded(gy, (pt, 0, pl, 0), size=buf)  # dL/dy on the uncropped buffer
        cols = im2col(gyh, kernel, (h, wd), stride, dilation, groups)  # patches of dL/dy
        gx = gw = gb = None
        if needs[0]:  # dL/dx = conv2d(dL/dy, W): the adjoint of the adjoint
            gx = rows_to_nchw(conv_rows(cols, w, groups), gy.shape[0], h, wd)
        if needs[1]:  # dL/dW^w_ijk = sum_uv x_uvw (dL/dy)_patch(u,v),ijk
            gw = weight_grad(x_rows, cols, w.shape, groups)
        if len(needs) == 3 and needs[2]:  # dL/db^k = sum_{n,x,y} dL/dy_nkxy (zero border adds 0)
            gb = bias_grad(gyh.reshape(-1, gyh.shape[3]))
        return (gx, gw) if len(needs) == 2 else (gx, gw, gb)
