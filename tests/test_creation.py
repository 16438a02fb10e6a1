"""Creation ops (src/chainrule/creation.py): values, shapes and dtypes against torch and NumPy, and
reproducible random draws under manual_seed."""
import numpy as np
import pytest

import chainrule as cr


def _torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


def _same(t, ref):
    """Same shape, dtype and values as a torch tensor."""
    assert t.shape == tuple(ref.shape)
    assert t.dtype == np.dtype(str(ref.dtype).replace("torch.", ""))
    np.testing.assert_allclose(t.data, ref.numpy(), rtol=1e-6)


# ---- tensor, from_numpy, as_tensor --------------------------------------------------------------

@pytest.mark.parametrize("data", [1.5, 2, True, [1.0, 2.0], [[1, 2], [3, 4]], [1, 2.5], [],
                                  [[True, False]], np.float64(2.0), np.array([1, 2], np.int32),
                                  np.array([1.0], np.float64), np.array([1.0], np.float16)],
                         ids=repr)
def test_tensor_dtype_defaults_match_torch(data):
    torch = _torch()
    _same(cr.tensor(data), torch.tensor(data))


def test_tensor_copies_and_takes_dtype_and_requires_grad():
    a = np.array([1.0, 2.0])
    t = cr.tensor(a, dtype=cr.float32, requires_grad=True)
    assert t.dtype == np.float32 and t.requires_grad and t.is_leaf
    a[0] = 9.0
    assert t.data[0] == 1.0
    c = cr.tensor(t)  # from a Tensor: a copy cut from the graph
    assert c.data is not t.data and not c.requires_grad
    assert cr.Tensor([1, 2]).dtype == np.int64


def test_tensor_rejects_ragged_and_non_numeric_data():
    with pytest.raises(ValueError, match="tensor: .*ragged"):
        cr.tensor([[1, 2], [3]])
    with pytest.raises(TypeError, match="tensor: .*strings"):
        cr.tensor(["a", "b"])
    with pytest.raises(TypeError, match="tensor:"):
        cr.tensor({"a": 1})


def test_from_numpy_shares_memory_and_keeps_dtype():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = cr.from_numpy(a)
    assert t.dtype == np.float64 and t.data is a
    a[0, 0] = 7.0
    assert t[0, 0].item() == 7.0
    with pytest.raises(TypeError, match="from_numpy: expected a numpy.ndarray, got list"):
        cr.from_numpy([1.0])


def test_as_tensor_avoids_copies():
    t = cr.tensor([1.0])
    assert cr.as_tensor(t) is t
    a = np.zeros(2, np.float32)
    assert cr.as_tensor(a).data is a
    assert cr.as_tensor([1, 2], dtype=cr.float64).dtype == np.float64


# ---- deterministic creation ---------------------------------------------------------------------

def _cases(lib):
    return {
        "zeros": lib.zeros(2, 3), "zeros_tuple": lib.zeros((2, 3)), "ones": lib.ones(4),
        "ones_f64": lib.ones(2, dtype=lib.float64), "zeros_int": lib.zeros(3, dtype=lib.int64),
        "zeros_0d": lib.zeros(()),
        "full_float": lib.full((2, 2), 1.5), "full_int": lib.full((2,), 7),
        "full_bool": lib.full((2,), True), "full_f64": lib.full((3,), 2, dtype=lib.float64),
        "eye": lib.eye(3), "eye_rect": lib.eye(2, 4), "eye_int": lib.eye(2, dtype=lib.int64),
        "arange_int": lib.arange(5), "arange_start_step": lib.arange(2, 11, 3),
        "arange_float": lib.arange(0, 1, 0.25), "arange_float_end": lib.arange(3.0),
        "arange_f64": lib.arange(4, dtype=lib.float64), "arange_negative": lib.arange(5, 0, -2),
        "linspace": lib.linspace(0, 1, 5), "linspace_f64": lib.linspace(-1, 1, 3, dtype=lib.float64),
        "zeros_like": lib.zeros_like(lib.tensor([1, 2])),
        "ones_like_f64": lib.ones_like(lib.zeros(2, dtype=lib.float64)),
        "full_like": lib.full_like(lib.zeros(2, 2), 3.5),
        "ones_like_dtype": lib.ones_like(lib.zeros(2), dtype=lib.int64),
    }


@pytest.mark.parametrize("name", list(_cases(cr)))
def test_deterministic_creation_matches_torch(name):
    torch = _torch()
    _same(_cases(cr)[name], _cases(torch)[name])


def test_empty_has_shape_and_dtype():
    e = cr.empty(2, 3, dtype=cr.float64)
    assert e.shape == (2, 3) and e.dtype == np.float64
    assert cr.empty_like(cr.zeros(4, dtype=cr.int64)).dtype == np.int64


def test_requires_grad_at_creation():
    for t in (cr.zeros(2, requires_grad=True), cr.ones(2, requires_grad=True),
              cr.randn(2, requires_grad=True), cr.full((2,), 1.0, requires_grad=True),
              cr.zeros_like(cr.ones(2), requires_grad=True)):
        assert t.requires_grad and t.is_leaf


def test_bad_sizes_name_the_function():
    with pytest.raises(ValueError, match=r"zeros: .*non-negative.*\(2, -1\)"):
        cr.zeros(2, -1)
    with pytest.raises(ValueError, match=r"randn: .*\(2.5,\)"):
        cr.randn(2.5)
    with pytest.raises(ValueError, match="randint: size is required"):
        cr.randint(0, 10)


# ---- random creation ------------------------------------------------------------------------

def test_rand_and_randn_shapes_dtypes_and_moments():
    u = cr.rand(20000)
    assert u.dtype == np.float32 and u.shape == (20000,)
    assert u.data.min() >= 0 and u.data.max() < 1
    assert abs(u.data.mean() - 0.5) < 0.01
    z = cr.randn(200, 100, dtype=cr.float64)
    assert z.dtype == np.float64 and z.shape == (200, 100)
    assert abs(z.data.mean()) < 0.02 and abs(z.data.std() - 1) < 0.02
    assert cr.randn_like(z).shape == z.shape and cr.rand_like(u).dtype == np.float32


def test_randint_forms_range_and_dtype():
    a = cr.randint(3, 7, (1000,))
    assert a.dtype == np.int64 and a.data.min() == 3 and a.data.max() == 6
    b = cr.randint(5, (2, 3))  # randint(high, size) as torch
    assert b.shape == (2, 3) and b.data.min() >= 0 and b.data.max() < 5
    c = cr.randint(0, 2, size=(4,), dtype=cr.int32)
    assert c.dtype == np.int32


def test_randperm_is_a_permutation():
    p = cr.randperm(10)
    assert p.dtype == np.int64
    np.testing.assert_array_equal(np.sort(p.data), np.arange(10))


def test_manual_seed_makes_every_random_op_reproducible():
    def draws():
        return [cr.rand(3).data, cr.randn(2, 2).data, cr.randint(0, 100, (5,)).data,
                cr.randperm(6).data, cr.randn_like(cr.zeros(2)).data,
                cr.empty(3).uniform_(-1, 1).data.copy(), cr.zeros(2).normal_(0, 2).data.copy()]

    cr.manual_seed(123)
    first = draws()
    cr.manual_seed(123)
    again = draws()
    cr.manual_seed(124)
    other = draws()
    for a, b, c in zip(first, again, other):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
