"""Shape ops (src/chainrule/ops/shape.py): the registry's generic checks, then views and aliasing."""
import numpy as np
import pytest

import chainrule as cr

from .registry import (BY_NAME, check_against_torch, check_error, check_gradcheck,
                       check_nonscalar_backward, error_params, import_torch, op_params,
                       sample_params)

FAMILY = "shape"
REQUIRED = [
    "reshape", "view", "transpose", "permute", "flatten", "squeeze", "unsqueeze", "expand",
    "repeat", "cat", "stack", "split", "chunk", "unbind", "pad", "flip"
]


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

def test_reshape_and_view_share_memory_with_the_input():
    x = cr.arange(6.0)
    y = x.view(2, 3)
    x += 1  # in place: no tensor requires grad
    np.testing.assert_array_equal(y.data, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])


@pytest.mark.parametrize("n", [1, 5, 6, 7])
@pytest.mark.parametrize("chunks", [1, 2, 3, 4, 6])
def test_chunk_and_split_sizes_match_torch(n, chunks):
    torch = import_torch()
    x = cr.arange(float(n))
    got = [p.shape[0] for p in x.chunk(chunks)]
    assert got == [p.shape[0] for p in torch.arange(float(n)).chunk(chunks)]
    got = [p.shape[0] for p in x.split(chunks)]
    assert got == [p.shape[0] for p in torch.arange(float(n)).split(chunks)]


def test_transpose_T_and_t():
    x = cr.randn(2, 3, 4)
    assert x.T.shape == (4, 3, 2) and x.mT.shape == (2, 4, 3)
    assert cr.ops.t(cr.randn(2, 3)).shape == (3, 2)
    np.testing.assert_array_equal(x.transpose(0, 2).data, x.data.transpose(2, 1, 0))


def test_cat_and_stack_route_each_gradient_to_its_input():
    a = cr.ones(2, 3, requires_grad=True)
    b = cr.ones(1, 3, requires_grad=True)
    w = cr.arange(9.0).reshape(3, 3)
    (cr.cat([a, b]) * w).sum().backward()
    np.testing.assert_array_equal(a.grad.data, w.data[:2])
    np.testing.assert_array_equal(b.grad.data, w.data[2:])
    c = cr.ones(3, requires_grad=True)
    d = cr.ones(3)  # no gradient asked for: stack still works
    (cr.stack([c, d], dim=1) * cr.tensor([[1.0, 2.0]])).sum().backward()
    np.testing.assert_array_equal(c.grad.data, [1.0, 1.0, 1.0])
    assert d.grad is None


def test_expand_repeat_differ_in_copying_but_both_sum_gradients():
    x = cr.tensor([[1.0], [2.0]], requires_grad=True)
    e = x.expand(2, 3)
    r = x.repeat(1, 3)
    np.testing.assert_array_equal(e.data, r.data)
    (e.sum() + r.sum()).backward()
    np.testing.assert_array_equal(x.grad.data, [[6.0], [6.0]])


def test_squeeze_keeps_a_dim_that_is_not_size_one():
    x = cr.randn(3, 1)
    assert x.squeeze(0).shape == (3, 1)
    assert x.squeeze().shape == (3,)
    assert x.unsqueeze(0).shape == (1, 3, 1)
