"""Convolution layers (notes 2.1): Conv2d and its adjoint ConvTranspose2d, PyTorch's signatures."""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import backend, ops
from ..ops._util import OpError
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _pair(v, name, layer, minimum):
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        v = (int(v), int(v))
    elif (isinstance(v, (tuple, list)) and len(v) == 2
          and all(isinstance(e, numbers.Integral) and not isinstance(e, bool) for e in v)):
        v = (int(v[0]), int(v[1]))
    else:
        raise TypeError(f"{layer}: {name} must be an int or a pair of ints, got {v!r}")
    if min(v) < minimum:
        raise ValueError(f"{layer}: {name} must be >= {minimum}, got {v}")
    return v


def _positive_int(v, name, layer):
    if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{layer}: {name} must be a positive int, got {v!r}")
    return int(v)


def _pad_index(n, lo, hi, mode):
    """Source index of each padded position -lo .. n + hi - 1 along a dim of size n."""
    q = np.arange(-lo, n + hi)
    if mode == "reflect":  # mirror without repeating the edge: -1 -> 1, n -> n - 2
        q = np.abs(q)
        return np.where(q > n - 1, 2 * (n - 1) - q, q)
    if mode == "replicate":
        return np.clip(q, 0, n - 1)
    return q % n  # circular


def _pad_nonzero(x, pads, mode, who):
    """Pad the last two dims of x by (top, bottom, left, right) with reflect/replicate/circular
    values (a differentiable gather: the gradient of a copied pixel flows back to its source)."""
    pt, pb, pl, pr = pads
    h, w = x.shape[-2:]
    if mode == "reflect" and (max(pt, pb) >= h or max(pl, pr) >= w):
        raise OpError(f"{who}: padding_mode='reflect' needs padding smaller than the input, got "
                      f"padding {pads} for spatial size ({h}, {w})")
    if mode == "circular" and (max(pt, pb) > h or max(pl, pr) > w):
        raise OpError(f"{who}: padding_mode='circular' needs padding at most the input size, got "
                      f"padding {pads} for spatial size ({h}, {w})")
    if pt or pb:
        x = ops.index_select(x, x.ndim - 2, _pad_index(h, pt, pb, mode))
    if pl or pr:
        x = ops.index_select(x, x.ndim - 1, _pad_index(w, pl, pr, mode))
    return x


class _Conv2dBase(Module):
    """What Conv2d and ConvTranspose2d share: arguments, parameters, init, input checks, repr."""

    transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                 bias, padding_mode, output_padding, dtype):
        super().__init__()
        kind = type(self).__name__
        who = f"{kind}({in_channels}, {out_channels})"
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{kind}: {name} must be a positive int, got {v!r}")
        groups = _positive_int(groups, "groups", who)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{who}: in_channels and out_channels must be divisible by groups "
                             f"({groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{who}: padding_mode must be one of {_PADDING_MODES}, got "
                             f"{padding_mode!r}")
        if self.transposed and padding_mode != "zeros":
            raise ValueError(f"{who}: only padding_mode='zeros' is supported, got "
                             f"{padding_mode!r}")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = _pair(kernel_size, "kernel_size", who, 1)
        self.stride = _pair(stride, "stride", who, 1)
        self.dilation = _pair(dilation, "dilation", who, 1)
        self.output_padding = _pair(output_padding, "output_padding", who, 0)
        if isinstance(padding, str):
            if self.transposed or padding not in ("same", "valid"):
                allowed = ("an int or a pair" if self.transposed
                           else "'same', 'valid', an int or a pair")
                raise ValueError(f"{who}: padding must be {allowed}, got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"{who}: padding='same' is only supported with stride 1, got "
                                 f"stride {self.stride}")
            self.padding = padding
        else:
            self.padding = _pair(padding, "padding", who, 0)
        self.groups = groups
        self.padding_mode = padding_mode
        dt = backend.get_default_dtype() if dtype is None else np.dtype(dtype)
        if self.transposed:
            wshape = (self.in_channels, self.out_channels // groups) + self.kernel_size
        else:
            wshape = (self.out_channels, self.in_channels // groups) + self.kernel_size
        self.weight = Parameter(np.empty(wshape, dt))
        if bias:
            self.bias = Parameter(np.empty(self.out_channels, dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """Redraw the parameters as PyTorch does: kaiming_uniform_(a=sqrt(5)) on the weight, i.e.
        U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = weight.shape[1] * KH * KW, and the
        bias from the same interval."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    @property
    def _who(self):
        return f"{type(self).__name__}({self.in_channels}, {self.out_channels})"

    def _check_input(self, input):
        shape = tuple(input.shape) if isinstance(input, Tensor) else None
        if shape is None or len(shape) not in (3, 4) or shape[-3] != self.in_channels:
            got = shape if shape is not None else type(input).__name__
            raise OpError(f"{self._who}: expected input (N, {self.in_channels}, H, W), got {got}")

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_Conv2dBase):
    """2-D convolution layer (notes 2.1): s = W (x) h + b,

        s_uvw = sum_ijk W^w_ijk h_{t(u-1)-p+i, t(v-1)-p+j, k} + b^w

    with C_out kernels W^w of size KH x KW x C_in/groups, stride t, padding p.

    Args:
        in_channels, out_channels: C_in and C_out.
        kernel_size: an int or a pair (KH, KW).
        stride, dilation: an int or a pair (default 1).
        padding: an int, a pair, 'valid' or 'same' (stride 1 only) (default 0).
        groups: independent channel groups (groups = in_channels: depthwise) (default 1).
        bias: learn b (default True).
        padding_mode: 'zeros' (default), 'reflect', 'replicate' or 'circular'.
        dtype: dtype of the parameters (the default dtype if None).

    Shape: (N, C_in, H, W) or unbatched (C_in, H, W) -> (N, C_out, H_out, W_out) with
    H_out = floor((H + 2p - d(KH - 1) - 1) / t) + 1.

    Parameters: ``weight`` (C_out, C_in/groups, KH, KW), ``bias`` (C_out,), both drawn from
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = C_in/groups * KH * KW (PyTorch's default).

    Example::

        >>> conv = Conv2d(3, 16, 3, padding=1)
        >>> conv(cr.randn(8, 3, 32, 32)).shape      # (8, 16, 32, 32)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, 0, dtype)

    def _pads(self):
        """(top, bottom, left, right) zeros, 'same' resolved as in conv2d."""
        if self.padding == "valid":
            return (0, 0, 0, 0)
        if self.padding == "same":
            th, tw = (d * (k - 1) for d, k in zip(self.dilation, self.kernel_size))
            return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        ph, pw = self.padding
        return (ph, ph, pw, pw)

    def forward(self, input):
        self._check_input(input)
        pads = self._pads()
        h, w = input.shape[-2:]
        hp, wp = h + pads[0] + pads[1], w + pads[2] + pads[3]
        span = tuple(d * (k - 1) + 1 for d, k in zip(self.dilation, self.kernel_size))
        if hp < span[0] or wp < span[1]:
            dil = f" dilated to {span}" if span != self.kernel_size else ""
            raise OpError(f"{self._who}: the input's spatial size ({h}, {w}) (padded: ({hp}, "
                          f"{wp})) is smaller than the kernel {self.kernel_size}{dil}; got input "
                          f"{tuple(input.shape)}")
        padding = self.padding
        if self.padding_mode != "zeros" and any(pads):
            input = _pad_nonzero(input, pads, self.padding_mode, self._who)
            padding = 0
        return ops.conv2d(input, self.weight, self.bias, self.stride, padding, self.dilation,
                          self.groups)


class ConvTranspose2d(_Conv2dBase):
    """2-D transposed convolution layer: the adjoint of Conv2d with the same geometry, mapping
    a conv's output shape back to its input shape (upsampling in decoders and generators, notes 4):

        y_xyw = sum over (u, v, k, i, j) with t(u-1)-p+d(i-1)+1 = x, t(v-1)-p+d(j-1)+1 = y of
                W^k_ijw h_uvk  + b^w.

    Args: as Conv2d (padding an int or a pair; padding_mode 'zeros' only), plus
        output_padding: extra rows/columns at the bottom/right (smaller than stride or dilation).

    Shape: (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out) with
    H_out = (H - 1) t - 2p + d(KH - 1) + output_padding + 1. ``forward(input, output_size)`` picks
    output_padding to reach ``output_size`` (the last two numbers are used).

    Parameters: ``weight`` (C_in, C_out/groups, KH, KW), ``bias`` (C_out,), both from
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = C_out/groups * KH * KW (PyTorch's rule,
    which reads fan_in from weight.shape[1]).

    Example::

        >>> up = ConvTranspose2d(16, 8, 4, stride=2, padding=1)
        >>> up(cr.randn(2, 16, 7, 7)).shape          # (2, 8, 14, 14)
    """

    transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, output_padding, dtype)
        for k in range(2):
            if self.output_padding[k] >= max(self.stride[k], self.dilation[k]):
                raise ValueError(f"{self._who}: output_padding {self.output_padding} must be "
                                 f"smaller than the stride {self.stride} or the dilation "
                                 f"{self.dilation}")

    def _output_padding(self, input, output_size):
        if output_size is None:
            return self.output_padding
        size = tuple(int(s) for s in output_size)[-2:]
        if len(size) != 2:
            raise OpError(f"{self._who}: output_size must hold (H_out, W_out), got "
                          f"{tuple(output_size)}")
        pad = []
        for k in range(2):
            lo = ((input.shape[-2 + k] - 1) * self.stride[k] - 2 * self.padding[k]
                  + self.dilation[k] * (self.kernel_size[k] - 1) + 1)
            hi = lo + max(self.stride[k], self.dilation[k]) - 1
            if not lo <= size[k] <= hi:
                raise OpError(f"{self._who}: output_size {size} is not reachable from input "
                              f"{tuple(input.shape)}: each size must lie in [{lo}, {hi}] along "
                              f"dim {k}")
            pad.append(size[k] - lo)
        return tuple(pad)

    def forward(self, input, output_size=None):
        self._check_input(input)
        out_pad = self._output_padding(input, output_size)
        h, w = input.shape[-2:]
        out = tuple((n - 1) * t - 2 * p + d * (k - 1) + op + 1 for n, t, p, d, k, op in zip(
            (h, w), self.stride, self.padding, self.dilation, self.kernel_size, out_pad))
        if min(out) < 1:
            raise OpError(f"{self._who}: the output size {out} for input {tuple(input.shape)} "
                          f"is not positive (padding {self.padding} is too large)")
        return ops.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                    out_pad, self.groups, self.dilation)
