"""Notes 2.2: the softmax layer and its gradient, and the least squares loss.

    p_ik = exp(h_ik) / sum_k' exp(h_ik')
    d log p(y_i | X_i) / dh_i = Y_i - p_i = e_i       (Y_i the one-hot vector of y_i)
    L(y_i, h_i) = ||y_i - h_i||^2:   dL/dh_i = -2 (y_i - h_i) = -2 e_i
"""
import numpy as np

from chainrule import nn
from chainrule.nn import functional as F

from ._common import close, t


def _logits(n=7, K=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, K)) * 3, rng.integers(0, K, n)


def test_softmax_probabilities_and_hard_max():
    h, _ = _logits()
    p = F.softmax(t(h), dim=1).numpy()
    close(p, np.exp(h) / np.exp(h).sum(axis=1, keepdims=True))
    assert (p.argmax(1) == h.argmax(1)).all()                  # hard max: the largest h_ik


def test_softmax_gradient_is_Y_minus_p():
    """d/dh_i of sum_i log p(y_i|X_i) is Y_i - p_i, through F.cross_entropy (the negative
    log-likelihood), nn.CrossEntropyLoss and log_softmax + the pick of the true class."""
    h, y = _logits()
    Y = np.eye(5)[y]
    p = np.exp(h) / np.exp(h).sum(axis=1, keepdims=True)
    x = t(h, grad=True)
    (-F.cross_entropy(x, t(y).long(), reduction="sum")).backward()
    close(x.grad, Y - p)
    x = t(h, grad=True)
    (-nn.CrossEntropyLoss(reduction="sum")(x, t(y).long())).backward()
    close(x.grad, Y - p)
    x = t(h, grad=True)
    (F.log_softmax(x, dim=1) * t(Y)).sum().backward()
    close(x.grad, Y - p)
    # and the softmax's own Jacobian dp_k/dh_k' = p_k (1(k = k') - p_k') on one row
    x = t(h[0], grad=True)
    pk = F.softmax(x, dim=0)
    for k in range(5):
        x.grad = None
        pk[k].backward(retain_graph=True)
        close(x.grad, p[0, k] * (np.eye(5)[k] - p[0]))


def test_mean_reduction_averages_the_errors():
    """With the default mean over the batch, the gradient is (p_i - Y_i) / n."""
    h, y = _logits(n=4)
    p = np.exp(h) / np.exp(h).sum(axis=1, keepdims=True)
    x = t(h, grad=True)
    F.cross_entropy(x, t(y).long()).backward()
    close(x.grad, (p - np.eye(5)[y]) / 4)


def test_least_squares_gradient():
    """L = sum_i ||y_i - h_i||^2 (vectors y_i, h_i): dL/dh_i = -2 (y_i - h_i)."""
    rng = np.random.default_rng(1)
    h, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    x = t(h, grad=True)
    loss = F.mse_loss(x, t(y), reduction="sum")
    close(loss.item(), np.sum((y - h) ** 2))
    loss.backward()
    close(x.grad, -2 * (y - h))
