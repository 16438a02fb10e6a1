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


def _assert_overfits(m, b, steps=150):
    """Adam on one batch drives the loss below 5% of its start and every answer right."""
    opt = optim.Adam(m.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    x = (b.images, b.questions, b.question_lengths, b.question_codes)
    first = None
    for _ in range(steps):
        loss = loss_fn(m(x), b.answers)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    assert loss.item() < 0.05 * first
    assert np.all(m(x).data.argmax(-1) == b.answers.data)


@pytest.mark.parametrize("enc", ["rnn", "code"])
def test_tiny_config_overfits_a_few_examples(enc):
    cr.manual_seed(0)
    ds, b = _batch(n=8)
    m = VQANet(len(ds.vocab), len(ANSWERS), image_size=24, channels=(8, 8), image_dim=16,
               embed_dim=8, question_dim=16, hidden=(32,), question_encoder=enc)
    _assert_overfits(m, b)


def test_coordinate_channels_are_x_and_y_in_minus_one_to_one():
    m = VQANet(10, 4, image_size=5, channels=(2,), question_encoder="code", coords=True)
    xy = m._coordinate_channels(cr.zeros(2, 3, 5, 5)).data
    assert xy.shape == (2, 2, 5, 5) and xy.dtype == np.float32
    g = np.linspace(-1, 1, 5)
    np.testing.assert_allclose(xy[1, 0], np.tile(g, (5, 1)))  # x grows along the columns
    np.testing.assert_allclose(xy[1, 1], np.tile(g[:, None], (1, 5)))  # y along the rows
    # the first conv block sees 5 channels: RGB + x + y
    assert m.cnn[0].weight.shape[1] == 5
    assert VQANet(10, 4, image_size=5, channels=(2,)).cnn[0].weight.shape[1] == 3


def test_film_lets_the_question_change_the_image_vector():
    cr.manual_seed(0)
    ds, b = _batch()
    m = VQANet(len(ds.vocab), len(ANSWERS), image_size=24, channels=(4, 4), image_dim=8,
               question_dim=6, hidden=(10,), question_encoder="code", fusion="film",
               coords=True)
    assert [tuple(lin.weight.shape) for lin in m.film] == [(8, 6), (8, 6)]  # 2 C_k x D
    m.eval()
    img = cr.tensor(np.repeat(b.images.data[:1], 2, 0))
    c = b.question_codes.data
    j = next(j for j in range(1, len(c)) if not np.array_equal(c[j], c[0]))
    u = m.encode_question(codes=cr.tensor(c[[0, j]]))
    assert not np.allclose(u.data[0], u.data[1])
    v = m.encode_image(img, u).data
    assert v.shape == (2, 8)
    assert not np.allclose(v[0], v[1])  # one image, two questions: two image vectors
    # gamma = beta = 0 (zeroed FiLM layers) gives the plain CNN's image vector
    for lin in m.film:
        lin.weight.data[...] = 0
        lin.bias.data[...] = 0
    plain = VQANet(len(ds.vocab), len(ANSWERS), image_size=24, channels=(4, 4), image_dim=8,
                   question_dim=6, hidden=(10,), question_encoder="code", coords=True)
    plain.load_state_dict({k: p for k, p in m.state_dict().items() if not k.startswith("film")})
    plain.eval()
    np.testing.assert_allclose(m.encode_image(img, u).data, plain.encode_image(img).data,
                               rtol=1e-5, atol=1e-6)


def test_gradcheck_film_with_coords_float64():
    cr.manual_seed(0)
    ds, b = _batch(n=3)
    m = VQANet(len(ds.vocab), 4, image_size=8, channels=(2, 2), image_dim=3, question_dim=3,
               hidden=(4,), question_encoder="code", fusion="film", coords=True)
    m.to(cr.float64)
    img = cr.tensor(np.random.default_rng(0).random((3, 3, 8, 8)), requires_grad=True)
    codes = cr.tensor(b.question_codes.data.astype(np.float64))
    params = list(m.parameters())

    def f(x, *ps):
        return m(x, codes=codes)

    assert gradcheck(f, [img] + params)


def test_film_errors_name_what_was_expected():
    with pytest.raises(ValueError, match="fusion must be 'concat' or 'film', got 'sum'"):
        VQANet(10, 4, fusion="sum")
    m = VQANet(10, 4, image_size=16, channels=(2,), question_dim=3, question_encoder="code",
               fusion="film")
    with pytest.raises(ValueError, match=r"fusion='film' needs the question vector \(B, D\) "
                                         r"with B = 2 images, got None"):
        m.encode_image(cr.zeros(2, 3, 16, 16))
    with pytest.raises(ValueError, match=r"2 images but 1 questions"):
        m(cr.zeros(2, 3, 16, 16), codes=cr.zeros(1, 11))


def test_film_tiny_config_overfits_a_few_examples():
    cr.manual_seed(0)
    ds, b = _batch(n=8)
    m = VQANet(len(ds.vocab), len(ANSWERS), image_size=24, channels=(8, 8), image_dim=16,
               question_dim=16, hidden=(32,), question_encoder="code", fusion="film",
               coords=True)
    _assert_overfits(m, b)
