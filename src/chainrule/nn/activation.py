"""Activation layers (notes 1.1): elementwise nonlinearities h = f(s), and softmax along a dim.

Each is a thin Module around the op of ``chainrule.ops`` that holds the derivative. ``inplace`` is
accepted for PyTorch compatibility and ignored: results are always new tensors.
"""
from __future__ import annotations

import numbers
import warnings

from .. import ops
from .module import Module


def _number(layer, name, v):
    """``v`` if it is a real number, else a TypeError naming the layer and the argument."""
    if not isinstance(v, numbers.Real) or isinstance(v, bool):
        raise TypeError(f"{layer}: {name} must be a number, got {v!r}")
    return v


class ReLU(Module):
    """h = max(0, s), elementwise (notes 1.1). Shape: any -> same."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return ops.relu(input)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """h = s for s > 0, negative_slope * s otherwise. Shape: any -> same."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope = _number("LeakyReLU", "negative_slope", negative_slope)
        self.inplace = inplace

    def forward(self, input):
        return ops.leaky_relu(input, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Module):
    """h = sigma(s) = 1 / (1 + exp(-s)) (notes 1.1). Shape: any -> same."""

    def forward(self, input):
        return ops.sigmoid(input)


class Tanh(Module):
    """h = tanh(s) = (exp(s) - exp(-s)) / (exp(s) + exp(-s)). Shape: any -> same."""

    def forward(self, input):
        return ops.tanh(input)


class Softplus(Module):
    """h = log(1 + exp(beta s)) / beta, and h = s where beta s > threshold (for stability).

    A smooth ReLU whose derivative is sigma(beta s). Shape: any -> same.
    """

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        if _number("Softplus", "beta", beta) == 0:
            raise ValueError("Softplus: beta must be non-zero (it divides), got 0")
        self.beta = beta
        self.threshold = _number("Softplus", "threshold", threshold)

    def forward(self, input):
        return ops.softplus(input, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


def _implicit_dim(who, ndim):
    """PyTorch's legacy choice of dim when none is given: 0 for 0-, 1- and 3-D inputs, else 1."""
    warnings.warn(f"Implicit dimension choice for {who} has been deprecated. Change the call to "
                  f"include dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """p_k = exp(s_k) / sum_j exp(s_j) along ``dim`` (notes 2.2). Shape: any -> same.

    Example::

        >>> Softmax(dim=1)(cr.randn(4, 10)).sum(1)    # all ones
    """

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        dim = _implicit_dim("softmax", input.ndim) if self.dim is None else self.dim
        return ops.softmax(input, dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log p_k = s_k - log sum_j exp(s_j) along ``dim`` (stable for large logits).

    Shape: any -> same.
    """

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        dim = _implicit_dim("log_softmax", input.ndim) if self.dim is None else self.dim
        return ops.log_softmax(input, dim)

    def extra_repr(self):
        return f"dim={self.dim}"
