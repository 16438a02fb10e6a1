"""The two-layer perceptron of the notes, section 1.1: logistic regression on logistic regressions.

    y_i ~ Bernoulli(p_i),   p_i = sigmoid(h_i^T beta),   h_ik = sigmoid(X_i^T alpha_k)

The log-likelihood L(beta, alpha) = sum_i { y_i A_i - log(1 + exp(A_i)) }, A_i = sum_k beta_k h_ik,
has the gradients the notes derive by back-propagation:

    dL/dbeta    = sum_i (y_i - p_i) h_i
    dL/dalpha_k = sum_i (y_i - p_i) beta_k h_ik (1 - h_ik) X_i

and with ReLU hidden units (h_ik = max(0, X_i^T alpha_k)) the factor h_ik (1 - h_ik) becomes
1(X_i^T alpha_k > 0). The same network is given twice: ``TwoLayerPerceptron``, a Module trained by
autograd, and ``explicit_gradients``, the formulas above in NumPy; tests show they agree.
Intercepts (alpha_k0, beta_0) are the coefficients of a constant input 1; their gradients follow
from the same formulas with X_i0 = h_i0 = 1.
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ..ops import linear, relu, sigmoid

_ACTIVATIONS = ("sigmoid", "relu")


class TwoLayerPerceptron(nn.Module):
    """p_i = sigmoid(sum_k beta_k h_ik + beta_0), h_ik = act(X_i^T alpha_k + alpha_k0)  (notes 1.1).

    Args:
        in_features: p, the dimension of X_i.
        hidden: d, the number of hidden units h_ik.
        activation: 'sigmoid' (the notes' logistic units) or 'relu'.
        bias: whether to learn the intercepts alpha_k0 and beta_0.

    Shape: X (n, p) -> the logit A (n,); p = sigmoid(A). Train with ``nn.BCEWithLogitsLoss``,
    whose negative is the notes' log-likelihood.

    Parameters: ``alpha`` (d, p) with rows alpha_k, ``alpha0`` (d,), ``beta`` (d,), ``beta0`` (1,).
    """

    def __init__(self, in_features: int, hidden: int, activation: str = "sigmoid",
                 bias: bool = True):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"TwoLayerPerceptron: activation must be one of {_ACTIVATIONS}, "
                             f"got {activation!r}")
        self.in_features, self.hidden_units, self.activation = in_features, hidden, activation
        first, second = nn.Linear(in_features, hidden, bias=bias), nn.Linear(hidden, 1, bias=bias)
        self.alpha = first.weight
        self.alpha0 = first.bias
        self.beta = nn.Parameter(second.weight.data.reshape(hidden).copy())
        self.beta0 = second.bias

    def hidden(self, X):
        """h_i = act(alpha X_i + alpha0), shape (n, d)."""
        s = linear(X, self.alpha, self.alpha0)
        return sigmoid(s) if self.activation == "sigmoid" else relu(s)

    def forward(self, X):
        if X.ndim != 2 or X.shape[1] != self.in_features:
            raise ValueError(f"TwoLayerPerceptron({self.in_features}, {self.hidden_units}): "
                             f"expected input (n, {self.in_features}), got {tuple(X.shape)}")
        A = self.hidden(X) @ self.beta
        return A if self.beta0 is None else A + self.beta0

    def extra_repr(self):
        return (f"in_features={self.in_features}, hidden={self.hidden_units}, "
                f"activation={self.activation}")


def _sigmoid(a):
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e))


def log_likelihood(X, y, alpha, beta, alpha0=None, beta0=None, activation="sigmoid"):
    """L(beta, alpha) = sum_i { y_i A_i - log(1 + exp(A_i)) } in NumPy (notes 1.1)."""
    s = X @ alpha.T + (0 if alpha0 is None else alpha0)
    h = _sigmoid(s) if activation == "sigmoid" else np.maximum(s, 0)
    A = h @ beta + (0 if beta0 is None else beta0)
    return float(np.sum(y * A - (np.maximum(A, 0) + np.log1p(np.exp(-np.abs(A))))))


def explicit_gradients(X, y, alpha, beta, alpha0=None, beta0=None, activation="sigmoid"):
    """The notes' back-propagation for the two-layer perceptron, written out.

    Args:
        X: (n, p) inputs; y: (n,) labels in {0, 1}; alpha: (d, p); beta: (d,);
        alpha0: (d,) or None; beta0: (1,) or None; activation: 'sigmoid' or 'relu'.

    Returns:
        A dict of gradients of the log-likelihood L (to be maximized), keyed like the parameters:
        'beta': sum_i (y_i - p_i) h_i,
        'alpha': row k = sum_i (y_i - p_i) beta_k h_ik (1 - h_ik) X_i
                 (1(X_i^T alpha_k > 0) in place of h_ik (1 - h_ik) for ReLU),
        and 'alpha0', 'beta0' when the intercepts are given.
    """
    if activation not in _ACTIVATIONS:
        raise ValueError(f"explicit_gradients: activation must be one of {_ACTIVATIONS}, got "
                         f"{activation!r}")
    s = X @ alpha.T + (0 if alpha0 is None else alpha0)  # (n, d): X_i^T alpha_k
    if activation == "sigmoid":
        h = _sigmoid(s)
        dh_ds = h * (1 - h)  # dh_ik/ds_ik = h_ik (1 - h_ik)
    else:
        h = np.maximum(s, 0)
        dh_ds = (s > 0).astype(X.dtype)  # 1(X_i^T alpha_k > 0)
    A = h @ beta + (0 if beta0 is None else beta0)
    p = _sigmoid(A)
    e = y - p  # (n,): the error y_i - p_i
    grads = {"beta": h.T @ e}  # sum_i (y_i - p_i) h_i
    delta = (e[:, None] * beta[None, :]) * dh_ds  # (n, d): (y_i - p_i) beta_k h_ik (1 - h_ik)
    grads["alpha"] = delta.T @ X  # row k: sum_i delta_ik X_i
    if alpha0 is not None:
        grads["alpha0"] = delta.sum(0)
    if beta0 is not None:
        grads["beta0"] = np.array([e.sum()], dtype=X.dtype)
    return grads
