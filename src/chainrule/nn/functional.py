"""Functional forms of the layers, with torch.nn.functional's names: ``F.relu(x)``,
``F.linear(x, w, b)``, ``F.dropout(x, 0.5, training)``, ``F.cross_entropy(logits, y)``, ...

They hold no parameters: the caller passes the weights. The formulas are in the ops they call.
"""
from __future__ import annotations

import numpy as np

from .. import ops
from .. import backend
from ..backend import get_array_module
from ..ops.dropout import dropout
from ..ops.embedding import check_indices, embedding as _embedding
from ..ops.linalg import linear
from ..ops.loss import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,
                        huber_loss, kl_div, l1_loss, mse_loss, nll_loss, smooth_l1_loss)
from ..ops.shape import pad
from ..ops.softmax import log_softmax as _log_softmax, softmax as _softmax
from ..ops.attention import attention, scaled_dot_product_attention
from ..ops.conv import conv2d, conv_transpose2d
from ..ops.pool import adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d, max_pool2d
from ..ops.normalization import batch_norm, local_response_norm
from ..ops.dropout import dropout2d
from ..tensor import Tensor
from .activation import _implicit_dim

__all__ = ["linear", "relu", "leaky_relu", "sigmoid", "tanh", "softplus", "softmax", "log_softmax",
           "dropout", "embedding", "one_hot", "pad", "cross_entropy", "nll_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "mse_loss", "l1_loss",
           "smooth_l1_loss", "huber_loss", "kl_div"]
__all__ += ["scaled_dot_product_attention", "attention"]
__all__ += ["conv2d", "conv_transpose2d"]
__all__ += ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d", "batch_norm",
            "local_response_norm", "dropout2d"]


def relu(input, inplace=False):
    """max(0, s), elementwise (``inplace`` is ignored: the result is a new tensor)."""
    return ops.relu(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """s for s > 0, negative_slope * s otherwise."""
    return ops.leaky_relu(input, negative_slope)


def sigmoid(input):
    """1 / (1 + exp(-s))."""
    return ops.sigmoid(input)


def tanh(input):
    return ops.tanh(input)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta s)) / beta (linear where beta s > threshold)."""
    return ops.softplus(input, beta, threshold)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """exp(s_k) / sum_j exp(s_j) along ``dim``."""
    if dim is None:
        dim = _implicit_dim("softmax", input.ndim)
    return _softmax(input, dim, dtype=dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """s_k - log sum_j exp(s_j) along ``dim``."""
    if dim is None:
        dim = _implicit_dim("log_softmax", input.ndim)
    return _log_softmax(input, dim, dtype=dtype)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of ``weight`` (V, D) picked by the int64 tensor ``input`` (*) -> (*, D)."""
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not "
                                  "implemented")
    return _embedding(input, weight, padding_idx)


def one_hot(tensor, num_classes=-1):
    """int64 tensor (*) of class indices -> int64 tensor (*, num_classes) of 0/1 (no gradient).

    ``num_classes=-1`` takes max(tensor) + 1.

    Example::

        >>> one_hot(cr.tensor([0, 2]), 3)   # [[1, 0, 0], [0, 0, 1]]
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"one_hot: expected an integer Tensor, got {type(tensor).__name__}")
    arr = tensor.data
    if arr.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected an integer (int64) tensor of class indices, got dtype "
                        f"{arr.dtype}")
    if num_classes == -1:
        if arr.size == 0:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor")
        num_classes = int(arr.max()) + 1
    idx = check_indices(arr, num_classes, f"one_hot(num_classes={num_classes})")
    xp = get_array_module(idx)  # made on the indices' device
    out = xp.zeros(arr.shape + (num_classes,), np.int64)
    backend.put_along_axis(xp, out, idx[..., None], 1, -1)
    return Tensor._make(out, False, None, 0)


from .generative import (bernoulli_log_likelihood, elbo, gan_discriminator_loss,  # noqa: E402
                         gan_generator_loss, gan_value, gaussian_kl, gaussian_log_likelihood,
                         importance_weighted_log_likelihood, iwae_log_likelihood,
                         sample_diag_gaussian)
__all__ += ["gaussian_kl", "bernoulli_log_likelihood", "gaussian_log_likelihood", "gan_value",
            "gan_discriminator_loss", "gan_generator_loss", "elbo",
            "importance_weighted_log_likelihood", "iwae_log_likelihood", "sample_diag_gaussian"]
