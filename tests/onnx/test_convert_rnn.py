"""ONNX export of the recurrent layers: LSTM, GRU and RNN (stacked, bidirectional, batch_first,
given initial states) as ONNX LSTM/GRU/RNN nodes with reordered gates, and the one-step cells."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

from .helpers import roundtrip


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU], ids=["LSTM", "GRU"])
@pytest.mark.parametrize("kw", [
    dict(),
    dict(num_layers=2, bidirectional=True),
    dict(batch_first=True, bias=False),
], ids=["plain", "stacked-bidirectional", "batch_first-nobias"])
def test_lstm_gru_layers(tmp_path, cls, kw):
    model = cls(5, 6, **kw)
    shape = (2, 4, 5) if kw.get("batch_first") else (4, 2, 5)
    other = (3, 4, 5) if kw.get("batch_first") else (4, 3, 5)
    proto, _ = roundtrip(model, cr.randn(*shape), tmp_path, others=[cr.randn(*other)],
                         dynamic_batch=0 if kw.get("batch_first") else 1)
    layers = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    nodes = [n for n in proto.graph.node if n.op_type == cls.__name__]
    assert len(nodes) == layers  # one ONNX node per layer and direction
    if cls is nn.GRU:
        attrs = {a.name: a.i for a in nodes[0].attribute if a.name == "linear_before_reset"}
        assert attrs == {"linear_before_reset": 1}


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_plain_rnn(tmp_path, nonlinearity):
    model = nn.RNN(3, 4, num_layers=2, nonlinearity=nonlinearity)
    roundtrip(model, cr.randn(5, 2, 3), tmp_path, others=[cr.randn(5, 6, 3)], dynamic_batch=1)


def test_given_initial_states_are_graph_inputs(tmp_path):
    model = nn.LSTM(3, 4, num_layers=2)

    class WithState(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = model

        def forward(self, x, h0, c0):
            return self.lstm(x, (h0, c0))

    x, h0, c0 = cr.randn(5, 2, 3), cr.randn(2, 2, 4), cr.randn(2, 2, 4)
    other = (cr.randn(5, 3, 3), cr.randn(2, 3, 4), cr.randn(2, 3, 4))
    proto, sess = roundtrip(WithState(), (x, h0, c0), tmp_path, others=[other],
                            input_names=["x", "h0", "c0"], output_names=["y", "hn", "cn"],
                            dynamic_batch=(1, 1, 1))  # the batch is dim 1 of all three
    assert [i.name for i in sess.get_inputs()] == ["x", "h0", "c0"]
    assert sess.get_inputs()[1].shape == [2, "batch", 4]
    assert [o.name for o in sess.get_outputs()] == ["y", "hn", "cn"]


def test_gate_order_is_what_onnx_expects(tmp_path):
    """Only the LSTM's forget gate open on a constant input: a wrong gate order changes h."""
    model = nn.LSTM(1, 1)
    for p in model.parameters():
        p.data[...] = 0
    model.bias_ih_l0.data[...] = [2.0, -1.0, 0.5, 3.0]  # i, f, g, o
    model.weight_ih_l0.data[...] = [[1.0], [0.0], [1.5], [-1.0]]
    roundtrip(model, cr.ones(3, 1, 1), tmp_path, others=[cr.full((3, 2, 1), -0.5)],
              dynamic_batch=1)


class Unrolled(nn.Module):
    """Three steps of each cell, the state carried from step to step."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTMCell(3, 4)
        self.gru = nn.GRUCell(3, 4)
        self.rnn = nn.RNNCell(3, 4, nonlinearity="relu")

    def forward(self, x):  # x (T, N, 3)
        h = c = g = r = None
        for t in range(x.shape[0]):
            h, c = self.lstm(x[t], None if h is None else (h, c))
            g = self.gru(x[t], g)
            r = self.rnn(x[t], r)
        return h, c, g, r


def test_cells_unrolled_over_steps(tmp_path):
    proto, _ = roundtrip(Unrolled(), cr.randn(3, 2, 3), tmp_path, others=[cr.randn(3, 5, 3)],
                         dynamic_batch=1)  # time-major: the batch is dim 1
    kinds = [n.op_type for n in proto.graph.node]
    assert kinds.count("LSTM") == 3 and kinds.count("GRU") == 3 and kinds.count("RNN") == 3


def test_variable_lengths_are_refused_with_a_clear_error(tmp_path):
    from chainrule.onnx import ExportError

    class Packed(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(2, 3)

        def forward(self, x):
            return self.gru(x, lengths=np.array([4, 2]))[0]

    with pytest.raises(ExportError, match=r"op GRU .* in module 'gru' \(GRU\).*lengths"):
        cr.onnx.export(Packed(), cr.randn(4, 2, 2), tmp_path / "m.onnx", dynamic_batch=False)
    assert not (tmp_path / "m.onnx").exists()
