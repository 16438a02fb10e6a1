"""Pooling layers (notes 2.1): max, average and adaptive pooling over each feature map.

The formulas, the output-size rule and the backward are in ``chainrule.ops.pool``.
"""
from __future__ import annotations

from ..ops._util import OpError
from ..ops.pool import adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d, max_pool2d
from ..tensor import Tensor
from .module import Module


def _check_image(layer, input):
    """(N, C, H, W) or (C, H, W), or an error naming the layer."""
    shape = getattr(input, "shape", None)
    if not isinstance(input, Tensor) or len(shape) not in (3, 4):
        got = tuple(shape) if isinstance(input, Tensor) else type(input).__name__
        raise OpError(f"{layer}: expected input (N, C, H, W) or (C, H, W), got {got}")


class MaxPool2d(Module):
    """2-D max pooling: y_{n,c,u,v} = max of x_{n,c} over the (kH, kW) window at
    (u sH - pH, v sW - pW), elements dH, dW apart; padding is -inf.

    Args:
        kernel_size: window size, an int or (kH, kW).
        stride: window step (default: kernel_size).
        padding: -inf padding on both sides, at most half the kernel size.
        dilation: spacing between the window's elements.
        return_indices: also return the flat index (row * W + col) of each maximum.
        ceil_mode: round the output size up (the last window must still start inside the input
            or its left padding).

    Shape: (N, C, H, W) -> (N, C, H_out, W_out) with
    H_out = floor((H + 2 pH - dH (kH - 1) - 1) / sH) + 1 (ceil with ceil_mode); (C, H, W) works too.

    Example::

        >>> pool = MaxPool2d(2)
        >>> pool(cr.randn(8, 6, 28, 28)).shape    # (8, 6, 14, 14)
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input):
        _check_image(f"MaxPool2d({self.extra_repr()})", input)
        return max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                          ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """2-D average pooling: y_{n,c,u,v} = (1 / D_{u,v}) sum of x_{n,c} over the (kH, kW) window.

    Args:
        kernel_size, stride, padding, ceil_mode: as ``MaxPool2d`` (zero padding, no dilation).
        count_include_pad: count the padding in the divisor D (default True).
        divisor_override: use this divisor instead.

    Shape: (N, C, H, W) -> (N, C, H_out, W_out), or (C, H, W) -> (C, H_out, W_out).

    Example::

        >>> AvgPool2d(2)(cr.ones(1, 1, 4, 4))     # ones, shape (1, 1, 2, 2)
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input):
        _check_image(f"AvgPool2d({self.extra_repr()})", input)
        return avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size: window i along H covers rows
    [floor(i H / H_out), ceil((i + 1) H / H_out)), and likewise along W.

    Args:
        output_size: H_out and W_out, an int or a pair; None in the pair keeps that input size.

    Shape: (N, C, H, W) -> (N, C, H_out, W_out), or (C, H, W) -> (C, H_out, W_out).

    Example::

        >>> gap = AdaptiveAvgPool2d(1)             # global average pooling
        >>> gap(cr.randn(8, 512, 7, 7)).shape      # (8, 512, 1, 1)
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        _check_image(f"AdaptiveAvgPool2d({self.extra_repr()})", input)
        return adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed output size, over the windows of ``AdaptiveAvgPool2d``.

    Args:
        output_size: an int or a pair (None keeps that input size).
        return_indices: also return the flat index (row * W + col) of each maximum.

    Shape: (N, C, H, W) -> (N, C, H_out, W_out), or (C, H, W) -> (C, H_out, W_out).
    """

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input):
        _check_image(f"AdaptiveMaxPool2d({self.extra_repr()})", input)
        return adaptive_max_pool2d(input, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"
