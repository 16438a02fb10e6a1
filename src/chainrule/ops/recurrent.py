"""Recurrent layers as whole-sequence ops with back-propagation through time (notes 3.1-3.3),
and their one-step cells.

One Function runs one layer in one direction over all T steps, so the graph holds one node per
layer and direction, not one per step. Forward computes the input part of every gate for all steps
as one matrix product before the time loop (W_ih x_t + b for all t at once), then one matrix product
per step for the recurrent part (W_hh h_{t-1}). Backward runs the loop in reverse (BPTT), writes the
gradient of every gate pre-activation s_t into one array for all steps, and after the loop gets
dL/dW_ih, dL/dW_hh, dL/db and dL/dx each from ONE matrix product over all T*B (step, sequence)
pairs:

    dL/dW_hh = sum_t dL/ds_t h_{t-1}^T,  dL/dW_ih = sum_t dL/ds_t x_t^T,  dL/dx_t = W_ih^T dL/ds_t,
    dL/db = sum_t dL/ds_t,   and in the loop   dL/dh_{t-1} = W_hh^T dL/ds_t (+ the direct paths).

The equations, gate order and weight layout are PyTorch's (weights (G*H, in) with the gates stacked
along the rows):

- ``rnn``: the notes' s_t = f(U x_t + W s_{t-1}) with U = W_ih, W = W_hh and f = tanh or relu:
  h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).
- ``lstm`` (gates i, f, g, o): i, f, o = sigmoid(.), g = tanh(.) of W_ih x_t + b_ih + W_hh h_{t-1} +
  b_hh; c_t = f * c_{t-1} + i * g; h_t = o * tanh(c_t). The notes' Delta c_t is g.
- ``gru`` (gates r, z, n): r, z = sigmoid(W_i. x_t + b_i. + W_h. h_{t-1} + b_h.);
  n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn)); h_t = (1 - z) * n + z * h_{t-1}.
  (The notes write h_t = (1 - z) h_{t-1} + z h~_t: the same with z and 1 - z swapped.)

Variable lengths: with ``lengths`` (one per batch element, any order), sequence b takes its steps
t < lengths[b] only. Its state stops changing after its last real step (forward direction) or
starts from h_0 at that step (``reverse``), its outputs at padded steps are 0, and padded steps
pass no gradient to anything. Inside, the batch is put in order of decreasing length, so the
sequences still running at step t are the first bs[t] ones and every step works on one slice.

Speed (shared/PERF_NOTES.md: the time is in the per-step Python loop): every step writes into
preallocated buffers with ``out=``, in a column layout where each per-step NumPy call sees
contiguous blocks (the note before ``_input_part``); the LSTM keeps its gates internally in the
order (o, i, f, g) and halves the rows of the sigmoid gates so that ONE tanh call gives all four
gates (sigmoid(s) = (1 + tanh(s / 2)) / 2), so a forward step is one GEMM and 9 elementwise
calls; the derivative factors are computed for all steps at once before the backward loop, whose
step is one GEMM and 7 elementwise calls. What is left is mostly GEMM time near the BLAS's peak
(measured on 2 cores: an LSTM language-model training step about 1.5x PyTorch's, a GRU one faster
than PyTorch's; see benchmarks/rnn.py).
"""
from __future__ import annotations

import functools

import numpy as np

from .. import backend
from ..autograd.function import Function
from ..backend import get_array_module
from ..parallel import wide_blas
from ..tensor import Tensor
from ._util import OpError, OpTypeError


def _wide_blas(method):
    """Run a whole-sequence forward or backward with all BLAS threads: its time loop is a chain of
    GEMMs (chainrule.parallel holds the BLAS at one thread elsewhere)."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with wide_blas():
            return method(self, *args, **kwargs)
    return run


# ---- shared pieces -----------------------------------------------------------------------------
class _Schedule:
    """The order of the time loop and, with lengths, the batch order and active rows per step.

    ``bs[t]``: how many sequences (the first ones, once sorted by decreasing length) take step t.
    ``perm``/``inv``: the sorting permutation of the batch and its inverse (None when sorted).
    ``mask``: (T, B, 1) with 1 at real steps and 0 at padding (None without padding).
    """

    __slots__ = ("order", "reverse", "bs", "perm", "inv", "mask")

    def __init__(self, lengths, T, B, reverse, dtype, like=None):
        self.reverse = reverse
        self.order = range(T - 1, -1, -1) if reverse else range(T)
        self.perm = self.inv = self.mask = None
        if lengths is None or bool((lengths == T).all()):
            self.bs = [B] * T
            return
        if not bool((lengths[:-1] >= lengths[1:]).all()):
            self.perm = np.argsort(-lengths, kind="stable")
            self.inv = np.argsort(self.perm)
            lengths = lengths[self.perm]
        real = np.arange(T)[:, None] < lengths[None, :]  # (T, B): step t is real for sequence b
        self.bs = real.sum(1).tolist()
        self.mask = real[:, :, None].astype(dtype)
        if like is not None and type(like) is not np.ndarray:  # made on the host (lengths live
            # there), used on the device of the sequence
            self.mask = backend.asarray_like(like, self.mask)
            if self.perm is not None:
                self.perm = backend.asarray_like(like, self.perm)
                self.inv = backend.asarray_like(like, self.inv)

    def rows(self, a):
        """(B, ...) into sorted order."""
        return a if self.perm is None else a[self.perm]

    def cols(self, a):
        """(T, B, ...) into sorted order."""
        return a if self.perm is None else a[:, self.perm]

    def unrows(self, a):
        return a if self.inv is None else a[self.inv]

    def uncols(self, a):
        return a if self.inv is None else a[:, self.inv]


# Inside, sequences are kept in the column layout: a state h_t is stored as h_t^T (H, B), the
# gates of step t as (G, B), so that every per-step NumPy call works on contiguous blocks (NumPy's
# strided/broadcast paths are 3-5x slower on these sizes) and the per-step product W_hh h_{t-1}
# is (G, H) @ (H, B), measured faster than (B, H) @ (H, G).
def _input_part(x, w, b):
    """W x_t + b for every t at once, (T, G, B): one batched product, the bias riding along as an
    extra column of W against a row of ones under x_t^T."""
    xp = np if type(x) is np.ndarray else get_array_module(x)
    T, B, I = x.shape
    if b is None:
        return xp.matmul(w, x.transpose(0, 2, 1))
    xa = xp.empty((T, I + 1, B), x.dtype)
    xa[:, :I] = x.transpose(0, 2, 1)
    xa[:, I] = 1
    return xp.matmul(xp.concatenate((w, b[:, None]), axis=1), xa)


def _states(T, H, B, dt, first, reverse, rows=None):
    """(T + 1, rows, B) buffer of h_t^T in time order, h_0 at index 0 (forward) or T (reverse);
    step t reads index p(t) and writes q(t). Rows past H hold ones (a bias column of W_hh)."""
    xp = np if type(first) is np.ndarray else get_array_module(first)
    S = xp.zeros((T + 1, rows or H, B), dt)  # zeros: steps masked by lengths stay finite
    if rows:
        S[:, H:] = 1
    S[T if reverse else 0, :H] = first.T
    return S


def _outputs(S, sc, T, H):
    """y (T, B, H) with zeros at padded steps, and h_n (B, H), from the state buffer."""
    xp = np if type(S) is np.ndarray else get_array_module(S)
    Y = S[:T, :H] if sc.reverse else S[1:, :H]
    y = xp.ascontiguousarray(Y.transpose(0, 2, 1))
    if sc.mask is not None:
        y = y * sc.mask  # padded steps output 0
    hn = xp.ascontiguousarray(S[0 if sc.reverse else T, :H].T)
    return sc.uncols(y), sc.unrows(hn)


def _prev_states(S, sc, T):
    """h_{t-1}^T of every step t, (T, rows, B), a view of the state buffer."""
    return S[1:] if sc.reverse else S[:T]


def _by_rows(a):
    """(T, R, B) -> (T*B, R) (a copy): the right operand of one GEMM over every step,
    dL/dW = dS (G, T*B) @ this. As a contiguous (T*B, R) matrix rather than the transpose of a
    (R, T*B) one: 3.7 against 4.6 ms for LSTM's dL/dW_hh at H = 256, T*B = 2048 (2 cores)."""
    xp = np if type(a) is np.ndarray else get_array_module(a)
    T, R, B = a.shape
    return xp.ascontiguousarray(a.transpose(0, 2, 1)).reshape(T * B, R)


def _grad_cols(gy, sc):
    """dL/dy (T, B, H) -> (T, H, B) in sorted order (a contiguous copy)."""
    xp = np if type(gy) is np.ndarray else get_array_module(gy)
    return xp.ascontiguousarray(sc.cols(gy).transpose(0, 2, 1))


def _grad_state(g, sc, dt):
    """dL/dh_n (B, H) -> (H, B) in sorted order: a new array the backward loop updates."""
    xp = np if type(g) is np.ndarray else get_array_module(g)
    return xp.array(sc.rows(g).T, dtype=dt, order="C")


def _bias_sum(b_ih, b_hh):
    if b_ih is None:
        return b_hh
    return b_ih if b_hh is None else b_ih + b_hh


def _row_sum(g2):
    """Sum over the rows of a 2-D array as a GEMV (much faster than .sum(0))."""
    xp = np if type(g2) is np.ndarray else get_array_module(g2)
    return xp.ones(g2.shape[0], g2.dtype) @ g2


def _sigmoid_into(s, out):
    """out = sigmoid(s) = (1 + tanh(s / 2)) / 2 (no overflow for any s)."""
    xp = np if type(s) is np.ndarray else get_array_module(s)
    xp.multiply(s, 0.5, out=out)
    xp.tanh(out, out=out)
    xp.multiply(out, 0.5, out=out)
    xp.add(out, 0.5, out=out)
    return out


def _roll_lstm(w):
    """PyTorch's gate blocks (i, f, g, o) -> the internal order (o, i, f, g) (a new array)."""
    xp = np if type(w) is np.ndarray else get_array_module(w)
    H = w.shape[0] // 4
    return xp.concatenate((w[3 * H:], w[:3 * H]))


def _unroll_lstm(w):
    """Internal (o, i, f, g) -> PyTorch's (i, f, g, o) (a new array)."""
    xp = np if type(w) is np.ndarray else get_array_module(w)
    H = w.shape[0] // 4
    return xp.concatenate((w[H:], w[:H]))


def _nrz_to_rzn(w):
    """GRU blocks (n, r, z) -> PyTorch's (r, z, n) (a new array)."""
    xp = np if type(w) is np.ndarray else get_array_module(w)
    H = w.shape[0] // 3
    return xp.concatenate((w[H:], w[:H]))


def _seq_grads(needs, sc, dS, x, w_ih_rows, Hp, state_grads, to_torch=None):
    """The gradients after the backward loop, each from one product over all T*B columns:

        dL/dx_t = W_ih^T dL/ds_t,  dL/dW_ih = sum_t dL/ds_t x_t^T,
        dL/dW_hh = sum_t dL/ds_t h_{t-1}^T,  dL/db = sum_t dL/ds_t.

    dS: dL/ds (G, T, B) in the internal gate order and sorted batch order; w_ih_rows: W_ih in that
    order; state_grads: dL/dh_0^T (and dL/dc_0^T) as (H, B); ``to_torch`` maps an internal (G, ...)
    array to PyTorch's gate order (a new array), None where the orders agree.
    """
    xp = np if type(dS) is np.ndarray else get_array_module(dS)
    Gs, T, B = dS.shape
    dS2 = dS.reshape(Gs, T * B)
    to_torch = to_torch or (lambda g: g)
    out = [sc.uncols((dS2.T @ w_ih_rows).reshape(T, B, -1)) if needs[0] else None]
    out += [sc.unrows(xp.ascontiguousarray(g.T)) if need else None
            for g, need in zip(state_grads, needs[1:])]
    k = 1 + len(state_grads)
    out.append(to_torch(dS2 @ x.reshape(T * B, -1)) if needs[k] else None)
    out.append(to_torch(dS2 @ _by_rows(Hp)) if needs[k + 1] else None)
    if len(needs) > k + 2:
        gb = to_torch(_row_sum(dS2.T)) if any(needs[k + 2:]) else None  # dL/db = sum_t dL/ds_t
        out.append(gb if needs[k + 2] else None)
        out.append((gb.copy() if needs[k + 2] else gb) if needs[k + 3] else None)  # own array
    return tuple(out)


# ---- whole-sequence Functions ------------------------------------------------------------------
class RNN(Function):
    """h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), f = tanh or relu (notes 3.1), all t at once.

    Inputs x (T, B, I), h0 (B, H), w_ih (H, I), w_hh (H, H), optional b_ih, b_hh (H,);
    params lengths (B,) int array or None, reverse, nonlinearity. Outputs y (T, B, H), h_n (B, H).
    """

    fresh_grads = True

    @_wide_blas
    def forward(self, x, h0, w_ih, w_hh, b_ih=None, b_hh=None, *, lengths=None, reverse=False,
                nonlinearity="tanh"):
        xp = np if type(x) is np.ndarray else get_array_module(x)
        T, B, _ = x.shape
        H = w_hh.shape[1]
        dt = x.dtype
        sc = _Schedule(lengths, T, B, reverse, dt, x)
        x, h0 = sc.cols(x), sc.rows(h0)
        G = _input_part(x, w_ih, _bias_sum(b_ih, b_hh))  # W_ih x_t + b for every t, (T, H, B)
        S = _states(T, H, B, dt, h0, reverse)
        tmp = xp.empty((H, B), dt)
        relu = nonlinearity == "relu"
        off = 0 if reverse else 1
        for t in sc.order:
            p, q, n = t + 1 - off, t + off, sc.bs[t]
            if n < B:
                S[q, :, n:] = S[p, :, n:]  # finished / not yet started sequences keep their state
            hq, tn = S[q, :, :n], tmp[:, :n]
            xp.matmul(w_hh, S[p, :, :n], out=tn)  # W_hh h_{t-1}
            xp.add(G[t, :, :n], tn, out=hq)  # s_t = W_ih x_t + b + W_hh h_{t-1}
            if relu:
                xp.maximum(hq, 0, out=hq)  # h_t = relu(s_t)
            else:
                xp.tanh(hq, out=hq)  # h_t = tanh(s_t)
        self.sc, self.relu = sc, relu
        self.save(x, S, w_ih, w_hh)
        return _outputs(S, sc, T, H)

    @_wide_blas
    def backward(self, gy, ghn):
        xp = np if type(gy) is np.ndarray else get_array_module(gy)
        x, S, w_ih, w_hh = self.saved
        sc = self.sc
        T, H, B = S.shape[0] - 1, S.shape[1], S.shape[2]
        Y = S[:T] if sc.reverse else S[1:]  # h_t of every step
        if self.relu:
            D = (Y > 0).astype(Y.dtype)  # relu'(s_t) = [h_t > 0]
        else:
            D = xp.multiply(Y, Y)
            xp.subtract(1, D, out=D)  # tanh'(s_t) = 1 - h_t^2
        gy, dh = _grad_cols(gy, sc), _grad_state(ghn, sc, S.dtype)  # dh: dL/dh_t from dL/dh_n
        dS = (xp.zeros if sc.mask is not None else xp.empty)((H, T, B), S.dtype)
        whT = xp.ascontiguousarray(w_hh.T)
        for t in reversed(sc.order):
            n = sc.bs[t]
            dhn = dh[:, :n]
            xp.add(dhn, gy[t, :, :n], out=dhn)  # dL/dh_t += dL/dy_t
            xp.multiply(dhn, D[t, :, :n], out=dS[:, t, :n])  # dL/ds_t = dL/dh_t f'(s_t)
            xp.matmul(whT, dS[:, t, :n], out=dhn)  # dL/dh_{t-1} = W_hh^T dL/ds_t
        return _seq_grads(self.needs_input_grad, sc, dS, x, w_ih, _prev_states(S, sc, T), [dh])


class LSTM(Function):
    """The LSTM of notes 3.2 with PyTorch's gates over all T steps (see the module docstring).

    Inputs x (T, B, I), h0 and c0 (B, H), w_ih (4H, I), w_hh (4H, H), optional b_ih, b_hh (4H,)
    with gate blocks (i, f, g, o); params lengths, reverse. Outputs y (T, B, H), h_n, c_n (B, H).
    """

    fresh_grads = True

    @_wide_blas
    def forward(self, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, *, lengths=None,
                reverse=False):
        xp = np if type(x) is np.ndarray else get_array_module(x)
        T, B, _ = x.shape
        H = w_hh.shape[1]
        dt = x.dtype
        half = dt.type(0.5)
        sc = _Schedule(lengths, T, B, reverse, dt, x)
        x, h0, c0 = sc.cols(x), sc.rows(h0), sc.rows(c0)
        # internal gate order (o, i, f, g), with the rows of the sigmoid gates o, i, f halved: one
        # tanh of the pre-activations then gives tanh(s/2) for them and tanh(s) for g
        wi, wh = _roll_lstm(w_ih), _roll_lstm(w_hh)
        wi[:3 * H] *= half
        wh[:3 * H] *= half
        b = _bias_sum(b_ih, b_hh)
        if b is not None:
            b = _roll_lstm(b)
            b[:3 * H] *= half
        G = _input_part(x, wi, b)  # W_ih x_t + b for every t, (T, 4H, B)
        S = _states(T, H, B, dt, h0, reverse)  # h_t
        C = _states(T, H, B, dt, c0, reverse)  # c_t
        # zeros where lengths mask steps: their unwritten columns must not feed NaN/Inf warnings
        TC = (xp.zeros if sc.mask is not None else xp.empty)((T, H, B), dt)  # tanh(c_t)
        tmp4, tmp = xp.empty((4 * H, B), dt), xp.empty((H, B), dt)
        H2, H3 = 2 * H, 3 * H
        off = 0 if reverse else 1
        for t in sc.order:
            p, q, n = t + 1 - off, t + off, sc.bs[t]
            if n < B:
                S[q, :, n:] = S[p, :, n:]  # finished / not yet started sequences keep their state
                C[q, :, n:] = C[p, :, n:]
            gt, sg, cq, tn, tc = G[t, :, :n], G[t, :H3, :n], C[q, :, :n], tmp[:, :n], TC[t, :, :n]
            xp.matmul(wh, S[p, :, :n], out=tmp4[:, :n])  # W_hh h_{t-1}
            xp.add(gt, tmp4[:, :n], out=gt)  # s_t = W_ih x_t + b + W_hh h_{t-1}
            xp.tanh(gt, out=gt)  # g = tanh(s_g); tanh(s/2) for o, i, f
            xp.multiply(sg, half, out=sg)
            xp.add(sg, half, out=sg)  # o, i, f = sigmoid(s) = (1 + tanh(s/2)) / 2
            xp.multiply(G[t, H2:H3, :n], C[p, :, :n], out=cq)  # f * c_{t-1}
            xp.multiply(G[t, H:H2, :n], G[t, H3:, :n], out=tn)  # i * g
            xp.add(cq, tn, out=cq)  # c_t = f * c_{t-1} + i * g
            xp.tanh(cq, out=tc)
            xp.multiply(G[t, :H, :n], tc, out=S[q, :, :n])  # h_t = o * tanh(c_t)
        self.sc = sc
        self.save(x, S, C, TC, G, w_ih, w_hh)
        y, hn = _outputs(S, sc, T, H)
        return y, hn, sc.unrows(xp.ascontiguousarray(C[0 if reverse else T].T))

    @_wide_blas
    def backward(self, gy, ghn, gcn):
        xp = np if type(gy) is np.ndarray else get_array_module(gy)
        x, S, C, TC, G, w_ih, w_hh = self.saved
        sc = self.sc
        T, H, B = TC.shape
        dt = G.dtype
        G4 = G.reshape(T, 4, H, B)
        Go, Gi, Gf, Gg = G4[:, 0], G4[:, 1], G4[:, 2], G4[:, 3]
        # derivative factors of every step at once, in the internal gate order (o, i, f, g)
        P = xp.empty((T, 4, H, B), dt)
        sig, Ps = G4[:, :3], P[:, :3]
        xp.subtract(1, sig, out=Ps)
        xp.multiply(Ps, sig, out=Ps)  # sigmoid'(s) = sigma (1 - sigma) for o, i, f
        xp.multiply(P[:, 0], TC, out=P[:, 0])  # dh_t/ds_o = tanh(c_t) o (1 - o)
        xp.multiply(P[:, 1], Gg, out=P[:, 1])  # dc_t/ds_i = g i (1 - i)
        xp.multiply(P[:, 2], _prev_states(C, sc, T), out=P[:, 2])  # dc_t/ds_f = c_{t-1} f (1 - f)
        Pg = P[:, 3]
        xp.multiply(Gg, Gg, out=Pg)
        xp.subtract(1, Pg, out=Pg)
        xp.multiply(Pg, Gi, out=Pg)  # dc_t/ds_g = i (1 - g^2)
        OT = xp.multiply(TC, TC)
        xp.subtract(1, OT, out=OT)
        xp.multiply(OT, Go, out=OT)  # dh_t/dc_t = o (1 - tanh^2 c_t)

        gy = _grad_cols(gy, sc)
        dh = _grad_state(ghn, sc, dt)  # dL/dh_t, starting from dL/dh_n
        dc = _grad_state(gcn, sc, dt)  # dL/dc_t, starting from dL/dc_n
        # dL/ds of every step, step-major (T, 4, H, B): each step writes its own contiguous block
        # (copying it into the (4H, T, B) layout of the GEMMs after the loop, step by step, cost
        # 1.7-2.3 ms a loop: benchmarks/lstm_backward_loop.py); one transposing copy after the
        # loop gives that layout
        dST = (xp.zeros if sc.mask is not None else xp.empty)((T, 4, H, B), dt)
        whT = xp.ascontiguousarray(_roll_lstm(w_hh).T)
        tmp = xp.empty((H, B), dt)
        for t in reversed(sc.order):
            n = sc.bs[t]
            ds, ds2 = dST[t], dST[t].reshape(4 * H, B)
            dhn, dcn, tn = dh[:, :n], dc[:, :n], tmp[:, :n]
            xp.add(dhn, gy[t, :, :n], out=dhn)  # dL/dh_t += dL/dy_t
            xp.multiply(dhn, OT[t, :, :n], out=tn)
            xp.add(dcn, tn, out=dcn)  # dL/dc_t += dL/dh_t o (1 - tanh^2 c_t)
            xp.multiply(P[t, 1:, :, :n], dcn, out=ds[1:, :, :n])  # dL/ds_{i,f,g}
            xp.multiply(P[t, 0, :, :n], dhn, out=ds[0, :, :n])  # dL/ds_o
            xp.multiply(dcn, Gf[t, :, :n], out=dcn)  # dL/dc_{t-1} = dL/dc_t f
            xp.matmul(whT, ds2[:, :n], out=dhn)  # dL/dh_{t-1} = W_hh^T dL/ds_t
        dS = xp.ascontiguousarray(dST.reshape(T, 4 * H, B).transpose(1, 0, 2))  # (4H, T, B)
        return _seq_grads(self.needs_input_grad, sc, dS, x, _roll_lstm(w_ih),
                          _prev_states(S, sc, T), [dh, dc], _unroll_lstm)


class GRU(Function):
    """The GRU of notes 3.3 with PyTorch's gates over all T steps (see the module docstring).

    Inputs x (T, B, I), h0 (B, H), w_ih (3H, I), w_hh (3H, H), optional b_ih, b_hh (3H,) with gate
    blocks (r, z, n); params lengths, reverse. Outputs y (T, B, H), h_n (B, H).
    """

    fresh_grads = True

    @_wide_blas
    def forward(self, x, h0, w_ih, w_hh, b_ih=None, b_hh=None, *, lengths=None, reverse=False):
        xp = np if type(x) is np.ndarray else get_array_module(x)
        T, B, _ = x.shape
        H = w_hh.shape[1]
        dt = x.dtype
        half = dt.type(0.5)
        sc = _Schedule(lengths, T, B, reverse, dt, x)
        x, h0 = sc.cols(x), sc.rows(h0)
        H2 = 2 * H
        # the rows of the sigmoid gates r, z halved: sigmoid(s) = (1 + tanh(s/2)) / 2; b_hh is an
        # extra column of W_hh against a row of ones under h_{t-1} (b_hn must stay inside r * (.))
        wi = w_ih.copy()
        wi[:H2] *= half
        bi = None
        if b_ih is not None:
            bi = b_ih.copy()
            bi[:H2] *= half
        wh = w_hh.copy() if b_hh is None else xp.concatenate((w_hh, b_hh[:, None]), axis=1)
        wh[:H2] *= half
        G = _input_part(x, wi, bi)  # W_ih x_t + b_ih for every t, (T, 3H, B)
        S = _states(T, H, B, dt, h0, reverse, None if b_hh is None else H + 1)
        A = (xp.zeros if sc.mask is not None else xp.empty)((T, 3 * H, B), dt)  # W_hh h + b_hh
        tmp = xp.empty((H, B), dt)
        off = 0 if reverse else 1
        for t in sc.order:
            p, q, n = t + 1 - off, t + off, sc.bs[t]
            if n < B:
                S[q, :H, n:] = S[p, :H, n:]  # finished / not yet started sequences keep their state
            rz, nt, hp, tn = G[t, :H2, :n], G[t, H2:, :n], S[p, :H, :n], tmp[:, :n]
            xp.matmul(wh, S[p, :, :n], out=A[t, :, :n])  # W_hh h_{t-1} + b_hh
            xp.add(rz, A[t, :H2, :n], out=rz)
            xp.tanh(rz, out=rz)
            xp.multiply(rz, half, out=rz)
            xp.add(rz, half, out=rz)  # r, z = sigmoid(W_i x + b_i + W_h h + b_h)
            xp.multiply(G[t, :H, :n], A[t, H2:, :n], out=tn)  # r * (W_hn h + b_hn)
            xp.add(nt, tn, out=nt)
            xp.tanh(nt, out=nt)  # n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
            xp.subtract(hp, nt, out=tn)
            xp.multiply(tn, G[t, H:H2, :n], out=tn)
            xp.add(nt, tn, out=S[q, :H, :n])  # h_t = (1 - z) n + z h_{t-1} = n + z (h_{t-1} - n)
        self.sc = sc
        self.save(x, S, G, A, w_ih, w_hh)
        return _outputs(S, sc, T, H)

    @_wide_blas
    def backward(self, gy, ghn):
        xp = np if type(gy) is np.ndarray else get_array_module(gy)
        x, S, G, A, w_ih, w_hh = self.saved
        sc, needs = self.sc, self.needs_input_grad
        T, _, B = G.shape
        H = w_hh.shape[1]
        dt = G.dtype
        R, Z, N, An = G[:, :H], G[:, H:2 * H], G[:, 2 * H:], A[:, 2 * H:]
        Hp = _prev_states(S, sc, T)  # h_{t-1} (with the row of ones when b_hh)
        # derivative factors of every step at once
        Pz = xp.subtract(Hp[:, :H], N)
        xp.multiply(Pz, Z, out=Pz)
        Pz -= Pz * Z  # dh_t/ds_z = (h_{t-1} - n) z (1 - z)
        Pn = xp.multiply(N, N)
        xp.subtract(1, Pn, out=Pn)
        Pn -= Pn * Z  # dh_t/ds_n = (1 - z)(1 - n^2)
        Qr = xp.subtract(1, R)
        xp.multiply(Qr, R, out=Qr)
        xp.multiply(Qr, An, out=Qr)  # ds_n/ds_r = (W_hn h_{t-1} + b_hn) r (1 - r)

        gy, dh = _grad_cols(gy, sc), _grad_state(ghn, sc, dt)  # dh: dL/dh_t from dL/dh_n
        # dL/ds in the blocks (n_h, r, z, n_x): [:3H] are the recurrent pre-activations in the order
        # (n, r, z) (n_h = dL/d(W_hn h + b_hn)), [H:] the input ones in PyTorch's order (r, z, n)
        dS = (xp.zeros if sc.mask is not None else xp.empty)((4 * H, T, B), dt)
        ds = xp.empty((4 * H, B), dt)  # one step's, contiguous (copied into dS)
        whT = xp.ascontiguousarray(xp.concatenate((w_hh[2 * H:], w_hh[:2 * H])).T)  # (n, r, z)
        tmp = xp.empty((H, B), dt)
        for t in reversed(sc.order):
            n = sc.bs[t]
            dhn, nx, tn = dh[:, :n], ds[3 * H:, :n], tmp[:, :n]
            xp.add(dhn, gy[t, :, :n], out=dhn)  # dL/dh_t += dL/dy_t
            xp.multiply(dhn, Pz[t, :, :n], out=ds[2 * H:3 * H, :n])  # dL/ds_z
            xp.multiply(dhn, Pn[t, :, :n], out=nx)  # dL/ds_n
            xp.multiply(nx, Qr[t, :, :n], out=ds[H:2 * H, :n])  # dL/ds_r
            xp.multiply(nx, R[t, :, :n], out=ds[:H, :n])  # dL/d(W_hn h + b_hn) = dL/ds_n r
            xp.multiply(dhn, Z[t, :, :n], out=tn)  # the direct path: dh_t/dh_{t-1} = z
            xp.matmul(whT, ds[:3 * H, :n], out=dhn)  # ... plus the gates: W_hh^T dL/ds^h
            xp.add(dhn, tn, out=dhn)  # = dL/dh_{t-1}
            xp.copyto(dS[:, t, :n], ds[:, :n])
        Tb = T * B
        dS = dS.reshape(4 * H, Tb)
        dSx, dSh = dS[H:], dS[:3 * H]
        out = [sc.uncols((dSx.T @ w_ih).reshape(T, B, -1)) if needs[0] else None,
               sc.unrows(xp.ascontiguousarray(dh.T)) if needs[1] else None,  # dL/dh_0
               dSx @ x.reshape(Tb, -1) if needs[2] else None]  # dL/dW_ih = sum dL/ds^x x^T
        if needs[3] or (len(needs) > 5 and needs[5]):
            # [dL/dW_hh | dL/db_hh] = sum dL/ds^h [h_{t-1}; 1]^T, blocks (n, r, z) -> (r, z, n)
            gwh = _nrz_to_rzn(dSh @ _by_rows(Hp))
        out.append(xp.ascontiguousarray(gwh[:, :H]) if needs[3] else None)
        if len(needs) > 4:
            out.append(_row_sum(dSx.T) if needs[4] else None)  # dL/db_ih = sum dL/ds^x
            out.append(xp.ascontiguousarray(gwh[:, H]) if needs[5] else None)
        return tuple(out)


# ---- one-step cells ----------------------------------------------------------------------------
def _affine2(x, h, w_ih, w_hh, b_ih, b_hh):
    s = x @ w_ih.T
    s += h @ w_hh.T
    if b_ih is not None:
        s += b_ih
    if b_hh is not None:
        s += b_hh
    return s


def _cell_grads(needs, dS, x, h, w_ih, w_hh, dh_prev, extra=()):
    """Gradients of a cell from dL/ds (B, G): dL/dx = dL/ds W_ih, dL/dW_ih = dL/ds^T x, ..."""
    out = [dS @ w_ih if needs[0] else None, dh_prev if needs[1] else None, *extra]
    k = 2 + len(extra)
    out.append(dS.T @ x if needs[k] else None)
    out.append(dS.T @ h if needs[k + 1] else None)
    if len(needs) > k + 2:
        out.append(_row_sum(dS) if needs[k + 2] else None)
        out.append(_row_sum(dS) if needs[k + 3] else None)
    return tuple(out)


class RNNCell(Function):
    """h' = f(W_ih x + b_ih + W_hh h + b_hh), f = tanh or relu: one step of ``RNN``."""

    fresh_grads = True

    def forward(self, x, h, w_ih, w_hh, b_ih=None, b_hh=None, *, nonlinearity="tanh"):
        xp = np if type(x) is np.ndarray else get_array_module(x)
        s = _affine2(x, h, w_ih, w_hh, b_ih, b_hh)
        self.relu = nonlinearity == "relu"
        y = xp.maximum(s, 0, out=s) if self.relu else xp.tanh(s, out=s)
        self.save(x, h, y, w_ih, w_hh)
        return y

    def backward(self, gy):
        x, h, y, w_ih, w_hh = self.saved
        dS = gy * (y > 0) if self.relu else gy * (1 - y * y)  # dh'/ds = f'(s)
        dh = dS @ w_hh if self.needs_input_grad[1] else None  # dL/dh = dL/ds W_hh
        return _cell_grads(self.needs_input_grad, dS, x, h, w_ih, w_hh, dh)


class LSTMCell(Function):
    """One LSTM step: (h', c') from (x, h, c) with PyTorch's gates (i, f, g, o)."""

    fresh_grads = True

    def forward(self, x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
        xp = np if type(x) is np.ndarray else get_array_module(x)
        H = h.shape[1]
        s = _affine2(x, h, w_ih, w_hh, b_ih, b_hh)  # (B, 4H) pre-activations
        _sigmoid_into(s[:, :2 * H], s[:, :2 * H])  # i, f
        xp.tanh(s[:, 2 * H:3 * H], out=s[:, 2 * H:3 * H])  # g
        _sigmoid_into(s[:, 3 * H:], s[:, 3 * H:])  # o
        i, f, g, o = s[:, :H], s[:, H:2 * H], s[:, 2 * H:3 * H], s[:, 3 * H:]
        c2 = f * c + i * g  # c' = f c + i g
        tc = xp.tanh(c2)
        self.save(x, h, c, s, tc, w_ih, w_hh)
        return o * tc, c2  # h' = o tanh(c')

    def backward(self, gh, gc):
        xp = np if type(gh) is np.ndarray else get_array_module(gh)
        x, h, c, a, tc, w_ih, w_hh = self.saved
        H = h.shape[1]
        i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
        dc = gc + gh * o * (1 - tc * tc)  # dL/dc' (dh'/dc' = o (1 - tanh^2 c'))
        dS = xp.empty_like(a)
        dS[:, :H] = dc * g * i * (1 - i)  # dL/ds_i = dL/dc' g sigma'
        dS[:, H:2 * H] = dc * c * f * (1 - f)  # dL/ds_f = dL/dc' c sigma'
        dS[:, 2 * H:3 * H] = dc * i * (1 - g * g)  # dL/ds_g = dL/dc' i tanh'
        dS[:, 3 * H:] = gh * tc * o * (1 - o)  # dL/ds_o = dL/dh' tanh(c') sigma'
        needs = self.needs_input_grad
        dh = dS @ w_hh if needs[1] else None  # dL/dh = dL/ds W_hh
        dc_prev = dc * f if needs[2] else None  # dL/dc = dL/dc' f
        return _cell_grads(needs, dS, x, h, w_ih, w_hh, dh, (dc_prev,))


class GRUCell(Function):
    """One GRU step: h' from (x, h) with PyTorch's gates (r, z, n)."""

    fresh_grads = True

    def forward(self, x, h, w_ih, w_hh, b_ih=None, b_hh=None):
        xp = np if type(x) is np.ndarray else get_array_module(x)
        H = h.shape[1]
        si = x @ w_ih.T  # (B, 3H) input part
        if b_ih is not None:
            si += b_ih
        sh = h @ w_hh.T  # (B, 3H) recurrent part
        if b_hh is not None:
            sh += b_hh
        rz = _sigmoid_into(si[:, :2 * H] + sh[:, :2 * H], xp.empty((h.shape[0], 2 * H), h.dtype))
        r, z = rz[:, :H], rz[:, H:]
        hn = sh[:, 2 * H:]  # W_hn h + b_hn
        nn_ = xp.tanh(si[:, 2 * H:] + r * hn)  # n = tanh(W_in x + b_in + r (W_hn h + b_hn))
        self.save(x, h, rz, hn, nn_, w_ih, w_hh)
        return nn_ + z * (h - nn_)  # h' = (1 - z) n + z h

    def backward(self, gy):
        xp = np if type(gy) is np.ndarray else get_array_module(gy)
        x, h, rz, hn, n, w_ih, w_hh = self.saved
        H = h.shape[1]
        r, z = rz[:, :H], rz[:, H:]
        dn = gy * (1 - z) * (1 - n * n)  # dL/ds_n = dL/dh' (1 - z) tanh'
        dSx = xp.empty((h.shape[0], 3 * H), h.dtype)
        dSx[:, :H] = dn * hn * r * (1 - r)  # dL/ds_r = dL/ds_n (W_hn h + b_hn) sigma'
        dSx[:, H:2 * H] = gy * (h - n) * z * (1 - z)  # dL/ds_z = dL/dh' (h - n) sigma'
        dSx[:, 2 * H:] = dn
        dSh = dSx.copy()
        dSh[:, 2 * H:] *= r  # dL/d(W_hn h + b_hn) = dL/ds_n r
        needs = self.needs_input_grad
        dh = None
        if needs[1]:
            dh = dSh @ w_hh  # through the gates
            dh += gy * z  # plus the direct path dh'/dh = z
        out = [dSx @ w_ih if needs[0] else None, dh,
               dSx.T @ x if needs[2] else None, dSh.T @ h if needs[3] else None]
        if len(needs) > 4:
            out.append(_row_sum(dSx) if needs[4] else None)
            out.append(_row_sum(dSh) if needs[5] else None)
        return tuple(out)


# ---- public functions --------------------------------------------------------------------------
def _as_lengths(lengths, T, B, who):
    """lengths as an int64 array of shape (B,) with values in [0, T], or a clear error."""
    if lengths is None:
        return None
    # kept on the host: the time loop's schedule is computed there
    arr = backend.to_host(lengths.data) if isinstance(lengths, Tensor) else np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise OpTypeError(f"{who}: expected integer lengths, got dtype {arr.dtype}")
    if arr.shape != (B,):
        raise OpError(f"{who}: expected lengths of shape ({B},) (one per batch element), got "
                      f"{arr.shape}")
    if B and (arr.min() < 0 or arr.max() > T):
        raise OpError(f"{who}: lengths must lie in [0, {T}] (the input has T = {T} steps), got "
                      f"{arr.tolist()}")
    return arr.astype(np.int64, copy=False)


def _check(who, gates, x, states, w_ih, w_hh, b_ih, b_hh, seq=True):
    """Shapes and dtypes of a recurrent op's operands (x (T, B, I) or (B, I) for a cell)."""
    for name, t in (("input", x), ("w_ih", w_ih), ("w_hh", w_hh)):
        if not isinstance(t, Tensor):
            raise OpTypeError(f"{who}: expected {name} to be a Tensor, got {type(t).__name__}")
    if w_hh.ndim != 2 or w_hh.shape[0] != gates * w_hh.shape[1]:
        raise OpError(f"{who}: expected w_hh of shape ({gates}*H, H), got {tuple(w_hh.shape)}")
    H = w_hh.shape[1]
    G = gates * H
    if w_ih.ndim != 2 or w_ih.shape[0] != G:
        raise OpError(f"{who}: expected w_ih of shape ({G}, input_size), got "
                      f"{tuple(w_ih.shape)}")
    I = w_ih.shape[1]
    want = ("T", "B", I) if seq else ("B", I)
    if x.ndim != len(want) or x.shape[-1] != I:
        raise OpError(f"{who}: expected input ({', '.join(map(str, want))}), got "
                      f"{tuple(x.shape)}")
    B = x.shape[-2]
    for name, b in (("b_ih", b_ih), ("b_hh", b_hh)):
        if b is not None and tuple(b.shape) != (G,):
            raise OpError(f"{who}: expected {name} of shape ({G},), got {tuple(b.shape)}")
    for name, s in states:
        if not isinstance(s, Tensor) or tuple(s.shape) != (B, H):
            got = tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__
            raise OpError(f"{who}: expected {name} of shape ({B}, {H}), got {got}")
    dt = x.dtype
    if dt.kind != "f":
        raise OpTypeError(f"{who}: expected a floating-point input, got dtype {dt}")
    for name, t in (("w_ih", w_ih), ("w_hh", w_hh), ("b_ih", b_ih), ("b_hh", b_hh), *states):
        if t is not None and t.dtype != dt:
            raise OpTypeError(f"{who}: {name} has dtype {t.dtype} but the input has dtype {dt}; "
                              f"convert one of them (e.g. module.to(dtype))")
    return B, H


def _zeros_state(x, B, H):
    xp = np if type(x.data) is np.ndarray else get_array_module(x.data)
    return Tensor._make(xp.zeros((B, H), x.dtype), False, None, 0)


def _apply_seq(fn, who, gates, input, states, w_ih, w_hh, b_ih, b_hh, lengths, reverse, **kw):
    named = [("h0" if k == 0 else "c0", s) for k, s in enumerate(states) if s is not None]
    B, H = _check(who, gates, input, named, w_ih, w_hh, b_ih, b_hh)
    T = input.shape[0]
    if T == 0:
        raise OpError(f"{who}: expected at least one time step, got input {tuple(input.shape)}")
    lengths = _as_lengths(lengths, T, B, who)
    states = [s if s is not None else _zeros_state(input, B, H) for s in states]
    ws = (w_ih, w_hh) + _biases(who, b_ih, b_hh)
    return fn.apply(input, *states, *ws, lengths=lengths, reverse=bool(reverse), **kw)


def _biases(who, b_ih, b_hh):
    if (b_ih is None) != (b_hh is None):
        raise OpError(f"{who}: pass both b_ih and b_hh or neither")
    return () if b_ih is None else (b_ih, b_hh)


def rnn(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, *, nonlinearity="tanh", lengths=None,
        reverse=False):
    """One layer of the plain RNN over a whole sequence, in one direction (notes 3.1):

        h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   f = tanh or relu

    (the notes' s_t = f(U x_t + W s_{t-1})), with BPTT in one node.

    Shapes: input (T, B, I), hx (B, H) or None (zeros), w_ih (H, I), w_hh (H, H), b_ih, b_hh (H,)
    -> (output (T, B, H), h_n (B, H)). ``lengths`` (B,) ints in [0, T]: sequence b has
    lengths[b] real steps (outputs 0 after them; h_n is its state at its last real step).
    ``reverse``: run from the last real step to the first.

    Example::

        >>> y, hn = rnn(x, None, w_ih, w_hh, b_ih, b_hh)          # x (5, 3, 10), H = 20
        >>> y.shape, hn.shape                                      # (5, 3, 20), (3, 20)
    """
    if nonlinearity not in ("tanh", "relu"):
        raise OpError(f"rnn: unknown nonlinearity {nonlinearity!r}; expected 'tanh' or 'relu'")
    return _apply_seq(RNN, f"rnn_{nonlinearity}", 1, input, [hx], w_ih, w_hh, b_ih, b_hh,
                      lengths, reverse, nonlinearity=nonlinearity)


def lstm(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, *, lengths=None, reverse=False):
    """One LSTM layer over a whole sequence, in one direction (notes 3.2), BPTT in one node:

        i, f, o = sigmoid(W_i. x_t + b_i. + W_h. h_{t-1} + b_h.),  g = tanh(W_ig x_t + ... )
        c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)

    Shapes: input (T, B, I), hx = (h0, c0) each (B, H), or None (zeros); w_ih (4H, I), w_hh (4H, H),
    b_ih, b_hh (4H,), gate blocks (i, f, g, o) -> (output (T, B, H), (h_n, c_n)).
    ``lengths`` and ``reverse`` as in :func:`rnn`.

    Example::

        >>> y, (hn, cn) = lstm(x, None, w_ih, w_hh, b_ih, b_hh)   # x (5, 3, 10), H = 20
    """
    h0, c0 = (None, None) if hx is None else hx
    y, hn, cn = _apply_seq(LSTM, "lstm", 4, input, [h0, c0], w_ih, w_hh, b_ih, b_hh, lengths,
                           reverse)
    return y, (hn, cn)


def gru(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, *, lengths=None, reverse=False):
    """One GRU layer over a whole sequence, in one direction (notes 3.3), BPTT in one node:

        r, z = sigmoid(W_i. x_t + b_i. + W_h. h_{t-1} + b_h.)
        n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn)),   h_t = (1 - z) * n + z * h_{t-1}

    Shapes: input (T, B, I), hx (B, H) or None; w_ih (3H, I), w_hh (3H, H), b_ih, b_hh (3H,), gate
    blocks (r, z, n) -> (output (T, B, H), h_n (B, H)). ``lengths``, ``reverse`` as in :func:`rnn`.
    """
    return _apply_seq(GRU, "gru", 3, input, [hx], w_ih, w_hh, b_ih, b_hh, lengths, reverse)


def _apply_cell(fn, who, gates, input, states, w_ih, w_hh, b_ih, b_hh, **kw):
    named = [("hx" if k == 0 else "cx", s) for k, s in enumerate(states) if s is not None]
    B, H = _check(who, gates, input, named, w_ih, w_hh, b_ih, b_hh, seq=False)
    states = [s if s is not None else _zeros_state(input, B, H) for s in states]
    return fn.apply(input, *states, w_ih, w_hh, *_biases(who, b_ih, b_hh), **kw)


def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One step h' = tanh(W_ih x + b_ih + W_hh h + b_hh); input (B, I), hx (B, H) or None."""
    return _apply_cell(RNNCell, "rnn_tanh_cell", 1, input, [hx], w_ih, w_hh, b_ih, b_hh,
                       nonlinearity="tanh")


def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One step h' = relu(W_ih x + b_ih + W_hh h + b_hh); input (B, I), hx (B, H) or None."""
    return _apply_cell(RNNCell, "rnn_relu_cell", 1, input, [hx], w_ih, w_hh, b_ih, b_hh,
                       nonlinearity="relu")


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step -> (h', c'); input (B, I), hx = (h, c) each (B, H) or None; weights as
    :func:`lstm`."""
    h, c = (None, None) if hx is None else hx
    return _apply_cell(LSTMCell, "lstm_cell", 4, input, [h, c], w_ih, w_hh, b_ih, b_hh)


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step -> h'; input (B, I), hx (B, H) or None; weights as :func:`gru`."""
    return _apply_cell(GRUCell, "gru_cell", 3, input, [hx], w_ih, w_hh, b_ih, b_hh)
