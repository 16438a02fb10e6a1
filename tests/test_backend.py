"""The backend seam (src/chainrule/backend.py): array module, default dtype, the one RNG."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import backend


def test_array_module_is_numpy_on_the_cpu():
    assert backend.xp is np
    assert isinstance(cr.randn(2).data, backend.xp.ndarray)


def test_default_dtype_is_float32_and_can_be_float64():
    assert cr.get_default_dtype() == np.float32
    cr.set_default_dtype(cr.float64)
    try:
        assert cr.tensor(1.5).dtype == np.float64
        assert cr.randn(2).dtype == np.float64 and cr.zeros(2).dtype == np.float64
        assert (cr.tensor([1, 2]) + 0.5).dtype == np.float64
        assert cr.tensor(2).dtype == np.int64  # integers are not affected
    finally:
        cr.set_default_dtype(cr.float32)
    assert cr.tensor(1.5).dtype == np.float32


def test_default_dtype_must_be_floating():
    with pytest.raises(TypeError, match="set_default_dtype: expected a floating-point dtype, got int64"):
        cr.set_default_dtype(cr.int64)


def test_manual_seed_reseeds_the_one_generator():
    g = cr.manual_seed(7)
    assert g is backend.get_rng() and cr.initial_seed() == 7
    a = backend.get_rng().random(3)
    cr.manual_seed(7)
    np.testing.assert_array_equal(backend.get_rng().random(3), a)
    with pytest.raises(TypeError, match="manual_seed: expected an int seed, got float"):
        cr.manual_seed(1.5)


def test_rng_state_round_trip():
    cr.manual_seed(3)
    cr.randn(5)
    state = backend.get_rng_state()
    a = cr.randn(4).data
    cr.randn(10)
    backend.set_rng_state(state)
    np.testing.assert_array_equal(cr.randn(4).data, a)


@pytest.mark.parametrize("a, b, expected", [
    ("int64", "float32", "float32"), ("float32", "int64", "float32"),
    ("float32", "float64", "float64"), ("int32", "int64", "int64"), ("uint8", "float16", "float16"),
    ("bool", "int64", "int64"), ("int64", "float16", "float16")])
def test_result_dtype_lets_a_float_win_as_pytorch(a, b, expected):
    assert backend.result_dtype(np.dtype(a), np.dtype(b)) == np.dtype(expected)


def test_dtype_names():
    assert cr.float == cr.float32 and cr.double == cr.float64 and cr.long == cr.int64
    assert backend.is_floating(cr.float16) and not backend.is_floating(cr.int64)
