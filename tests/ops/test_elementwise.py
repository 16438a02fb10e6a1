"""Elementwise ops (src/chainrule/ops/elementwise.py): the registry's generic checks, then dtype
promotion and scalar operands as PyTorch has them."""
import numpy as np
import pytest

import chainrule as cr

from .registry import (BY_NAME, check_against_torch, check_error, check_gradcheck,
                       check_nonscalar_backward, error_params, import_torch, op_params,
                       sample_params)

FAMILY = "elementwise"
REQUIRED = ["add", "sub", "mul", "div", "neg", "pow", "pow_scalar", "rpow", "scalar_ops", "exp",
            "log", "sqrt", "abs", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "clamp",
            "maximum", "minimum", "where", "log1p", "sin", "cos", "square", "rsqrt"]


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


# ---- dtype rules (as PyTorch) ----------------------------------------------------------------

def _cases():
    return [
        ("int tensor + float scalar", lambda lib: lib.tensor([1, 2]) + 1.5, "float32"),
        ("float scalar + int tensor", lambda lib: 1.5 + lib.tensor([1, 2]), "float32"),
        ("int tensor * int scalar", lambda lib: lib.tensor([1, 2]) * 3, "int64"),
        ("int64 tensor + float32 tensor",
         lambda lib: lib.tensor([1, 2]) + lib.tensor([0.5, 1.5]), "float32"),
        ("float32 + float64", lambda lib: lib.tensor([1.0]) + lib.tensor([1.0], dtype=lib.float64),
         "float64"),
        ("float64 tensor * python float",
         lambda lib: lib.tensor([1.0], dtype=lib.float64) * 0.1, "float64"),
        ("float32 tensor * python float", lambda lib: lib.tensor([1.0]) * 0.1, "float32"),
        ("float32 tensor + python int", lambda lib: lib.tensor([1.0]) + 2, "float32"),
        ("int / int (true division)", lambda lib: lib.tensor([1, 2]) / lib.tensor([2, 4]),
         "float32"),
        ("2 / int tensor", lambda lib: 2 / lib.tensor([1, 2]), "float32"),
        ("int tensor ** 2", lambda lib: lib.tensor([1, 2]) ** 2, "int64"),
        ("int tensor ** 0.5", lambda lib: lib.tensor([1, 4]) ** 0.5, "float32"),
        ("2 ** float32 tensor", lambda lib: 2 ** lib.tensor([1.0, 2.0]), "float32"),
        ("2.0 - float64 tensor", lambda lib: 2.0 - lib.tensor([1.0], dtype=lib.float64),
         "float64"),
        ("where(c, float32, int scalar)",
         lambda lib: lib.where(lib.tensor([True, False]), lib.tensor([1.0, 2.0]), 0), "float32"),
        ("maximum(int64, float32)",
         lambda lib: lib.maximum(lib.tensor([1, 5]), lib.tensor([2.0, 3.0])), "float32"),
    ]


@pytest.mark.parametrize("name, make, dtype", _cases(), ids=[c[0] for c in _cases()])
def test_result_dtype_follows_torch(name, make, dtype):
    out = make(cr)
    assert out.dtype == np.dtype(dtype), name
    torch = import_torch()
    ref = make(torch)
    assert str(ref.dtype) == f"torch.{dtype}", "the expectation itself is not torch's rule"
    np.testing.assert_allclose(out.data, ref.numpy(), rtol=1e-6)


@pytest.mark.parametrize("value, dtype", [(1.5, "float32"), (2, "int64"), (True, "bool")])
def test_python_scalars_become_tensors_of_torch_dtype(value, dtype):
    assert cr.tensor(value).dtype == np.dtype(dtype)
    assert cr.tensor([value, value]).dtype == np.dtype(dtype)


def test_scalar_on_either_side_has_the_right_gradient():
    x = cr.tensor([0.5, 2.0], requires_grad=True)
    ((2 - x) + (2 / x) + (2 ** x) + (x ** 2)).sum().backward()
    xs = x.data.astype(np.float64)
    expected = -1 - 2 / xs ** 2 + np.log(2) * 2 ** xs + 2 * xs
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-6)


def test_pow_of_zero_base_has_finite_exponent_gradient():
    """d(a^b)/db = a^b log a -> 0 at a = 0, b > 0 (PyTorch's choice): no NaN from 0 * log 0."""
    a = cr.tensor([0.0, 1.0], dtype=cr.float64, requires_grad=True)
    b = cr.tensor([2.0, 3.0], dtype=cr.float64, requires_grad=True)
    (a ** b).sum().backward()
    np.testing.assert_array_equal(b.grad.data, [0.0, 0.0])
    np.testing.assert_array_equal(a.grad.data, [0.0, 3.0])


def test_sigmoid_and_softplus_do_not_overflow():
    s = cr.tensor([-1000.0, 0.0, 1000.0], requires_grad=True)
    h = cr.sigmoid(s)
    np.testing.assert_array_equal(h.data, [0.0, 0.5, 1.0])
    sp = cr.ops.softplus(s)
    np.testing.assert_allclose(sp.data, [0.0, np.log(2), 1000.0], rtol=1e-6)
    (h.sum() + sp.sum()).backward()
    assert np.all(np.isfinite(s.grad.data))


def test_maximum_splits_the_gradient_at_ties():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([1.0, 0.0], requires_grad=True)
    cr.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [0.5, 1.0])
    np.testing.assert_array_equal(b.grad.data, [0.5, 0.0])


def test_relu_gradient_is_zero_at_zero():
    s = cr.tensor([-1.0, 0.0, 1.0], requires_grad=True)
    cr.relu(s).sum().backward()
    np.testing.assert_array_equal(s.grad.data, [0.0, 0.0, 1.0])


def test_ops_without_gradient_return_plain_tensors():
    x = cr.tensor([-1.5, 0.5, 2.5], requires_grad=True)
    for out, expected in [(cr.sign(x), [-1, 1, 1]), (cr.ops.floor(x), [-2, 0, 2]),
                          (cr.ops.ceil(x), [-1, 1, 3]), (x // 1, [-2, 0, 2]), (x % 1, [.5, .5, .5])]:
        assert not out.requires_grad
        np.testing.assert_array_equal(out.data, expected)
    y = cr.tensor([np.nan, np.inf, 1.0])
    np.testing.assert_array_equal(cr.isnan(y).data, [True, False, False])
    np.testing.assert_array_equal(cr.isinf(y).data, [False, True, False])
    np.testing.assert_array_equal(cr.isfinite(y).data, [False, False, True])


def test_cast_to_int_cuts_the_graph():
    x = cr.tensor([1.7, -2.2], requires_grad=True)
    n = x.long()
    assert n.dtype == np.int64 and not n.requires_grad
    np.testing.assert_array_equal(n.data, [1, -2])


@pytest.mark.parametrize("name", ["exp", "log", "log1p", "sqrt", "sin", "cos", "sigmoid", "tanh"])
def test_float_functions_of_integers_are_the_default_float_dtype(name):
    """As PyTorch: exp, log, sigmoid, ... of an integer or bool tensor are float32, not float64."""
    for data in ([1, 2, 3], [True, True]):
        out = getattr(cr.tensor(data), name)()
        assert out.dtype == cr.float32
        ref = np.array(data, float)
        ref = 1 / (1 + np.exp(-ref)) if name == "sigmoid" else getattr(np, name)(ref)
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-6)


def test_softplus_and_leaky_relu_reject_bad_parameters():
    import chainrule.nn.functional as F

    x = cr.tensor([1.0, -1.0])
    with pytest.raises(ValueError, match="softplus: expected beta to be a nonzero number, got 0"):
        F.softplus(x, beta=0)
    with pytest.raises(ValueError, match="leaky_relu: expected negative_slope to be a number"):
        F.leaky_relu(x, "0.1")
    assert F.softplus(cr.tensor([0, 1])).dtype == cr.float32


def test_linear_of_an_integer_input_takes_the_weight_dtype():
    import chainrule.nn.functional as F

    y = F.linear(cr.tensor([[1, 2]]), cr.ones(3, 2), cr.zeros(3))
    assert y.dtype == cr.float32
    np.testing.assert_array_equal(y.numpy(), [[3.0, 3.0, 3.0]])
