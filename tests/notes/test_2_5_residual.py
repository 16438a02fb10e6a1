"""Notes 2.5: residual blocks x_{l+1} = x_l + F(x_l) and the ensemble view.

    y = (1 + w2)(1 + w1) x = x + w1 x + w2 x + w2 w1 x      (an ensemble of 4 networks)

and in general, for L linear residual blocks x_{l+1} = (I + W_l) x_l, a sum over the 2^L paths
(subsets of blocks) of the products of their W_l.
"""
import itertools

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.models.resnet import PreActBasicBlock

from ._common import close, t


def test_scalar_residual_ensemble_expansion():
    """Two residual scalar blocks in chainrule: the value is the 4-term expansion, and the
    gradients are those of the expansion: dy/dw1 = x + w2 x, dy/dw2 = x + w1 x,
    dy/dx = 1 + w1 + w2 + w2 w1 (the sum of the 4 paths' gains)."""
    x0, a, b = 1.7, 0.3, -0.8
    # one-element vectors: a 0-d leaf that gets two gradient contributions trips a bug in the
    # engine's accumulation (np.add into a NumPy scalar; reported with these tests)
    x, w1, w2 = t([x0], grad=True), t([a], grad=True), t([b], grad=True)
    x1 = x + w1 * x                                   # first block: x + F1(x)
    y = x1 + w2 * x1                                  # second block
    close(y.item(), x0 + a * x0 + b * x0 + b * a * x0)
    y.sum().backward()
    close(w1.grad.item(), x0 + b * x0)
    close(w2.grad.item(), x0 + a * x0)
    close(x.grad.item(), 1 + a + b + b * a)


def test_linear_residual_stack_is_a_sum_over_paths():
    """Three residual blocks x_{l+1} = x_l + W_l x_l with nn.Linear(bias=False): the output is the
    sum over the 8 subsets S of the blocks of (prod_{l in S, in order} W_l) x, and its Jacobian
    dy/dx^T is the same sum of products (I for the empty path)."""
    cr.manual_seed(0)
    blocks = [nn.Linear(4, 4, bias=False) for _ in range(3)]
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(4)
    x = t(x0, grad=True)
    h = x
    for lin in blocks:
        h = h + lin(h)
    Ws = [lin.weight.numpy() for lin in blocks]
    paths = np.zeros((4, 4))
    for k in range(4):
        for S in itertools.combinations(range(3), k):
            P = np.eye(4)
            for l in S:                                   # later blocks multiply on the left
                P = Ws[l] @ P
            paths += P
    close(h, paths @ x0)
    J = np.stack([cr.autograd.grad(h[i], [x], retain_graph=True)[0].numpy() for i in range(4)])
    close(J, paths)


def test_preact_block_is_identity_plus_residual():
    """The revised block of Figure 14 (right) is exactly x_{l+1} = x_l + F(x_l): with F's last
    weighted sum at zero the block is the identity, its Jacobian I (the gradient passes the block
    untouched), and in general block(x) - x is F(x) computed from the block's own layers."""
    cr.manual_seed(1)
    block = PreActBasicBlock(3, 3)
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal((2, 3, 5, 5))
    F_x = block.conv2(block.relu(block.bn2(block.conv1(block.relu(block.bn1(t(x0)))))))
    close(block(t(x0)) - t(x0), F_x)
    block.conv2.weight.data[...] = 0
    x = t(x0, grad=True)
    y = block(x)
    close(y, x0)
    g = rng.standard_normal(x0.shape)
    y.backward(t(g))
    close(x.grad, g)
