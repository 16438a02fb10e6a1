"""Attention ops (src/chainrule/ops/attention.py): scaled_dot_product_attention against PyTorch's
(forward and gradients of q, k, v and a float mask; bool/float masks, is_causal, scale; float32 and
float64), gradcheck in float64, fully-masked rows, attend, additive_scores, length_mask, errors."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import ops
from chainrule.autograd import gradcheck
from chainrule.nn import functional as F

SHAPES = {  # (query, key, value)
    "3d": ((2, 4, 8), (2, 5, 8), (2, 5, 6)),
    "4d_heads": ((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 5)),
    "broadcast_kv": ((2, 3, 4, 8), (1, 1, 6, 8), (1, 1, 6, 5)),
    "2d": ((4, 8), (5, 8), (5, 3)),
}


def _inputs(rng, shapes, dtype):
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _masks(rng, L, S):
    bool_mask = rng.random((L, S)) > 0.4
    bool_mask[1] = False  # a fully masked row
    bool_mask[0, 0] = True
    float_mask = rng.standard_normal((L, S))
    float_mask[2, :2] = -np.inf
    return {"none": None, "bool": bool_mask, "float": float_mask, "causal": "causal"}


def _run_both(torch, q, k, v, mask, scale, dtype):
    """(chainrule output, torch output, grads of both for q, k, v[, mask]) of sum(w * out)."""
    causal = isinstance(mask, str)
    m = None if causal or mask is None else mask
    if m is not None and m.dtype.kind == "f":
        m = m.astype(dtype)
    ours = [cr.tensor(a, requires_grad=True) for a in (q, k, v)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    om = tm = None
    if m is not None:
        grad_m = m.dtype.kind == "f"
        om = cr.tensor(m, requires_grad=grad_m)
        tm = torch.tensor(m, requires_grad=grad_m)
    out = F.scaled_dot_product_attention(*ours, attn_mask=om, is_causal=causal, scale=scale)
    ref = torch.nn.functional.scaled_dot_product_attention(*theirs, attn_mask=tm,
                                                           is_causal=causal, scale=scale)
    w = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    out.backward(cr.tensor(w))
    ref.backward(torch.tensor(w))
    ga = [t.grad.data for t in ours]
    gb = [t.grad.numpy() for t in theirs]
    if om is not None and om.requires_grad:
        ga.append(om.grad.data)
        gb.append(tm.grad.numpy())
    return out, ref, ga, gb


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("scale", [None, 0.3])
@pytest.mark.parametrize("mask_kind", ["none", "bool", "float", "causal"])
@pytest.mark.parametrize("shape_name", list(SHAPES))
def test_sdpa_matches_torch(shape_name, mask_kind, scale, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    shapes = SHAPES[shape_name]
    q, k, v = _inputs(rng, shapes, dtype)
    mask = _masks(rng, shapes[0][-2], shapes[1][-2])[mask_kind]
    out, ref, ga, gb = _run_both(torch, q, k, v, mask, scale, dtype)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=1e-4, atol=1e-5)
    assert out.dtype == np.dtype(dtype) and out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), **tol)
    assert len(ga) == len(gb)
    for a, b in zip(ga, gb):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, **tol)


@pytest.mark.parametrize("mask_kind", ["none", "bool", "float", "causal"])
def test_sdpa_gradcheck(mask_kind):
    rng = np.random.default_rng(2)
    q, k, v = (cr.tensor(a, requires_grad=True) for a in _inputs(rng, SHAPES["4d_heads"],
                                                                 "float64"))
    mask = _masks(rng, 4, 6)[mask_kind]
    inputs = [q, k, v]
    if isinstance(mask, str):
        fn = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)  # noqa: E731
    elif mask is None:
        fn = F.scaled_dot_product_attention
    else:
        m = cr.tensor(mask, requires_grad=mask.dtype.kind == "f")
        if m.requires_grad:
            inputs.append(m)
            fn = lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m)  # noqa
        else:
            fn = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=m)  # noqa
    assert gradcheck(fn, inputs)


def test_attention_returns_the_weights_and_their_gradient_is_right():
    rng = np.random.default_rng(3)
    q, k, v = (cr.tensor(a, requires_grad=True) for a in _inputs(rng, SHAPES["3d"], "float64"))
    mask = cr.tensor(rng.random((2, 4, 5)) > 0.3)
    out, w = F.attention(q, k, v, attn_mask=mask, return_weights=True)
    s = np.where(mask.data, q.data @ k.data.transpose(0, 2, 1) / np.sqrt(8), -np.inf)
    e = np.exp(s - s.max(-1, keepdims=True))
    np.testing.assert_allclose(w.data, e / e.sum(-1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(out.data, w.data @ v.data, rtol=1e-12)
    # both outputs carry gradient: d/d(q, k, v) of sum(out) + sum(w^2)
    assert gradcheck(lambda q, k, v: (lambda o, p: o.sum() + (p * p).sum())(
        *F.attention(q, k, v, attn_mask=mask, return_weights=True)), [q, k, v])


def test_fully_masked_rows_give_zeros_not_nan():
    q, k, v = cr.randn(2, 3, 4, requires_grad=True), cr.randn(2, 5, 4), cr.randn(2, 5, 6)
    mask = np.ones((2, 3, 5), bool)
    mask[0, 1] = False
    out, w = F.attention(q, k, v, attn_mask=cr.tensor(mask), return_weights=True)
    assert np.all(np.isfinite(out.data)) and np.all(np.isfinite(w.data))
    np.testing.assert_array_equal(out.data[0, 1], 0)
    np.testing.assert_array_equal(w.data[0, 1], 0)
    np.testing.assert_allclose(w.data.sum(-1)[mask.any(-1)], 1, rtol=1e-6)
    out.sum().backward()
    assert np.all(np.isfinite(q.grad.data))
    np.testing.assert_array_equal(q.grad.data[0, 1], 0)
    fmask = np.where(mask, 0.0, -np.inf).astype(np.float32)
    out2 = F.scaled_dot_product_attention(q, k, v, attn_mask=cr.tensor(fmask))
    np.testing.assert_allclose(out2.data, out.data, rtol=1e-6)


def test_is_causal_is_the_lower_triangular_bool_mask():
    q, k, v = cr.randn(2, 4, 8), cr.randn(2, 4, 8), cr.randn(2, 4, 3)
    a, wa = F.attention(q, k, v, is_causal=True, return_weights=True)
    b = F.scaled_dot_product_attention(q, k, v, attn_mask=cr.tensor(np.tri(4, dtype=bool)))
    np.testing.assert_allclose(a.data, b.data, rtol=1e-6)
    np.testing.assert_array_equal(np.triu(wa.data[0], 1), 0)
    np.testing.assert_allclose(a.data[:, 0], v.data[:, 0], rtol=1e-6)  # row 0 sees only key 0


def test_dropout_on_the_weights_uses_the_backend_rng_and_is_unbiased_in_the_gradient():
    rng = np.random.default_rng(4)
    q, k, v = (cr.tensor(a, requires_grad=True) for a in _inputs(rng, SHAPES["3d"], "float64"))
    cr.manual_seed(7)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    cr.manual_seed(7)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.allclose(a.data, F.scaled_dot_product_attention(q, k, v).data)

    def fn(q, k, v):
        cr.manual_seed(11)  # the same dropout mask at every evaluation
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.3)
    assert gradcheck(fn, [q, k, v])


def test_attend_and_additive_scores_gradcheck_and_values():
    rng = np.random.default_rng(5)
    a = cr.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    b = cr.tensor(rng.standard_normal((2, 5, 4)), requires_grad=True)
    w = cr.tensor(rng.standard_normal(4), requires_grad=True)
    v = cr.tensor(rng.standard_normal((2, 5, 6)), requires_grad=True)
    e = ops.additive_scores(a, b, w)
    np.testing.assert_allclose(e.data, np.tanh(a.data[:, :, None] + b.data[:, None]) @ w.data)
    assert gradcheck(ops.additive_scores, [a, b, w])
    mask = cr.tensor(rng.random((2, 1, 5)) > 0.3)
    assert gradcheck(lambda a, b, w, v: ops.attend(ops.additive_scores(a, b, w), v, mask),
                     [a, b, w, v])
    ctx, p = ops.attend(e, v, mask)
    np.testing.assert_array_equal(p.data[np.broadcast_to(~mask.data, p.shape)], 0)
    fm = cr.tensor(rng.standard_normal((2, 3, 5)), requires_grad=True)
    assert gradcheck(lambda s, v, m: ops.attend(s, v, m)[0], [e.detach().requires_grad_(), v, fm])


def test_length_mask():
    m = ops.length_mask(cr.tensor([2, 0, 3]), 4)
    assert m.dtype == np.bool_
    assert m.tolist() == [[True, True, False, False], [False] * 4, [True, True, True, False]]
    assert ops.length_mask([1, 2]).shape == (2, 2)


@pytest.mark.parametrize("call, needle", [
    (lambda: F.scaled_dot_product_attention(cr.randn(2, 3, 8), cr.randn(2, 5, 7),
                                            cr.randn(2, 5, 4)),
     "key (..., s, 8)"),
    (lambda: F.scaled_dot_product_attention(cr.randn(2, 3, 8), cr.randn(2, 5, 8),
                                            cr.randn(2, 6, 4)),
     "value (..., 5, ev)"),
    (lambda: F.scaled_dot_product_attention(cr.randn(3, 8), cr.randn(5, 8), cr.randn(5, 4),
                                            attn_mask=cr.ones(4, 5).bool()), "attn_mask"),
    (lambda: F.scaled_dot_product_attention(cr.randn(3, 8), cr.randn(5, 8), cr.randn(5, 4),
                                            attn_mask=cr.ones(3, 5).bool(), is_causal=True),
     "not both"),
    (lambda: F.scaled_dot_product_attention(cr.randn(3, 8), cr.randn(5, 8), cr.randn(5, 4),
                                            dropout_p=1.0), "dropout_p"),
    (lambda: F.scaled_dot_product_attention(cr.randn(8), cr.randn(5, 8), cr.randn(5, 4)),
     "at least 2 dims"),
    (lambda: ops.additive_scores(cr.randn(2, 3, 4), cr.randn(2, 5, 3), cr.randn(4)), "one h"),
])
def test_bad_inputs_raise_clear_errors(call, needle):
    with pytest.raises((ValueError, TypeError)) as ei:
        call()
    msg = str(ei.value).lower()
    assert needle in msg
    assert "attention" in msg or "additive_scores" in msg


def test_float64_and_float32_mixed_raise():
    with pytest.raises(TypeError, match="one floating-point dtype"):
        F.scaled_dot_product_attention(cr.randn(3, 8), cr.randn(5, 8).double(), cr.randn(5, 4))
