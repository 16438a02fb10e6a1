"""RNN, LSTM, GRU and their cells against torch with the same weights: outputs, final states and
the gradient of every parameter, input and initial state; layouts, lengths, dropout, errors."""
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-6, atol=1e-9)}
KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def make_pair(kind, torch, dtype=np.float64, **kw):
    """Our layer and torch's, with our (seeded) weights copied into torch's."""
    cr.manual_seed(3)
    if kind.startswith("rnn"):
        kw["nonlinearity"] = kind[4:]
    cls = {"rnn": "RNN", "lst": "LSTM", "gru": "GRU"}[kind[:3]]
    ours = getattr(nn, cls)(4, 5, dtype=dtype, **kw)
    theirs = getattr(torch.nn, cls)(4, 5, dtype=getattr(torch, np.dtype(dtype).name), **kw)
    tparams = dict(theirs.named_parameters())
    assert set(tparams) == {n for n, _ in ours.named_parameters()}  # PyTorch's names exactly
    with torch.no_grad():
        for name, p in ours.named_parameters():
            assert tuple(tparams[name].shape) == p.shape
            tparams[name].copy_(torch.from_numpy(p.data))
    return ours, theirs


def initial_states(kind, shape, dtype, rng, torch):
    n = 2 if kind == "lstm" else 1
    arrs = [rng.standard_normal(shape).astype(dtype) for _ in range(n)]
    ours = [cr.tensor(a, requires_grad=True) for a in arrs]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrs]
    pack = (lambda s: tuple(s)) if n == 2 else (lambda s: s[0])
    return ours, theirs, pack(ours), pack(theirs)


def states_of(kind, st):
    return list(st) if kind == "lstm" else [st]


def compare(ours, theirs, x, tx, out, tout, st, tst, dtype, torch, extra=()):
    """Outputs and states equal; then the gradients of one random linear function of them."""
    tol = TOL[dtype]
    np.testing.assert_allclose(out.data, tout.detach().numpy(), **tol)
    for s, ts in zip(st, tst):
        np.testing.assert_allclose(s.data, ts.detach().numpy(), **tol)
    rng = np.random.default_rng(7)
    loss, tloss = 0, 0
    for o, to in [(out, tout)] + list(zip(st, tst)):
        w = rng.standard_normal(o.shape).astype(dtype)
        loss = loss + (o * cr.tensor(w)).sum()
        tloss = tloss + (to * torch.from_numpy(w)).sum()
    loss.backward()
    tloss.backward()
    tparams = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.data, tparams[name].grad.numpy(), **tol, err_msg=name)
    for a, ta in [(x, tx), *extra]:
        np.testing.assert_allclose(a.grad.data, ta.grad.numpy(), **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("num_layers,bidirectional,batch_first,with_hx", [
    (1, False, False, False), (2, False, True, True), (1, True, False, True),
    (2, True, True, False),
])
def test_matches_torch(kind, num_layers, bidirectional, batch_first, with_hx, dtype):
    torch = pytest.importorskip("torch")
    ours, theirs = make_pair(kind, torch, dtype, num_layers=num_layers,
                             bidirectional=bidirectional, batch_first=batch_first)
    T, B = 6, 3
    rng = np.random.default_rng(0)
    xa = rng.standard_normal((B, T, 4) if batch_first else (T, B, 4)).astype(dtype)
    x, tx = cr.tensor(xa, requires_grad=True), torch.tensor(xa, requires_grad=True)
    D = 2 if bidirectional else 1
    extra, hx, thx = (), None, None
    if with_hx:
        hs, ths, hx, thx = initial_states(kind, (num_layers * D, B, 5), dtype, rng, torch)
        extra = tuple(zip(hs, ths))
    out, st = ours(x, hx)
    tout, tst = theirs(tx, thx)
    assert out.shape == tuple(tout.shape) and out.dtype == dtype
    compare(ours, theirs, x, tx, out, tout, states_of(kind, st), states_of(kind, tst), dtype,
            torch, extra)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional,num_layers", [(False, 1), (True, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lengths_match_torch_packed(kind, bidirectional, num_layers, dtype):
    """Variable lengths (unsorted, with a full-length one): equal to torch's packed path."""
    torch = pytest.importorskip("torch")
    ours, theirs = make_pair(kind, torch, dtype, num_layers=num_layers,
                             bidirectional=bidirectional)
    T, B, lengths = 5, 4, [3, 5, 1, 4]
    rng = np.random.default_rng(1)
    xa = rng.standard_normal((T, B, 4)).astype(dtype)
    x, tx = cr.tensor(xa, requires_grad=True), torch.tensor(xa, requires_grad=True)
    D = 2 if bidirectional else 1
    hs, ths, hx, thx = initial_states(kind, (num_layers * D, B, 5), dtype, rng, torch)
    out, st = ours(x, hx, lengths=lengths)
    packed = torch.nn.utils.rnn.pack_padded_sequence(tx, torch.tensor(lengths),
                                                     enforce_sorted=False)
    tpacked, tst = theirs(packed, thx)
    tout, _ = torch.nn.utils.rnn.pad_packed_sequence(tpacked, total_length=T)
    mask = np.arange(T)[:, None] < np.array(lengths)[None, :]
    assert np.all(out.data[~mask] == 0)  # padded steps output exactly 0
    compare(ours, theirs, x, tx, out, tout, states_of(kind, st), states_of(kind, tst), dtype,
            torch, tuple(zip(hs, ths)))
    assert np.all(x.grad.data[~mask] == 0)  # no gradient reaches the padding


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_packed_sequence_input_like_torch(kind):
    torch = pytest.importorskip("torch")
    ours, theirs = make_pair(kind, torch, np.float64, batch_first=True, bidirectional=True)
    lengths = [2, 6, 4]
    xa = np.random.default_rng(2).standard_normal((3, 6, 4))
    x, tx = cr.tensor(xa, requires_grad=True), torch.tensor(xa, requires_grad=True)
    out, st = ours(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    y, lens = pad_packed_sequence(out, batch_first=True)
    tout, tst = theirs(torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, batch_first=True,
                                                               enforce_sorted=False))
    ty, tlens = torch.nn.utils.rnn.pad_packed_sequence(tout, batch_first=True)
    assert lens.data.tolist() == tlens.tolist() == lengths
    compare(ours, theirs, x, tx, y, ty, states_of(kind, st), states_of(kind, tst), np.float64,
            torch)


def test_lengths_all_full_equal_no_lengths():
    lstm = nn.LSTM(4, 5, num_layers=2, bidirectional=True)
    x = cr.randn(6, 3, 4)
    a, (ha, ca) = lstm(x)
    b, (hb, cb) = lstm(x, lengths=[6, 6, 6])
    for u, v in [(a, b), (ha, hb), (ca, cb)]:
        np.testing.assert_array_equal(u.data, v.data)


@pytest.mark.parametrize("kind", KINDS)
def test_unbatched_input_like_torch(kind):
    torch = pytest.importorskip("torch")
    ours, theirs = make_pair(kind, torch, np.float64, num_layers=2)
    rng = np.random.default_rng(3)
    xa = rng.standard_normal((5, 4))
    x, tx = cr.tensor(xa, requires_grad=True), torch.tensor(xa, requires_grad=True)
    hs, ths, hx, thx = initial_states(kind, (2, 5), np.float64, rng, torch)
    out, st = ours(x, hx)
    tout, tst = theirs(tx, thx)
    assert out.shape == (5, 5) and states_of(kind, st)[0].shape == (2, 5)
    compare(ours, theirs, x, tx, out, tout, states_of(kind, st), states_of(kind, tst), np.float64,
            torch, tuple(zip(hs, ths)))


@pytest.mark.parametrize("cls,kw", [(nn.RNN, {}), (nn.LSTM, {}), (nn.GRU, {}),
                                    (nn.RNN, {"nonlinearity": "relu"})])
def test_no_bias(cls, kw):
    torch = pytest.importorskip("torch")
    cr.manual_seed(0)
    ours = cls(4, 5, bias=False, dtype=np.float64, **kw)
    theirs = getattr(torch.nn, cls.__name__)(4, 5, bias=False, dtype=torch.float64, **kw)
    assert [n for n, _ in ours.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    with torch.no_grad():
        for (_, p), tp in zip(ours.named_parameters(), theirs.parameters()):
            tp.copy_(torch.from_numpy(p.data))
    xa = np.random.default_rng(0).standard_normal((4, 2, 4))
    x, tx = cr.tensor(xa, requires_grad=True), torch.tensor(xa, requires_grad=True)
    out, st = ours(x)
    tout, tst = theirs(tx)
    compare(ours, theirs, x, tx, out, tout, states_of("lstm" if cls is nn.LSTM else "x", st),
            states_of("lstm" if cls is nn.LSTM else "x", tst), np.float64, torch)


def test_parameters_init_like_torch():
    cr.manual_seed(0)
    m = nn.GRU(7, 16, num_layers=2, bidirectional=True)
    names = [n for n, _ in m.named_parameters()]
    assert names[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                         "weight_ih_l0_reverse"]
    assert m.weight_ih_l1.shape == (48, 32) and m.weight_hh_l1_reverse.shape == (48, 16)
    allp = np.concatenate([p.data.ravel() for p in m.parameters()])
    assert allp.dtype == np.float32 and np.abs(allp).max() <= 0.25  # U(-1/sqrt(16), 1/sqrt(16))
    assert np.abs(allp).max() > 0.24 and abs(allp.std() / (0.25 / np.sqrt(3)) - 1) < 0.05
    assert len(m.all_weights) == 4 and m.all_weights[1][0] is m.weight_ih_l0_reverse
    assert repr(m) == "GRU(7, 16, num_layers=2, bidirectional=True)"


def test_dropout_between_layers_only_in_training():
    cr.manual_seed(0)
    m = nn.LSTM(4, 6, num_layers=2, dropout=0.5)
    ref = nn.LSTM(4, 6, num_layers=2)
    ref.load_state_dict(m.state_dict())
    x = cr.randn(5, 3, 4)
    m.eval()
    np.testing.assert_array_equal(m(x)[0].data, ref(x)[0].data)  # eval: no dropout
    m.train()
    cr.manual_seed(1)
    a = m(x)[0]
    cr.manual_seed(1)
    b = m(x)[0]
    np.testing.assert_array_equal(a.data, b.data)  # drawn from the seeded generator
    assert not np.allclose(a.data, ref(x)[0].data)  # training: the first layer's output dropped
    # dropout acts between layers, never on the last layer's output: a 1-layer net ignores it
    with pytest.warns(UserWarning, match="num_layers=1"):
        one = nn.GRU(4, 6, dropout=0.5)
    ref1 = nn.GRU(4, 6)
    ref1.load_state_dict(one.state_dict())
    np.testing.assert_array_equal(one(x)[0].data, ref1(x)[0].data)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cells_match_torch(kind, dtype):
    torch = pytest.importorskip("torch")
    cr.manual_seed(0)
    name = {"rnn": "RNNCell", "lst": "LSTMCell", "gru": "GRUCell"}[kind[:3]]
    kw = {"nonlinearity": kind[4:]} if kind.startswith("rnn") else {}
    ours = getattr(nn, name)(4, 5, dtype=dtype, **kw)
    theirs = getattr(torch.nn, name)(4, 5, dtype=getattr(torch, np.dtype(dtype).name), **kw)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()] \
        == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    with torch.no_grad():
        for (_, p), tp in zip(ours.named_parameters(), theirs.parameters()):
            tp.copy_(torch.from_numpy(p.data))
    rng = np.random.default_rng(0)
    for shape in [(3, 4), (4,)]:  # batched and unbatched
        ours.zero_grad()
        theirs.zero_grad()
        xa = rng.standard_normal(shape).astype(dtype)
        x, tx = cr.tensor(xa, requires_grad=True), torch.tensor(xa, requires_grad=True)
        hs, ths, hx, thx = initial_states(kind, shape[:-1] + (5,), dtype, rng, torch)
        out, tout = ours(x, hx), theirs(tx, thx)
        out, tout = (list(out), list(tout)) if kind == "lstm" else ([out], [tout])
        compare(ours, theirs, x, tx, out[0], tout[0], out[1:], tout[1:], dtype, torch,
                tuple(zip(hs, ths)))
    h = ours(cr.tensor(xa))  # hx=None: zeros
    th = theirs(torch.from_numpy(xa))
    h, th = (h[0], th[0]) if kind == "lstm" else (h, th)
    np.testing.assert_allclose(h.data, th.detach().numpy(), **TOL[dtype])


def test_cell_loop_equals_layer():
    """Unrolling LSTMCell step by step gives the LSTM layer's outputs (same weights)."""
    cr.manual_seed(0)
    layer = nn.LSTM(4, 5, dtype=np.float64)
    cell = nn.LSTMCell(4, 5, dtype=np.float64)
    for name in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]:
        getattr(cell, name).data[...] = getattr(layer, name + "_l0").data
    x = cr.randn(6, 2, 4, dtype=cr.float64)
    out, (hn, cn) = layer(x)
    h = c = cr.zeros(2, 5, dtype=cr.float64)
    for t in range(6):
        h, c = cell(x[t], (h, c))
        np.testing.assert_allclose(h.data, out.data[t], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c.data, cn.data[0], rtol=1e-12, atol=1e-14)


def test_errors_are_clear():
    lstm = nn.LSTM(10, 20)
    with pytest.raises(ValueError, match=r"LSTM\(10, 20\): expected input \(T, B, 10\), got "
                                         r"\(5, 3, 7\)"):
        lstm(cr.randn(5, 3, 7))
    with pytest.raises(ValueError, match=r"GRU\(10, 20\): expected input \(B, T, 10\)"):
        nn.GRU(10, 20, batch_first=True)(cr.randn(5, 3, 7))
    with pytest.raises(ValueError, match=r"expected hx\[0\] \(h_0\) of shape \(1, 3, 20\), got "
                                         r"\(2, 3, 20\)"):
        lstm(cr.randn(5, 3, 10), (cr.zeros(2, 3, 20), cr.zeros(1, 3, 20)))
    with pytest.raises(TypeError, match=r"expected hx = \(h_0, c_0\)"):
        lstm(cr.randn(5, 3, 10), cr.zeros(1, 3, 20))
    with pytest.raises(ValueError, match=r"RNN\(10, 20\): expected hx \(h_0\) of shape "
                                         r"\(2, 3, 20\), got \(1, 3, 20\)"):
        nn.RNN(10, 20, bidirectional=True)(cr.randn(5, 3, 10), cr.zeros(1, 3, 20))
    with pytest.raises(ValueError, match=r"LSTM\(10, 20\): lengths must lie in \[0, 5\].*"
                                         r"\[6, 2, 3\]"):
        lstm(cr.randn(5, 3, 10), lengths=[6, 2, 3])
    with pytest.raises(ValueError, match=r"expected lengths of shape \(3,\).*got \(2,\)"):
        lstm(cr.randn(5, 3, 10), lengths=[5, 2])
    with pytest.raises(TypeError, match="integer lengths"):
        lstm(cr.randn(5, 3, 10), lengths=[5.0, 2.0, 1.0])
    with pytest.raises(TypeError, match="dtype float64 but the parameters have float32"):
        lstm(cr.randn(5, 3, 10, dtype=cr.float64))
    with pytest.raises(ValueError, match="lengths"):
        lstm(pack_padded_sequence(cr.randn(5, 3, 10), [5, 4, 2]), lengths=[5, 4, 2])
    with pytest.raises(ValueError, match=r"LSTMCell\(10, 20\): expected input \(B, 10\) or "
                                         r"\(10,\), got \(3, 7\)"):
        nn.LSTMCell(10, 20)(cr.randn(3, 7))
    with pytest.raises(ValueError, match=r"GRUCell\(10, 20\): expected hx of shape \(3, 20\)"):
        nn.GRUCell(10, 20)(cr.randn(3, 10), cr.zeros(2, 20))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="hidden_size"):
        nn.LSTM(3, 0)
    with pytest.raises(ValueError, match="dropout probability"):
        nn.LSTM(3, 4, num_layers=2, dropout=1.5)


def test_zero_length_sequence_keeps_initial_state():
    gru = nn.GRU(3, 4, dtype=np.float64)
    x = cr.randn(4, 2, 3, dtype=cr.float64)
    h0 = cr.randn(1, 2, 4, dtype=cr.float64, requires_grad=True)
    out, hn = gru(x, h0, lengths=[4, 0])
    np.testing.assert_array_equal(hn.data[0, 1], h0.data[0, 1])
    assert np.all(out.data[:, 1] == 0)
    hn.sum().backward()
    np.testing.assert_array_equal(h0.grad.data[0, 1], np.ones(4))  # h_n = h_0 for that one


def test_module_conversions_and_state_dict():
    lstm = nn.LSTM(3, 4, num_layers=2)
    sd = lstm.state_dict()
    assert list(sd)[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    lstm64 = nn.LSTM(3, 4, num_layers=2).double()
    lstm64.load_state_dict({k: v.double() for k, v in sd.items()})
    x = cr.randn(5, 2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y32 = lstm(x)[0]
        y64 = lstm64(x.double())[0]
    assert y64.dtype == np.float64
    np.testing.assert_allclose(y32.data, y64.data, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_learns_to_recall_a_delayed_bit(cls):
    """Convergence: output the input bit of two steps earlier (needs memory across steps)."""
    cr.manual_seed(0)
    rnn, head = cls(1, 16), nn.Linear(16, 1)
    opt = cr.optim.Adam(list(rnn.parameters()) + list(head.parameters()), lr=0.03)
    rng = np.random.default_rng(0)
    for _ in range(150):
        bits = rng.integers(0, 2, (12, 32, 1)).astype(np.float32)
        out, _ = rnn(cr.tensor(bits))
        loss = nn.functional.binary_cross_entropy_with_logits(head(out)[2:],
                                                              cr.tensor(bits[:-2]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
