"""Attention: a softmax distribution over memory positions, and the weighted sum it picks out.

notes 3.4 (memory and attention): a query thought vector q is matched against the thought vectors
k_j of the memory; the matching scores e_j become attention probabilities by a softmax,
a_j = exp(e_j) / sum_j' exp(e_j'), and the weighted sum c = sum_j a_j v_j is the combined thought
vector. For L queries at once, with Q (L, E), K (S, E), V (S, Ev):

    scores   S = scale Q K^T + M          (..., L, S)   M: the mask (0 / -inf, or added floats)
    weights  P = softmax(S) along S       (..., L, S)   each row a distribution over positions
    context  O = P V                      (..., L, Ev)

Backward, with G = dL/dO (the softmax Jacobian dP_lj/dS_lk = P_lj (1(j = k) - P_lk), notes 2.2):

    dL/dV = P^T G,   dL/dP = G V^T,   dL/dS = P * (dL/dP - sum_k dL/dP_lk P_lk),
    dL/dQ = scale dL/dS K,   dL/dK = scale dL/dS^T Q,   dL/dM = dL/dS (a float mask).

A row whose positions are all masked out has no distribution to give: its weights and context
are zeros (never NaN), and no gradient passes through it.

The ops here:

- ``attention`` / ``scaled_dot_product_attention``: the whole chain above as one fused node
  (``torch.nn.functional.scaled_dot_product_attention``'s semantics; ``attention`` can also return
  the weights P for plotting);
- ``additive_scores``: Bahdanau's score e_lj = w^T tanh(a_l + b_j) for projected queries
  a_l = W_q s_l and keys b_j = W_k h_j, as one node;
- ``attend``: softmax over the masked scores and the weighted sum of the values, as one node,
  for scores made any other way;
- ``length_mask``: the bool mask (B, S) of the real (not padded) positions of sequences.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import backend
from ..autograd.function import Function
from ..backend import get_array_module
from ..tensor import Tensor
from ._util import OpError, OpTypeError, unbroadcast


def _swap(m):
    xp = np if type(m) is np.ndarray else get_array_module(m)
    return xp.swapaxes(m, -1, -2)


def _apply_mask(s, mask, causal):
    """Scores with the mask applied: -inf where a bool mask is False (or above the diagonal when
    causal), the float mask added elsewhere. Writes into ``s`` where it can (s is ours)."""
    xp = np if type(s) is np.ndarray else get_array_module(s)
    if causal:
        L, S = s.shape[-2:]
        s = xp.where(xp.tri(L, S, dtype=bool), s, -np.inf)
    if mask is not None:
        if mask.dtype == np.bool_:
            s = xp.where(mask, s, -np.inf)
        elif s.shape == np.broadcast_shapes(s.shape, mask.shape):
            s += mask
        else:
            s = s + mask
    return s


def _masked_softmax(s):
    """Softmax along the last axis; a row of -inf gives zeros instead of 0/0."""
    xp = np if type(s) is np.ndarray else get_array_module(s)
    m = xp.max(s, axis=-1, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    e = xp.exp(s - m)
    z = xp.sum(e, axis=-1, keepdims=True)
    e /= xp.where(z > 0, z, 1)
    return e


def _softmax_backward(p, gp):
    """dL/dS = P * (dL/dP - sum_k dL/dP_k P_k): the softmax Jacobian applied to dL/dP."""
    xp = np if type(p) is np.ndarray else get_array_module(p)
    gpp = gp * p
    gpp -= p * xp.sum(gpp, axis=-1, keepdims=True)
    return gpp


def _dropout_mask(shape, dtype, p, like):
    """Inverted dropout's scaled mask m / (1 - p), m ~ Bernoulli(1 - p), from the backend RNG
    (drawn on the host and moved to the device of array ``like``)."""
    udt = dtype if dtype in (np.float32, np.float64) else np.float64
    keep = backend.host_random(like, "random", shape, dtype=udt) < (1.0 - p)
    d = keep.astype(dtype)
    d *= dtype.type(1.0 / (1.0 - p))
    return d


class ScaledDotProductAttention(Function):
    """O = dropout(softmax(scale Q K^T + M)) V, one node (inputs q, k, v and an optional mask)."""

    def forward(self, q, k, v, *mask, scale, causal, dropout_p, return_weights):
        xp = np if type(q) is np.ndarray else get_array_module(q)
        mask = mask[0] if mask else None
        s = xp.matmul(q, _swap(k))  # (..., L, S)
        s *= s.dtype.type(scale)
        s = _apply_mask(s, mask, causal)
        p = _masked_softmax(s)
        d = _dropout_mask(p.shape, p.dtype, dropout_p, p) if dropout_p > 0 else None
        out = xp.matmul(p if d is None else p * d, v)
        self.save(q, k, v, p, d)
        self.meta = (scale, None if mask is None else mask.shape)
        return (out, p) if return_weights else out

    def backward(self, gout, gp=None):
        xp = np if type(gout) is np.ndarray else get_array_module(gout)
        q, k, v, p, d = self.saved
        scale, mask_shape = self.meta
        nq, nk, nv = self.needs_input_grad[:3]
        nm = len(self.needs_input_grad) > 3 and self.needs_input_grad[3]
        pd = p if d is None else p * d
        gq = gk = gv = gm = None
        if nv:
            gv = unbroadcast(xp.matmul(_swap(pd), gout), v.shape)  # dO/dV: P^T G
        if nq or nk or nm:
            gpd = xp.matmul(gout, _swap(v))  # dO/dP: G V^T
            if d is not None:
                gpd *= d  # through dropout: times m / (1 - p)
            if gp is not None:
                gpd += gp  # the weights were an output too
            gs = _softmax_backward(p, gpd)  # dP/dS: softmax Jacobian
            sc = gs.dtype.type(scale)
            if nm:
                gm = unbroadcast(gs, mask_shape)  # dS/dM = 1
                gs = gs * sc  # not in place: gm may be gs itself
            else:
                gs *= sc
            if nq:
                gq = unbroadcast(xp.matmul(gs, k), q.shape)  # dS/dQ: scale dS K
            if nk:
                gk = unbroadcast(xp.matmul(_swap(gs), q), k.shape)  # dS/dK: scale dS^T Q
        return (gq, gk, gv) if len(self.needs_input_grad) == 3 else (gq, gk, gv, gm)


class Attend(Function):
    """(O, P) = (softmax(S + M) V, softmax(S + M)) for given scores S: one node."""

    def forward(self, s, v, *mask):
        xp = np if type(s) is np.ndarray else get_array_module(s)
        mask = mask[0] if mask else None
        s = _apply_mask(s.copy(), mask, False)
        p = _masked_softmax(s)
        self.save(p, v)
        self.mask_shape = None if mask is None else mask.shape
        return xp.matmul(p, v), p

    def backward(self, gout, gp):
        xp = np if type(gout) is np.ndarray else get_array_module(gout)
        p, v = self.saved
        ns, nv = self.needs_input_grad[:2]
        nm = len(self.needs_input_grad) > 2 and self.needs_input_grad[2]
        gs = gv = gm = None
        if nv:
            gv = unbroadcast(xp.matmul(_swap(p), gout), v.shape)  # dO/dV: P^T G
        if ns or nm:
            gpp = xp.matmul(gout, _swap(v))  # dO/dP: G V^T
            gpp += gp  # and the weights' own gradient
            g = _softmax_backward(p, gpp)  # dP/dS: softmax Jacobian
            gs = unbroadcast(g, self.inputs[0].shape) if ns else None  # dS/dscores = 1
            gm = unbroadcast(g, self.mask_shape) if nm else None  # dS/dM = 1
        return (gs, gv) if len(self.needs_input_grad) == 2 else (gs, gv, gm)


class AdditiveScores(Function):
    """e_lj = w^T tanh(a_l + b_j): a (..., L, H), b (..., S, H), w (H,) -> e (..., L, S)."""

    def forward(self, a, b, w):
        xp = np if type(a) is np.ndarray else get_array_module(a)
        t = xp.tanh(a[..., :, None, :] + b[..., None, :, :])  # (..., L, S, H)
        self.save(t, w)
        self.shapes = (a.shape, b.shape)
        return t @ w

    def backward(self, ge):
        t, w = self.saved
        sa, sb = self.shapes
        na, nb, nw = self.needs_input_grad
        ga = gb = gw = None
        if nw:  # de/dw = tanh(a_l + b_j), summed over every (l, j)
            H = t.shape[-1]
            gw = ge.reshape(-1) @ t.reshape(-1, H)
        if na or nb:
            gu = ge[..., None] * w  # de/dtanh = w
            gu *= 1 - t * t  # dtanh(u)/du = 1 - tanh(u)^2
            if na:
                ga = unbroadcast(gu.sum(-2), sa)  # du_lj/da_l = I: sum over j
            if nb:
                gb = unbroadcast(gu.sum(-3), sb)  # du_lj/db_j = I: sum over l
        return ga, gb, gw


# ---- argument checks --------------------------------------------------------------------------

def _as_tensor(x, who, name):
    if isinstance(x, Tensor):
        return x
    if backend.is_array(x):
        return Tensor._make(x, False, None, 0)
    raise OpTypeError(f"{who}: expected {name} to be a Tensor, got {type(x).__name__}")


def _check_mask(mask, scores_shape, dtype, who, like=None):
    """The mask as a Tensor that broadcasts to the scores' shape: bool (True = takes part) or float
    (added to the scores, cast to the scores' dtype); on the device of Tensor ``like``."""
    mask = _as_tensor(mask, who, "attn_mask")
    if like is not None and type(like.data) is not type(mask.data):
        mask = mask.to(like.device)
    m = mask.data
    if m.dtype != np.bool_ and m.dtype.kind != "f":
        raise OpTypeError(f"{who}: expected a bool attn_mask (True = takes part) or a float one "
                          f"(added to the scores), got dtype {m.dtype}")
    try:
        np.broadcast_shapes(m.shape, scores_shape)
    except ValueError:
        raise OpError(f"{who}: attn_mask of shape {m.shape} does not broadcast to the scores' "
                      f"shape {tuple(scores_shape)} (..., L, S)") from None
    if m.dtype.kind == "f" and m.dtype != dtype:
        mask = mask.to(dtype)
    return mask


def _check_dropout(p, who):
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p < 1.0:
        raise OpError(f"{who}: expected dropout_p in [0, 1), got {p!r}")
    return float(p)


def _check_qkv(query, key, value, who):
    query, key, value = (_as_tensor(t, who, n) for t, n in
                         ((query, "query"), (key, "key"), (value, "value")))
    q, k, v = query.shape, key.shape, value.shape
    if len(q) < 2 or len(k) < 2 or len(v) < 2:
        raise OpError(f"{who}: expected query (..., L, E), key (..., S, E) and value (..., S, Ev) "
                      f"with at least 2 dims, got {q}, {k}, {v}")
    if k[-1] != q[-1]:
        raise OpError(f"{who}: expected key (..., S, {q[-1]}) with the query's embedding size "
                      f"{q[-1]}, got key {k} for query {q}")
    if v[-2] != k[-2]:
        raise OpError(f"{who}: expected value (..., {k[-2]}, Ev) with as many positions as the "
                      f"key ({k[-2]}), got value {v} for key {k}")
    dts = {query.dtype, key.dtype, value.dtype}
    if len(dts) != 1 or query.dtype.kind != "f":
        raise OpTypeError(f"{who}: expected query, key and value of one floating-point dtype, got "
                          f"{query.dtype}, {key.dtype}, {value.dtype}")
    try:
        batch = np.broadcast_shapes(q[:-2], k[:-2], v[:-2])
    except ValueError:
        raise OpError(f"{who}: the batch dims of query {q}, key {k} and value {v} do not "
                      f"broadcast") from None
    return query, key, value, batch + (q[-2], k[-2])


# ---- the functional forms ---------------------------------------------------------------------

def attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
              return_weights=False):
    """Scaled dot-product attention, one fused node; optionally returns the weights too.

    O = dropout(softmax(scale Q K^T + M)) V  with scale = 1/sqrt(E) by default.

    Args:
        query: (..., L, E); key: (..., S, E); value: (..., S, Ev). Batch dims broadcast.
        attn_mask: None, a bool tensor (True = the position takes part) or a float tensor
            (added to the scores), broadcastable to (..., L, S). A float mask gets a gradient.
        dropout_p: dropout probability on the weights (applied whenever > 0, as PyTorch's).
        is_causal: mask out the positions j > l (a lower-triangular bool mask); not together with
            attn_mask.
        scale: the factor of the scores (1/sqrt(E) if None).
        return_weights: also return P = softmax(scale Q K^T + M) (..., L, S), before dropout,
            for plotting.

    Returns:
        O (..., L, Ev), or (O, P) with ``return_weights``. Rows with every position masked give
        zeros.

    Example::

        >>> q, k, v = cr.randn(2, 3, 8), cr.randn(2, 5, 8), cr.randn(2, 5, 4)
        >>> out, w = attention(q, k, v, return_weights=True)   # (2, 3, 4), (2, 3, 5)
    """
    who = "scaled_dot_product_attention"
    query, key, value, sshape = _check_qkv(query, key, value, who)
    dropout_p = _check_dropout(dropout_p, who)
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1]) if query.shape[-1] else 1.0
    inputs = [query, key, value]
    if attn_mask is not None:
        if is_causal:
            raise OpError(f"{who}: give either attn_mask or is_causal=True, not both")
        inputs.append(_check_mask(attn_mask, sshape, query.dtype, who, query))
    return ScaledDotProductAttention.apply(*inputs, scale=float(scale), causal=bool(is_causal),
                                           dropout_p=dropout_p,
                                           return_weights=bool(return_weights))


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """softmax(Q K^T / sqrt(E) + M) V with PyTorch's arguments (see ``attention``).

    Shapes: query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev).
    A bool attn_mask marks with True the positions that take part; a float one is added to the
    scores. Dropout is applied whenever dropout_p > 0 (pass 0.0 at evaluation, as with PyTorch).
    """
    if enable_gqa:
        raise NotImplementedError("scaled_dot_product_attention: enable_gqa is not implemented")
    return attention(query, key, value, attn_mask, dropout_p, is_causal, scale)


def attend(scores, value, mask=None):
    """Softmax of the (masked) scores over the positions, and the weighted sum of the values.

    P = softmax(S + M) along the last dim; O = P V.

    Args:
        scores: (..., L, S); value: (..., S, Ev); mask: None, bool (True = takes part) or float
            (added), broadcastable to (..., L, S).

    Returns:
        (O (..., L, Ev), P (..., L, S)). Rows with every position masked give zeros.
    """
    who = "attend"
    scores, value = _as_tensor(scores, who, "scores"), _as_tensor(value, who, "value")
    if scores.ndim < 2 or value.ndim < 2 or value.shape[-2] != scores.shape[-1]:
        raise OpError(f"{who}: expected scores (..., L, S) and value (..., S, Ev) with the same S, "
                      f"got {tuple(scores.shape)} and {tuple(value.shape)}")
    if scores.dtype != value.dtype or scores.dtype.kind != "f":
        raise OpTypeError(f"{who}: expected scores and value of one floating-point dtype, got "
                          f"{scores.dtype} and {value.dtype}")
    inputs = [scores, value]
    if mask is not None:
        inputs.append(_check_mask(mask, scores.shape, scores.dtype, who, scores))
    return Attend.apply(*inputs)


def additive_scores(query_proj, key_proj, w):
    """Bahdanau's additive score e_lj = w^T tanh(a_l + b_j), as one node.

    Args:
        query_proj: a = W_q s, (..., L, H); key_proj: b = W_k h, (..., S, H); w: (H,).

    Returns:
        e (..., L, S). It keeps tanh(a_l + b_j), of size (..., L, S, H), for backward.
    """
    who = "additive_scores"
    a, b, w = (_as_tensor(t, who, n) for t, n in
               ((query_proj, "query_proj"), (key_proj, "key_proj"), (w, "w")))
    H = w.shape[0] if w.ndim == 1 else None
    if a.ndim < 2 or b.ndim < 2 or H is None or a.shape[-1] != H or b.shape[-1] != H:
        raise OpError(f"{who}: expected query_proj (..., L, H), key_proj (..., S, H) and w (H,) "
                      f"with one H, got {tuple(a.shape)}, {tuple(b.shape)}, {tuple(w.shape)}")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise OpError(f"{who}: the batch dims of query_proj {tuple(a.shape)} and key_proj "
                      f"{tuple(b.shape)} do not broadcast") from None
    return AdditiveScores.apply(a, b, w)


def length_mask(lengths, max_len=None):
    """The bool mask (B, max_len) of real positions: mask[b, j] = j < lengths[b].

    Example::

        >>> length_mask(cr.tensor([2, 3]), 4).tolist()
        [[True, True, False, False], [True, True, True, False]]
    """
    n = lengths.data if isinstance(lengths, Tensor) else np.asarray(lengths)
    if n.ndim != 1 or (n.size and n.dtype.kind not in "iu"):
        raise OpError(f"length_mask: expected a 1-D tensor of integer lengths, got shape "
                      f"{n.shape} and dtype {n.dtype}")
    if max_len is None:
        max_len = int(n.max()) if n.size else 0
    xp = get_array_module(n)  # the mask is made on the lengths' device
    return Tensor._make(xp.arange(max_len)[None, :] < n[:, None], False, None, 0)
