"""CharRNN (src/chainrule/models/charrnn.py): shapes for each cell, the state carried between
batches equals one long run, detach_state, sampling (reproducible under manual_seed, temperature 0
= argmax, top_k restricting the support), and overfitting a tiny text with truncated BPTT."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.datasets import CharDataset
from chainrule.models import CharRNN, detach_state
from chainrule.models.charrnn import sample_logits


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_forward_shapes_and_state(cell):
    model = CharRNN(11, embed_dim=8, hidden_size=16, num_layers=2, cell=cell)
    x = cr.randint(0, 11, (3, 5))
    logits, state = model(x)
    assert logits.shape == (3, 5, 11)
    hs = state if cell == "lstm" else (state,)
    assert len(hs) == (2 if cell == "lstm" else 1)
    assert all(h.shape == (2, 3, 16) for h in hs)
    init = model.init_state(3)
    np.testing.assert_allclose(model(x, init)[0].data, logits.data, rtol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_state_carried_between_batches_equals_one_long_run(cell):
    model = CharRNN(7, embed_dim=4, hidden_size=8, cell=cell)
    x = cr.randint(0, 7, (2, 12))
    whole, _ = model(x)
    a, state = model(x[:, :5])
    b, _ = model(x[:, 5:], detach_state(state))
    np.testing.assert_allclose(np.concatenate([a.data, b.data], 1), whole.data, rtol=1e-5,
                               atol=1e-6)


def test_detach_state_cuts_the_graph():
    model = CharRNN(7, embed_dim=4, hidden_size=8, cell="lstm")
    _, state = model(cr.randint(0, 7, (2, 4)))
    assert all(s.requires_grad for s in state)
    d = detach_state(state)
    assert isinstance(d, tuple) and all(not s.requires_grad and s.grad_fn is None for s in d)
    np.testing.assert_array_equal(d[0].data, state[0].data)
    assert detach_state(None) is None
    logits, _ = model(cr.randint(0, 7, (2, 4)), d)
    logits.sum().backward()  # reaches the parameters only through this batch
    assert model.embedding.weight.grad is not None


def test_sampling_is_reproducible_under_manual_seed():
    model = CharRNN(9, embed_dim=4, hidden_size=8)
    cr.manual_seed(5)
    a = model.sample([1, 2], 30)
    cr.manual_seed(5)
    b = model.sample([1, 2], 30)
    assert a == b and len(a) == 30 and all(0 <= i < 9 for i in a)
    assert model.sample([1, 2], 30) != a  # the RNG moved on
    assert model.training  # sampling restores the mode


def test_temperature_zero_takes_the_argmax():
    model = CharRNN(9, embed_dim=4, hidden_size=8, cell="gru")
    got = model.sample([3], 10, temperature=0)
    ids, expected = [3], []
    with cr.no_grad():
        for _ in range(10):
            logits, _ = model(cr.tensor([ids]))
            expected.append(int(logits.data[0, -1].argmax()))
            ids.append(expected[-1])
    assert got == expected
    assert model.sample([3], 10, temperature=1e-6) == expected
    assert model.sample([3], 10, top_k=1) == expected


def test_top_k_restricts_the_support_and_temperature_sharpens():
    logits = np.array([[0.0, 2.0, 1.0, 3.0, -1.0, 0.5]] * 4000)
    draws = sample_logits(logits, 1.0, top_k=3)
    assert set(draws.tolist()) == {1, 2, 3}
    freq = np.bincount(sample_logits(logits, 1.0), minlength=6) / 4000
    p = np.exp(logits[0]) / np.exp(logits[0]).sum()
    np.testing.assert_allclose(freq, p, atol=0.03)
    cold = np.bincount(sample_logits(logits, 0.2), minlength=6) / 4000
    assert cold[3] > 0.9


def test_sample_with_a_vocabulary_returns_text():
    ds = CharDataset("abcabc\n" * 10, seq_len=4)
    model = CharRNN(len(ds.vocab), embed_dim=4, hidden_size=8)
    out = model.sample("ab", 12, vocab=ds.vocab)
    assert isinstance(out, str) and len(out) == 12 and set(out) <= set("abc\n")
    with pytest.raises(ValueError, match="needs vocab"):
        model.sample("ab", 3)


def test_overfits_a_tiny_text_with_truncated_bptt():
    text = "the quick brown fox jumps over the lazy dog. " * 12
    ds = CharDataset(text, seq_len=16)
    V = len(ds.vocab)
    cr.manual_seed(0)
    model = CharRNN(V, embed_dim=16, hidden_size=64, cell="lstm")
    opt = optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    losses, step = [], 0
    while step < 100:
        state = None
        for x, y in ds.bptt_batches(batch_size=4, seq_len=16):
            logits, state = model(x, detach_state(state))
            loss = loss_fn(logits.reshape(-1, V), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            step += 1
            if step == 100:
                break
    assert losses[0] > 0.8 * np.log(V)
    assert np.mean(losses[-5:]) < 0.3, losses[-5:]
    cr.manual_seed(0)
    assert model.sample("the quick", 12, temperature=0, vocab=ds.vocab) == " brown fox j"


def test_errors():
    with pytest.raises(ValueError, match="cell must be one of"):
        CharRNN(5, cell="transformer")
    with pytest.raises(ValueError, match=r"CharRNN\(5\): expected input ids int64 \(B, T\)"):
        CharRNN(5)(cr.randn(2, 3))
