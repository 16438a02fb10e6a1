"""ONNX RNN, LSTM and GRU nodes for chainrule's whole-sequence recurrent ops and their cells.

chainrule keeps PyTorch's weight layout: weights (G*H, in) with the gate blocks stacked along the
rows, LSTM in the order (i, f, g, o), GRU (r, z, n). ONNX stacks its gates as LSTM (i, o, f, c) and
GRU (z, r, h), per direction: W (1, G*H, in), R (1, G*H, H), B (1, 2 G*H) = [W_b; R_b]. The blocks
are reordered into new initializers. The equations agree once the blocks match: ONNX's GRU with
linear_before_reset=1 computes n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) and
h' = (1 - z) * n + z * h, as chainrule (and PyTorch) do.

One chainrule op is one layer in one direction; ``reverse`` becomes direction="reverse". The
outputs Y (T, 1, B, H) and Y_h, Y_c (1, B, H) lose their direction axis. A cell is the same node
on a sequence of one step.
"""
from __future__ import annotations

import numpy as np

from ..ops import recurrent as R
from ._registry import converts

# chainrule's gate block for each of ONNX's, in ONNX's order
_ORDER = {"LSTM": (0, 3, 1, 2),  # (i, f, g, o) -> (i, o, f, c)
          "GRU": (1, 0, 2),  # (r, z, n) -> (z, r, h)
          "RNN": (0,)}
_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _reorder(a, kind):
    H = a.shape[0] // _GATES[kind]
    return np.concatenate([a[b * H:(b + 1) * H] for b in _ORDER[kind]])


def _weights(g, node, kind, w_ih, w_hh, b_ih, b_hh):
    """Names of the W, R and B initializers (B "" without biases)."""
    wi = _reorder(g.array_of(w_ih, "the input weight w_ih of a recurrent layer"), kind)
    wh = _reorder(g.array_of(w_hh, "the recurrent weight w_hh of a recurrent layer"), kind)
    W = g.const(wi[None], f"{w_ih.name}.onnx_W")
    Rw = g.const(wh[None], f"{w_hh.name}.onnx_R")
    if b_ih is None:
        return W, Rw, ""
    bi = _reorder(g.array_of(b_ih, "the bias b_ih of a recurrent layer"), kind)
    bh = _reorder(g.array_of(b_hh, "the bias b_hh of a recurrent layer"), kind)
    B = g.const(np.concatenate([bi, bh])[None], f"{b_ih.name}.onnx_B")
    return W, Rw, B


def _state(g, v):
    """An initial state (B, H) as (1, B, H), or "" when it is a constant zero (ONNX's default)."""
    if v.kind == "const" and not v.data_dependent and not np.any(v.array):
        return ""
    return g.unsqueeze(g.use(v), [0])


def _check_lengths(g, node):
    lengths = node.params.get("lengths")
    T = node.inputs[0].shape[0]
    seconds = node.varying.get("lengths", (None, lengths))[1]
    for arr in (lengths, seconds):
        if arr is not None and not np.all(np.asarray(arr) == T):
            g.fail("variable sequence lengths (lengths= or a PackedSequence) are not exported; "
                   "export the model on full-length sequences")


def _operands(g, node, kind, n_states):
    """The node's input x, its initial states, ONNX's W, R and B (gates reordered) and H."""
    x = node.inputs[0]
    states = node.inputs[1:1 + n_states]
    w_ih, w_hh, b_ih, b_hh = (list(node.inputs[1 + n_states:]) + [None, None])[:4]
    W, Rw, B = _weights(g, node, kind, w_ih, w_hh, b_ih, b_hh)
    return x, states, W, Rw, B, w_hh.shape[1]


def _sequence(g, node, kind, n_states, **attrs):
    """A whole-sequence op: x (T, B, I), states, weights -> y (T, B, H), final states (B, H)."""
    _check_lengths(g, node)
    x, states, W, Rw, B, H = _operands(g, node, kind, n_states)
    ins = [g.use(x), W, Rw, B, ""] + [_state(g, s) for s in states]
    outs = g.add(kind, ins, 1 + n_states, hidden_size=H,
                 direction="reverse" if node.params.get("reverse") else "forward", **attrs)
    y, *finals = outs
    g.squeeze(y, [1], node.outputs[0])
    for f, out in zip(finals, node.outputs[1:]):
        g.squeeze(f, [0], out)


def _cell(g, node, kind, n_states, **attrs):
    """One step: x (B, I) as a sequence of one step; returns the new states (B, H)."""
    x, states, W, Rw, B, H = _operands(g, node, kind, n_states)
    ins = [g.unsqueeze(g.use(x), [0]), W, Rw, B, ""] + [_state(g, s) for s in states]
    finals = [g.tmp(f"{kind.lower()}_state") for _ in range(n_states)]
    g.add(kind, ins, [""] + finals, hidden_size=H, **attrs)
    for f, out in zip(finals, node.outputs):
        g.squeeze(f, [0], out)


def _activation(node):
    return ["Relu" if node.params.get("nonlinearity") == "relu" else "Tanh"]


@converts(R.LSTM, varying=("lengths",))
def lstm(g, node):
    _sequence(g, node, "LSTM", 2)


@converts(R.GRU, varying=("lengths",))
def gru(g, node):
    _sequence(g, node, "GRU", 1, linear_before_reset=1)


@converts(R.RNN, varying=("lengths",))
def rnn(g, node):
    _sequence(g, node, "RNN", 1, activations=_activation(node))


@converts(R.LSTMCell)
def lstm_cell(g, node):
    _cell(g, node, "LSTM", 2)


@converts(R.GRUCell)
def gru_cell(g, node):
    _cell(g, node, "GRU", 1, linear_before_reset=1)


@converts(R.RNNCell)
def rnn_cell(g, node):
    _cell(g, node, "RNN", 1, activations=_activation(node))
