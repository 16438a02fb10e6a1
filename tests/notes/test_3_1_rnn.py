"""Notes 3.1: the vanilla RNN and back-propagation through time.

    s_t = f(U x_t + W s_{t-1}),   o_t = g(V s_t)

chainrule's nn.RNN has U = weight_ih, W = weight_hh (plus the biases b_ih + b_hh, which the notes
leave out; bias=False is the notes' form exactly) and f = tanh or relu. BPTT is the chain rule of
1.2 run backwards in time: with D_t = diag(f'(s_t)) and Delta s_t = dL/ds_t (all paths),

    Delta s_t = V^T Delta o_t + W^T D_{t+1} Delta s_{t+1},
    Delta W = sum_t D_t Delta s_t s_{t-1}^T,   Delta U = sum_t D_t Delta s_t x_t^T,
    Delta x_t = U^T D_t Delta s_t,   Delta s_0 = W^T D_1 Delta s_1.
"""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F

from . import _recurrent
from ._common import close, t


def _notes_rnn(layer, f):
    U, W = layer.weight_ih_l0, layer.weight_hh_l0
    b = (layer.bias_ih_l0 + layer.bias_hh_l0) if layer.bias else 0

    def run(x, s, _c):
        outs = []
        for k in range(x.shape[0]):
            s = f(x[k] @ U.T + s @ W.T + b)           # s_t = f(U x_t + W s_{t-1})
            outs.append(s)
        return outs, s, None
    return run


@pytest.mark.parametrize("nonlinearity,bias", [("tanh", False), ("tanh", True), ("relu", True)])
def test_rnn_equations_and_bptt_equal_unrolled_autograd(nonlinearity, bias):
    """nn.RNN (one fused op, hand-written BPTT) = the notes' recursion unrolled in chainrule's
    elementary ops, in values and in the gradients of U, W, b, every x_t and s_0."""
    cr.manual_seed(0)
    layer = nn.RNN(3, 4, nonlinearity=nonlinearity, bias=bias)
    x, h0, _ = _recurrent.data()
    f = cr.tanh if nonlinearity == "tanh" else cr.relu
    _recurrent.compare_with_layer(layer, _notes_rnn(layer, f), x, h0)


def test_bptt_by_hand_equals_autograd():
    """The BPTT recursion above, in NumPy, for a tanh RNN with o_t = softmax(V s_t) and the
    log-likelihood L = sum_t log o_t[y_t], against chainrule's gradients of nn.RNN + nn.Linear."""
    cr.manual_seed(1)
    rnn, readout = nn.RNN(3, 4, bias=False), nn.Linear(4, 5, bias=False)
    rng = np.random.default_rng(2)
    T = 6
    x0, y = rng.standard_normal((T, 1, 3)), rng.integers(0, 5, T)
    s0 = rng.standard_normal(4) * 0.5
    x, h = t(x0, grad=True), t(s0.reshape(1, 1, 4), grad=True)
    out, _ = rnn(x, h)
    L = -F.cross_entropy(readout(out.reshape(T, 4)), cr.tensor(y), reduction="sum")
    L.backward()

    U, W, V = rnn.weight_ih_l0.numpy(), rnn.weight_hh_l0.numpy(), readout.weight.numpy()
    s = [s0]
    for k in range(T):
        s.append(np.tanh(U @ x0[k, 0] + W @ s[-1]))
    dU, dW, dV = np.zeros_like(U), np.zeros_like(W), np.zeros_like(V)
    dx = np.zeros((T, 3))
    carry = np.zeros(4)                                     # W^T D_{t+1} Delta s_{t+1}
    for k in range(T - 1, -1, -1):
        a = V @ s[k + 1]
        o = np.exp(a - a.max())
        o /= o.sum()
        d_o = np.eye(5)[y[k]] - o                           # Delta o_t = Y_t - o_t (2.2)
        dV += np.outer(d_o, s[k + 1])
        ds = V.T @ d_o + carry                              # Delta s_t
        D = np.diag(1 - s[k + 1] ** 2)                      # tanh' = 1 - s_t^2
        dW += np.outer(D @ ds, s[k])
        dU += np.outer(D @ ds, x0[k, 0])
        dx[k] = U.T @ D @ ds
        carry = W.T @ D @ ds
    close(rnn.weight_ih_l0.grad, dU)
    close(rnn.weight_hh_l0.grad, dW)
    close(readout.weight.grad, dV)
    close(x.grad.numpy()[:, 0], dx)
    close(h.grad.numpy()[0, 0], carry)                      # Delta s_0
