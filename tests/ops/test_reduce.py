"""Reductions (src/chainrule/ops/reduce.py): the registry's generic checks, then values and
indices of max/min, ties, argmax/argmin and edge cases against torch."""
import numpy as np
import pytest

import chainrule as cr

from .registry import (BY_NAME, check_against_torch, check_error, check_gradcheck,
                       check_nonscalar_backward, error_params, import_torch, op_params,
                       sample_params)

FAMILY = "reduce"
REQUIRED = ["sum", "mean", "var", "std", "max", "min", "amax", "amin", "norm"]


def test_registry_covers_the_family():
    assert all(BY_NAME[n].family == FAMILY for n in REQUIRED)


@pytest.mark.parametrize("op, sample", sample_params(FAMILY))
def test_gradcheck(op, sample):
    check_gradcheck(op, sample)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("op, sample", sample_params(FAMILY))
def test_matches_torch(op, sample, dtype):
    check_against_torch(op, sample, dtype)


@pytest.mark.parametrize("case", error_params(FAMILY))
def test_bad_input_error_names_op_and_shapes(case):
    check_error(case)


@pytest.mark.parametrize("op", op_params(FAMILY, with_scalar_output=False))
def test_backward_of_nonscalar_needs_a_gradient(op):
    check_nonscalar_backward(op)


# ---- beyond the registry ---------------------------------------------------------------------

def test_max_with_dim_returns_named_values_and_indices():
    x = cr.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    out = x.max(dim=1)
    values, indices = out
    assert out.values is values and out.indices is indices
    np.testing.assert_array_equal(values.data, [5.0, 7.0])
    np.testing.assert_array_equal(indices.data, [1, 0])
    assert indices.dtype == np.int64 and not indices.requires_grad
    mn = cr.min(x, 0, keepdim=True)
    np.testing.assert_array_equal(mn.values.data, [[1.0, 0.0, 2.0]])
    np.testing.assert_array_equal(mn.indices.data, [[0, 1, 0]])


@pytest.mark.parametrize("fn", ["max", "amax"])
def test_full_max_shares_the_gradient_between_ties_as_torch(fn):
    torch = import_torch()
    x = cr.tensor([1.0, 3.0, 3.0], requires_grad=True)
    t = torch.tensor([1.0, 3.0, 3.0], requires_grad=True)
    getattr(x, fn)().backward()
    getattr(t, fn)().backward()
    np.testing.assert_array_equal(x.grad.data, t.grad.numpy())


def test_max_along_dim_sends_the_gradient_to_the_returned_index():
    x = cr.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], requires_grad=True)
    values, indices = x.max(dim=1)
    values.sum().backward()
    expected = np.zeros((2, 3))
    expected[[0, 1], indices.data] = 1.0
    np.testing.assert_array_equal(x.grad.data, expected)


@pytest.mark.parametrize("fn", ["argmax", "argmin"])
@pytest.mark.parametrize("kw", [{}, {"dim": 0}, {"dim": -1, "keepdim": True}, {"dim": 1}])
def test_argmax_argmin_match_torch(fn, kw):
    torch = import_torch()
    a = np.random.default_rng(3).standard_normal((3, 4))
    out = getattr(cr, fn)(cr.tensor(a), **kw)
    ref = getattr(torch, fn)(torch.from_numpy(a), **kw)
    assert out.dtype == np.int64 and out.shape == tuple(ref.shape) and not out.requires_grad
    np.testing.assert_array_equal(out.data, ref.numpy())


def test_var_and_std_of_one_element_are_nan_as_torch():
    x = cr.tensor([1.0], requires_grad=True)
    v = x.var()
    assert np.isnan(v.item()) and np.isnan(x.std().item())
    v.backward()
    assert np.isnan(x.grad.item())
    np.testing.assert_array_equal(x.var(unbiased=False).data, 0.0)


def test_norm_of_zero_has_zero_gradient_as_torch():
    x = cr.zeros(3, requires_grad=True)
    x.norm().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 0.0])


def test_sum_of_integers_and_bools_is_int64_without_grad():
    assert cr.tensor([True, False, True]).sum().item() == 2
    assert cr.tensor([True, False]).sum().dtype == np.int64
    assert cr.tensor([1, 2], dtype=cr.int32).sum().dtype == np.int64
    s = cr.tensor([1, 2]).sum(dtype=cr.float64)
    assert s.dtype == np.float64 and s.item() == 3.0


def test_all_any():
    m = cr.tensor([[True, False], [True, True]])
    assert not m.all().item() and m.any().item()
    np.testing.assert_array_equal(m.all(dim=1).data, [False, True])
    np.testing.assert_array_equal(m.any(0).data, [True, True])


def test_mean_gradient_is_one_over_n():
    x = cr.ones(2, 5, requires_grad=True)
    x.mean(dim=1).sum().backward()
    np.testing.assert_allclose(x.grad.data, np.full((2, 5), 0.2))


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_along_dim_0_of_a_0d_tensor(name):
    """torch.max(torch.tensor(2.), dim=0) is (2., 0): a 0-d tensor has a dim 0 of one element."""
    x = cr.tensor(2.0, requires_grad=True)
    values, indices = getattr(cr, name)(x, dim=0)
    assert values.item() == 2.0 and indices.item() == 0
    values.backward()
    assert x.grad.item() == 1.0
