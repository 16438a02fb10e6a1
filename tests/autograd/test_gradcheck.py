"""gradcheck (src/chainrule/autograd/gradcheck.py): passes on correct ops in both modes, and fails
on a deliberately wrong backward with a message naming the input and showing both gradients."""
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import Function, GradcheckError, gradcheck


def f64(*shape, seed=0):
    rng = np.random.default_rng(seed)
    return cr.tensor(rng.standard_normal(shape), dtype=cr.float64, requires_grad=True)


class WrongTanh(Function):
    """tanh with a wrong derivative (1 - h instead of 1 - h^2)."""

    def forward(self, s):
        h = np.tanh(s)
        self.save(h)
        return h

    def backward(self, gh):
        (h,) = self.saved
        return gh * (1 - h)  # wrong on purpose


class WrongSecondInput(Function):
    """z = a * b whose gradient for b is off by a factor 2."""

    def forward(self, a, b):
        self.save(a, b)
        return a * b

    def backward(self, gz):
        a, b = self.saved
        return gz * b, 2 * gz * a  # the second is wrong on purpose


def _two_outputs(x, w):
    return (x @ w).tanh(), (x * x).sum()


@pytest.mark.parametrize("limit", [4096, 0], ids=["full-jacobian", "directional"])
def test_passes_on_correct_ops(limit):
    x, w, b = f64(3, 4, seed=1), f64(5, 4, seed=2), f64(5, seed=3)
    assert gradcheck(lambda x, w, b: cr.ops.linear(x, w, b).sigmoid(), (x, w, b),
                     full_jacobian_limit=limit)
    assert gradcheck(_two_outputs, (x, f64(4, 2)), full_jacobian_limit=limit)
    assert gradcheck(lambda x: cr.log_softmax(x, dim=1), x, full_jacobian_limit=limit)


@pytest.mark.parametrize("limit", [4096, 0], ids=["full-jacobian", "directional"])
def test_fails_on_a_wrong_backward_naming_input_and_values(limit):
    x = f64(2, 3)
    with pytest.raises(GradcheckError) as info:
        gradcheck(WrongTanh.apply, x, full_jacobian_limit=limit)
    msg = str(info.value)
    assert "input 0" in msg and "(2, 3)" in msg
    m = re.search(r"analytic (?:v\^T J u = )?(-?[\d.e+-]+),? (?:vs )?numeric (-?[\d.e+-]+)", msg)
    assert m, msg
    assert float(m.group(1)) != pytest.approx(float(m.group(2)), rel=1e-3)
    assert isinstance(info.value, AssertionError)  # pytest reports it as a failed check


@pytest.mark.parametrize("limit", [4096, 0], ids=["full-jacobian", "directional"])
def test_names_the_input_whose_gradient_is_wrong(limit):
    a, b = f64(3), f64(3, seed=5)
    with pytest.raises(GradcheckError, match="input 1"):
        gradcheck(WrongSecondInput.apply, (a, b), full_jacobian_limit=limit)


def test_full_jacobian_message_shows_both_jacobians():
    with pytest.raises(GradcheckError) as info:
        gradcheck(WrongTanh.apply, f64(2))
    msg = str(info.value)
    assert "analytic:" in msg and "numeric:" in msg


def test_raise_exception_false_returns_false():
    assert gradcheck(WrongTanh.apply, f64(3), raise_exception=False) is False
    assert gradcheck(cr.tanh, f64(3), raise_exception=False) is True


def test_only_float64_inputs_that_require_grad_are_checked():
    x = f64(3, 4)
    idx = cr.tensor([0, 2, 2])
    assert gradcheck(lambda x, i: x[i] * 2, (x, idx))
    const = cr.tensor(np.ones((3, 4)), dtype=cr.float64)  # no grad: a constant
    assert gradcheck(lambda x, c: x * c, (x, const))


def test_rejects_float32_inputs_and_no_input_requiring_grad():
    with pytest.raises(ValueError, match="input 0 has dtype float32.*float64"):
        gradcheck(cr.tanh, cr.randn(3, requires_grad=True))
    with pytest.raises(ValueError, match="no input requires grad"):
        gradcheck(cr.tanh, cr.randn(3, dtype=cr.float64))


def test_inputs_are_left_unchanged():
    x = f64(3, 2)
    before = x.data.copy()
    gradcheck(lambda x: (x ** 3).sum(dim=0), x)
    gradcheck(lambda x: (x ** 3).sum(dim=0), x, full_jacobian_limit=0)
    np.testing.assert_array_equal(x.data, before)
    assert x.grad is None
