"""Embedding lookup: row k of a weight matrix for each integer index k.

With W of shape (V, D) and an index tensor i of any shape, y[..., :] = W[i[...], :]. This is the
product of a one-hot vector with W, so dL/dW = sum over the positions n with i_n = k of dL/dy_n,
row by row: a row picked twice gets the sum of both gradients; a row never picked gets 0.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd.function import Function
from ..backend import get_array_module
from ._util import OpError, OpIndexError, OpTypeError


class Embedding(Function):
    """y = W[idx] (rows of W); the padding row, if any, gets no gradient."""

    def forward(self, weight, idx, padding_idx):
        xp = np if type(weight) is np.ndarray else get_array_module(weight)
        self.meta = (idx, weight.shape, padding_idx)
        return xp.take(weight, idx, axis=0)

    def backward(self, gy):
        xp = np if type(gy) is np.ndarray else get_array_module(gy)
        idx, (V, D), padding_idx = self.meta
        flat = idx.reshape(-1)
        g = gy.reshape(-1, D)
        # dL/dW_k = sum_{n: idx_n = k} dL/dy_n: one bincount over the (row, column) pairs.
        # Measured on 2 cores (10k indices x 64 dims, V = 1000 / 50000): xp.add.at 5.5 / 6.2 ms,
        # one bincount per column 1.5 / 8.8 ms, sort + add.reduceat 1.6 / 8.3 ms, this 3.8 /
        # 6.0 ms; with 100k indices: add.at 57, per column 34, sort + reduceat 61, this 27 ms. It
        # is never far from the best, never the worst, and sums in float64.
        if V <= 2 * D:  # a small vocabulary (characters): one-hot (V, n) @ dL/dy (n, D), about
            # twice as fast as the bincount below for V = 65, D = 64, 2048 indices (0.19-0.27
            # against 0.36-0.48 ms, benchmarks/passes.py); beyond, bincount wins (there: 0.79
            # against 1.25 ms at V = 300, D = 128; 0.51 against 13.5 at V = 5000, D = 64)
            onehot = xp.zeros((V, flat.size), gy.dtype)
            onehot[flat, xp.arange(flat.size)] = 1
            gw = onehot @ g
            if padding_idx is not None:
                gw[padding_idx] = 0
            return gw
        cells = (flat[:, None] * D + xp.arange(D)).reshape(-1)
        gw = xp.bincount(cells, weights=g.reshape(-1), minlength=V * D)
        gw = gw.reshape(V, D).astype(gy.dtype, copy=False)
        if padding_idx is not None:
            gw[padding_idx] = 0  # the padding row is a constant
        return gw


def check_indices(idx, num_embeddings, who="embedding"):
    """The index array of a Tensor/array of ints, checked to lie in [0, num_embeddings)."""
    from ..tensor import Tensor

    arr = idx.data if isinstance(idx, Tensor) else (
        idx if backend.is_array(idx) else np.asarray(idx))
    if arr.dtype.kind not in "iu":
        raise OpTypeError(f"{who}: expected integer indices (int64), got dtype {arr.dtype}")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= num_embeddings:
            bad = lo if lo < 0 else hi
            raise OpIndexError(f"{who}: index {bad} is out of range for {num_embeddings} "
                               f"embeddings (expected indices in [0, {num_embeddings - 1}])")
    return arr.astype(np.int64, copy=False)


def normalize_padding_idx(padding_idx, num_embeddings, who="embedding"):
    """padding_idx in [0, V) from one in [-V, V), or None."""
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise OpError(f"{who}: padding_idx must be within [-{num_embeddings}, "
                      f"{num_embeddings - 1}], got {padding_idx}")
    return int(padding_idx) % num_embeddings


def embedding(input, weight, padding_idx=None):
    """Rows of ``weight`` picked by the integer tensor ``input``: y = weight[input].

    Shapes: input (*) of int64 in [0, V), weight (V, D) -> y (*, D). The row ``padding_idx`` gets
    no gradient.

    Example::

        >>> W = cr.randn(10, 3, requires_grad=True)
        >>> embedding(cr.tensor([[1, 2], [4, 1]]), W).shape   # (2, 2, 3)
    """
    if weight.ndim != 2:
        raise OpError(f"embedding: expected a weight of shape (num_embeddings, embedding_dim), "
                      f"got {tuple(weight.shape)}")
    V = weight.shape[0]
    idx = check_indices(input, V)
    if type(weight.data) is not np.ndarray:  # indices given on the CPU go to the weight's device
        idx = backend.asarray_like(weight.data, idx)
    return Embedding.apply(weight, idx=idx, padding_idx=normalize_padding_idx(padding_idx, V))
