"""Attention layers: a query attends over the positions of a memory and reads a weighted sum.

notes 3.4 (memory and attention): the query's thought vector s is matched with each memory vector
h_j by a score e_j; a_j = softmax(e)_j is the attention distribution over the positions and
c = sum_j a_j v_j the combined thought vector (the context). The layers differ in the score:

- ``AdditiveAttention`` (Bahdanau et al., 2015): e_j = w^T tanh(W_q s + W_k h_j), learned;
- ``DotProductAttention`` (Luong et al., 2015): e_j = s^T h_j, no parameters;
- ``ScaledDotProductAttention`` (Vaswani et al., 2017): e_j = s^T h_j / sqrt(E).

Each returns ``(context, weights)``: the weights are the distributions a, for plotting alignments.

Shapes (batch first): query (B, Dq) for one query per example, or (B, L, Dq) for L of them;
key (B, S, Dk); value (B, S, Dv) (the key if omitted); mask (B, S) or (B, L, S), bool with True
at the positions that take part (e.g. ``ops.attention.length_mask(lengths)``) or float (added to
the scores). Output: context (B, Dv) or (B, L, Dv); weights (B, S) or (B, L, S). Masked positions
get weight 0, and a query with every position masked gets zero weights and a zero context.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..ops.attention import additive_scores, attend, attention
from ..ops.dropout import check_p
from ..ops._util import OpError, OpTypeError
from ..tensor import Tensor
from . import init
from .linear import Linear
from .module import Module
from .parameter import Parameter


def _prepare(who, query, key, value, mask, qdim=None, kdim=None):
    """Checked (query (B, L, Dq), value, mask broadcastable to (B, L, S), squeeze-the-L flag)."""
    if not isinstance(query, Tensor) or query.ndim not in (2, 3):
        got = tuple(query.shape) if isinstance(query, Tensor) else type(query).__name__
        raise OpError(f"{who}: expected query (B, Dq) or (B, L, Dq), got {got}")
    if not isinstance(key, Tensor) or key.ndim != 3 or key.shape[0] != query.shape[0]:
        got = tuple(key.shape) if isinstance(key, Tensor) else type(key).__name__
        raise OpError(f"{who}: expected key (B, S, Dk) with the query's batch size "
                      f"{query.shape[0]}, got {got}")
    if qdim is not None and query.shape[-1] != qdim:
        raise OpError(f"{who}: expected query (B, {qdim}) or (B, L, {qdim}), got "
                      f"{tuple(query.shape)}")
    if kdim is not None and key.shape[-1] != kdim:
        raise OpError(f"{who}: expected key (B, S, {kdim}), got {tuple(key.shape)}")
    value = key if value is None else value
    if not isinstance(value, Tensor) or value.ndim != 3 or value.shape[:2] != key.shape[:2]:
        got = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
        raise OpError(f"{who}: expected value (B, S, Dv) with the key's (B, S) = "
                      f"{tuple(key.shape[:2])}, got {got}")
    single = query.ndim == 2
    if single:
        query = query.reshape(query.shape[0], 1, query.shape[1])
    if mask is not None:
        m = mask.data if isinstance(mask, Tensor) else (
            mask if backend.is_array(mask) else np.asarray(mask))
        B, L, S = query.shape[0], query.shape[1], key.shape[1]
        if m.shape == (B, S):
            m = m[:, None, :]
        elif m.shape != (B, L, S):
            raise OpError(f"{who}: expected mask (B, S) = {(B, S)} or (B, L, S) = {(B, L, S)}, "
                          f"got {m.shape}")
        mask = m
    return query, value, mask, single


class AdditiveAttention(Module):
    """Bahdanau's additive attention: e_j = w^T tanh(W_q s + W_k h_j), a = softmax(e),
    c = sum_j a_j v_j.

    Args:
        query_dim: Dq, the size of the query s (e.g. the decoder's hidden state).
        key_dim: Dk, the size of the memory vectors h_j (e.g. the encoder's outputs).
        hidden_dim: H, the size of the space where they are compared.
        dtype: dtype of the parameters (the default dtype if None).

    Parameters: ``query_proj`` = Linear(Dq, H, bias=False) (W_q), ``key_proj`` = Linear(Dk, H)
    (W_k and the bias), ``v`` (H,) (w), drawn from U(-1/sqrt(H), 1/sqrt(H)).

    Shape: see the module docstring. ``forward(query, key, value=None, mask=None,
    projected_key=None)``: pass ``projected_key = key_proj(key)`` (from ``project_keys``) when
    attending the same memory at many decoding steps, to compute it once.

    Example::

        >>> att = AdditiveAttention(32, 64, 16)
        >>> ctx, w = att(cr.randn(4, 32), cr.randn(4, 7, 64))   # (4, 64), (4, 7)
    """

    def __init__(self, query_dim, key_dim, hidden_dim, device=None, dtype=None):
        super().__init__()
        self.query_dim, self.key_dim = int(query_dim), int(key_dim)
        self.hidden_dim = int(hidden_dim)
        self.query_proj = Linear(query_dim, hidden_dim, bias=False, dtype=dtype)
        self.key_proj = Linear(key_dim, hidden_dim, dtype=dtype)
        dt = backend.get_default_dtype() if dtype is None else np.dtype(dtype)
        self.v = Parameter(np.empty(self.hidden_dim, dt))
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_parameters(self):
        self.query_proj.reset_parameters()
        self.key_proj.reset_parameters()
        bound = 1 / math.sqrt(self.hidden_dim) if self.hidden_dim else 0
        init.uniform_(self.v, -bound, bound)

    def project_keys(self, key):
        """W_k h_j + b for every position: (B, S, Dk) -> (B, S, H)."""
        return self.key_proj(key)

    def forward(self, query, key, value=None, mask=None, projected_key=None):
        who = f"AdditiveAttention({self.query_dim}, {self.key_dim}, {self.hidden_dim})"
        q, value, mask, single = _prepare(who, query, key, value, mask, self.query_dim,
                                          self.key_dim)
        got = (q.dtype, key.dtype, value.dtype)
        if any(d != self.v.dtype for d in got):
            raise OpTypeError(f"{who}: expected query, key and value of the parameters' dtype "
                              f"{self.v.dtype}, got {', '.join(map(str, got))}; convert them "
                              f"(e.g. x.float() or module.to(dtype))")
        kp = self.key_proj(key) if projected_key is None else projected_key
        scores = additive_scores(self.query_proj(q), kp, self.v)  # (B, L, S)
        ctx, w = attend(scores, value, mask)
        if single:
            return ctx.reshape(ctx.shape[0], ctx.shape[2]), w.reshape(w.shape[0], w.shape[2])
        return ctx, w

    def extra_repr(self):
        return (f"query_dim={self.query_dim}, key_dim={self.key_dim}, "
                f"hidden_dim={self.hidden_dim}")


class DotProductAttention(Module):
    """Luong's dot-product attention: e_j = s^T h_j, a = softmax(e), c = sum_j a_j v_j.

    No parameters; the query and the keys must have one size E.

    Args:
        dropout: dropout probability on the weights, in training mode only.

    Shape: see the module docstring.

    Example::

        >>> ctx, w = DotProductAttention()(cr.randn(4, 32), cr.randn(4, 7, 32))  # (4, 32), (4, 7)
    """

    def __init__(self, dropout=0.0):
        super().__init__()
        self.dropout = check_p(dropout, type(self).__name__)

    def _scale(self, E):
        return 1.0

    def forward(self, query, key, value=None, mask=None):
        who = type(self).__name__
        q, value, mask, single = _prepare(who, query, key, value, mask)
        if q.shape[-1] != key.shape[-1]:
            raise OpError(f"{who}: expected query and key of one size E, got query "
                          f"{tuple(query.shape)} and key {tuple(key.shape)}")
        p = self.dropout if self.training else 0.0
        ctx, w = attention(q, key, value, attn_mask=mask, dropout_p=p,
                           scale=self._scale(q.shape[-1]), return_weights=True)
        if single:
            return ctx.reshape(ctx.shape[0], ctx.shape[2]), w.reshape(w.shape[0], w.shape[2])
        return ctx, w

    def extra_repr(self):
        return f"dropout={self.dropout}" if self.dropout else ""


class ScaledDotProductAttention(DotProductAttention):
    """Scaled dot-product attention: e_j = s^T h_j / sqrt(E), a = softmax(e), c = sum_j a_j v_j.

    As ``DotProductAttention`` with the scores divided by sqrt(E), which keeps their variance near
    1 for unit-variance inputs (so the softmax does not saturate as E grows).
    """

    def _scale(self, E):
        return 1.0 / math.sqrt(E) if E else 1.0
