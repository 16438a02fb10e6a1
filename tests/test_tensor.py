"""Tensor (src/chainrule/tensor.py): properties, conversions, operators, methods and in-place ops."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.tensor import _METHODS


def test_properties():
    t = cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert t.shape == (2, 3) and t.size() == (2, 3) and t.size(1) == 3 and t.size(-1) == 3
    assert t.dtype == np.float32 and t.ndim == 2 and t.dim() == 2 and t.numel() == 6
    assert t.device == "cpu" and len(t) == 2
    assert t.grad is None and not t.requires_grad and t.is_leaf and t.grad_fn is None


def test_conversions_to_python_and_numpy():
    t = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert t.numpy() is t.data
    assert np.asarray(t) is t.data and np.asarray(t, dtype=np.float64).dtype == np.float64
    s = cr.tensor([2.5])
    assert s.item() == 2.5 and float(s) == 2.5 and int(cr.tensor(3)) == 3
    assert [10, 20, 30][cr.tensor(1)] == 20  # __index__
    with pytest.raises(ValueError, match=r"item\(\).*\(2, 2\)"):
        t.item()
    with pytest.raises(TypeError):
        [1, 2][cr.tensor(1.0)]


def test_bool_len_iter():
    assert bool(cr.tensor([1.0])) and not bool(cr.tensor(0))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(cr.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="0-d"):
        len(cr.tensor(1.0))
    rows = list(cr.arange(6).reshape(3, 2))
    assert len(rows) == 3 and rows[2].tolist() == [4, 5]


def test_repr():
    assert repr(cr.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert "dtype=float64" in repr(cr.tensor([1.0], dtype=cr.float64))
    assert "requires_grad=True" in repr(cr.ones(1, requires_grad=True))
    assert "grad_fn=<AddBackward>" in repr(cr.ones(1, requires_grad=True) + 1)


def test_dtype_conversions_and_gradients_through_them():
    x = cr.tensor([1.5, -2.5], requires_grad=True)
    assert x.double().dtype == np.float64 and x.float() is x
    assert x.to(cr.float64).dtype == np.float64 and x.to("cpu") is x
    assert x.to("cpu", cr.float64).dtype == np.float64 and x.type(cr.float64).dtype == np.float64
    assert x.half().dtype == np.float16
    assert x.long().tolist() == [1, -2] and x.int().dtype == np.int32
    assert x.bool().dtype == np.bool_ and x.type_as(cr.zeros(1, dtype=cr.float64)).dtype == np.float64
    (x.double() * 3).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [3.0, 3.0]
    with pytest.raises(RuntimeError, match="to\\('cuda'\\).*cpu"):
        x.to("cuda")
    assert x.cpu() is x and x.contiguous() is x


def test_clone_is_a_copy_in_the_graph():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert c.data is not x.data and c.grad_fn is not None
    (c * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_operators_match_numpy():
    a = np.array([[1.0, -2.0], [3.0, 0.5]], np.float32)
    b = np.array([2.0, 4.0], np.float32)
    x, y = cr.tensor(a), cr.tensor(b)
    for got, want in [(x + y, a + b), (x - y, a - b), (x * y, a * b), (x / y, a / b),
                      (x ** 2, a ** 2), (-x, -a), (+x, a), (abs(x), np.abs(a)), (x @ y, a @ b),
                      (x // y, a // b), (x % y, a % b), (2 * x, 2 * a), (1 - x, 1 - a),
                      (a @ y, a @ b)]:
        assert isinstance(got, cr.Tensor)
        np.testing.assert_allclose(got.data, want, rtol=1e-6)


def test_numpy_scalar_on_the_left_defers_to_the_tensor():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = np.float32(2.0) * x
    assert isinstance(y, cr.Tensor) and y.requires_grad


def test_every_listed_method_is_the_functional_op():
    x = cr.tensor([[0.5, 1.5], [2.0, 3.0]])
    for name in _METHODS:
        assert callable(getattr(cr.Tensor, name)), name
    np.testing.assert_array_equal(x.exp().data, cr.exp(x).data)
    np.testing.assert_array_equal(x.sum(1).data, cr.sum(x, 1).data)
    np.testing.assert_array_equal(x.clamp(max=1.0).data, cr.clamp(x, max=1.0).data)
    np.testing.assert_array_equal(x.softmax(-1).data, cr.softmax(x, -1).data)


def test_where_method_takes_condition_then_other():
    x = cr.tensor([1.0, 2.0, 3.0])
    out = x.where(x > 1.5, cr.tensor(0.0))  # as torch: x.where(c, y) is where(c, x, y)
    assert out.tolist() == [0.0, 2.0, 3.0]


def test_hash_is_identity_so_tensors_can_key_dicts():
    a, b = cr.ones(1), cr.ones(1)
    d = {a: 1, b: 2}
    assert d[a] == 1 and d[b] == 2 and isinstance(a == b, cr.Tensor)


def test_in_place_methods_on_plain_tensors():
    t = cr.zeros(2, 2)
    assert t.fill_(3.0) is t and t.tolist() == [[3.0, 3.0], [3.0, 3.0]]
    t.copy_(cr.tensor([1.0, -5.0]))  # broadcast into t
    assert t.tolist() == [[1.0, -5.0], [1.0, -5.0]]
    t.clamp_(min=-1.0)
    assert t.tolist() == [[1.0, -1.0], [1.0, -1.0]]
    t.add_(cr.ones(2), alpha=2).sub_(1.0).mul_(2.0).div_(4.0)
    np.testing.assert_allclose(t.data, [[1.0, 0.0], [1.0, 0.0]])
    t.zero_()
    assert not t.data.any()
    t.uniform_(2.0, 3.0)
    assert t.data.min() >= 2.0 and t.data.max() < 3.0


def test_in_place_method_on_a_graph_tensor_is_refused():
    h = cr.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="add_: in-place update .*\\(2,\\).*graph"):
        h.add_(1.0)
    w = cr.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        cr.zeros(2).add_(w)


def test_requires_grad_underscore_and_detach():
    t = cr.zeros(2)
    assert t.requires_grad_() is t and t.requires_grad
    t.requires_grad_(False)
    assert not t.requires_grad


def test_t_transposes_matrices_like_torch():
    torch = pytest.importorskip("torch")
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = cr.tensor(a, requires_grad=True)
    y = x.t()
    np.testing.assert_array_equal(y.numpy(), torch.tensor(a).t().numpy())
    (y * cr.tensor(np.arange(6, dtype=np.float32).reshape(3, 2))).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.arange(6, dtype=np.float32).reshape(3, 2).T)
    v = cr.tensor([1.0, 2.0])
    assert v.t() is v
    with pytest.raises(ValueError, match=r"t: expected a tensor of at most 2 dimensions, got "
                                         r"shape \(2, 2, 2\)"):
        cr.zeros(2, 2, 2).t()
