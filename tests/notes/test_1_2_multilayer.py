"""Notes 1.2: the multi-layer network and the chain rule in matrix form.

    h_l = f_l(s_l),  s_l = W_l h_{l-1} + b_l,  l = 1..L,  h_0 = X
    dY/dX^T = (dy_i/dx_j);  Y = AX: dY/dX^T = A;  Y = X^T S X: dY/dX = 2 S X;  ||X||^2: 2X
    dY/dZ^T = dY/dX^T dX/dZ^T
    Delta h_l = dL/dh_l,  Delta W_l = dL/dW_l,  D_l = f_l' = diag(dh_lk/ds_lk)
    Delta h_{l-1} = W_l^T D_l Delta h_l,   Delta W_l = D_l Delta h_l h_{l-1}^T,
    (Delta W_l, Delta b_l) = D_l Delta h_l (h_{l-1}^T, 1)

with dh_lk/ds_lk = h_lk (1 - h_lk) for the sigmoid and 1(h_lk > 0) for the ReLU.
"""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F

from ._common import close, sigmoid, t


def _jacobian(y, x):
    """dY/dX^T: row i is the gradient of y_i, by chainrule autograd."""
    return np.stack([cr.autograd.grad(y[i], [x], retain_graph=True)[0].numpy()
                     for i in range(y.shape[0])])


def test_jacobians_of_the_notes_examples():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 3))
    B = rng.standard_normal((3, 5))
    S = rng.standard_normal((3, 3))
    S = S + S.T
    x0, z0 = rng.standard_normal(3), rng.standard_normal(5)
    X = t(x0, grad=True)
    close(_jacobian(t(A) @ X, X), A)                                   # Y = AX: A
    (g,) = cr.autograd.grad(X @ (t(S) @ X), [X])
    close(g, 2 * S @ x0)                                               # X^T S X: 2 S X
    (g,) = cr.autograd.grad((X * X).sum(), [X])
    close(g, 2 * x0)                                                   # ||X||^2: 2X
    # chain rule: Y = tanh(A X), X = sigmoid(B Z) => dY/dZ^T = dY/dX^T dX/dZ^T
    Z = t(z0, grad=True)
    Xz = cr.sigmoid(t(B) @ Z)
    Y = cr.tanh(t(A) @ Xz)
    xv, yv = Xz.numpy(), Y.numpy()
    dY_dX = np.diag(1 - yv ** 2) @ A
    dX_dZ = np.diag(xv * (1 - xv)) @ B
    close(_jacobian(Y, Z), dY_dX @ dX_dZ)


def _mlp(widths, activation, seed):
    cr.manual_seed(seed)
    layers = [nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:])]
    f = cr.sigmoid if activation == "sigmoid" else cr.relu
    return layers, f


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_backprop_recursion_equals_autograd(activation):
    """Delta h_{l-1} = W_l^T D_l Delta h_l and Delta W_l = D_l Delta h_l h_{l-1}^T, run example by
    example with column vectors and explicit diagonal matrices D_l, equal chainrule's autograd for
    every W_l, b_l, every hidden Delta h_l and the input's Delta h_0. The top layer is the identity
    (h_L corresponds to X^T beta of 1.1) with the softmax log-likelihood L = sum_i log p(y_i|X_i),
    so Delta h_L = Y_i - p_i (notes 2.2)."""
    widths = [5, 7, 6, 4, 3]
    layers, f = _mlp(widths, activation, seed=4)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((8, 5))
    y = rng.integers(0, 3, 8)
    Lnum = len(layers)

    # chainrule: forward with hidden tensors kept, L = -CE(sum), backward
    hs = [t(X, grad=True)]
    for j, lin in enumerate(layers):
        s = lin(hs[-1])
        h = s if j == Lnum - 1 else f(s)
        h.retain_grad()
        hs.append(h)
    L = -F.cross_entropy(hs[-1], cr.tensor(y), reduction="sum")
    L.backward()

    # the notes, one example at a time
    W = [lin.weight.numpy() for lin in layers]
    b = [lin.bias.numpy() for lin in layers]
    dW = [np.zeros_like(w) for w in W]
    db = [np.zeros_like(v) for v in b]
    dh_all = [np.zeros((len(X), w)) for w in widths]
    for i in range(len(X)):
        h = [X[i][:, None]]                                   # h_0 = X_i, a column
        for j in range(Lnum):
            s = W[j] @ h[-1] + b[j][:, None]                  # s_l = W_l h_{l-1} + b_l
            if j == Lnum - 1:
                h.append(s)
            else:
                h.append(sigmoid(s) if activation == "sigmoid" else np.maximum(s, 0))
        p = np.exp(h[-1] - h[-1].max())
        p /= p.sum()
        Y = np.eye(3)[y[i]][:, None]
        dh = Y - p                                            # Delta h_L
        for j in range(Lnum - 1, -1, -1):                     # layer l = j + 1
            hl = h[j + 1][:, 0]
            if j == Lnum - 1:
                D = np.eye(len(hl))                           # f_L = identity
            elif activation == "sigmoid":
                D = np.diag(hl * (1 - hl))                    # h_lk (1 - h_lk)
            else:
                D = np.diag((hl > 0).astype(np.float64))      # 1(h_lk > 0)
            dh_all[j + 1][i] = dh[:, 0]
            aug = D @ dh @ np.hstack([h[j].T, [[1.0]]])       # D_l Delta h_l (h_{l-1}^T, 1)
            dW[j] += D @ dh @ h[j].T                          # Delta W_l = D_l Delta h_l h_{l-1}^T
            db[j] += aug[:, -1]
            close(aug[:, :-1], D @ dh @ h[j].T)
            dh = W[j].T @ D @ dh                              # Delta h_{l-1} = W_l^T D_l Delta h_l
        dh_all[0][i] = dh[:, 0]

    for j, lin in enumerate(layers):
        close(lin.weight.grad, dW[j], err_msg=f"Delta W_{j + 1}")
        close(lin.bias.grad, db[j], err_msg=f"Delta b_{j + 1}")
    for j, h in enumerate(hs):
        close(h.grad, dh_all[j], err_msg=f"Delta h_{j}")


def test_gradient_descent_learns_from_the_error():
    """One step theta <- theta + eta dL/dtheta (L the log-likelihood, maximized) with the
    back-propagated gradients raises L for a small eta."""
    layers, f = _mlp([4, 8, 3], "sigmoid", seed=2)
    rng = np.random.default_rng(3)
    X, y = t(rng.standard_normal((16, 4))), cr.tensor(rng.integers(0, 3, 16))

    def loglik():
        return -F.cross_entropy(layers[1](f(layers[0](X))), y, reduction="sum")

    before = loglik()
    before.backward()
    with cr.no_grad():
        for lin in layers:
            for p in (lin.weight, lin.bias):
                p.data += 1e-3 * p.grad.numpy()
    assert loglik().item() > before.item()
