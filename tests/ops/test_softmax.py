"""softmax, log_softmax, logsumexp (src/chainrule/ops/softmax.py): the registry's generic checks
(their samples include logits of size 1e4), then numerical stability in float32."""
import numpy as np
import pytest

import chainrule as cr

from .registry import (BY_NAME, check_against_torch, check_error, check_gradcheck,
                       check_nonscalar_backward, error_params, import_torch, op_params,
                       sample_params)

FAMILY = "softmax"
REQUIRED = ["softmax", "log_softmax", "logsumexp"]


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

@pytest.mark.parametrize("fn", ["softmax", "log_softmax", "logsumexp"])
def test_stable_at_logits_of_size_1e4_in_float32(fn):
    torch = import_torch()
    a = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4], [-1e4, -1e4 + 5, -1e4 + 2]], np.float32)
    x = cr.tensor(a, requires_grad=True)
    t = torch.tensor(a.astype(np.float64), requires_grad=True)  # a float64 reference
    out = getattr(cr, fn)(x, dim=1)
    ref = getattr(torch, fn)(t, dim=1)
    assert np.all(np.isfinite(out.data))
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-5, atol=1e-6)
    w = np.random.default_rng(0).standard_normal(out.shape).astype(np.float32)
    out.backward(cr.tensor(w))
    ref.backward(torch.from_numpy(w))
    assert np.all(np.isfinite(x.grad.data))
    np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_softmax_rows_are_distributions_and_log_softmax_is_their_log():
    s = cr.randn(4, 7, dtype=cr.float64)
    p = cr.softmax(s, dim=1)
    np.testing.assert_allclose(p.sum(dim=1).data, np.ones(4), rtol=1e-12)
    assert np.all(p.data > 0)
    np.testing.assert_allclose(cr.log_softmax(s, dim=1).data, np.log(p.data), rtol=1e-12)
    np.testing.assert_allclose(cr.logsumexp(s, dim=1).data, np.log(np.exp(s.data).sum(1)))


def test_softmax_is_shift_invariant():
    s = cr.randn(3, 5)
    np.testing.assert_allclose(cr.softmax(s + 100.0, dim=-1).data, cr.softmax(s, dim=-1).data,
                               rtol=1e-5, atol=1e-7)


def test_logsumexp_of_all_minus_inf_is_minus_inf_as_torch():
    out = cr.logsumexp(cr.tensor([[-np.inf, -np.inf], [0.0, -np.inf]]), dim=1)
    np.testing.assert_array_equal(out.data, [-np.inf, 0.0])


def test_softmax_dtype_argument_casts_first():
    p = cr.softmax(cr.randn(2, 3), dim=1, dtype=cr.float64)
    assert p.dtype == np.float64


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_over_an_empty_dim(name):
    """torch.softmax(torch.zeros(0), 0) is an empty tensor, and so is chainrule's."""
    x = cr.zeros(0, requires_grad=True)
    y = getattr(cr, name)(x, dim=0)
    assert y.shape == (0,)
    y.sum().backward()
    assert x.grad.shape == (0,)


def test_logsumexp_over_an_empty_dim_is_minus_inf():
    """torch.logsumexp(torch.zeros(2, 0), 1) is [-inf, -inf]: the log of an empty sum."""
    torch = import_torch()
    x = cr.zeros(2, 0, requires_grad=True)
    y = cr.logsumexp(x, dim=1)
    ref = torch.logsumexp(torch.zeros(2, 0), 1)
    np.testing.assert_array_equal(y.data, ref.numpy())
    y.sum().backward()
    assert x.grad.shape == (2, 0)
