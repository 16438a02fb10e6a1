"""The graph walk (src/chainrule/autograd/engine.py) and grad mode, anomaly detection, in-place rules.

Gradients are checked against closed forms: the multivariate chain rule sums the contributions of
every path (diamond graph, a tensor used twice), leaves accumulate, graphs are freed after backward.
"""
import sys
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import Function, detect_anomaly


def f64(values, requires_grad=True):
    return cr.tensor(values, dtype=cr.float64, requires_grad=requires_grad)


# ---- the chain rule over the graph -------------------------------------------------------------

def test_diamond_graph_sums_both_paths():
    x = f64([1.0, -2.0, 3.0])
    a = x * 2  # two paths from x to c
    b = x ** 2
    c = (a * b).sum()  # c = sum 2 x^3
    c.backward()
    np.testing.assert_allclose(x.grad.data, 6 * x.data ** 2)


def test_tensor_used_twice_gets_both_contributions():
    x = f64([0.5, 2.0])
    (x * x + x).sum().backward()  # d/dx (x^2 + x) = 2x + 1
    np.testing.assert_allclose(x.grad.data, 2 * x.data + 1)


def test_shared_subexpression_feeding_two_outputs():
    x = f64([1.0, 2.0])
    h = x.exp()
    y = (h.sin() + h.cos()).sum()
    y.backward()
    e = np.exp(x.data)
    np.testing.assert_allclose(x.grad.data, (np.cos(e) - np.sin(e)) * e)


def test_chain_of_10000_ops_has_no_recursion_error():
    x = f64([1.0, 2.0])
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # a recursive walk would fail well before 10,000
    try:
        t0 = time.perf_counter()
        y.sum().backward()
        elapsed = time.perf_counter() - t0
    finally:
        sys.setrecursionlimit(limit)
    np.testing.assert_allclose(x.grad.data, np.full(2, 1.0001 ** 10_000), rtol=1e-9)
    assert elapsed < 5.0
    del y  # freeing the long chain must not recurse either


def test_gradient_of_a_leaf_output_is_the_seed():
    x = f64(3.0)
    x.backward()
    assert x.grad.item() == 1.0


# ---- retain_graph, accumulation, freed graphs ------------------------------------------------

def test_retain_graph_lets_a_second_backward_double_the_gradient():
    x = f64([1.0, 2.0])
    y = (x ** 3).sum()
    y.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad.data, 3 * x.data ** 2)
    y.backward()
    np.testing.assert_allclose(x.grad.data, 6 * x.data ** 2)


def test_gradients_accumulate_over_two_backward_calls():
    x = f64([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 3 + 2 * x.data)


def test_second_backward_through_a_freed_graph_is_a_clear_error():
    x = f64([1.0, 2.0])
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()
    z = x.exp()
    w = z.sum()
    w.backward()
    with pytest.raises(RuntimeError, match="second time"):
        (z * 2).sum().backward()  # a new node on top of the freed part


def test_accumulated_gradient_does_not_alias_other_arrays():
    a = f64([1.0, 2.0])
    b = f64([3.0, 4.0])
    seed = np.array([1.0, 1.0])
    (a + b).backward(seed)  # Add hands the same array to both inputs
    a.grad.data[0] = 100.0
    assert b.grad.data[0] == 1.0 and seed[0] == 1.0
    (a + b).backward(seed)
    assert seed[0] == 1.0 and b.grad.data[0] == 2.0


def test_backward_with_an_explicit_gradient_for_a_non_scalar():
    x = f64([1.0, 2.0, 3.0])
    y = x * x
    y.backward(cr.tensor([1.0, 0.0, 2.0], dtype=cr.float64))
    np.testing.assert_allclose(x.grad.data, [2.0, 0.0, 12.0])


def test_backward_errors_name_the_shapes():
    x = f64([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"shape \(2,\).*Mul"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match=r"\(3,\).*\(2,\)"):
        (x * 2).backward(cr.ones(3, dtype=cr.float64))
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.ones(2).sum().backward()


def test_gradient_dtype_follows_the_leaf():
    x = cr.tensor([1.0, 2.0], requires_grad=True)  # float32
    (x.double() * 2).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0])


# ---- graph membership: detach, requires_grad, retain_grad ------------------------------------

def test_requires_grad_propagates_from_any_input():
    a = cr.randn(3, requires_grad=True)
    b = cr.randn(3)
    assert not (b * 2).requires_grad and (b * 2).grad_fn is None
    c = a * b
    assert c.requires_grad and not c.is_leaf and c.grad_fn.name == "Mul"
    assert a.is_leaf and b.is_leaf
    assert "grad_fn=<MulBackward>" in repr(c)
    with pytest.raises(RuntimeError, match="floating-point"):
        cr.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="detach"):
        c.requires_grad_(False)


def test_detach_shares_data_and_stops_the_gradient():
    x = f64([1.0, 2.0])
    d = x.detach()
    assert d.is_leaf and not d.requires_grad and d.data is x.data
    y = (x * d).sum()  # d is a constant: dy/dx = d
    y.backward()
    np.testing.assert_allclose(x.grad.data, x.data)
    z = x * 2
    z.detach_()
    assert z.is_leaf and not z.requires_grad


def test_retain_grad_keeps_the_gradient_of_a_non_leaf():
    x = f64([1.0, 2.0])
    h = x * 3
    h.retain_grad()
    u = x * 4  # not retained
    y = (h * h + u).sum()
    y.retain_grad()
    y.backward()
    np.testing.assert_allclose(h.grad.data, 2 * h.data)
    assert y.grad.item() == 1.0
    assert u.grad is None
    np.testing.assert_allclose(x.grad.data, 18 * x.data + 4)


# ---- autograd.grad -------------------------------------------------------------------------

def test_grad_returns_gradients_without_touching_dot_grad():
    x = f64([1.0, 2.0])
    y = f64([3.0, -1.0])
    (gx, gy) = cr.autograd.grad((x * y).sum(), [x, y])
    np.testing.assert_allclose(gx.data, y.data)
    np.testing.assert_allclose(gy.data, x.data)
    assert x.grad is None and y.grad is None
    assert not gx.requires_grad


def test_grad_with_grad_outputs_and_a_non_leaf_input():
    x = f64([1.0, 2.0, 3.0])
    h = x * x
    out = h.sin()
    v = cr.tensor([1.0, -1.0, 0.5], dtype=cr.float64)
    (gh, gx) = cr.autograd.grad(out, [h, x], grad_outputs=v)
    np.testing.assert_allclose(gh.data, v.data * np.cos(h.data))
    np.testing.assert_allclose(gx.data, v.data * np.cos(h.data) * 2 * x.data)


def test_grad_allow_unused():
    x = f64([1.0])
    unused = f64([2.0])
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="input 1.*not used.*allow_unused"):
        cr.autograd.grad(y, [x, unused], retain_graph=True)
    gx, gu = cr.autograd.grad(y, [x, unused], allow_unused=True)
    assert gu is None and gx.item() == 2.0


def test_grad_of_several_outputs_sums_their_vector_jacobian_products():
    x = f64([1.0, 2.0])
    (g,) = cr.autograd.grad([(x * 2).sum(), (x * x).sum()], [x])
    np.testing.assert_allclose(g.data, 2 + 2 * x.data)


def test_grad_refuses_an_input_that_does_not_require_grad():
    x = f64([1.0])
    with pytest.raises(RuntimeError, match="input 0.*does not require grad"):
        cr.autograd.grad((x * 2).sum(), [cr.ones(1)])


# ---- grad mode ------------------------------------------------------------------------------

def test_no_grad_records_nothing_and_nests_with_enable_grad():
    x = cr.randn(2, requires_grad=True)
    with cr.no_grad():
        assert not cr.is_grad_enabled()
        y = x * 2
        assert not y.requires_grad and y.grad_fn is None
        with cr.enable_grad():
            assert cr.is_grad_enabled()
            z = x * 2
            assert z.requires_grad
            with cr.no_grad():
                assert not (x * 2).requires_grad
            assert cr.is_grad_enabled()
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()


def test_no_grad_as_decorator_with_and_without_parentheses():
    x = cr.randn(2, requires_grad=True)

    @cr.no_grad()
    def f(t):
        return t * 2

    @cr.no_grad
    def g(t):
        return t * 2

    @cr.enable_grad()
    def h(t):
        return t * 2

    assert not f(x).requires_grad and not g(x).requires_grad
    assert f.__name__ == "f"
    with cr.no_grad():
        assert h(x).requires_grad
    assert cr.is_grad_enabled()


def test_grad_mode_is_restored_after_an_exception():
    @cr.no_grad()
    def boom():
        raise ValueError("x")

    with pytest.raises(ValueError):
        boom()
    assert cr.is_grad_enabled()
    with pytest.raises(ValueError):
        with cr.no_grad():
            raise ValueError("y")
    assert cr.is_grad_enabled()


def test_set_grad_enabled_as_call_context_and_decorator():
    cr.set_grad_enabled(False)
    assert not cr.is_grad_enabled()
    cr.set_grad_enabled(True)
    with cr.set_grad_enabled(False):
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()

    @cr.set_grad_enabled(False)
    def f():
        return cr.is_grad_enabled()

    assert cr.is_grad_enabled() and f() is False and cr.is_grad_enabled()


# ---- in-place updates --------------------------------------------------------------------------

def test_in_place_on_a_leaf_that_requires_grad_raises():
    p = cr.ones(3, requires_grad=True)
    for update in (lambda: p.__isub__(1.0), lambda: p.add_(1.0), lambda: p.mul_(2.0),
                   lambda: p.zero_()):
        with pytest.raises(RuntimeError, match="leaf.*no_grad"):
            update()
    np.testing.assert_array_equal(p.data, np.ones(3))


def test_sgd_step_under_no_grad_updates_the_leaf_in_place():
    p = cr.tensor([1.0, 2.0], requires_grad=True)
    data = p.data
    (p * p).sum().backward()
    lr = 0.1
    q = p
    with cr.no_grad():
        p -= lr * p.grad
    assert p is q and p.data is data and p.is_leaf and p.requires_grad
    np.testing.assert_allclose(p.data, [0.8, 1.6])
    with cr.no_grad():
        p.grad.zero_()
        p.mul_(2.0).add_(1.0)
    np.testing.assert_allclose(p.data, [2.6, 4.2])
    np.testing.assert_array_equal(p.grad.data, [0.0, 0.0])


def test_augmented_assignment_with_an_operand_that_requires_grad_keeps_the_gradient():
    w = f64([1.0, 2.0])
    acc = cr.zeros(2, dtype=cr.float64)
    for k in range(3):
        acc += w * k  # acc becomes part of the graph (rebound), as in PyTorch
    assert acc.requires_grad
    acc.sum().backward()
    np.testing.assert_allclose(w.grad.data, [3.0, 3.0])


def test_augmented_assignment_on_a_non_leaf_records_the_op():
    x = f64([1.0, 2.0])
    h = x * 2
    h *= h
    h.sum().backward()
    np.testing.assert_allclose(x.grad.data, 8 * x.data)


def test_in_place_keeps_the_dtype_and_rejects_unsafe_casts():
    n = cr.tensor([1, 2])
    n += 1
    np.testing.assert_array_equal(n.data, [2, 3])
    with pytest.raises(RuntimeError, match="float64.*int64"):
        n += 0.5
    x = cr.ones(2, 3)
    with pytest.raises(RuntimeError, match=r"\(2, 3\)"):
        x.add_(cr.ones(4, 2, 3))


# ---- anomaly detection -----------------------------------------------------------------------

def test_detect_anomaly_names_the_op_of_sqrt_of_a_negative():
    x = f64([-1.0, 4.0])
    with detect_anomaly():
        with np.errstate(invalid="ignore"):
            y = x.sqrt().sum()
        with pytest.raises(RuntimeError) as info:
            y.backward()
    msg = str(info.value)
    assert "Sqrt" in msg and "non-finite" in msg and "test_engine.py" in msg


def test_detect_anomaly_names_log_in_log0_times_0():
    x = f64([0.0, 1.0])
    with detect_anomaly():
        with np.errstate(divide="ignore", invalid="ignore"):
            y = x.log().sum()  # d log(x)/dx = 1/x = inf at 0
            with pytest.raises(RuntimeError, match="Log"):
                y.backward()


def test_without_anomaly_mode_nan_gradients_pass_silently():
    x = f64([-1.0])
    with np.errstate(invalid="ignore"):
        x.sqrt().sum().backward()
    assert np.isnan(x.grad.item())
    assert not cr.autograd.is_anomaly_enabled()


# ---- Function ----------------------------------------------------------------------------------

class Scale(Function):
    """z = k a, with a keyword param; counts its backward calls."""

    calls = 0

    def forward(self, a, k):
        self.k = k
        return a * k

    def backward(self, gz):
        Scale.calls += 1
        return gz * self.k  # dz/da = k


class SplitSign(Function):
    """Two outputs: the positive and the negative part of a."""

    def forward(self, a):
        self.save(a)
        return np.maximum(a, 0), np.minimum(a, 0)

    def backward(self, gp, gn):
        (a,) = self.saved
        return np.where(a > 0, gp, gn)  # each element's gradient from the part it went to


class Product(Function):
    """z = a b, computing only the gradients that are needed."""

    seen = None

    def forward(self, a, b):
        self.save(a, b)
        return a * b

    def backward(self, gz):
        a, b = self.saved
        Product.seen = self.needs_input_grad
        na, nb = self.needs_input_grad
        return (gz * b if na else None), (gz * a if nb else None)


def test_custom_function_with_a_keyword_param():
    x = f64([1.0, 2.0])
    Scale.calls = 0
    Scale.apply(x, k=3.0).sum().backward()
    np.testing.assert_allclose(x.grad.data, [3.0, 3.0])
    assert Scale.calls == 1


def test_multi_output_function_and_an_unused_output():
    x = f64([2.0, -3.0])
    pos, neg = SplitSign.apply(x)
    assert pos.grad_fn is neg.grad_fn
    (pos * 5).sum().backward()  # neg gets a zero gradient
    np.testing.assert_allclose(x.grad.data, [5.0, 0.0])


def test_needs_input_grad_tells_which_gradients_to_compute():
    a = f64([1.0, 2.0])
    b = f64([3.0, 4.0], requires_grad=False)
    Product.apply(a, b).sum().backward()
    assert Product.seen == (True, False)
    np.testing.assert_allclose(a.grad.data, b.data)
    assert b.grad is None


def test_forward_errors_are_named_after_the_op_with_the_input_shapes():
    class Bad(Function):
        def forward(self, a, b):
            return a + b

    with pytest.raises(ValueError, match=r"Bad: .*\(2, 3\), \(4,\)"):
        Bad.apply(cr.ones(2, 3), cr.ones(4))
    with pytest.raises(TypeError, match="Bad: expected Tensor inputs, got \\(Tensor, list\\)"):
        Bad.apply(cr.ones(2), [1.0, 2.0])


def test_a_backward_of_the_wrong_shape_or_count_is_caught():
    class WrongShape(Function):
        def forward(self, a):
            return a.sum()

        def backward(self, gz):
            return np.ones(7)

    class WrongCount(Function):
        def forward(self, a):
            return a * 1

        def backward(self, gz):
            return gz, gz

    x = f64([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"WrongShape.*\(7,\).*\(2,\)"):
        WrongShape.apply(x).backward()
    with pytest.raises(RuntimeError, match="WrongCount.*2 gradients for 1 inputs"):
        WrongCount.apply(x).sum().backward()


def test_a_0d_leaf_accumulates_two_gradient_contributions():
    """A scalar leaf reached by two paths: the first gradient (a NumPy scalar in some ops) is
    stored as an array that the second can be added into."""
    x = cr.tensor(1.5, requires_grad=True)
    w = cr.tensor(2.0, requires_grad=True)
    x1 = x + w * x  # (1 + w) x
    (x1 + w * x1).backward()  # (1 + w)^2 x: d/dx = (1 + w)^2 = 9, d/dw = 2 (1 + w) x = 9
    assert float(x.grad.data) == 9.0 and float(w.grad.data) == 9.0
    assert isinstance(x.grad.data, np.ndarray)
