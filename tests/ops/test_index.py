"""Indexing (src/chainrule/ops/index.py): the registry's generic checks over ints, slices, None,
Ellipsis, integer arrays with repeats and boolean masks; then index_select, gather, masked_fill."""
import numpy as np
import pytest

import chainrule as cr

from .registry import (BY_NAME, check_against_torch, check_error, check_gradcheck,
                       check_nonscalar_backward, error_params, op_params, sample_params)

FAMILY = "index"
REQUIRED = ["getitem", "index_select", "gather", "masked_fill"]


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

def test_repeated_integer_indices_add_their_gradients():
    x = cr.zeros(4, requires_grad=True)
    x[cr.tensor([0, 2, 0, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 0.0, 1.0, 0.0])


@pytest.mark.parametrize("index", [[2, 0], (np.array([2, 0]),), "tensor"])
def test_lists_arrays_and_tensors_index_alike(index):
    x = cr.arange(12.0).reshape(3, 4)
    idx = cr.tensor([2, 0]) if index == "tensor" else index
    np.testing.assert_array_equal(x[idx].data, x.data[[2, 0]])


def test_mask_selecting_nothing_gives_an_empty_result_and_zero_gradient():
    x = cr.randn(2, 3, requires_grad=True)
    out = x[x.detach() > 100]
    assert out.shape == (0,)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.zeros((2, 3)))


def test_setitem_under_no_grad_and_refused_with_grad():
    x = cr.zeros(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        x[0, 1] = 5.0
    with cr.no_grad():
        x[0, 1] = 5.0
        x[cr.tensor([1]), :] = cr.tensor([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(x.data, [[0.0, 5.0, 0.0], [1.0, 2.0, 3.0]])


def test_gather_picks_like_take_along_axis():
    x = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    out = cr.gather(x, 1, cr.tensor([[0, 0], [1, 0]]))
    np.testing.assert_array_equal(out.data, [[1.0, 1.0], [4.0, 3.0]])


def test_masked_fill_blocks_the_gradient_where_filled():
    x = cr.ones(2, 2, requires_grad=True)
    mask = cr.tensor([[True, False], [False, True]])
    y = x.masked_fill(mask, -np.inf)
    np.testing.assert_array_equal(y.data, [[-np.inf, 1.0], [1.0, -np.inf]])
    (x.masked_fill(mask, 0.0) * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0.0, 3.0], [3.0, 0.0]])
