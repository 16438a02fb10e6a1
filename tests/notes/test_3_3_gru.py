"""Notes 3.3: the GRU, written out from the notes and run against nn.GRU.

    z_t = f(W_z (h_{t-1}, x_t))                update gate
    r_t = f(W_r (h_{t-1}, x_t))                reset gate
    h~_t = f(W (x_t, r_t h_{t-1}))             new information from the input
    h_t = (1 - z_t) h_{t-1} + z_t h~_t         hidden state

chainrule follows PyTorch (and cuDNN): gates (r, z, n) stacked along the rows of weight_ih (3H, I)
and weight_hh (3H, H), and

    n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn)),   h_t = (1 - z_t) n_t + z_t h_{t-1}.

Two conventions differ from the notes: (1) z and 1 - z are swapped, which is only a change of
sign of the z weights (1 - sigmoid(a) = sigmoid(-a)): the notes' z_t is 1 - PyTorch's; (2) the
reset gate multiplies W_hn h_{t-1} + b_hn, after the matrix product, where the notes (and Cho et
al. 2014) multiply h_{t-1} before it. The two agree when W_hn is diagonal and b_hn = 0, and not
in general.
"""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

from . import _recurrent
from ._common import close, sigmoid, t


def _blocks(layer):
    H = layer.hidden_size
    names = ("r", "z", "n")
    Wi = {g: layer.weight_ih_l0[k * H:(k + 1) * H] for k, g in enumerate(names)}
    Wh = {g: layer.weight_hh_l0[k * H:(k + 1) * H] for k, g in enumerate(names)}
    bi = {g: layer.bias_ih_l0[k * H:(k + 1) * H] for k, g in enumerate(names)}
    bh = {g: layer.bias_hh_l0[k * H:(k + 1) * H] for k, g in enumerate(names)}
    return Wi, Wh, bi, bh


def _pytorch_gru(layer):
    Wi, Wh, bi, bh = _blocks(layer)

    def run(x, h, _c):
        outs = []
        for k in range(x.shape[0]):
            r = cr.sigmoid(x[k] @ Wi["r"].T + bi["r"] + h @ Wh["r"].T + bh["r"])
            z = cr.sigmoid(x[k] @ Wi["z"].T + bi["z"] + h @ Wh["z"].T + bh["z"])
            n = cr.tanh(x[k] @ Wi["n"].T + bi["n"] + r * (h @ Wh["n"].T + bh["n"]))
            h = (1 - z) * n + z * h
            outs.append(h)
        return outs, h, None
    return run


def _notes_gru_numpy(layer, x, h):
    """The notes' four equations, with W_z = -(PyTorch's z weights) so that z_notes = 1 - z."""
    Wi, Wh, bi, bh = (
        {g: v.numpy() for g, v in d.items()} for d in _blocks(layer))
    Wz = -np.concatenate([Wh["z"], Wi["z"]], axis=1)               # acts on (h_{t-1}, x_t)
    bz = -(bi["z"] + bh["z"])
    Wr = np.concatenate([Wh["r"], Wi["r"]], axis=1)
    br = bi["r"] + bh["r"]
    Wn = np.concatenate([Wi["n"], Wh["n"]], axis=1)                # acts on (x_t, r_t h_{t-1})
    bn = bi["n"] + bh["n"]
    outs = []
    for k in range(x.shape[0]):
        hx = np.concatenate([h, x[k]], axis=1)
        z = sigmoid(hx @ Wz.T + bz)
        r = sigmoid(hx @ Wr.T + br)
        h_tilde = np.tanh(np.concatenate([x[k], r * h], axis=1) @ Wn.T + bn)
        h = (1 - z) * h + z * h_tilde
        outs.append(h)
    return np.array(outs)


def test_gru_equations_equal_nn_gru_values_and_gradients():
    """nn.GRU (fused, hand-written BPTT) = PyTorch's form of the equations unrolled in chainrule's
    elementary ops: outputs, h_T and the gradients of every parameter, x_t and h_0."""
    cr.manual_seed(0)
    layer = nn.GRU(3, 4)
    x, h0, _ = _recurrent.data()
    _recurrent.compare_with_layer(layer, _pytorch_gru(layer), x, h0)


def test_notes_gru_equals_nn_gru_when_the_conventions_meet():
    """With W_hn diagonal and b_hn = 0 the notes' equations (z swapped by a sign of its weights,
    reset before the product) give nn.GRU's outputs exactly; with a full W_hn they do not, and
    the layer follows PyTorch's form (checked above)."""
    cr.manual_seed(1)
    layer = nn.GRU(3, 4)
    H = 4
    x, h0, _ = _recurrent.data(seed=2)
    out, _ = layer(t(x), t(h0[None]))
    assert not np.allclose(out.numpy(), _notes_gru_numpy(layer, x, h0), atol=1e-6)
    rng = np.random.default_rng(3)
    layer.weight_hh_l0.data[2 * H:] = np.diag(rng.standard_normal(H))
    layer.bias_hh_l0.data[2 * H:] = 0.0
    out, _ = layer(t(x), t(h0[None]))
    close(out, _notes_gru_numpy(layer, x, h0))


def test_gru_cell_is_one_step_of_the_layer():
    """GRUCell applies the same update once: stepping it T times gives nn.GRU's outputs."""
    cr.manual_seed(4)
    layer = nn.GRU(3, 4)
    cell = nn.GRUCell(3, 4)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(cell, name).data[...] = getattr(layer, name + "_l0").numpy()
    x, h0, _ = _recurrent.data(seed=6)
    out, _ = layer(t(x), t(h0[None]))
    h = t(h0)
    for k in range(x.shape[0]):
        h = cell(t(x[k]), h)
        close(h, out.numpy()[k])


def test_gate_layout_is_pytorchs():
    """The form the code follows (gates (r, z, n), reset after the product, h = (1 - z) n + z h)
    is PyTorch's: the notes' equations with the two conventions mapped give torch.nn.GRU's
    outputs when they meet (W_hn diagonal, b_hn = 0), with chainrule's weights (torch as oracle)."""
    torch = pytest.importorskip("torch")
    cr.manual_seed(5)
    layer = nn.GRU(3, 4)
    H = 4
    layer.weight_hh_l0.data[2 * H:] = np.diag(np.random.default_rng(5).standard_normal(H))
    layer.bias_hh_l0.data[2 * H:] = 0.0
    x, h0, _ = _recurrent.data(seed=9)
    out, _ = _recurrent.torch_twin(layer, torch)(torch.from_numpy(x), torch.from_numpy(h0[None]))
    close(out.detach().numpy(), _notes_gru_numpy(layer, x, h0))
    close(layer(t(x), t(h0[None]))[0], out.detach().numpy())
