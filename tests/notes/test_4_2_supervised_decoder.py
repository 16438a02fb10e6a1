"""Notes 4.2: the supervised decoder.

    X = g_theta(h),   min_theta sum_i ||X_i - g_theta(h_i)||^2  over training pairs {(h_i, X_i)}

models.FeatureDecoder: h = f_l(X) the features of a layer of a frozen classifier, and
FeatureDecoder.loss the mean squared error (1 / (N C H W)) sum_i ||X_i - g_theta(h_i)||^2 (the
same minimizer as the notes' sum). For a linear decoder g(h) = W h + b the gradient is
dL/dW = 2 / (N D) sum_i (W h_i + b - X_i) h_i^T, and the minimizer is least squares' closed form.
"""
import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.models import FeatureDecoder

from ._common import close, t

N, SHAPE = 9, (1, 4, 4)
D = 16


def _decoder():
    cr.manual_seed(0)
    classifier = nn.Sequential(nn.Flatten(1), nn.Linear(D, 3))
    return FeatureDecoder(classifier, "1", image_shape=SHAPE, channels=2, hidden=5)


def _images(seed=0):
    return t(np.random.default_rng(seed).random((N,) + SHAPE))


def test_loss_is_the_mean_squared_error_of_g_of_the_features():
    dec = _decoder()
    x = _images()
    lin = dec.classifier[1]
    h = x.numpy().reshape(N, D) @ lin.weight.numpy().T + lin.bias.numpy()   # h_i = f_l(X_i)
    close(dec.features(x), h)
    g = dec(t(h)).numpy()
    close(dec.loss(x), np.sum((x.numpy() - g) ** 2) / (N * D))
    target = _images(1)
    close(dec.loss(x, target), np.sum((target.numpy() - g) ** 2) / (N * D))


def _linear_decoder(dec):
    """Make g_theta(h) = W h + b, reshaped to the image."""
    dec.decoder = nn.Sequential(nn.Linear(3, D), nn.Unflatten(1, SHAPE))
    return dec.decoder[0]


def test_gradient_on_a_linear_decoder_is_the_hand_derived_one():
    dec = _decoder()
    lin = _linear_decoder(dec)
    x = _images()
    h = dec.features(x).numpy()
    W, b, X = lin.weight.numpy(), lin.bias.numpy(), x.numpy().reshape(N, D)
    r = h @ W.T + b - X                                                     # g(h_i) - X_i
    dec.loss(x).backward()
    close(lin.weight.grad, 2.0 / (N * D) * r.T @ h)
    close(lin.bias.grad, 2.0 / (N * D) * r.sum(0))


def test_least_squares_minimizer_is_the_closed_form():
    """[W b] = argmin sum_i ||X_i - W h_i - b||^2 solves the normal equations: at the lstsq
    solution the loss's gradient is 0 and every nearby theta has a larger loss."""
    dec = _decoder()
    lin = _linear_decoder(dec)
    x = _images(2)
    h = dec.features(x).numpy()
    H1 = np.concatenate([h, np.ones((N, 1))], 1)                            # [h_i; 1]
    sol, *_ = np.linalg.lstsq(H1, x.numpy().reshape(N, D), rcond=None)      # (4, D)
    with cr.no_grad():
        lin.weight.data[...] = sol[:3].T
        lin.bias.data[...] = sol[3]
    loss = dec.loss(x)
    loss.backward()
    close(lin.weight.grad, np.zeros((D, 3)), atol=1e-12)
    close(lin.bias.grad, np.zeros(D), atol=1e-12)
    best = loss.item()
    rng = np.random.default_rng(3)
    for _ in range(3):
        with cr.no_grad():
            lin.weight.data[...] = sol[:3].T + 1e-2 * rng.standard_normal((D, 3))
        assert dec.loss(x).item() > best
