"""Comparisons and logical ops (src/chainrule/ops/compare.py): no gradient, bool results, values
equal to torch's for tensors, broadcasting and Python scalars on either side."""
import operator

import numpy as np
import pytest

import chainrule as cr

from .registry import import_torch

COMPARISONS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
               ">": operator.gt, ">=": operator.ge}
FUNCTIONS = ["eq", "ne", "lt", "le", "gt", "ge"]


def _pair():
    rng = np.random.default_rng(0)
    a = rng.integers(-2, 3, (3, 4)).astype(np.float32)
    b = rng.integers(-2, 3, (4,)).astype(np.float32)  # small integers: plenty of ties
    return a, b


@pytest.mark.parametrize("sym", COMPARISONS)
def test_comparison_operators_match_torch(sym):
    torch = import_torch()
    a, b = _pair()
    op = COMPARISONS[sym]
    x = cr.tensor(a, requires_grad=True)
    for lhs, rhs, tl, tr in [(x, cr.tensor(b), torch.from_numpy(a), torch.from_numpy(b)),
                             (x, 1, torch.from_numpy(a), 1), (1.5, x, 1.5, torch.from_numpy(a)),
                             (cr.tensor(a.astype(np.int64)), 0.5,
                              torch.from_numpy(a.astype(np.int64)), 0.5)]:
        out = op(lhs, rhs)
        assert out.dtype == np.bool_ and not out.requires_grad and out.grad_fn is None
        np.testing.assert_array_equal(out.data, op(tl, tr).numpy())


@pytest.mark.parametrize("name", FUNCTIONS)
def test_comparison_functions_and_methods(name):
    a, b = _pair()
    x, y = cr.tensor(a), cr.tensor(b)
    expected = getattr(np, {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal",
                            "gt": "greater", "ge": "greater_equal"}[name])(a, b)
    np.testing.assert_array_equal(getattr(cr, name)(x, y).data, expected)
    np.testing.assert_array_equal(getattr(x, name)(y).data, expected)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_comparison_of_unbroadcastable_shapes_names_op_and_shapes(name):
    with pytest.raises(ValueError) as info:
        getattr(cr, name)(cr.randn(3, 4), cr.randn(5))
    msg = str(info.value)
    assert msg.startswith(f"{name}:") and "(3, 4)" in msg and "(5,)" in msg


def test_logical_ops_and_operators_match_torch():
    torch = import_torch()
    p = np.array([[True, False, True, False]])
    q = np.array([[True], [False]])
    x, y = cr.tensor(p), cr.tensor(q)
    tx, ty = torch.from_numpy(p), torch.from_numpy(q)
    for got, ref in [(x & y, tx & ty), (x | y, tx | ty), (x ^ y, tx ^ ty), (~x, ~tx),
                     (cr.ops.logical_and(x, y), torch.logical_and(tx, ty)),
                     (cr.ops.logical_or(x, y), torch.logical_or(tx, ty)),
                     (cr.ops.logical_xor(x, y), torch.logical_xor(tx, ty)),
                     (cr.ops.logical_not(x), torch.logical_not(tx))]:
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(got.data, ref.numpy())
    # logical ops on numbers treat nonzero as true, as torch
    np.testing.assert_array_equal(
        cr.ops.logical_and(cr.tensor([0.0, 2.0, 3.0]), cr.tensor([1, 0, 5])).data,
        [False, False, True])


def test_comparisons_record_no_graph():
    x = cr.randn(3, requires_grad=True)
    mask = x > 0
    assert not mask.requires_grad
    (x * mask).sum().backward()  # a mask used as a float factor
    np.testing.assert_array_equal(x.grad.data, (x.data > 0).astype(np.float32))


def test_equal_and_allclose():
    a = cr.tensor([1.0, 2.0])
    assert cr.equal(a, cr.tensor([1.0, 2.0]))
    assert not cr.equal(a, cr.tensor([1.0, 2.0, 3.0]))
    assert not cr.equal(a, cr.tensor([1.0, 2.5]))
    assert cr.allclose(a, a + 1e-7) and not cr.allclose(a, a + 1e-3)


def test_comparison_with_nan_as_ieee():
    x = cr.tensor([np.nan, 1.0])
    np.testing.assert_array_equal((x == x).data, [False, True])
    np.testing.assert_array_equal((x != x).data, [True, False])
