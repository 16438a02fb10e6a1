"""Leaves keep a fused op's fresh gradient arrays without a copy, and never share one."""
import numpy as np

import chainrule as cr
from chainrule import backend
from chainrule.ops import linear


def test_weight_used_twice_accumulates_both_paths():
    w = cr.randn(3, 4, requires_grad=True)
    x = cr.randn(5, 4)
    (linear(x, w).sum() + linear(2 * x, w).sum()).backward()
    np.testing.assert_allclose(w.grad.numpy(), np.tile(3 * x.numpy().sum(0), (3, 1)), rtol=1e-5)


def test_fresh_gradients_are_not_shared_between_leaves():
    w1 = cr.randn(3, 4, requires_grad=True)
    w2 = cr.randn(3, 4, requires_grad=True)
    x = cr.randn(5, 4)
    (linear(x, w1) + linear(x, w2)).sum().backward()
    assert not np.shares_memory(w1.grad.numpy(), w2.grad.numpy())
    w1.grad.numpy()[...] = 0  # an in-place change to one leaves the other intact
    np.testing.assert_allclose(w2.grad.numpy(), np.tile(x.numpy().sum(0), (3, 1)), rtol=1e-5)


def test_pass_through_gradients_are_copied():
    a = cr.randn(4, requires_grad=True)
    b = cr.randn(4, requires_grad=True)
    (a + b).sum().backward()  # Add hands the same array to both inputs
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())


def test_tune_allocator_reports_a_bool():
    assert isinstance(backend.tune_allocator(), bool)
