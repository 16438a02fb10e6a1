"""Pooling over the two spatial dims of a feature map (notes 2.1: "for each feature map, at each
pixel, we replace the value of this pixel by the maximum [or the average] of the patch around it").

Shapes: input (N, C, H, W), or (C, H, W) for one unbatched image; each channel is pooled on its
own. A window of kernel (kH, kW) with dilation (dH, dW) slides with stride (sH, sW) over the input
padded by (pH, pW) on each side; along H the output has

    H_out = floor((H + 2 pH - dH (kH - 1) - 1) / sH) + 1                (ceil instead of floor with
                                                                         ceil_mode)

rows, and with ceil_mode the last window is dropped when it would start beyond the input and its
left padding, i.e. when (H_out - 1) sH >= H + pH (the same along W). This is PyTorch's rule.

Max pooling, y_{n,c,u,v} = max over (i, j) of x_{n,c, u sH - pH + i dH, v sW - pW + j dW}, is
a running maximum over kH kW planes, one per kernel offset (i, j): the strided slice of the padded
input that offset reads, gathered by one strided copy into a contiguous (kH kW, N, C, H_out, W_out)
array (NumPy's ufuncs run several times faster on contiguous planes than on strided slices, and
far faster than a reshape-and-max over windows). Its derivative is 1 at the position of the
maximum (the first one in row-major order when several are equal, as PyTorch) and 0 elsewhere, so
the backward routes each output gradient to its argmax: per kernel offset, the output gradient
masked by "the argmax is this offset" is written (or, for overlapping windows, added) into the
matching strided slice of the input gradient.

Average pooling, y = (1 / D_{u,v}) sum over the window, is one GEMV of a vector of ones with the
same planes; its derivative is the constant 1 / D_{u,v} at every position of the window, so the
backward spreads g / D the same way.

Adaptive average pooling uses PyTorch's windows start_i = floor(i H / H_out),
end_i = ceil((i + 1) H / H_out); its divisor is a product of a row and a column count, so
y = P_H x P_W^T with averaging matrices P, and the backward is P_H^T g P_W.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from ..autograd.function import Function
from ..backend import get_array_module
from ..autograd.grad_mode import _State
from .conv_kernels import parallel_for  # NumPy: the batch over the threads; a device: one call
from ._util import OpError, OpTypeError, no_grad_result

# ---- arguments and geometry --------------------------------------------------------------------


def _pair(v, what, op):
    """(a, b) from an int or a sequence of one or two ints."""
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        return (int(v), int(v))
    if isinstance(v, (tuple, list)) and len(v) in (1, 2) and all(
            isinstance(e, numbers.Integral) and not isinstance(e, bool) for e in v):
        return (int(v[0]), int(v[-1]))
    raise OpTypeError(f"{op}: {what} must be an int or a pair of ints, got {v!r}")


def _check_input(x, op):
    if not hasattr(x, "data") or not hasattr(x, "shape"):
        raise OpTypeError(f"{op}: expected a Tensor input, got {type(x).__name__}")
    shape = tuple(x.shape)
    if len(shape) not in (3, 4) or 0 in shape[-3:]:
        raise OpError(f"{op}: expected input (N, C, H, W) or (C, H, W) with non-zero C, H, W, "
                      f"got {shape}")
    if x.data.dtype.kind != "f":
        raise OpTypeError(f"{op}: expected a floating-point input, got dtype {x.data.dtype}")


def _out_len(size, k, s, p, d, ceil_mode):
    """Output length along one dim (PyTorch's rule, see the module docstring)."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1  # the last window would start in the right padding: drop it
    return out


def _geometry(x, kernel_size, stride, padding, dilation, ceil_mode, op):
    """Checked (k, s, p, d, out) pairs for a pooling call, or a clear error."""
    _check_input(x, op)
    k = _pair(kernel_size, "kernel_size", op)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) \
        else _pair(stride, "stride", op)
    p = _pair(padding, "padding", op)
    d = _pair(dilation, "dilation", op)
    for what, v in (("kernel_size", k), ("stride", s), ("dilation", d)):
        if min(v) <= 0:
            raise OpError(f"{op}: {what} must be positive, got {v}")
    if min(p) < 0 or p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise OpError(f"{op}: padding should be at most half of the kernel size, got padding={p}, "
                      f"kernel_size={k}")
    H, W = x.shape[-2:]
    out = (_out_len(H, k[0], s[0], p[0], d[0], ceil_mode),
           _out_len(W, k[1], s[1], p[1], d[1], ceil_mode))
    if min(out) < 1:
        raise OpError(f"{op}: input {tuple(x.shape)} is too small for kernel_size={k}, stride={s}, "
                      f"padding={p}, dilation={d}: the output would be {out}")
    return k, s, p, d, out


def _padded(x, p, extent, fill):
    """x (N, C, H, W) padded by p on the top/left and as much as ``extent`` (the rows and columns
    the windows reach) needs on the bottom/right, with ``fill``; x itself when nothing is needed."""
    xp = np if type(x) is np.ndarray else get_array_module(x)
    N, C, H, W = x.shape
    rh = max(0, extent[0] - H - p[0])
    rw = max(0, extent[1] - W - p[1])
    if p == (0, 0) and rh == 0 and rw == 0:
        return x
    xpad = xp.empty((N, C, p[0] + H + rh, p[1] + W + rw), x.dtype)
    xpad[:, :, :p[0]] = fill
    xpad[:, :, p[0] + H:] = fill
    xpad[:, :, p[0]:p[0] + H, :p[1]] = fill
    xpad[:, :, p[0]:p[0] + H, p[1] + W:] = fill
    xpad[:, :, p[0]:p[0] + H, p[1]:p[1] + W] = x
    return xpad


def _window_slices(k, s, d, out):
    """For each kernel offset (i, j), row-major, the (rows, cols) slices of the padded input that
    it reads for all outputs: rows i d, i d + s, ..., i d + (H_out - 1) s."""
    return [(slice(i * d[0], i * d[0] + (out[0] - 1) * s[0] + 1, s[0]),
             slice(j * d[1], j * d[1] + (out[1] - 1) * s[1] + 1, s[1]))
            for i in range(k[0]) for j in range(k[1])]


def _extent(k, s, d, out):
    """Rows and columns of the padded input that the windows reach."""
    return tuple((out[a] - 1) * s[a] + d[a] * (k[a] - 1) + 1 for a in (0, 1))


def _gather(xpad, k, s, d, out):
    """The windows of the padded input as one contiguous array (kH kW, N, C, H_out, W_out):
    plane (i, j) holds x_{n,c, u sH + i dH, v sW + j dW}. One strided copy: ufuncs on the
    contiguous planes are many times faster than on strided slices."""
    xp = np if type(xpad) is np.ndarray else get_array_module(xpad)
    N, C = xpad.shape[:2]
    sn, sc, sh, sw = xpad.strides
    shape = (k[0], k[1], N, C, out[0], out[1])
    strides = (d[0] * sh, d[1] * sw, sn, sc, s[0] * sh, s[1] * sw)
    if xp is np:
        win = np.lib.stride_tricks.as_strided(xpad, shape=shape, strides=strides, writeable=False)
    else:  # CuPy's as_strided has no ``writeable``
        win = xp.lib.stride_tricks.as_strided(xpad, shape=shape, strides=strides)
    return xp.ascontiguousarray(win).reshape(k[0] * k[1], N, C, out[0], out[1])


def _spread(g_of, slices, padded_shape, p, shape, k, s, d, out, dtype, dst=None, xp=np):
    """The adjoint of reading the slices: gx_padded[slice_k] += g_of(k) for every offset k, then
    cropped to the input (written into ``dst`` of that shape when given). Disjoint windows are
    written, not added; when they also tile the padded input exactly, nothing needs zeroing
    first. ``xp``: the array module of the gradients."""
    disjoint = all(s[a] >= d[a] * (k[a] - 1) + 1 for a in (0, 1))
    tiled = disjoint and d == (1, 1) and s == k and padded_shape[2:] == (out[0] * s[0],
                                                                          out[1] * s[1])
    if dst is not None and tuple(padded_shape) == tuple(shape):
        gxp = dst  # no padding to crop: build the gradient in place
        if not tiled:
            gxp[...] = 0
    else:
        gxp = (xp.empty if tiled else xp.zeros)(padded_shape, dtype)
    for idx, (si, sj) in enumerate(slices):
        view = gxp[:, :, si, sj]
        if disjoint:
            g_of(idx, view)  # writes its part
        else:
            view += g_of(idx, None)
    if (gxp.shape == shape and dst is None) or gxp is dst:
        return gxp
    H, W = shape[2:]
    if dst is None:
        return xp.ascontiguousarray(gxp[:, :, p[0]:p[0] + H, p[1]:p[1] + W])
    dst[...] = gxp[:, :, p[0]:p[0] + H, p[1]:p[1] + W]
    return dst


PARALLEL_MIN_NUMBERS = 1 << 18
"""The input numbers a thread should get at least when pooling splits its batch over the threads
(chainrule.parallel). Measured on 2 threads, 2x2 max pooling forward: (128, 6, 28, 28) 0.86 ->
0.77 ms split, (128, 16, 10, 10) 0.27 -> 0.40 ms split (the wake-up of the second thread costs
more than half the work saves), hence 256k numbers a thread."""


def _min_chunk(x4):
    """Examples a thread should get at least (see PARALLEL_MIN_NUMBERS)."""
    per_example = int(np.prod(x4.shape[1:])) or 1
    return max(1, -(-PARALLEL_MIN_NUMBERS // per_example))


def _as4d(x):
    return x[None] if x.ndim == 3 else x


# ---- max pooling ------------------------------------------------------------------------------


class MaxPool2d(Function):
    """y_{n,c,u,v} = max_{i,j} x_{n,c, u sH - pH + i dH, v sW - pW + j dW} (padding is -inf);
    dL/dx = dL/dy routed to the argmax of each window (first of equal maxima)."""

    fresh_grads = True  # backward returns new arrays only

    def forward(self, x, k, s, p, d, out, with_indices=False):
        xp = np if type(x) is np.ndarray else get_array_module(x)
        x4 = _as4d(x)
        n, c = x4.shape[:2]
        kk = k[0] * k[1]
        need_arg = with_indices or (self.needs_input_grad[0] and _State.enabled)
        dt = np.uint8 if kk < 256 else np.int32
        y = xp.empty((n, c) + tuple(out), x.dtype)
        arg = xp.empty(y.shape, dt) if need_arg else None
        extent = _extent(k, s, d, out)

        def part(lo, hi):  # examples lo..hi, on one of the threads (chainrule.parallel)
            xpad = _padded(x4[lo:hi], p, extent, -np.inf)
            cols = _gather(xpad, k, s, d, out)  # (kH kW, n, C, H_out, W_out), a plane per offset
            _running_max(cols, y[lo:hi], None if arg is None else arg[lo:hi])
            return xpad.shape[2:]

        padded_hw = parallel_for(n, part, min_chunk=_min_chunk(x4), xp=xp)[0]
        self.geom = (x.shape, (n, c) + tuple(padded_hw), k, s, p, d, out)
        self.save(arg)
        y = y if x.ndim == 4 else y[0]
        if not with_indices:
            return y
        return y, _flat_indices(arg, x4.shape, k, s, p, d, out).reshape(y.shape)

    def backward(self, gy, *unused):
        xp = np if type(gy) is np.ndarray else get_array_module(gy)
        (arg,) = self.saved
        shape, pshape, k, s, p, d, out = self.geom
        g = _as4d(gy)
        shape4 = _as4d_shape(shape)
        gx = xp.empty(shape4, g.dtype)
        slices = _window_slices(k, s, d, out)

        def part(lo, hi):
            ga, aa = g[lo:hi], arg[lo:hi]

            def routed(idx, dst):  # dy/dx = 1 at the argmax of the window, 0 elsewhere
                hit = aa == idx
                if dst is None:
                    return ga * hit
                xp.multiply(ga, hit, out=dst)

            _spread(routed, slices, (hi - lo,) + pshape[1:], p, (hi - lo,) + shape4[1:], k, s, d,
                    out, g.dtype, dst=gx[lo:hi], xp=xp)

        parallel_for(shape4[0], part, min_chunk=_min_chunk(gx), xp=xp)
        return gx.reshape(shape)


def _running_max(cols, y, arg):
    """y = the maximum over the planes of cols (kH kW, ...) and, unless arg is None, arg = the
    first plane where it is reached; both written in place."""
    xp = np if type(cols) is np.ndarray else get_array_module(cols)
    kk = len(cols)
    if kk == 1:
        y[...] = cols[0]
        if arg is not None:
            arg[...] = 0
        return
    if arg is None:
        xp.max(cols, axis=0, out=y)  # no backward to come: the maxima only
        return
    # running maximum and the offset where it was reached; an offset takes over only when
    # strictly larger, so ties keep the first maximum in row-major order (as PyTorch)
    dt = arg.dtype.type
    xp.greater(cols[1], cols[0], out=arg, casting="unsafe")
    xp.maximum(cols[0], cols[1], out=y)
    later = xp.empty_like(arg)
    for idx in range(2, kk):
        xp.greater(cols[idx], y, out=later, casting="unsafe")
        xp.maximum(y, cols[idx], out=y)
        later *= dt(idx)
        xp.maximum(arg, later, out=arg)  # = idx where later (idx > every earlier offset)
    if xp.isnan(y).any():  # NaN propagates; its index is that of the last NaN (as torch)
        for idx in range(kk):
            xp.copyto(arg, idx, where=xp.isnan(cols[idx]))


def _as4d_shape(shape):
    return (1,) + tuple(shape) if len(shape) == 3 else tuple(shape)


def _flat_indices(arg, shape, k, s, p, d, out):
    """Flat index into H*W of each window's maximum, from its kernel offset (PyTorch's indices)."""
    xp = np if type(arg) is np.ndarray else get_array_module(arg)
    W = shape[3]
    rows = (xp.arange(out[0]) * s[0] - p[0])[:, None]
    cols = xp.arange(out[1]) * s[1] - p[1]
    i, j = xp.divmod(arg.astype(np.int64), k[1])
    return (rows + i * d[0]) * W + (cols + j * d[1])


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max pooling: y_{n,c,u,v} = max over the (kH, kW) window at (u sH - pH, v sW - pW).

    Args:
        input: (N, C, H, W) or (C, H, W), floating point.
        kernel_size: window size, an int or (kH, kW).
        stride: window step (default: kernel_size).
        padding: implicit -inf padding on both sides, at most half the kernel size.
        dilation: spacing between the window's elements.
        ceil_mode: round the output size up (see the module docstring for PyTorch's rule).
        return_indices: also return, for each output, the flat index (row * W + col) of its
            maximum in the input channel, as an int64 tensor (what ``max_unpool2d`` takes).

    Shape: (N, C, H, W) -> (N, C, H_out, W_out), with
    H_out = floor((H + 2 pH - dH (kH - 1) - 1) / sH) + 1.

    Backward: the gradient of each output goes to the argmax of its window (the first maximum
    in row-major order on ties, as PyTorch).

    Example::

        >>> x = cr.arange(16.).reshape(1, 1, 4, 4)
        >>> max_pool2d(x, 2)          # [[[[5., 7.], [13., 15.]]]]
    """
    op = "max_pool2d"
    k, s, p, d, out = _geometry(input, kernel_size, stride, padding, dilation, ceil_mode, op)
    if return_indices:
        y, idx = MaxPool2d.apply(input, k=k, s=s, p=p, d=d, out=out, with_indices=True)
        return y, no_grad_result(idx.data)
    return MaxPool2d.apply(input, k=k, s=s, p=p, d=d, out=out)


# ---- average pooling --------------------------------------------------------------------------


def _divisor_1d(size, k, s, p, out, count_include_pad):
    """Per output position along one dim: the window's length within [-p, size + p) (padding
    counted) or within [0, size) (padding not counted)."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, size + p)
    if count_include_pad:
        return end - start
    return np.minimum(end, size) - np.maximum(start, 0)


class AvgPool2d(Function):
    """y_{n,c,u,v} = (1 / D_{u,v}) sum over the window (zero padding); dy/dx = 1 / D_{u,v} on the
    window."""

    fresh_grads = True  # backward returns new arrays only

    def forward(self, x, k, s, p, out, inv):
        xp = np if type(x) is np.ndarray else get_array_module(x)
        x4 = _as4d(x)
        n, c = x4.shape[:2]
        d = (1, 1)
        y = xp.empty((n, c) + tuple(out), x.dtype)
        extent = _extent(k, s, d, out)

        def part(lo, hi):  # examples lo..hi, on one of the threads (chainrule.parallel)
            xpad = _padded(x4[lo:hi], p, extent, 0)
            cols = _gather(xpad, k, s, d, out)  # (kH kW, n, C, H_out, W_out)
            kk = len(cols)
            # the window sums as one GEMV over the planes (faster than adding them one by one)
            yp = y[lo:hi].reshape(-1)
            xp.matmul(xp.ones(kk, x.dtype), cols.reshape(kk, -1), out=yp)
            y[lo:hi] *= inv
            return xpad.shape[2:]

        padded_hw = parallel_for(n, part, min_chunk=_min_chunk(x4), xp=xp)[0]
        self.geom = (x.shape, (n, c) + tuple(padded_hw), k, s, p, out, inv)
        return y if x.ndim == 4 else y[0]

    def backward(self, gy):
        xp = np if type(gy) is np.ndarray else get_array_module(gy)
        shape, pshape, k, s, p, out, inv = self.geom
        g = _as4d(gy) * inv  # dy/dx = 1 / D on each window
        shape4 = _as4d_shape(shape)
        gx = xp.empty(shape4, g.dtype)
        slices = _window_slices(k, s, (1, 1), out)

        def part(lo, hi):
            ga = g[lo:hi]

            def spread(idx, dst):
                if dst is None:
                    return ga
                dst[...] = ga

            _spread(spread, slices, (hi - lo,) + pshape[1:], p, (hi - lo,) + shape4[1:], k, s,
                    (1, 1), out, g.dtype, dst=gx[lo:hi], xp=xp)

        parallel_for(shape4[0], part, min_chunk=_min_chunk(gx), xp=xp)
        return gx.reshape(shape)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-D average pooling: y_{n,c,u,v} = (1 / D_{u,v}) sum of x over the (kH, kW) window.

    The divisor D_{u,v} is ``divisor_override`` when given; otherwise the window's size clipped
    to the padded input (``count_include_pad=True``, the default) or the number of input pixels
    it covers (``count_include_pad=False``). A window that ceil_mode makes overhang the padded
    input is divided by its part inside the padded input, as PyTorch.

    Args: as ``max_pool2d`` (no dilation); ``padding`` pads with zeros.

    Shape: (N, C, H, W) -> (N, C, H_out, W_out), or (C, H, W) -> (C, H_out, W_out).

    Example::

        >>> avg_pool2d(cr.ones(1, 1, 4, 4), 2)       # all ones, shape (1, 1, 2, 2)
    """
    op = "avg_pool2d"
    k, s, p, _, out = _geometry(input, kernel_size, stride, padding, 1, ceil_mode, op)
    dt = input.data.dtype
    if divisor_override is not None:
        div = divisor_override
        if isinstance(div, bool) or not isinstance(div, numbers.Integral) or div == 0:
            raise OpError(f"{op}: divisor_override must be a non-zero int, got {div!r}")
        inv = dt.type(1.0 / divisor_override)
    else:
        H, W = input.shape[-2:]
        dh = _divisor_1d(H, k[0], s[0], p[0], out[0], count_include_pad)
        dw = _divisor_1d(W, k[1], s[1], p[1], out[1], count_include_pad)
        if (dh == dh[0]).all() and (dw == dw[0]).all():
            inv = dt.type(1.0 / (int(dh[0]) * int(dw[0])))
        else:
            inv = backend.asarray_like(input.data, (1.0 / np.outer(dh, dw)).astype(dt))
    return AvgPool2d.apply(input, k=k, s=s, p=p, out=out, inv=inv)


# ---- adaptive pooling -------------------------------------------------------------------------


def _adaptive_out(input, output_size, op):
    _check_input(input, op)
    H, W = input.shape[-2:]
    if isinstance(output_size, numbers.Integral) and not isinstance(output_size, bool):
        size = (int(output_size), int(output_size))
    elif isinstance(output_size, (tuple, list)) and len(output_size) in (1, 2) and all(
            o is None or (isinstance(o, numbers.Integral) and not isinstance(o, bool))
            for o in output_size):
        o = tuple(output_size) * (3 - len(output_size))
        size = (H if o[0] is None else int(o[0]), W if o[1] is None else int(o[1]))
    else:
        raise OpTypeError(f"{op}: output_size must be an int or a pair of ints (or None), got "
                          f"{output_size!r}")
    if min(size) < 1:
        raise OpError(f"{op}: output_size must be positive, got {size}")
    return size


def _adaptive_bounds(size, out):
    """PyTorch's adaptive windows along one dim: [floor(i size / out), ceil((i + 1) size / out))."""
    i = np.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)


def _averaging_matrix(size, out, dtype, like=None):
    """P (out, size) with P[i, h] = 1 / (end_i - start_i) for h in window i, else 0; on the
    device of array ``like`` when given."""
    start, end = _adaptive_bounds(size, out)
    h = np.arange(size)
    inside = (h >= start[:, None]) & (h < end[:, None])
    m = (inside / (end - start)[:, None]).astype(dtype)
    return m if like is None or type(like) is np.ndarray else backend.asarray_like(like, m)


class AdaptiveAvgPool2d(Function):
    """y = P_H x P_W^T per channel (separable averaging matrices); dL/dx = P_H^T g P_W."""

    fresh_grads = True  # backward returns new arrays only

    def forward(self, x, out):
        xp = np if type(x) is np.ndarray else get_array_module(x)
        x4 = _as4d(x)
        N, C, H, W = x4.shape
        self.meta = (x.shape, out)
        if out == (1, 1):  # global average pooling: one GEMV over the flattened maps
            y = x4.reshape(N * C, H * W) @ xp.full(H * W, 1.0 / (H * W), x.dtype)
            y = y.reshape(N, C, 1, 1)
        else:
            ph = _averaging_matrix(H, out[0], x.dtype, x)
            pw = _averaging_matrix(W, out[1], x.dtype, x)
            self.mats = (ph, pw)
            t = x4.reshape(N * C * H, W) @ pw.T  # (N C H, W_out): average along W
            y = xp.matmul(ph, t.reshape(N * C, H, out[1]))  # (N C, H_out, W_out): along H
            y = y.reshape(N, C, out[0], out[1])
        return y if x.ndim == 4 else y[0]

    def backward(self, gy):
        xp = np if type(gy) is np.ndarray else get_array_module(gy)
        shape, out = self.meta
        g = _as4d(gy)
        N, C = g.shape[:2]
        H, W = shape[-2:]
        if out == (1, 1):  # d y / d x = 1 / (H W) everywhere: repeat g / (H W) over each map
            gx = xp.repeat(g.reshape(N * C, 1) * g.dtype.type(1.0 / (H * W)), H * W, axis=1)
        else:
            ph, pw = self.mats
            t = xp.matmul(ph.T, g.reshape(N * C, out[0], out[1]))  # (N C, H, W_out): P_H^T g
            gx = (t.reshape(N * C * H, out[1]) @ pw).reshape(N, C, H, W)  # ... P_W
        return gx.reshape(shape)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size (H_out, W_out), whatever the input size.

    Window i along H covers rows [floor(i H / H_out), ceil((i + 1) H / H_out)) (PyTorch's rule;
    windows may overlap when H_out does not divide H), and the same along W. ``output_size`` is
    an int, a pair, or a pair with None for "keep the input size". ``output_size=1`` is global
    average pooling.

    Shape: (N, C, H, W) -> (N, C, H_out, W_out), or (C, H, W) -> (C, H_out, W_out).

    Example::

        >>> adaptive_avg_pool2d(cr.randn(8, 512, 7, 7), 1).shape    # (8, 512, 1, 1)
    """
    op = "adaptive_avg_pool2d"
    out = _adaptive_out(input, output_size, op)
    H, W = input.shape[-2:]
    if out == (H, W):
        return AvgPool2d.apply(input, k=(1, 1), s=(1, 1), p=(0, 0), out=out,
                               inv=input.data.dtype.type(1))
    if out != (1, 1) and H % out[0] == 0 and W % out[1] == 0:  # equal windows: plain avg pooling
        k = (H // out[0], W // out[1])
        return AvgPool2d.apply(input, k=k, s=k, p=(0, 0), out=out,
                               inv=input.data.dtype.type(1.0 / (k[0] * k[1])))
    return AdaptiveAvgPool2d.apply(input, out=out)


class AdaptiveMaxPool2d(Function):
    """y_{n,c,i,j} = max of x over adaptive window (i, j); the gradient goes to its argmax."""

    fresh_grads = True  # backward returns new arrays only

    def forward(self, x, out, with_indices=False):
        xp = np if type(x) is np.ndarray else get_array_module(x)
        x4 = _as4d(x)
        N, C, H, W = x4.shape
        hs, he = _adaptive_bounds(H, out[0])
        ws, we = _adaptive_bounds(W, out[1])
        flat = xp.empty((N, C) + out, np.int64)

        def argmaxes(nan_aware):
            for i in range(out[0]):
                for j in range(out[1]):
                    win = x4[:, :, hs[i]:he[i], ws[j]:we[j]].reshape(N, C, -1)
                    a = win.argmax(axis=2)  # the first maximum, as torch
                    if nan_aware:  # a NaN wins, the last one (as torch)
                        nan = xp.isnan(win)
                        last_nan = win.shape[2] - 1 - nan[:, :, ::-1].argmax(axis=2)
                        a = xp.where(nan.any(axis=2), last_nan, a)
                    r, c = xp.divmod(a, we[j] - ws[j])
                    flat[:, :, i, j] = (hs[i] + r) * W + ws[j] + c
            return xp.take_along_axis(x4.reshape(N, C, H * W), flat.reshape(N, C, -1),
                                      axis=2).reshape(flat.shape)

        y = argmaxes(False)
        if xp.isnan(y).any():
            y = argmaxes(True)
        self.save(flat)
        self.shape = x.shape
        y = y if x.ndim == 4 else y[0]
        return (y, flat if x.ndim == 4 else flat[0]) if with_indices else y

    def backward(self, gy, *unused):
        xp = np if type(gy) is np.ndarray else get_array_module(gy)
        (flat,) = self.saved
        g = _as4d(gy)
        N, C = g.shape[:2]
        H, W = self.shape[-2:]
        # dy/dx = 1 at each window's argmax; windows may share it, so the gradients are summed
        rows = (xp.arange(N * C) * (H * W))[:, None]
        gx = xp.bincount((rows + flat.reshape(N * C, -1)).ravel(), weights=g.reshape(-1),
                         minlength=N * C * H * W)
        return gx.astype(g.dtype, copy=False).reshape(self.shape)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed output size, over the windows of ``adaptive_avg_pool2d``.

    Shape: (N, C, H, W) -> (N, C, H_out, W_out), or (C, H, W) -> (C, H_out, W_out). With
    ``return_indices`` also the flat index (row * W + col) of each maximum, as int64.
    """
    op = "adaptive_max_pool2d"
    out = _adaptive_out(input, output_size, op)
    if return_indices:
        y, idx = AdaptiveMaxPool2d.apply(input, out=out, with_indices=True)
        return y, no_grad_result(idx.data)
    return AdaptiveMaxPool2d.apply(input, out=out)
