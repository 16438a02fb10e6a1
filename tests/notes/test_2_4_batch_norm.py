"""Notes 2.4: batch normalization and its back-propagation through mu and sigma.

    mu_d = (1/n) sum_i x_id,   sigma_d^2 = (1/n) sum_i (x_id - mu_d)^2,
    xhat_id = (x_id - mu_d) / sigma_d,   y_id = beta_d + gamma_d xhat_id

"mu and sigma^2 are functions of the whole batch ... it is as if the whole batch becomes a single
training example": the backward must go through them. For a CNN, one (beta, gamma, mu, sigma^2)
per channel, averaged over the n m^2 numbers of the channel. The code divides by
sqrt(sigma^2 + eps) (eps = 1e-5 by default; the notes write sigma); eps = 0 gives the notes' form.
"""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F

from ._common import close, t


def _notes_forward(x, gamma, beta, eps):
    mu = x.mean(axis=0)                                   # mu_d
    var = ((x - mu) ** 2).mean(axis=0)                    # sigma_d^2 (1/n, biased)
    xhat = (x - mu) / np.sqrt(var + eps)
    return beta + gamma * xhat, mu, var, xhat


def _notes_backward(dy, x, gamma, eps):
    """The chain rule step by step through xhat, sigma^2 and mu (each a function of all x_i)."""
    n = x.shape[0]
    mu = x.mean(axis=0)
    var = ((x - mu) ** 2).mean(axis=0)
    inv = 1 / np.sqrt(var + eps)
    xhat = (x - mu) * inv
    d_xhat = dy * gamma                                               # dL/dxhat_i
    d_var = np.sum(d_xhat * (x - mu), axis=0) * -0.5 * inv ** 3       # dL/dsigma^2
    d_mu = np.sum(-d_xhat * inv, axis=0) + d_var * np.sum(-2 * (x - mu), axis=0) / n
    dx = d_xhat * inv + d_var * 2 * (x - mu) / n + d_mu / n           # dsigma^2/dx_i, dmu/dx_i
    return dx, np.sum(dy * xhat, axis=0), np.sum(dy, axis=0)


@pytest.mark.parametrize("eps", [0.0, 1e-5])
def test_batch_norm_forward_is_the_notes_formula(eps):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 4)) * 3 + 1
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    y = F.batch_norm(t(x), None, None, t(gamma), t(beta), training=True, eps=eps)
    want, _, _, xhat = _notes_forward(x, gamma, beta, eps)
    close(y, want)
    if eps == 0:
        close(xhat.mean(0), np.zeros(4), atol=1e-12)
        close(xhat.std(0), np.ones(4))


@pytest.mark.parametrize("eps", [0.0, 1e-5])
def test_batch_norm_backward_through_mu_and_sigma(eps):
    """The hand chain rule through mu and sigma^2 = F.batch_norm's fused backward = chainrule
    autograd of the forward written with elementary ops (mean, subtraction, square, sqrt)."""
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal((5, 3)) * 2
    gamma0, beta0 = rng.standard_normal(3), rng.standard_normal(3)
    dy = rng.standard_normal((5, 3))
    dx, dgamma, dbeta = _notes_backward(dy, x0, gamma0, eps)

    x, g, b = t(x0, grad=True), t(gamma0, grad=True), t(beta0, grad=True)
    F.batch_norm(x, None, None, g, b, training=True, eps=eps).backward(t(dy))
    close(x.grad, dx)
    close(g.grad, dgamma)
    close(b.grad, dbeta)

    x, g, b = t(x0, grad=True), t(gamma0, grad=True), t(beta0, grad=True)
    mu = x.mean(0)
    var = ((x - mu) ** 2).mean(0)
    (b + g * (x - mu) / cr.sqrt(var + eps)).backward(t(dy))
    close(x.grad, dx)
    close(g.grad, dgamma)

    # the compact form of the same gradient (code docstring): g_i - mean g - xhat_i mean(g xhat)
    xhat = (x0 - x0.mean(0)) / np.sqrt(x0.var(0) + eps)
    gi = gamma0 * dy
    close(dx, (gi - gi.mean(0) - xhat * (gi * xhat).mean(0)) / np.sqrt(x0.var(0) + eps))


def test_treating_mu_and_sigma_as_constants_is_wrong():
    """Without the paths through mu and sigma the gradient would be gamma dy / sigma; the true one
    differs from it, and sums to zero over the batch (shifting every x_i leaves y unchanged)."""
    rng = np.random.default_rng(2)
    x0, dy = rng.standard_normal((8, 2)), rng.standard_normal((8, 2))
    x = t(x0, grad=True)
    F.batch_norm(x, None, None, training=True, eps=0.0).backward(t(dy))
    naive = dy / x0.std(0)
    assert not np.allclose(x.grad.numpy(), naive, rtol=1e-3)
    close(x.grad.numpy().sum(0), np.zeros(2), atol=1e-12)


def test_batch_norm_2d_pools_over_the_n_m_m_numbers_of_a_channel():
    """For an (n, d, m, m) batch one mu_d, sigma_d^2 per channel over n m^2 numbers; forward and
    backward equal the (n m^2, d) matrix case of the notes."""
    cr.manual_seed(0)
    bn = nn.BatchNorm2d(3, eps=1e-5)
    rng = np.random.default_rng(3)
    bn.weight.data[...] = rng.standard_normal(3)
    bn.bias.data[...] = rng.standard_normal(3)
    x0 = rng.standard_normal((4, 3, 5, 5))
    x = t(x0, grad=True)
    y = bn(x)
    flat = x0.transpose(0, 2, 3, 1).reshape(-1, 3)                       # (n m^2, d)
    want, mu, var, _ = _notes_forward(flat, bn.weight.numpy(), bn.bias.numpy(), 1e-5)
    close(y.numpy().transpose(0, 2, 3, 1).reshape(-1, 3), want)
    dy = rng.standard_normal(x0.shape)
    y.backward(t(dy))
    dx, dgamma, dbeta = _notes_backward(dy.transpose(0, 2, 3, 1).reshape(-1, 3), flat,
                                        bn.weight.numpy(), 1e-5)
    close(x.grad.numpy().transpose(0, 2, 3, 1).reshape(-1, 3), dx)
    close(bn.weight.grad, dgamma)
    close(bn.bias.grad, dbeta)
    # the running estimates move toward mu and the unbiased variance (momentum 0.1)
    close(bn.running_mean, 0.1 * mu)
    close(bn.running_var, 0.9 + 0.1 * var * flat.shape[0] / (flat.shape[0] - 1))
