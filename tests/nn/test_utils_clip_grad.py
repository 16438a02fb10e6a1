"""clip_grad_norm_ and clip_grad_value_ against torch (total norm and clipped gradients)."""
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn.utils import clip_grad_norm_, clip_grad_value_


def _pair(torch, scale):
    rng = np.random.default_rng(0)
    shapes = [(4, 3), (3,), (2, 2, 2)]
    grads = [(rng.standard_normal(s) * scale).astype(np.float32) for s in shapes]
    ours = [nn.Parameter(cr.zeros(s)) for s in shapes]
    theirs = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
    for p, tp, g in zip(ours, theirs, grads):
        p.grad = cr.tensor(g)
        tp.grad = torch.from_numpy(g.copy())
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    ours, theirs = _pair(torch, 2.0)
    total = clip_grad_norm_(ours, max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert isinstance(total, cr.Tensor) and total.shape == () and total.dtype == np.float32
    np.testing.assert_allclose(total.item(), ttotal.item(), rtol=1e-5)
    for p, tp in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_grad_norm_on_a_model():
    cr.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    (net(cr.randn(16, 4)) * 100).sum().backward()
    before = math.sqrt(sum(float((p.grad.data.astype(np.float64) ** 2).sum())
                           for p in net.parameters()))
    total = clip_grad_norm_(net.parameters(), 1.0)
    assert total.item() == pytest.approx(before, rel=1e-6)
    after = math.sqrt(sum(float((p.grad.data.astype(np.float64) ** 2).sum())
                          for p in net.parameters()))
    assert after == pytest.approx(1.0, rel=1e-5)


def test_single_tensor_no_grads_and_nonfinite():
    p = nn.Parameter(cr.zeros(3))
    assert clip_grad_norm_(p, 1.0).item() == 0.0  # no gradient: nothing to do
    p.grad = cr.tensor([3.0, 4.0, 0.0])
    assert clip_grad_norm_(p, 1.0).item() == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad.data, [0.6, 0.8, 0.0], rtol=1e-5)
    p.grad = cr.tensor([np.inf, 1.0, 0.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


def test_clip_grad_value_matches_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = _pair(torch, 2.0)
    clip_grad_value_(ours, 0.7)
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for p, tp in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad.data, tp.grad.numpy())
    assert max(float(np.abs(p.grad.data).max()) for p in ours) == pytest.approx(0.7)
