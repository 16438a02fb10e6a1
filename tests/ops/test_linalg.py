"""Matrix products (src/chainrule/ops/linalg.py): the registry's generic checks over 1-D, 2-D and
batched operands with broadcasting (1-D @ N-D, N-D @ 1-D), then the fused linear op."""
import numpy as np
import pytest

import chainrule as cr

from .registry import (BY_NAME, check_against_torch, check_error, check_gradcheck,
                       check_nonscalar_backward, error_params, op_params, sample_params)

FAMILY = "linalg"
REQUIRED = ["matmul", "mm", "bmm", "dot", "linear"]


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

def test_linear_equals_its_composition_forward_and_backward():
    x = cr.randn(6, 4, dtype=cr.float64, requires_grad=True)
    w = cr.randn(3, 4, dtype=cr.float64, requires_grad=True)
    b = cr.randn(3, dtype=cr.float64, requires_grad=True)
    g = cr.randn(6, 3, dtype=cr.float64)
    y = cr.ops.linear(x, w, b)
    y.backward(g)
    fused = [t.grad.data.copy() for t in (x, w, b)]
    for t in (x, w, b):
        t.grad = None
    y2 = x @ w.T + b
    y2.backward(g)
    np.testing.assert_allclose(y.data, y2.data, rtol=1e-12)
    for f, t in zip(fused, (x, w, b)):
        np.testing.assert_allclose(f, t.grad.data, rtol=1e-12)


def test_linear_only_computes_the_gradients_asked_for():
    x = cr.randn(5, 4)  # data: no gradient wanted
    w = cr.randn(3, 4, requires_grad=True)
    cr.ops.linear(x, w).sum().backward()
    assert x.grad is None
    np.testing.assert_allclose(w.grad.data, np.tile(x.data.sum(0), (3, 1)), rtol=1e-5)


def test_matmul_of_integer_tensors_stays_integer():
    a = cr.tensor([[1, 2], [3, 4]])
    out = a @ a
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.data, [[7, 10], [15, 22]])


def test_matmul_with_a_numpy_array_or_list_operand():
    a = cr.randn(2, 3)
    b = np.ones((3, 2), np.float32)
    np.testing.assert_allclose((a @ cr.tensor(b)).data, cr.matmul(a, b).data)
