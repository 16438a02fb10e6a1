"""The notes' two-layer perceptron (section 1.1): explicit back-propagation = autograd, and it
separates what a hyperplane cannot."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.datasets.synthetic import make_rings
from chainrule.models import TwoLayerPerceptron, explicit_gradients, log_likelihood


def _autograd_grads(model, X, y):
    """Gradients of the log-likelihood L = -sum BCE (to be maximized), by autograd."""
    model.zero_grad()
    nll = nn.BCEWithLogitsLoss(reduction="sum")(model(cr.tensor(X)), cr.tensor(y))
    (-nll).backward()
    return {name: p.grad.numpy() for name, p in model.named_parameters()}, -nll.item()


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("bias", [True, False])
def test_explicit_gradients_equal_autograd(activation, bias):
    cr.manual_seed(1)
    cr.set_default_dtype(cr.float64)
    try:
        model = TwoLayerPerceptron(2, 7, activation=activation, bias=bias)
    finally:
        cr.set_default_dtype(cr.float32)
    X, y = make_rings(50, seed=3)
    X, y = X.astype(np.float64), y.astype(np.float64)
    got, L = _autograd_grads(model, X, y)
    params = {name: p.numpy() for name, p in model.named_parameters()}
    want = explicit_gradients(X, y, params["alpha"], params["beta"], params.get("alpha0"),
                              params.get("beta0"), activation=activation)
    assert set(got) == set(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-10, atol=1e-12, err_msg=name)
    assert L == pytest.approx(log_likelihood(X, y, params["alpha"], params["beta"],
                                             params.get("alpha0"), params.get("beta0"),
                                             activation), rel=1e-12)


def test_explicit_beta_gradient_is_the_notes_formula():
    """dL/dbeta = sum_i (y_i - p_i) h_i, checked term by term on three points."""
    X = np.array([[0.5, -1.0], [1.0, 2.0], [-0.3, 0.2]])
    y = np.array([1.0, 0.0, 1.0])
    alpha = np.array([[0.1, -0.2], [0.3, 0.4]])
    beta = np.array([0.7, -0.5])
    g = explicit_gradients(X, y, alpha, beta)
    total = np.zeros(2)
    for i in range(3):
        h = 1 / (1 + np.exp(-(alpha @ X[i])))
        p = 1 / (1 + np.exp(-(h @ beta)))
        total += (y[i] - p) * h
    np.testing.assert_allclose(g["beta"], total, rtol=1e-12)


def _train(model, X, y, steps=600, lr=0.05):
    opt = optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.BCEWithLogitsLoss()
    Xt, yt = cr.tensor(X), cr.tensor(y)
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(Xt), yt)
        loss.backward()
        opt.step()
    with cr.no_grad():
        return float(((model(Xt).numpy() > 0) == (y > 0.5)).mean())


def test_two_layer_network_separates_rings_where_logistic_regression_cannot():
    """The notes' Figure 1: no hyperplane separates the classes; hidden logistic units do."""
    cr.manual_seed(0)
    X, y = make_rings(400, noise=0.1, seed=0)
    mlp_acc = _train(TwoLayerPerceptron(2, 8), X, y)
    logistic = nn.Linear(2, 1)

    class Logistic(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = logistic

        def forward(self, x):
            return self.lin(x).reshape(-1)

    lr_acc = _train(Logistic(), X, y)
    assert mlp_acc >= 0.98
    assert lr_acc <= 0.75  # a hyperplane gets little beyond the majority class


def test_bad_input_is_named():
    model = TwoLayerPerceptron(2, 3)
    with pytest.raises(ValueError, match=r"TwoLayerPerceptron\(2, 3\): expected input \(n, 2\)"):
        model(cr.zeros(4, 3))
    with pytest.raises(ValueError, match="activation"):
        TwoLayerPerceptron(2, 3, activation="tanh")
