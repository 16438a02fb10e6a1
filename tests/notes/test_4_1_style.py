"""Notes 4.1: encoder and decoder again (style).

    content vector c = encoder(image), style vector s = another encoder(image),
    output image = decoder([c; s])   (the two vectors concatenated, then decoded)

models.StyleContentAutoencoder: c is the one-hot class, s the style code; swap(x_c, x_s) draws
the content of x_c in the style of x_s.
"""
import numpy as np

import chainrule as cr
from chainrule.models import StyleContentAutoencoder

from ._common import close, t


def _model():
    cr.manual_seed(0)
    model = StyleContentAutoencoder(num_classes=3, style_dim=2, image_size=8, channels=2,
                                    hidden=6)
    return model.eval()


def _images(seed, n=2):
    return t(np.random.default_rng(seed).random((n, 1, 8, 8)))


def test_decoder_input_is_content_then_style_concatenated():
    """decode(c, s) = rest_of_decoder(W [c; s] + b): the first layer sees exactly [c; s]."""
    model = _model()
    rng = np.random.default_rng(1)
    c = np.eye(3)[[2, 0]]
    s = rng.standard_normal((2, 2))
    first = model.decoder[0]
    z = np.concatenate([c, s], 1)                                        # [c; s], (2, 5)
    a = z @ first.weight.numpy().T + first.bias.numpy()
    close(model.decode(t(c), t(s)), model.decoder[1:](t(a)))
    # [s; c] (the other order) is a different image
    a_rev = np.concatenate([s, c], 1) @ first.weight.numpy().T + first.bias.numpy()
    assert not np.allclose(model.decoder[1:](t(a_rev)).numpy(),
                           model.decode(t(c), t(s)).numpy())


def test_swapping_content_changes_the_image_and_keeps_the_style():
    """swap(x_c, x_s) = decode(c(x_c), s(x_s)): the content from x_c's class, the style the mean
    code of x_s. A new class with the same style code gives another image; the style code of the
    output's source is unchanged, and the content image's own pixels do not enter."""
    model = _model()
    xa, xb = _images(2), _images(3)
    labels = np.array([0, 1])
    out = model.swap(xa, xb, content_labels=labels)
    s_b = model.style_params(xb)[0]
    close(out, model.decode(t(np.eye(3)[labels]), s_b))
    # the content image's pixels do not matter once its class is fixed: only s comes from x_b
    close(model.swap(_images(4), xb, content_labels=labels), out)
    # swapping c (another class) changes the output ...
    other = model.swap(xa, xb, content_labels=np.array([2, 2]))
    assert np.abs(other.numpy() - out.numpy()).max() > 1e-6
    # ... and keeps s: the same style code, decoded with the new c
    close(other, model.decode(t(np.eye(3)[[2, 2]]), s_b))
    # another style image changes the output with c kept
    assert np.abs(model.swap(xa, xa, content_labels=labels).numpy() - out.numpy()).max() > 1e-6
