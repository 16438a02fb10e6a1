"""Attention layers (src/chainrule/nn/attention.py): AdditiveAttention's formula and gradcheck,
masks respected (weight 0 on masked positions, rows summing to 1), fully-masked rows finite,
Dot/ScaledDotProductAttention against the formula and torch, shapes, errors."""
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.autograd import gradcheck
from chainrule.ops import length_mask


def _additive_reference(att, q, k, v, mask):
    Wq, Wk, bk, w = (p.data for p in (att.query_proj.weight, att.key_proj.weight,
                                      att.key_proj.bias, att.v))
    e = np.tanh((q @ Wq.T)[:, None, :] + k @ Wk.T + bk) @ w  # (B, S)
    e = np.where(mask, e, -np.inf)
    a = np.exp(e - e.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    return np.einsum("bs,bsd->bd", a, v), a


def test_additive_attention_formula_and_mask():
    att = nn.AdditiveAttention(6, 5, 4, dtype=cr.float64)
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(s) for s in ((3, 6), (3, 7, 5), (3, 7, 2)))
    mask = length_mask(cr.tensor([7, 3, 1]), 7)
    ctx, w = att(cr.tensor(q), cr.tensor(k), cr.tensor(v), mask=mask)
    ref_ctx, ref_w = _additive_reference(att, q, k, v, mask.data)
    assert ctx.shape == (3, 2) and w.shape == (3, 7)
    np.testing.assert_allclose(ctx.data, ref_ctx, rtol=1e-12)
    np.testing.assert_allclose(w.data, ref_w, rtol=1e-12)
    np.testing.assert_array_equal(w.data[~mask.data], 0)
    np.testing.assert_allclose(w.data.sum(-1), 1, rtol=1e-12)


def test_additive_attention_gradcheck_through_parameters_and_inputs():
    att = nn.AdditiveAttention(4, 3, 5, dtype=cr.float64)
    rng = np.random.default_rng(1)
    q = cr.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)  # L = 3 queries each
    k = cr.tensor(rng.standard_normal((2, 6, 3)), requires_grad=True)
    v = cr.tensor(rng.standard_normal((2, 6, 2)), requires_grad=True)
    mask = length_mask(cr.tensor([6, 4]), 6)
    params = [att.query_proj.weight, att.key_proj.weight, att.key_proj.bias, att.v]

    def fn(q, k, v, *ps):
        ctx, w = att(q, k, v, mask=mask)
        return ctx.sum() + (w * w).sum()
    assert gradcheck(fn, [q, k, v] + params)


def test_additive_attention_projected_key_gives_the_same_result():
    att = nn.AdditiveAttention(4, 3, 5)
    q, k = cr.randn(2, 4), cr.randn(2, 6, 3)
    a = att(q, k)
    b = att(q, k, projected_key=att.project_keys(k))
    np.testing.assert_array_equal(a[0].data, b[0].data)
    assert a[0].shape == (2, 3)  # the value defaults to the key


@pytest.mark.parametrize("layer", [nn.AdditiveAttention(4, 4, 3), nn.DotProductAttention(),
                                   nn.ScaledDotProductAttention()])
def test_fully_masked_rows_are_finite_zeros(layer):
    q = cr.randn(2, 4, requires_grad=True)
    k = cr.randn(2, 5, 4, requires_grad=True)
    mask = length_mask(cr.tensor([0, 2]), 5)
    ctx, w = layer(q, k, mask=mask)
    assert np.all(np.isfinite(ctx.data)) and np.all(np.isfinite(w.data))
    np.testing.assert_array_equal(w.data[0], 0)
    np.testing.assert_array_equal(ctx.data[0], 0)
    np.testing.assert_allclose(w.data[1].sum(), 1, rtol=1e-6)
    np.testing.assert_array_equal(w.data[1, 2:], 0)
    (ctx.sum() + w.sum()).backward()
    assert np.all(np.isfinite(q.grad.data)) and np.all(np.isfinite(k.grad.data))


@pytest.mark.parametrize("cls, scale", [(nn.DotProductAttention, 1.0),
                                        (nn.ScaledDotProductAttention, 1 / math.sqrt(8))])
def test_dot_product_layers_match_torch(cls, scale):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    q, k, v = (rng.standard_normal(s) for s in ((3, 2, 8), (3, 5, 8), (3, 5, 4)))
    mask = length_mask(cr.tensor([5, 2, 4]), 5)
    ctx, w = cls()(cr.tensor(q), cr.tensor(k), cr.tensor(v), mask=mask)
    ref = torch.nn.functional.scaled_dot_product_attention(
        torch.tensor(q), torch.tensor(k), torch.tensor(v),
        attn_mask=torch.tensor(mask.data[:, None, :]), scale=scale)
    np.testing.assert_allclose(ctx.data, ref.numpy(), rtol=1e-10)
    assert w.shape == (3, 2, 5)
    np.testing.assert_array_equal(w.data[1, :, 2:], 0)


def test_dot_attention_gradcheck_and_dropout_only_in_training():
    layer = nn.DotProductAttention(dropout=0.5)
    rng = np.random.default_rng(3)
    q = cr.tensor(rng.standard_normal((2, 4)), requires_grad=True)
    k = cr.tensor(rng.standard_normal((2, 5, 4)), requires_grad=True)
    layer.eval()
    assert gradcheck(lambda q, k: layer(q, k)[0], [q, k])
    a = layer(q, k)[0].data
    layer.train()
    cr.manual_seed(0)
    assert not np.allclose(layer(q, k)[0].data, a)


def test_errors_name_the_layer_and_shapes():
    att = nn.AdditiveAttention(4, 3, 5)
    with pytest.raises(ValueError,
                       match=r"AdditiveAttention\(4, 3, 5\): expected query .*got \(2, 5\)"):
        att(cr.randn(2, 5), cr.randn(2, 6, 3))
    with pytest.raises(ValueError, match=r"expected key \(B, S, 3\), got \(2, 6, 4\)"):
        att(cr.randn(2, 4), cr.randn(2, 6, 4))
    with pytest.raises(ValueError, match=r"expected mask \(B, S\)"):
        att(cr.randn(2, 4), cr.randn(2, 6, 3), mask=cr.ones(2, 5).bool())
    with pytest.raises(ValueError, match="DotProductAttention: expected query and key of one size"):
        nn.DotProductAttention()(cr.randn(2, 4), cr.randn(2, 6, 3))
    assert "hidden_dim=5" in repr(att)
