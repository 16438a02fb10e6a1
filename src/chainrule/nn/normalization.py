"""Normalization layers: batch normalization (notes 2.4) and local response normalization
(AlexNet, notes 2.3). The formulas and the backward through the batch statistics are in
``chainrule.ops.normalization``.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from ..ops._util import OpError, OpTypeError
from ..ops.normalization import batch_norm, local_response_norm
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter


class _BatchNorm(Module):
    """The shared body of BatchNorm1d and BatchNorm2d (they differ in the input shapes taken)."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        name = type(self).__name__
        if not isinstance(num_features, numbers.Integral) or isinstance(num_features, bool) or \
                num_features < 1:
            raise ValueError(f"{name}: num_features must be a positive int, got {num_features!r}")
        if momentum is not None and (not isinstance(momentum, numbers.Real) or
                                     not 0.0 <= momentum <= 1.0):
            raise ValueError(f"{name}: momentum must be a number in [0, 1] or None, got "
                             f"{momentum!r}")
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dt = backend.get_default_dtype() if dtype is None else np.dtype(dtype)
        C = self.num_features
        if affine:
            self.weight = Parameter(np.empty(C, dt))
            if bias:
                self.bias = Parameter(np.empty(C, dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor._make(np.zeros(C, dt), False, None, 0))
            self.register_buffer("running_var", Tensor._make(np.ones(C, dt), False, None, 0))
            self.register_buffer("num_batches_tracked",
                                 Tensor._make(np.array(0, np.int64), False, None, 0))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self):
        """running_mean = 0, running_var = 1, num_batches_tracked = 0 (in place)."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self):
        """Reset the running statistics, and gamma = 1, beta = 0 (PyTorch's initialization)."""
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def _expected(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_input(self, input):
        shape = tuple(input.shape) if isinstance(input, Tensor) else None
        ok_dims, expected = self._expected()
        if shape is None or len(shape) not in ok_dims or shape[1] != self.num_features:
            got = shape if shape is not None else type(input).__name__
            raise OpError(f"{type(self).__name__}({self.num_features}): expected input "
                          f"{expected}, got {got}")
        own = next((t.dtype for t in (self.weight, self.running_mean) if t is not None), None)
        if own is not None and input.dtype != own:  # mixing would silently compute in float64
            raise OpTypeError(f"{type(self).__name__}({self.num_features}): input has dtype "
                              f"{input.dtype} but the parameters and running statistics have "
                              f"{own}; convert one (e.g. x.float() or module.to(dtype))")
        return shape

    def forward(self, input):
        shape = self._check_input(input)
        if self.training and input.data.size // self.num_features <= 1:
            raise OpError(f"{type(self).__name__}({self.num_features}): expected more than 1 "
                          f"value per channel when training, got input size {shape}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # cumulative moving average: the mean of all batches so far
                factor = 1.0 / float(self.num_batches_tracked.data)
        # batch statistics in training, and always when there are no running estimates
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        track = not self.training or self.track_running_stats
        return batch_norm(input, self.running_mean if track else None,
                          self.running_var if track else None, self.weight, self.bias, use_batch,
                          factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization (notes 2.4) of (N, C) features or (N, C, L) sequences:
    y = beta + gamma (x - mu) / sqrt(sigma^2 + eps), per feature/channel.

    In training mode mu and sigma^2 are the batch's mean and (biased) variance over the N (or N L)
    values of each channel, and the running estimates are updated:
    running = (1 - momentum) running + momentum batch_value (the variance unbiased, n/(n-1));
    ``momentum=None`` makes them cumulative averages over the batches seen
    (``num_batches_tracked``). In eval mode the running estimates are used.

    Args:
        num_features: C.
        eps: added to the variance (default 1e-5).
        momentum: weight of each new batch in the running estimates (default 0.1), or None.
        affine: learn gamma (``weight``, init 1) and beta (``bias``, init 0) (default True).
        bias: keyword-only; with ``bias=False`` an affine layer learns gamma only (default True).
        track_running_stats: keep ``running_mean`` (init 0), ``running_var`` (init 1) and
            ``num_batches_tracked`` buffers (default True); without them batch statistics are
            used in eval mode too.

    Shape: (N, C) or (N, C, L) -> the same. The input must have the parameters' dtype.

    Example::

        >>> bn = BatchNorm1d(100)
        >>> bn(cr.randn(20, 100)).shape             # (20, 100)
    """

    def _expected(self):
        C = self.num_features
        return (2, 3), f"(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization (notes 2.4) of images (N, C, H, W), per channel: mu_d and sigma_d^2
    average over the N H W values of channel d ("we need to average over n m^2 numbers"), then
    y = beta_d + gamma_d (x - mu_d) / sqrt(sigma_d^2 + eps).

    Args, buffers and train/eval behaviour: as ``BatchNorm1d``.

    Shape: (N, C, H, W) -> the same. The input must have the parameters' dtype.

    Example::

        >>> bn = BatchNorm2d(16)
        >>> bn(cr.randn(8, 16, 32, 32)).shape        # (8, 16, 32, 32)
    """

    def _expected(self):
        return (4,), f"(N, {self.num_features}, H, W)"


class LocalResponseNorm(Module):
    """Local response normalization across channels (AlexNet, notes 2.3):

        b_c = a_c / (k + (alpha / n) sum_{c'} a_{c'}^2)^beta,

    summing over the n = ``size`` neighbouring channels c - floor(n/2) .. c + floor((n-1)/2).

    Args:
        size: n, the number of channels in each sum.
        alpha, beta, k: as in the formula (defaults 1e-4, 0.75, 1.0).

    Shape: (N, C, *) -> the same.

    Example::

        >>> lrn = LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
        >>> lrn(cr.randn(2, 96, 55, 55)).shape       # (2, 96, 55, 55)
    """

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < 1:
            raise ValueError(f"LocalResponseNorm: size must be a positive int, got {size!r}")
        for name, v in (("alpha", alpha), ("beta", beta), ("k", k)):
            if not isinstance(v, numbers.Real) or isinstance(v, bool):
                raise TypeError(f"LocalResponseNorm: {name} must be a number, got {v!r}")
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input):
        if not isinstance(input, Tensor) or input.ndim < 3:
            got = tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__
            raise OpError(f"LocalResponseNorm({self.size}): expected input (N, C, *) with at "
                          f"least 3 dims, got {got}")
        return local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
