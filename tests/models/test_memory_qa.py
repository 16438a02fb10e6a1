"""models/memory_qa.py: the end-to-end memory network of notes 3.4 (memory with attention)."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.autograd import gradcheck
from chainrule.data import DataLoader
from chainrule.datasets import StoryQA
from chainrule.models import MemoryQA
from chainrule.models.memory_qa import position_encoding


def _ids(a):
    return cr.tensor(np.asarray(a, dtype=np.int64))


def _batch(n=6, task=2):
    ds = StoryQA(3, task=task, seed=1)
    return ds, next(iter(DataLoader(ds, batch_size=n)))


def test_shapes_and_attention_per_hop():
    ds, b = _batch()
    m = MemoryQA(len(ds.vocab), embed_dim=8, hops=3, max_sentences=ds.max_sentences)
    logits = m(b.story, b.question)
    B, S, _ = b.story.shape
    assert logits.shape == (B, len(ds.vocab))
    assert len(m.attention) == 3 and all(a.shape == (B, S) for a in m.attention)
    for a in m.attention:
        np.testing.assert_allclose(a.sum(-1), 1.0, rtol=1e-5)
    assert m((b.story, b.question)).shape == logits.shape  # the (inputs, target) loop's pair
    assert len(m.embeddings) == len(m.temporal) == 4  # K + 1 with adjacent tying


def test_padding_sentences_get_zero_attention_and_do_not_change_the_answer():
    ds, b = _batch()
    m = MemoryQA(len(ds.vocab), embed_dim=8, hops=2, max_sentences=40)
    m.eval()
    logits = m(b.story, b.question).data
    n = b.n_sentences.data
    for a in m.attention:
        for i in range(len(n)):
            assert np.all(a[i, n[i]:] == 0) and np.all(a[i, :n[i]] > 0)
    # more padding sentences at the end (and padded words) change nothing
    s = b.story.data
    more = np.concatenate([s, np.zeros((s.shape[0], 5, s.shape[2]), np.int64)], 1)
    more = np.concatenate([more, np.zeros(more.shape[:2] + (3,), np.int64)], 2)
    q = np.concatenate([b.question.data, np.zeros((s.shape[0], 2), np.int64)], 1)
    np.testing.assert_allclose(m(_ids(more), _ids(q)).data, logits, rtol=1e-5, atol=1e-6)
    assert all(np.all(a[:, s.shape[1]:] == 0) for a in m.attention)


def test_position_encoding_formula():
    ids = np.array([[5, 6, 7, 0]])
    l = position_encoding(ids, 0, 4, np.float64)
    J, d = 3, 4
    for j in range(1, J + 1):
        for k in range(1, d + 1):
            assert l[0, j - 1, k - 1] == pytest.approx((1 - j / J) - (k / d) * (1 - 2 * j / J))
    assert np.all(l[0, 3] == 0)


def test_temporal_encoding_counts_back_from_the_newest_sentence():
    m = MemoryQA(10, embed_dim=4, hops=1, max_sentences=6, position_encoding=False)
    for emb in m.embeddings:
        emb.weight.data[:] = 0
    story = _ids([[[3, 0], [4, 0], [0, 0]]])  # 2 real sentences
    m.embeddings[0].weight.data[2] = 1.0  # question word 2 -> u = ones
    m.temporal[0].weight.data[:] = 0
    m.temporal[0].weight.data[1] = 5.0  # t = 1: the older of the two
    m(story, _ids([[2]]))
    a = m.attention[0][0]
    assert a[0] > 0.99 and a[2] == 0


def test_errors_name_what_was_expected():
    m = MemoryQA(10, embed_dim=4, hops=1, max_sentences=2)
    with pytest.raises(ValueError, match=r"more than max_sentences=2"):
        m(_ids(np.ones((1, 3, 2))), _ids([[1]]))
    with pytest.raises(ValueError, match=r"expected story \(B, S, W\)"):
        m(_ids(np.ones((1, 2))), _ids([[1]]))
    with pytest.raises(ValueError, match="hops must be a positive int"):
        MemoryQA(10, hops=0)


def test_gradcheck_tiny_float64():
    cr.manual_seed(0)
    m = MemoryQA(7, embed_dim=3, hops=2, max_sentences=4).double()
    story = _ids([[[1, 2, 0], [3, 4, 5], [0, 0, 0]], [[6, 1, 0], [2, 0, 0], [3, 3, 1]]])
    q = _ids([[1, 2], [4, 0]])
    y = _ids([2, 5])
    params = list(m.parameters())  # gradcheck perturbs these in place

    def f(*ps):
        return nn.functional.cross_entropy(m(story, q), y)

    assert len(params) == 3 + 3 + 2 and all(p.dtype == np.float64 for p in params)
    assert gradcheck(f, params)


def test_tiny_config_overfits_a_few_examples():
    cr.manual_seed(0)
    ds = StoryQA(4, task=2, seed=3)
    b = ds.__getitems__(list(range(min(12, len(ds)))))
    m = MemoryQA(len(ds.vocab), embed_dim=16, hops=2, max_sentences=ds.max_sentences)
    opt = optim.Adam(m.parameters(), lr=0.03)
    lossf = nn.CrossEntropyLoss()
    first = None
    for _ in range(150):
        opt.zero_grad()
        loss = lossf(m(b.story, b.question), b.answer)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    pred = m(b.story, b.question).data.argmax(-1)
    assert loss.item() < 0.05 * first
    assert np.all(pred == b.answer.data)
