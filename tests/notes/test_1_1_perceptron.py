"""Notes 1.1: the two-layer perceptron, its back-propagation, ReLU, and the spline view.

    p_i = sigmoid(h_i^T beta),  h_ik = sigmoid(X_i^T alpha_k)        (or max(X_i^T alpha_k, 0))
    L(beta, alpha) = sum_i { y_i A_i - log(1 + exp(A_i)) },  A_i = sum_k beta_k h_ik
    dL/dbeta = sum_i (y_i - p_i) h_i
    dL/dalpha_k = sum_i (y_i - p_i) beta_k h_ik (1 - h_ik) X_i        (1(h_ik > 0) for ReLU)

and "the neural net with ReLU can be viewed as a high-dimensional spline ... the number of linear
pieces is exponential in the number of layers", checked by counting the pieces exactly.
"""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.models import TwoLayerPerceptron, explicit_gradients, log_likelihood

from ._common import close, sigmoid, t


def _data(n=40, p=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    y = (rng.random(n) < 0.5).astype(np.float64)
    return X, y


def _autograd(model, X, y):
    """Gradients of the log-likelihood L = -(sum of BCE), to be maximized, by chainrule autograd."""
    model.zero_grad()
    L = -nn.BCEWithLogitsLoss(reduction="sum")(model(t(X)), t(y))
    L.backward()
    return {n: p.grad.numpy() for n, p in model.named_parameters()}, L.item()


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_explicit_backprop_equals_autograd(activation):
    """models.explicit_gradients (the notes' formulas in NumPy) = autograd of TwoLayerPerceptron,
    without intercepts as the notes write it."""
    cr.manual_seed(1)
    model = TwoLayerPerceptron(3, 6, activation=activation, bias=False)
    X, y = _data()
    got, _ = _autograd(model, X, y)
    w = {n: p.numpy() for n, p in model.named_parameters()}
    want = explicit_gradients(X, y, w["alpha"], w["beta"], activation=activation)
    assert set(got) == set(want) == {"alpha", "beta"}
    for name in want:
        close(got[name], want[name], err_msg=name)


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_gradient_sums_term_by_term_equal_autograd(activation):
    """The notes' sums written out example by example, hidden unit by hidden unit, in this test
    (independently of models.explicit_gradients), against autograd."""
    cr.manual_seed(2)
    model = TwoLayerPerceptron(3, 4, activation=activation, bias=False)
    X, y = _data(12, 3, seed=5)
    got, _ = _autograd(model, X, y)
    alpha, beta = model.alpha.numpy(), model.beta.numpy()
    d_beta, d_alpha = np.zeros(4), np.zeros((4, 3))
    for i in range(len(X)):
        a = alpha @ X[i]
        h = sigmoid(a) if activation == "sigmoid" else np.maximum(a, 0)
        p = sigmoid(h @ beta)
        d_beta += (y[i] - p) * h                                    # (y_i - p_i) h_i
        for k in range(4):
            gate = h[k] * (1 - h[k]) if activation == "sigmoid" else float(h[k] > 0)
            d_alpha[k] += (y[i] - p) * beta[k] * gate * X[i]        # (y_i - p_i) beta_k h'(.) X_i
    close(got["beta"], d_beta)
    close(got["alpha"], d_alpha)


def test_log_likelihood_forms_agree():
    """log P = sum_i [y_i log p_i + (1 - y_i) log(1 - p_i)] = sum_i {y_i A_i - log(1 + exp(A_i))},
    = -BCEWithLogits(A, y) summed, = models.log_likelihood."""
    cr.manual_seed(3)
    model = TwoLayerPerceptron(3, 5, bias=False)
    X, y = _data(30, 3, seed=7)
    A = model(t(X)).numpy()
    p = sigmoid(A)
    first = np.sum(y * np.log(p) + (1 - y) * np.log(1 - p))
    second = np.sum(y * A - np.log1p(np.exp(A)))
    _, L = _autograd(model, X, y)
    assert first == pytest.approx(second, rel=1e-12)
    assert L == pytest.approx(second, rel=1e-12)
    assert log_likelihood(X, y, model.alpha.numpy(), model.beta.numpy()) == pytest.approx(
        second, rel=1e-12)


def test_sigmoid_and_relu_derivatives():
    """dh/ds = h (1 - h) for the sigmoid; 1(h > 0), "a binary detector", for the ReLU."""
    s = np.linspace(-4, 4, 17) + 0.1
    for fn, deriv in ((cr.sigmoid, lambda h: h * (1 - h)),
                      (cr.relu, lambda h: (h > 0).astype(np.float64))):
        x = t(s, grad=True)
        h = fn(x)
        h.sum().backward()
        close(x.grad, deriv(h.numpy()))
    assert cr.relu(t([-2.0, 0.5])).numpy().tolist() == [0.0, 0.5]


# ---- ReLU networks as splines -------------------------------------------------------------------

def _net(layers):
    """An nn.Sequential of Linear layers with ReLU between, weights given as (W, b) pairs."""
    mods = []
    for j, (W, b) in enumerate(layers):
        lin = nn.Linear(W.shape[1], W.shape[0])
        lin.weight.data[...] = W
        lin.bias.data[...] = b
        mods.append(lin)
        if j < len(layers) - 1:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)


def _analytic_pieces(layers, lo, hi):
    """The exact linear pieces of a 1-D -> 1-D ReLU net on [lo, hi], layer by layer.

    On each interval every unit's pre-activation is affine in x, m x + k; its zero -k/m, where it
    falls inside, is a knot that splits the interval. After the last layer, neighbouring
    intervals with the same slope are merged: what is left are the spline's pieces.
    Returns [(left, right, slope, intercept)].
    """
    pieces = [(lo, hi, np.ones(1), np.zeros(1))]       # h_0 = x = 1 x + 0
    for W, b in layers[:-1]:
        new = []
        for a, z, M, c in pieces:
            m, k = W @ M, W @ c + b                    # s = m x + k on (a, z)
            with np.errstate(divide="ignore", invalid="ignore"):
                roots = np.where(m != 0, -k / m, np.nan)
            edges = [a] + sorted(r for r in roots if a < r < z) + [z]
            for u, v in zip(edges[:-1], edges[1:]):
                if v > u:
                    on = (m * (u + v) / 2 + k) > 0    # the activation pattern on (u, v)
                    new.append((u, v, on * m, on * k))
        pieces = new
    W, b = layers[-1]
    merged = []
    for a, z, M, c in pieces:
        slope, icpt = float((W @ M)[0]), float((W @ c + b)[0])
        if merged and abs(merged[-1][2] - slope) <= 1e-9 * (1 + abs(slope)):
            merged[-1] = (merged[-1][0], z, merged[-1][2], merged[-1][3])
        else:
            merged.append((a, z, slope, icpt))
    return merged


def _slopes_and_patterns(net, x):
    """Slope df/dx at each grid point by autograd, and the activation pattern of every unit."""
    xt = t(x[:, None], grad=True)
    h, patterns = xt, []
    for mod in net:
        h = mod(h)
        if isinstance(mod, nn.Linear):
            patterns.append(h.numpy() > 0)
    h.sum().backward()                                 # f(x_j) depends on x_j only
    pattern = np.concatenate(patterns[:-1], axis=1)    # the hidden units'
    return xt.grad.numpy()[:, 0], pattern


def _runs(values, rtol=1e-9):
    """Number of runs of equal consecutive values along axis 0."""
    v = values.reshape(len(values), -1).astype(np.float64)
    change = np.any(np.abs(np.diff(v, axis=0)) > rtol * (1 + np.abs(v[1:])), axis=1)
    return 1 + int(change.sum())


def _sawtooth(L):
    """Telgarsky's construction: L hidden layers of width 2, each the tent map
    t(x) = 2 relu(x) - 4 relu(x - 1/2) of its input, so f = t o ... o t (L times) on [0, 1]."""
    first = (np.array([[1.0], [1.0]]), np.array([0.0, -0.5]))
    middle = (np.array([[2.0, -4.0], [2.0, -4.0]]), np.array([0.0, -0.5]))
    last = (np.array([[2.0, -4.0]]), np.array([0.0]))
    return [first] + [middle] * (L - 1) + [last]


def test_relu_pieces_grow_with_depth():
    """With L hidden layers of 2 units the net has 2^L linear pieces on [0, 1] (counted exactly
    from the knots, and again from chainrule's autograd slopes on a grid between the knots), while
    any net with ONE hidden layer of the same 2L units has at most 2L + 1 (one knot per unit)."""
    rng = np.random.default_rng(0)
    counts = []
    for L in range(1, 7):
        layers = _sawtooth(L)
        exact = _analytic_pieces(layers, 0.0, 1.0)
        counts.append(len(exact))
        N = 2 ** L * 8                                  # cell midpoints never hit a knot k / 2^L
        x = (np.arange(N) + 0.5) / N
        slopes, pattern = _slopes_and_patterns(_net(layers), x)
        assert _runs(slopes) == len(exact)
        assert np.allclose(np.abs(slopes), 2.0 ** L)
        assert _runs(pattern) >= len(exact)             # a piece never spans two patterns' knots
        for _ in range(5):                              # shallow nets with the same 2L units
            W1, b1 = rng.standard_normal((2 * L, 1)), rng.standard_normal(2 * L)
            W2, b2 = rng.standard_normal((1, 2 * L)), rng.standard_normal(1)
            assert len(_analytic_pieces([(W1, b1), (W2, b2)], -5.0, 5.0)) <= 2 * L + 1
    assert counts == [2, 4, 8, 16, 32, 64]


def test_analytic_pieces_match_chainrule_network():
    """For random deep ReLU nets the knots found analytically are the net's: chainrule's forward is
    the affine slope x + intercept inside every piece, autograd gives the slope, and neighbouring
    pieces have different slopes (so the count is exact)."""
    rng = np.random.default_rng(1)
    for depth in (1, 2, 3, 4):
        layers = [(rng.standard_normal((6, 1)), rng.standard_normal(6))]
        layers += [(rng.standard_normal((6, 6)) / 2, rng.standard_normal(6) / 2)
                   for _ in range(depth - 1)]
        layers += [(rng.standard_normal((1, 6)), rng.standard_normal(1))]
        net = _net(layers)
        pieces = _analytic_pieces(layers, -3.0, 3.0)
        fracs = (0.25, 0.5, 0.75)
        x = np.array([u + (v - u) * f for u, v, _, _ in pieces for f in fracs])
        want = np.array([s * (u + (v - u) * f) + c for u, v, s, c in pieces for f in fracs])
        close(net(t(x[:, None])).numpy()[:, 0], want, rtol=1e-9, atol=1e-9)
        slopes, _ = _slopes_and_patterns(net, x)
        close(slopes, np.repeat([s for _, _, s, _ in pieces], 3), rtol=1e-9, atol=1e-9)
        assert all(abs(p[2] - q[2]) > 1e-9 for p, q in zip(pieces[:-1], pieces[1:]))


def test_linear_spline_is_a_one_hidden_layer_relu_net():
    """f(x) = beta_0 + sum_j beta_j max(0, x - a_j) is a ReLU net with one hidden layer (weights 1,
    biases -a_j): at the knot a_j the slope changes by beta_j."""
    a = np.array([-1.0, 0.3, 1.2])
    beta = np.array([0.5, -2.0, 1.5])
    net = _net([(np.ones((3, 1)), -a), (beta[None, :], np.array([0.7]))])
    x = np.linspace(-2, 2, 11) + 0.01
    close(net(t(x[:, None])).numpy()[:, 0], 0.7 + np.maximum(0, x[:, None] - a) @ beta)
    slopes, _ = _slopes_and_patterns(net, np.concatenate([a - 1e-3, a + 1e-3]))
    close(slopes[3:] - slopes[:3], beta)
