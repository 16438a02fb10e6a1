"""Cases where chainrule's forward still differs from PyTorch, found by the property tests and
left out of their strategies (tests/property/test_registry_properties.py) until fixed.

Each is a strict xfail: the day the op is fixed the test passes, pytest reports the XPASS as a
failure, and the marker (and the exclusion in the strategy) should go.
"""
import numpy as np
import pytest

import chainrule as cr

from ..ops.registry import import_torch

GAP = pytest.mark.xfail(strict=True, raises=(ValueError, IndexError),
                        reason="forward raises where PyTorch returns a result (see docstring)")


@GAP
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_along_dim_0_of_a_0d_tensor(name):
    """torch.max(torch.tensor(2.), dim=0) is (2., 0); chainrule's MaxMinDim raises AxisError
    (np.argmax(a, axis=0, keepdims=True) on a 0-d array)."""
    x = cr.tensor(2.0, requires_grad=True)
    values, indices = getattr(cr, name)(x, dim=0)
    assert values.item() == 2.0 and indices.item() == 0
    values.backward()
    assert x.grad.item() == 1.0


@GAP
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_over_an_empty_dim(name):
    """torch.softmax(torch.zeros(0), 0) is an empty tensor; chainrule's forward takes np.max over
    the empty dim and raises."""
    x = cr.zeros(0, requires_grad=True)
    y = getattr(cr, name)(x, dim=0)
    assert y.shape == (0,)
    y.sum().backward()
    assert x.grad.shape == (0,)


@GAP
def test_logsumexp_over_an_empty_dim_is_minus_inf():
    """torch.logsumexp(torch.zeros(2, 0), 1) is [-inf, -inf] (log of an empty sum); chainrule's
    forward takes np.max over the empty dim and raises."""
    torch = import_torch()
    x = cr.zeros(2, 0, requires_grad=True)
    y = cr.logsumexp(x, dim=1)
    ref = torch.logsumexp(torch.zeros(2, 0), 1)
    np.testing.assert_array_equal(y.data, ref.numpy())
    y.sum().backward()
    assert x.grad.shape == (2, 0)
