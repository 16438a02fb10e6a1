"""The dropout Function: mask statistics, backward = grad * mask / (1 - p), gradcheck, errors."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.ops.dropout import Dropout, dropout


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_output_is_masked_and_scaled(dtype):
    cr.manual_seed(0)
    x = cr.tensor(np.random.default_rng(0).uniform(1, 2, (200, 100)).astype(dtype))
    y = dropout(x, p=0.3)
    assert y.dtype == dtype and y.shape == x.shape
    kept = y.data != 0
    assert abs(kept.mean() - 0.7) < 0.01  # 20k Bernoulli(0.7) draws: std 0.003
    np.testing.assert_allclose(y.data[kept], x.data[kept] / 0.7, rtol=1e-6)


def test_backward_is_the_same_scaled_mask():
    cr.manual_seed(3)
    x = cr.randn(50, 40, requires_grad=True)
    y = dropout(x, p=0.4)
    g = np.random.default_rng(1).standard_normal((50, 40)).astype(np.float32)
    y.backward(cr.tensor(g))
    mask = (y.data != 0) / 0.6
    np.testing.assert_allclose(x.grad.data, g * mask, rtol=1e-6)
    # E[y] = x: the mask's mean is about 1
    assert abs(mask.mean() - 1) < 0.05


def test_seed_makes_the_mask_reproducible():
    x = cr.ones(1000)
    cr.manual_seed(7)
    a = dropout(x, 0.5).data
    cr.manual_seed(7)
    b = dropout(x, 0.5).data
    c = dropout(x, 0.5).data
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_gradcheck_with_fixed_mask():
    x = cr.randn(4, 5, dtype=cr.float64, requires_grad=True)

    def f(x):
        cr.manual_seed(11)  # the same mask for every evaluation of the differences
        return Dropout.apply(x, p=0.35)

    assert cr.autograd.gradcheck(f, [x])


def test_edge_probabilities_and_eval():
    x = cr.randn(3, 4, requires_grad=True)
    assert dropout(x, 0.0) is x
    assert dropout(x, 0.9, training=False) is x
    y = dropout(x, 1.0)
    assert not y.data.any()
    y.sum().backward()
    assert not x.grad.data.any()


def test_errors():
    with pytest.raises(ValueError, match="between 0 and 1, got 1.5"):
        dropout(cr.ones(2), 1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        dropout(cr.ones(2), -0.1)
    with pytest.raises(TypeError, match="probability"):
        dropout(cr.ones(2), "0.5")
    with pytest.raises(TypeError, match="floating-point"):
        dropout(cr.tensor([1, 2]), 0.5)


# ---- dropout2d: whole channels --------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout2d_zeroes_whole_channels_and_scales_the_rest(dtype):
    from chainrule.ops.dropout import dropout2d

    cr.manual_seed(0)
    x = cr.tensor(np.random.default_rng(0).uniform(1, 2, (40, 50, 3, 4)).astype(dtype))
    y = dropout2d(x, p=0.3)
    assert y.dtype == dtype and y.shape == x.shape
    kept = y.data != 0
    per_map = kept.reshape(40, 50, -1)
    assert (per_map.all(axis=2) | ~per_map.any(axis=2)).all()  # each map all kept or all zero
    assert abs(per_map[:, :, 0].mean() - 0.7) < 0.04  # 2000 Bernoulli(0.7) draws: std 0.01
    np.testing.assert_allclose(y.data[kept], x.data[kept] / 0.7, rtol=1e-6)


def test_dropout2d_backward_uses_the_same_channel_mask_and_gradcheck():
    from chainrule.autograd import gradcheck
    from chainrule.ops.dropout import FeatureDropout, dropout2d

    cr.manual_seed(4)
    x = cr.randn(6, 8, 5, 5, requires_grad=True)
    y = dropout2d(x, p=0.5)
    g = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    y.backward(cr.tensor(g))
    mask = (y.data != 0) / 0.5
    np.testing.assert_allclose(x.grad.data, g * mask, rtol=1e-6)
    x64 = cr.randn(2, 3, 2, 2, dtype=cr.float64, requires_grad=True)

    def f(x):
        cr.manual_seed(5)  # the same mask for every evaluation
        return FeatureDropout.apply(x, p=0.4)

    assert gradcheck(f, [x64])


def test_dropout2d_3d_input_edges_eval_and_errors():
    from chainrule.ops.dropout import dropout2d

    cr.manual_seed(2)
    y = dropout2d(cr.ones(30, 40, 6), 0.5)  # read as (N, C, L): one draw per (n, c)
    rows = y.data.reshape(1200, 6)
    assert ((rows == 0).all(axis=1) | (rows == 2).all(axis=1)).all()
    x = cr.randn(2, 3, 4, 4)
    assert dropout2d(x, 0.5, training=False) is x and dropout2d(x, 0.0) is x
    assert not dropout2d(x, 1.0).data.any()
    with pytest.raises(ValueError, match=r"dropout2d: expected input \(N, C, H, W\) or "
                                         r"\(N, C, L\), got \(4, 5\)"):
        dropout2d(cr.randn(4, 5), 0.5)
    with pytest.raises(ValueError, match="dropout2d: dropout probability has to be between 0"):
        dropout2d(x, 1.5)
