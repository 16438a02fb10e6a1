"""Linear (the affine map of the notes) and the shape helpers Identity, Flatten, Unflatten."""
from __future__ import annotations

import math

import numpy as np

from .. import backend, ops
from ..ops._util import OpError, OpTypeError
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter


class Identity(Module):
    """y = x. Any constructor arguments are accepted and ignored (handy as a placeholder)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """The affine map of a fully connected layer: y = x W^T + b (notes 1.2: h_l = W_l h_{l-1} + b_l,
    for a batch of row vectors).

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: learn an additive bias b (default True).
        dtype: dtype of the parameters (the default dtype, float32, if None).

    Shape: input (*, in_features) -> output (*, out_features). The input must have the
    parameters' dtype (an int or float64 input to float32 weights is an error, as in PyTorch).

    Parameters: ``weight`` (out_features, in_features) and ``bias`` (out_features,), both drawn
    from U(-1/sqrt(in_features), 1/sqrt(in_features)) (PyTorch's default: kaiming_uniform_ with
    a = sqrt(5) for the weight).

    Example::

        >>> fc = Linear(784, 512)
        >>> fc(cr.randn(8, 784)).shape     # (8, 512)
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise ValueError(f"Linear: {name} must be a non-negative int, got {v!r}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        dt = backend.get_default_dtype() if dtype is None else np.dtype(dtype)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dt))
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()
        if device is not None:  # drawn on the host generator, then moved (as every init)
            self.to(device)

    def reset_parameters(self):
        """Redraw the parameters as PyTorch does (see the class docstring)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        shape = getattr(input, "shape", None)
        if not isinstance(input, Tensor) or not shape or shape[-1] != self.in_features:
            got = tuple(shape) if isinstance(input, Tensor) else type(input).__name__
            raise OpError(f"Linear({self.in_features}, {self.out_features}): expected input "
                          f"(*, {self.in_features}), got {got}")
        if input.dtype != self.weight.dtype:  # an int input would silently give float64
            raise OpTypeError(f"Linear({self.in_features}, {self.out_features}): input has "
                              f"dtype {input.dtype} but the parameters have {self.weight.dtype}; "
                              f"convert one (e.g. x.float() or module.to(dtype))")
        return ops.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Merge dims start_dim..end_dim into one (default: all but the batch dim).

    Shape: (N, C, H, W) -> (N, C * H * W) with the defaults.
    """

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):
        return ops.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size`` (the inverse of Flatten).

    Shape: (N, 784) -> (N, 1, 28, 28) with ``Unflatten(1, (1, 28, 28))``; one size may be -1.
    """

    def __init__(self, dim, unflattened_size):
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)) or not all(
                isinstance(s, (int, np.integer)) for s in unflattened_size):
            raise TypeError(f"Unflatten: unflattened_size must be a tuple of ints, got "
                            f"{unflattened_size!r}")
        self.dim = dim
        self.unflattened_size = tuple(int(s) for s in unflattened_size)

    def forward(self, input):
        d = self.dim % input.ndim if -input.ndim <= self.dim < input.ndim else None
        if d is None:
            raise OpError(f"Unflatten: dim {self.dim} is out of range for an input of shape "
                          f"{tuple(input.shape)}")
        sizes = self.unflattened_size
        n = input.shape[d]
        known = int(np.prod([s for s in sizes if s != -1], dtype=np.int64))
        if (-1 in sizes and (known == 0 or n % known)) or (-1 not in sizes and known != n):
            raise OpError(f"Unflatten: cannot split dim {self.dim} of size {n} into "
                          f"{sizes} (input of shape {tuple(input.shape)})")
        return ops.reshape(input, input.shape[:d] + sizes + input.shape[d + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
