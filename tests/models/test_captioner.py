"""models/captioner.py: CNN encoder + LSTM/GRU decoder with optional Show-Attend-Tell attention."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.autograd.gradcheck import gradcheck
from chainrule.models import Captioner
from chainrule.tensor import Tensor

PAD, BOS, EOS = 0, 1, 2


def _t(a):
    return Tensor._make(np.ascontiguousarray(a), False, None, 0)


def _tiny(attention, cell="lstm", dtype=np.float32, **kw):
    cr.manual_seed(0)
    m = Captioner(7, image_size=8, channels=kw.pop("channels", (3, 4)), embed_dim=3,
                  hidden_size=5, cell=cell, attention=attention, attention_dim=4, **kw)
    return m.double() if dtype == np.float64 else m


def _images(B, size=8, dtype=np.float32, seed=0):
    return _t(np.random.default_rng(seed).random((B, 3, size, size)).astype(dtype))


CAPS = np.array([[BOS, 3, 4, EOS, PAD], [BOS, 5, 6, 3, EOS], [BOS, 4, EOS, PAD, PAD]])


@pytest.mark.parametrize("attention", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gradcheck_tiny_float64(attention, cell):
    m = _tiny(attention, cell, np.float64, channels=(2,))
    x = cr.tensor(np.random.default_rng(1).random((3, 3, 8, 8)), dtype=cr.float64,
                  requires_grad=True)
    caps = _t(CAPS)
    assert gradcheck(lambda img: m.loss(img, caps), [x], full_jacobian_limit=0, n_directions=4)
    # parameter gradients of the decoder side against central differences
    loss = m.loss(x.detach(), caps)
    m.zero_grad()
    loss.backward()
    params = [m.out.weight, m.embedding.weight, m.init_h.weight]
    if attention:
        params.append(m.attn.v)
    rng = np.random.default_rng(2)
    for p in params:
        for _ in range(3):
            i = tuple(int(rng.integers(s)) for s in p.shape)
            if p is m.embedding.weight and i[0] == PAD:
                continue  # the padding row is fixed
            old = p.data[i]
            p.data[i] = old + 1e-6
            up = m.loss(x.detach(), caps).item()
            p.data[i] = old - 1e-6
            down = m.loss(x.detach(), caps).item()
            p.data[i] = old
            assert p.grad.data[i] == pytest.approx((up - down) / 2e-6, rel=1e-4, abs=1e-7)


@pytest.mark.parametrize("attention", [False, True])
def test_shapes_and_attention_weights(attention):
    m = _tiny(attention)
    assert m.feature_size == 2 and m.feature_channels == 4 and m.memory_dim == 6
    memory, state = m.encode(_images(3))
    assert memory[0].shape == (3, 4, 6)  # 4 cells: 4 features and the cell's x, y
    np.testing.assert_allclose(memory[0].data[0, :, 4:], [[-1, -1], [1, -1], [-1, 1], [1, 1]])
    assert state[0].shape == state[1].shape == (1, 3, 5)
    logits, w = m(_images(3), _t(CAPS[:, :-1]), return_attention=True)
    assert logits.shape == (3, 4, 7)
    if attention:
        assert w.shape == (3, 4, 4)  # (B, T, h*w)
        np.testing.assert_allclose(w.data.sum(-1), 1.0, rtol=1e-5)
    else:
        assert w is None
    seqs, ws = m.generate(_images(3), max_len=6)
    assert len(seqs) == 3 and all(len(s) <= 6 and EOS not in s for s in seqs)
    if attention:
        assert [a.shape for a in ws] == [(len(s), 2, 2) for s in seqs]
        for a in ws:
            np.testing.assert_allclose(a.sum((1, 2)), 1.0, rtol=1e-5)
    else:
        assert ws is None


@pytest.mark.parametrize("attention", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_greedy_equals_beam_width_one_and_teacher_forcing(attention, cell):
    m = _tiny(attention, cell)
    x = _images(5, seed=3)
    greedy, gw = m.greedy_decode(x, max_len=7)
    beam, bw = m.beam_search(x, beam_width=1, max_len=7)
    assert greedy == beam
    if attention:
        for a, b in zip(gw, bw):
            np.testing.assert_allclose(a, b, rtol=1e-6)
    # feeding the greedy words back under teacher forcing gives the same argmaxes
    m.eval()
    for b, seq in enumerate(greedy):
        inp = _t(np.array([[BOS] + seq], dtype=np.int64))
        assert m(x[b:b + 1], inp).data[0].argmax(-1).tolist()[:len(seq)] == seq
    assert m.training is False
    m.train()
    m.generate(x, 3, beam_width=2)
    assert m.training  # generation puts the mode back


def test_beam_search_wider_finds_a_likelier_or_equal_caption():
    m = _tiny(True)
    m.eval()
    x = _images(4, seed=5)

    def logp(b, seq):
        inp = _t(np.array([[BOS] + seq], dtype=np.int64))
        z = m(x[b:b + 1], inp).data[0].astype(np.float64)
        z = z - z.max(-1, keepdims=True)
        lp = z - np.log(np.exp(z).sum(-1, keepdims=True))
        return float(sum(lp[t, v] for t, v in enumerate(seq + [EOS])))

    greedy, _ = m.greedy_decode(x, max_len=30)
    beam, _ = m.beam_search(x, beam_width=7, max_len=30, length_penalty=0.0)
    for b in range(4):
        if len(greedy[b]) < 30 and len(beam[b]) < 30:  # both finished
            assert logp(b, beam[b]) >= logp(b, greedy[b]) - 1e-6


@pytest.mark.parametrize("attention", [False, True])
def test_tiny_model_overfits_a_few_pairs(attention):
    cr.manual_seed(0)
    m = Captioner(8, image_size=8, channels=(8, 8), embed_dim=8, hidden_size=32,
                  attention=attention, attention_dim=16)
    x = _images(4, seed=7)
    caps = np.array([[BOS, 3, 4, 5, EOS], [BOS, 6, 7, EOS, PAD], [BOS, 5, 3, 7, EOS],
                     [BOS, 4, EOS, PAD, PAD]])
    opt = optim.Adam(m.parameters(), lr=0.02)
    for _ in range(120):
        opt.zero_grad()
        loss = m.loss(x, _t(caps))
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    want = [[3, 4, 5], [6, 7], [5, 3, 7], [4]]
    assert m.generate(x, 6)[0] == want
    assert m.generate(x, 6, beam_width=3)[0] == want


def test_errors_name_what_was_expected():
    m = _tiny(True)
    with pytest.raises(ValueError, match=r"expected images \(B, 3, 8, 8\), got \(2, 3, 9, 9\)"):
        m(_images(2, size=9), _t(CAPS[:2]))
    with pytest.raises(TypeError, match="dtype float32, got float64"):
        m(_images(2, dtype=np.float64), _t(CAPS[:2]))
    with pytest.raises(ValueError, match=r"expected word ids int64 \(B, T\)"):
        m(_images(2), _t(CAPS[:2].astype(np.float32)))
    with pytest.raises(ValueError, match=r"word ids must be in \[0, 7\), got \[1, 9\]"):
        m(_images(2), _t(np.array([[1, 9], [1, 2]])))
    with pytest.raises(ValueError, match="3 images but 2 captions"):
        m(_images(3), _t(CAPS[:2]))
    with pytest.raises(ValueError, match="cell must be one of"):
        Captioner(7, cell="rnn")
    with pytest.raises(ValueError, match="strides"):
        Captioner(7, channels=(4, 4), strides=(2,))
    with pytest.raises(ValueError, match="max_len must be >= 1, got 0"):
        m.generate(_images(1), 0)
    with pytest.raises(ValueError, match="beam_width must be >= 1, got 0"):
        m.beam_search(_images(1), 0)
