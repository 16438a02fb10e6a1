"""models/vqa.py: the CNN + RNN visual question answering network of notes 3.4."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.autograd import gradcheck
from chainrule.datasets.shapes_world import ANSWERS, ShapesWorld
from chainrule.models import VQANet


def _batch(n=8):
    ds = ShapesWorld(2, seed=3, image_size=24, questions_per_scene=4, captions_per_scene=1)
    return ds, ds.__getitems__(list(range(n)))


@pytest.mark.parametrize("enc,rnn", [("rnn", "lstm"), ("rnn", "gru"), ("code", "lstm")])
def test_shapes(enc, rnn):
    ds, b = _batch()
    m = VQANet(len(ds.vocab), len(ANSWERS), image_size=24, channels=(4, 4), image_dim=8,
               question_dim=6, hidden=(10,), question_encoder=enc, rnn=rnn)
    out = m(b.images, b.questions, b.question_lengths, b.question_codes)
    assert out.shape == (8, len(ANSWERS))
    # the (inputs, target) loop's one tuple gives the same logits
    m.eval()
    a = m(b.images, b.questions, b.question_lengths, b.question_codes).data
    t = m((b.images, b.questions, b.question_lengths, b.question_codes)).data
    np.testing.assert_array_equal(a, t)
    assert m.encode_image(b.images).shape == (8, 8)


def test_padding_does_not_change_the_question_vector():
    ds, b = _batch()
    m = VQANet(len(ds.vocab), len(ANSWERS), image_size=24, channels=(4,), image_dim=4,
               question_dim=5, hidden=())
    u = m.encode_question(b.questions, b.question_lengths).data
    q = b.questions.data
    more = cr.tensor(np.concatenate([q, np.zeros((q.shape[0], 3), np.int64)], 1))
    np.testing.assert_allclose(m.encode_question(more, b.question_lengths).data, u,
                               rtol=1e-6, atol=1e-7)
    # without lengths, they are read off the padding
    np.testing.assert_allclose(m.encode_question(more).data, u, rtol=1e-6, atol=1e-7)
    # the state is the one after the last real word: truncating the padding changes nothing
    L = int(b.question_lengths.data.max())
    np.testing.assert_allclose(m.encode_question(cr.tensor(q[:, :L]), b.question_lengths).data,
                               u, rtol=1e-6, atol=1e-7)


def test_gradcheck_tiny_float64():
    cr.manual_seed(0)
    ds, b = _batch(n=3)
    m = VQANet(len(ds.vocab), 4, image_size=8, channels=(2, 2), image_dim=3, embed_dim=3,
               question_dim=3, hidden=(4,))
    m.to(cr.float64)
    img = cr.tensor(np.random.default_rng(0).random((3, 3, 8, 8)), requires_grad=True)
    params = list(m.parameters())
    assert all(p.dtype == np.float64 for p in params)
    q, lens = b.questions, b.question_lengths

    def f(x, *ps):
        return m(x, q, lens)

    assert gradcheck(f, [img] + params)


def test_errors_name_what_was_expected():
    m = VQANet(10, 4, image_size=16, channels=(2,), image_dim=3, question_dim=3, hidden=())
    with pytest.raises(ValueError, match=r"expected images \(B, 3, 16, 16\), got \(1, 3, 8, 8\)"):
        m.encode_image(cr.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="question_encoder must be 'rnn' or 'code'"):
        VQANet(10, 4, question_encoder="bow")
    c = VQANet(10, 4, image_size=16, channels=(2,), question_encoder="code")
    with pytest.raises(ValueError, match=r"needs codes \(B, 11\)"):
        c.encode_question(codes=cr.zeros(2, 5))


@pytest.mark.parametrize("enc", ["rnn", "code"])
def test_tiny_config_overfits_a_few_examples(enc):
    cr.manual_seed(0)
    ds, b = _batch(n=8)
    m = VQANet(len(ds.vocab), len(ANSWERS), image_size=24, channels=(8, 8), image_dim=16,
               embed_dim=8, question_dim=16, hidden=(32,), question_encoder=enc)
    opt = optim.Adam(m.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    x = (b.images, b.questions, b.question_lengths, b.question_codes)
    first = None
    for _ in range(150):
        loss = loss_fn(m(x), b.answers)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    assert loss.item() < 0.05 * first
    assert np.all(m(x).data.argmax(-1) == b.answers.data)
