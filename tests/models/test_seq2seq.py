"""Seq2Seq (src/chainrule/models/seq2seq.py): shapes and masked attention, padding does not change
the result, learning to reverse short sequences with and without attention, beam width 1 equal to
greedy decoding, a beam wider than the search tree finding the most likely output."""
import itertools

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.datasets.seq_tasks import Seq2SeqTask
from chainrule.datasets.text import Vocabulary
from chainrule.models import Seq2Seq
from chainrule.nn import functional as F

SYMBOLS = "abcdef"


def _reverse_task(n, seed):
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n):
        s = "".join(rng.choice(list(SYMBOLS), rng.integers(2, 6)))
        pairs.append((s, s[::-1]))
    return Seq2SeqTask(pairs, Vocabulary(SYMBOLS), Vocabulary(SYMBOLS))


def _model(task, **kw):
    args = dict(embed_dim=16, hidden_size=32, cell="gru")
    args.update(kw)
    return Seq2Seq(task.src_vocab, task.tgt_vocab, **args)


@pytest.mark.parametrize("kw", [dict(), dict(attention="additive"), dict(attention="dot"),
                                dict(attention="scaled_dot", cell="lstm", num_layers=2),
                                dict(attention="dot", bidirectional_encoder=True, cell="lstm"),
                                dict(attention="additive", bidirectional_encoder=True,
                                     num_layers=2)])
def test_shapes_masked_attention_and_gradients(kw):
    task = _reverse_task(5, 0)
    model = _model(task, **kw)
    b = task.collate(task.pairs)
    logits, w = model(b.src, b.src_lengths, b.tgt_in, return_attention=True)
    B, T = b.tgt_in.shape
    assert logits.shape == (B, T, len(task.tgt_vocab))
    if kw.get("attention"):
        assert w.shape == (B, T, b.src.shape[1])
        pad = np.arange(b.src.shape[1])[None, :] >= b.src_lengths.data[:, None]
        np.testing.assert_array_equal(w.data[np.broadcast_to(pad[:, None], w.shape)], 0)
        np.testing.assert_allclose(w.data.sum(-1), 1, rtol=1e-5)
    else:
        assert w is None
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), b.tgt_out.reshape(-1),
                           ignore_index=task.tgt_vocab.pad_id)
    loss.backward()
    assert all(p.grad is not None and np.all(np.isfinite(p.grad.data))
               for n, p in model.named_parameters() if "embed" not in n)


@pytest.mark.parametrize("attention", [None, "additive"])
def test_padding_does_not_change_the_output(attention):
    task = _reverse_task(6, 1)
    model = _model(task, attention=attention, bidirectional_encoder=True)
    b = task.collate(task.pairs)
    batch_logits = model(b.src, b.src_lengths, b.tgt_in)
    for i in range(len(task)):
        one = task.collate([task.pairs[i]])
        alone = model(one.src, one.src_lengths, one.tgt_in)
        T = one.tgt_in.shape[1]
        np.testing.assert_allclose(batch_logits.data[i, :T], alone.data[0], rtol=1e-4, atol=1e-5)


def _train(model, task, steps, lr=1e-2, batch=64):
    opt = optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(0)
    pad = task.tgt_vocab.pad_id
    for _ in range(steps):
        b = task.collate([task.pairs[i] for i in rng.integers(0, len(task), batch)])
        logits = model(b.src, b.src_lengths, b.tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), b.tgt_out.reshape(-1),
                               ignore_index=pad)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


def _accuracy(model, task, beam_width=None):
    src, lengths = task.encode_sources([s for s, _ in task.pairs])
    v = task.tgt_vocab
    if beam_width is None:
        seqs, _ = model.greedy_decode(src, lengths, 8, v.bos_id, v.eos_id)
    else:
        seqs, _ = model.beam_search(src, lengths, beam_width, 8, v.bos_id, v.eos_id)
    return np.mean([v.decode(s) == t for s, (_, t) in zip(seqs, task.pairs)])


@pytest.mark.parametrize("attention, steps, target", [(None, 300, 0.85), ("additive", 200, 0.95),
                                                      ("dot", 200, 0.95)])
def test_learns_to_reverse_short_sequences(attention, steps, target):
    """Exact-match accuracy on unseen strings (chance: about 6^-4)."""
    cr.manual_seed(0)
    train, test = _reverse_task(2000, 0), _reverse_task(200, 1)
    model = _model(train, attention=attention, hidden_size=64)
    loss = _train(model, train, steps)
    acc = _accuracy(model, test)
    assert loss < 0.2 and acc > target, (loss, acc)
    assert _accuracy(model, test, beam_width=3) > target


@pytest.mark.parametrize("kw", [dict(attention="additive"), dict(cell="lstm"),
                                dict(attention="dot", bidirectional_encoder=True, num_layers=2)])
def test_beam_width_one_equals_greedy(kw):
    cr.manual_seed(1)
    task = _reverse_task(300, 2)
    model = _model(task, **kw)
    _train(model, task, 15)  # partly trained: outputs of mixed lengths, some hitting max_len
    src, lengths = task.encode_sources([s for s, _ in task.pairs[:40]])
    v = task.tgt_vocab
    g_seqs, g_w = model.greedy_decode(src, lengths, 7, v.bos_id, v.eos_id)
    b_seqs, b_w = model.beam_search(src, lengths, 1, 7, v.bos_id, v.eos_id, length_penalty=0.7)
    assert g_seqs == b_seqs
    assert len({len(s) for s in g_seqs}) > 1
    if kw.get("attention"):
        for a, b, n, s in zip(g_w, b_w, lengths.tolist(), g_seqs):
            assert a.shape == (len(s), n)
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    else:
        assert g_w is None and b_w is None


def _log_prob(model, src, lengths, seq, v):
    """log p(seq | src) under teacher forcing."""
    tgt_in = cr.tensor([[v.bos_id] + seq[:-1]])
    with cr.no_grad():
        logp = cr.log_softmax(model(src, lengths, tgt_in), dim=-1).data[0].astype(np.float64)
    return sum(logp[t, tok] for t, tok in enumerate(seq))


def test_a_beam_wider_than_the_tree_finds_the_most_likely_output():
    task = Seq2SeqTask([("ab", "ba")], Vocabulary("ab"), Vocabulary("ab"))
    cr.manual_seed(3)
    model = _model(task, attention="additive")
    model.eval()
    src, lengths = task.encode_sources(["ab"])
    v = task.tgt_vocab
    V, max_len = len(v), 3
    best, best_seq = -np.inf, None
    for n in range(1, max_len + 1):  # every output: n - 1 tokens then <eos>, or max_len tokens
        for body in itertools.product(range(V), repeat=n):
            body = list(body)
            if v.eos_id in body[:-1]:
                continue
            if body[-1] != v.eos_id and n < max_len:
                continue
            lp = _log_prob(model, src, lengths, body, v)
            if lp > best:
                best, best_seq = lp, [t for t in body if t != v.eos_id]
    seqs, _ = model.beam_search(src, lengths, 200, max_len, v.bos_id, v.eos_id,
                                length_penalty=0.0)
    assert seqs[0] == best_seq


def test_errors():
    task = _reverse_task(3, 0)
    with pytest.raises(ValueError, match="attention must be one of"):
        _model(task, attention="multihead")
    with pytest.raises(ValueError, match="cell must be one of"):
        _model(task, cell="transformer")
    with pytest.raises(ValueError, match=r"expected src ids int64 \(B, S\)"):
        _model(task)(cr.randn(2, 3), None, cr.tensor([[1, 2]]))
    with pytest.raises(ValueError, match="beam_width"):
        _model(task).beam_search(cr.tensor([[4, 5]]), None, 0, 5, 1, 2)
