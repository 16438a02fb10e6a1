"""The fused whole-sequence ops rnn / lstm / gru and the cells: gradient checks in float64 on tiny
sizes (with lengths and reverse), values against torch, what padding does, and clear errors."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import ops
from chainrule.autograd import gradcheck

T, B, I, H = 3, 2, 2, 3
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def seq_fn(kind, lengths=None, reverse=False):
    """f(x, h0[, c0], w_ih, w_hh, b_ih, b_hh) -> all outputs, for gradcheck."""
    if kind == "lstm":
        def f(x, h0, c0, *w):
            y, (hn, cn) = ops.lstm(x, (h0, c0), *w, lengths=lengths, reverse=reverse)
            return y, hn, cn
    elif kind == "gru":
        def f(x, h0, *w):
            return ops.gru(x, h0, *w, lengths=lengths, reverse=reverse)
    else:
        def f(x, h0, *w):
            return ops.rnn(x, h0, *w, nonlinearity=kind[4:], lengths=lengths, reverse=reverse)
    return f


def seq_inputs(kind, seed=0, T=T, B=B, bias=True):
    rng = np.random.default_rng(seed)
    G = GATES[kind] * H
    shapes = [(T, B, I)] + [(B, H)] * (2 if kind == "lstm" else 1) + [(G, I), (G, H)]
    if bias:
        shapes += [(G,), (G,)]
    arrs = [rng.uniform(-0.9, 0.9, s) for s in shapes]
    if kind == "rnn_relu":  # keep pre-activations away from relu's kink
        arrs[0] = arrs[0] + np.sign(arrs[0]) * 0.3
    return [cr.tensor(a, requires_grad=True) for a in arrs]


@pytest.mark.parametrize("kind", list(GATES))
@pytest.mark.parametrize("lengths,reverse", [(None, False), (None, True), ([2, 3], False),
                                             ([1, 3], True), ([3, 0], False)])
def test_gradcheck_sequence(kind, lengths, reverse):
    inputs = seq_inputs(kind)
    assert gradcheck(seq_fn(kind, lengths, reverse), inputs)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_gradcheck_without_bias(kind):
    assert gradcheck(seq_fn(kind, [3, 1]), seq_inputs(kind, seed=1, bias=False))


@pytest.mark.parametrize("kind", list(GATES))
def test_gradcheck_cells(kind):
    rng = np.random.default_rng(2)
    G = GATES[kind] * H
    n = 2 if kind == "lstm" else 1
    arrs = [rng.uniform(-0.9, 0.9, s) for s in [(B, I)] + [(B, H)] * n + [(G, I), (G, H), (G,),
                                                                              (G,)]]
    ts = [cr.tensor(a, requires_grad=True) for a in arrs]
    cell = {"rnn_tanh": ops.rnn_tanh_cell, "rnn_relu": ops.rnn_relu_cell, "gru": ops.gru_cell}
    if kind == "lstm":
        assert gradcheck(lambda x, h, c, *w: ops.lstm_cell(x, (h, c), *w), ts)
    else:
        assert gradcheck(lambda x, h, *w: cell[kind](x, h, *w), ts)


def torch_layer(kind, torch, inputs, reverse):
    """torch's single-layer module holding our weights (in the reverse slot when reverse)."""
    cls = {"rnn": torch.nn.RNN, "lst": torch.nn.LSTM, "gru": torch.nn.GRU}[kind[:3]]
    kw = {"nonlinearity": kind[4:]} if kind.startswith("rnn") else {}
    m = cls(I, H, bidirectional=reverse, dtype=torch.float64, **kw)
    w = inputs[-4:]
    sfx = "_reverse" if reverse else ""
    with torch.no_grad():
        for name, a in zip(["weight_ih", "weight_hh", "bias_ih", "bias_hh"], w):
            getattr(m, f"{name}_l0{sfx}").copy_(torch.from_numpy(a.data))
    return m


@pytest.mark.parametrize("kind", list(GATES))
@pytest.mark.parametrize("reverse", [False, True])
def test_sequence_ops_match_torch(kind, reverse):
    """One direction of one layer (the reverse one read from torch's bidirectional output)."""
    torch = pytest.importorskip("torch")
    inputs = seq_inputs(kind, seed=3, T=5, B=4)
    lengths = [5, 2, 4, 1]
    outs = seq_fn(kind, lengths, reverse)(*inputs)
    m = torch_layer(kind, torch, inputs, reverse)
    tx = torch.tensor(inputs[0].data, requires_grad=True)
    D = 2 if reverse else 1
    tst = [torch.tensor(s.data, requires_grad=True) for s in inputs[1:-4]]
    thx = [s[None].expand(D, -1, -1) for s in tst]
    packed = torch.nn.utils.rnn.pack_padded_sequence(tx, torch.tensor(lengths),
                                                     enforce_sorted=False)
    tout, tfinal = m(packed, tuple(thx) if kind == "lstm" else thx[0])
    ty, _ = torch.nn.utils.rnn.pad_packed_sequence(tout, total_length=5)
    k = 1 if reverse else 0
    touts = [ty[..., k * H:(k + 1) * H]] + [f[k] for f in
                                           (tfinal if kind == "lstm" else (tfinal,))]
    rng = np.random.default_rng(4)
    loss, tloss = 0, 0
    for o, to in zip(outs, touts):
        np.testing.assert_allclose(o.data, to.detach().numpy(), rtol=1e-10, atol=1e-12)
        w = rng.standard_normal(o.shape)
        loss = loss + (o * cr.tensor(w)).sum()
        tloss = tloss + (to * torch.from_numpy(w)).sum()
    loss.backward()
    tloss.backward()
    tparams = [getattr(m, f"{n}_l0{'_reverse' if reverse else ''}")
               for n in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]]
    for a, ta in zip([inputs[0]] + inputs[1:-4] + inputs[-4:], [tx] + tst + tparams):
        np.testing.assert_allclose(a.grad.data, ta.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_padding_never_leaks():
    """Changing the padded inputs changes nothing; the state stops at each sequence's end."""
    x = cr.randn(6, 3, I, dtype=cr.float64)
    w = [cr.randn(*s, dtype=cr.float64) * 0.5 for s in [(4 * H, I), (4 * H, H), (4 * H,),
                                                          (4 * H,)]]
    lengths = [6, 2, 4]
    y1, (h1, c1) = ops.lstm(x, None, *w, lengths=lengths)
    x2 = x.data.copy()
    x2[2:, 1] = 100.0
    x2[4:, 2] = -7.0
    y2, (h2, c2) = ops.lstm(cr.tensor(x2), None, *w, lengths=lengths)
    for a, b in [(y1, y2), (h1, h2), (c1, c2)]:
        np.testing.assert_array_equal(a.data, b.data)
    # the final state of sequence 1 is its state after its 2 real steps
    _, (h_short, _) = ops.lstm(x[:2, 1:2], None, *w)
    np.testing.assert_allclose(h1.data[1], h_short.data[0], rtol=1e-12)
    # reverse: sequence 1 starts at its own last real step
    yr, (hr, _) = ops.lstm(x, None, *w, lengths=lengths, reverse=True)
    ys, (hs, _) = ops.lstm(x[:2, 1:2], None, *w, reverse=True)
    np.testing.assert_allclose(yr.data[:2, 1], ys.data[:, 0], rtol=1e-12)
    np.testing.assert_allclose(hr.data[1], hs.data[0], rtol=1e-12)


def test_cells_match_torch_functional():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    for kind, ours, theirs in [("lstm", ops.lstm_cell, torch.lstm_cell),
                               ("gru", ops.gru_cell, torch.gru_cell),
                               ("rnn_tanh", ops.rnn_tanh_cell, torch.rnn_tanh_cell),
                               ("rnn_relu", ops.rnn_relu_cell, torch.rnn_relu_cell)]:
        G = GATES[kind] * H
        arrs = [rng.standard_normal(s) for s in [(B, I), (B, H), (B, H), (G, I), (G, H), (G,),
                                                 (G,)]]
        c = [cr.tensor(a) for a in arrs]
        t = [torch.from_numpy(a) for a in arrs]
        if kind == "lstm":
            got, want = ours(c[0], (c[1], c[2]), *c[3:]), theirs(t[0], (t[1], t[2]), *t[3:])
        else:
            got, want = [ours(c[0], c[1], *c[3:])], [theirs(t[0], t[1], *t[3:])]
        for g, w in zip(got, want):
            np.testing.assert_allclose(g.data, w.numpy(), rtol=1e-12, atol=1e-14)


def test_no_grad_and_float32():
    x = cr.randn(4, 2, I)
    w = [cr.randn(3 * H, I, requires_grad=True), cr.randn(3 * H, H, requires_grad=True)]
    with cr.no_grad():
        y, hn = ops.gru(x, None, *w)
    assert not y.requires_grad and y.dtype == np.float32 and hn.shape == (2, H)
    y, hn = ops.gru(x, None, *w)
    assert y.requires_grad


def test_op_errors():
    x = cr.randn(5, 2, I)
    w = [cr.randn(4 * H, I), cr.randn(4 * H, H), cr.randn(4 * H), cr.randn(4 * H)]
    with pytest.raises(ValueError, match=r"lstm: expected input \(T, B, 2\), got \(5, 2, 7\)"):
        ops.lstm(cr.randn(5, 2, 7), None, *w)
    with pytest.raises(ValueError, match=r"lstm: expected w_hh of shape \(4\*H, H\)"):
        ops.lstm(x, None, w[0], cr.randn(3 * H, H))
    with pytest.raises(ValueError, match=r"lstm: expected c0 of shape \(2, 3\), got \(2, 4\)"):
        ops.lstm(x, (cr.zeros(2, H), cr.zeros(2, 4)), *w)
    with pytest.raises(ValueError, match=r"lstm: lengths must lie in \[0, 5\]"):
        ops.lstm(x, None, *w, lengths=[6, 1])
    with pytest.raises(ValueError, match=r"lstm: lengths must lie in \[0, 5\]"):
        ops.lstm(x, None, *w, lengths=[-1, 1])
    with pytest.raises(ValueError, match="both b_ih and b_hh"):
        ops.lstm(x, None, w[0], w[1], w[2])
    with pytest.raises(TypeError, match="w_hh has dtype float64 but the input has dtype float32"):
        ops.lstm(x, None, w[0], w[1].double())
    with pytest.raises(ValueError, match="unknown nonlinearity"):
        ops.rnn(x, None, cr.randn(H, I), cr.randn(H, H), nonlinearity="gelu")
    with pytest.raises(ValueError, match=r"gru_cell: expected input \(B, 2\), got \(5, 2, 2\)"):
        ops.gru_cell(x, None, cr.randn(3 * H, I), cr.randn(3 * H, H))
    with pytest.raises(ValueError, match="at least one time step"):
        ops.gru(cr.randn(0, 2, I), None, cr.randn(3 * H, I), cr.randn(3 * H, H))
