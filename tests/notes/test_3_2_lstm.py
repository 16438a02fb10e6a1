"""Notes 3.2: the LSTM, written out from the notes and run against nn.LSTM.

    Delta c_t = f(W_c (h_{t-1}, x_t))     representation of the input
    i_t = f(W_i (h_{t-1}, x_t))           input gate
    f_t = f(W_f (h_{t-1}, x_t))           forget gate
    c_t = c_{t-1} f_t + Delta c_t i_t     cell state
    o_t = f(W_o (h_{t-1}, x_t))           output gate
    h_t = o_t f(c_t)                      hidden state

Mapping to chainrule (PyTorch's layout): the four gates are stacked along the rows of weight_ih
(4H, I) and weight_hh (4H, H) in the order (i, f, g, o), g being the notes' Delta c_t; the notes'
W_x acting on the concatenation (h_{t-1}, x_t) is [weight_hh rows of x | weight_ih rows of x],
plus the two biases. The f of the gates is the sigmoid; the f of Delta c_t and of h_t = o_t f(c_t)
is tanh (the notes use one letter f for both).
"""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.ops import cat

from . import _recurrent
from ._common import close, sigmoid, t

GATES = {"i": 0, "f": 1, "c": 2, "o": 3}        # notes' name -> block in PyTorch's (i, f, g, o)


def _W(layer, gate):
    """The notes' W_gate acting on (h_{t-1}, x_t), and its bias, from the layer's parameters."""
    H = layer.hidden_size
    rows = slice(GATES[gate] * H, (GATES[gate] + 1) * H)
    W = cat([layer.weight_hh_l0[rows], layer.weight_ih_l0[rows]], dim=1)     # (H, H + I)
    return W, layer.bias_ih_l0[rows] + layer.bias_hh_l0[rows]


def _notes_lstm(layer):
    W = {g: _W(layer, g) for g in GATES}

    def gate(g, hx):
        return hx @ W[g][0].T + W[g][1]

    def run(x, h, c):
        outs = []
        for k in range(x.shape[0]):
            hx = cat([h, x[k]], dim=1)                     # (h_{t-1}, x_t)
            delta_c = cr.tanh(gate("c", hx))
            i, f = cr.sigmoid(gate("i", hx)), cr.sigmoid(gate("f", hx))
            c = c * f + delta_c * i                        # c_t = c_{t-1} f_t + Delta c_t i_t
            o = cr.sigmoid(gate("o", hx))
            h = o * cr.tanh(c)                             # h_t = o_t f(c_t)
            outs.append(h)
        return outs, h, c
    return run


def test_lstm_equations_equal_nn_lstm_values_and_gradients():
    """nn.LSTM (fused, hand-written BPTT) = the notes' six equations unrolled in chainrule's
    elementary ops: outputs h_t, h_T, c_T, and the gradients of weight_ih, weight_hh, both biases,
    every x_t, h_0 and c_0."""
    cr.manual_seed(0)
    layer = nn.LSTM(3, 4)
    x, h0, c0 = _recurrent.data(lstm=True)
    _recurrent.compare_with_layer(layer, _notes_lstm(layer), x, h0, c0)


def test_lstm_equations_in_numpy_equal_nn_lstm():
    """The same equations in plain NumPy (no chainrule op involved) give nn.LSTM's outputs."""
    cr.manual_seed(1)
    layer = nn.LSTM(3, 5)
    x, h, c = _recurrent.data(T=4, B=3, I=3, H=5, lstm=True, seed=4)
    out, (hn, cn) = layer(t(x), (t(h[None]), t(c[None])))
    W = {g: tuple(a.numpy() for a in _W(layer, g)) for g in GATES}
    for k in range(x.shape[0]):
        hx = np.concatenate([h, x[k]], axis=1)
        a = {g: hx @ W[g][0].T + W[g][1] for g in GATES}
        c = c * sigmoid(a["f"]) + np.tanh(a["c"]) * sigmoid(a["i"])
        h = sigmoid(a["o"]) * np.tanh(c)
        close(out.numpy()[k], h)
    close(hn.numpy()[0], h)
    close(cn.numpy()[0], c)


def test_open_gates_make_the_cell_a_residual_sum():
    """"The residual net is a special case of LSTM": with the forget and input gates held open
    (f_t = i_t = 1 by large biases), c_t = c_{t-1} + Delta c_t, so c_T = c_0 + sum_t Delta c_t."""
    cr.manual_seed(2)
    layer = nn.LSTM(3, 4)
    H = 4
    layer.bias_ih_l0.data[0:2 * H] = 60.0                  # i and f: sigmoid(60 + ...) = 1
    x, h0, c0 = _recurrent.data(T=6, lstm=True, seed=5)
    out, (_, cn) = layer(t(x), (t(h0[None]), t(c0[None])))
    Wc, bc = (a.numpy() for a in _W(layer, "c"))
    h, total = h0, c0.copy()
    for k in range(6):
        total = total + np.tanh(np.concatenate([h, x[k]], axis=1) @ Wc.T + bc)
        h = out.numpy()[k]
    close(cn.numpy()[0], total)


def test_gate_layout_is_pytorchs():
    """The mapping above (gates (i, f, g, o) along the rows, two biases) is PyTorch's: the notes'
    equations in NumPy, with chainrule's weights, give torch.nn.LSTM's outputs (torch as oracle)."""
    torch = pytest.importorskip("torch")
    cr.manual_seed(3)
    layer = nn.LSTM(3, 4)
    x, h, c = _recurrent.data(lstm=True, seed=8)
    out, (hn, cn) = _recurrent.torch_twin(layer, torch)(
        torch.from_numpy(x), (torch.from_numpy(h[None]), torch.from_numpy(c[None])))
    W = {g: tuple(a.numpy() for a in _W(layer, g)) for g in GATES}
    for k in range(x.shape[0]):
        hx = np.concatenate([h, x[k]], axis=1)
        a = {g: hx @ W[g][0].T + W[g][1] for g in GATES}
        c = c * sigmoid(a["f"]) + np.tanh(a["c"]) * sigmoid(a["i"])
        h = sigmoid(a["o"]) * np.tanh(c)
        close(out.detach().numpy()[k], h)
    close(cn.detach().numpy()[0], c)
