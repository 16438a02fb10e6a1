"""The Embedding module: init as torch, forward/backward against torch, padding row, errors."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def test_init_is_standard_normal_with_zero_padding_row():
    cr.manual_seed(0)
    emb = nn.Embedding(1000, 64, padding_idx=3)
    w = emb.weight.data
    assert w.shape == (1000, 64) and w.dtype == np.float32
    assert not w[3].any()
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01
    assert emb.weight.requires_grad


def test_matches_torch_forward_and_backward():
    torch = pytest.importorskip("torch")
    cr.manual_seed(0)
    ours = nn.Embedding(10, 3, padding_idx=0)
    theirs = torch.nn.Embedding(10, 3, padding_idx=0)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.data))
    idx = np.array([[1, 2, 0, 0], [4, 9, 1, 0]])
    y = ours(cr.tensor(idx))
    ty = theirs(torch.from_numpy(idx))
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    ga = np.random.default_rng(0).standard_normal((2, 4, 3)).astype(np.float32)
    y.backward(cr.tensor(ga))
    ty.backward(torch.from_numpy(ga))
    np.testing.assert_allclose(ours.weight.grad.data, theirs.weight.grad.numpy(), rtol=1e-5)
    assert repr(ours) == repr(theirs) == "Embedding(10, 3, padding_idx=0)"
    assert repr(nn.Embedding(5, 2)) == repr(torch.nn.Embedding(5, 2))


def test_in_a_model_with_linear_head():
    cr.manual_seed(0)
    net = nn.Sequential(nn.Embedding(20, 8), nn.Flatten(), nn.Linear(3 * 8, 2))
    out = net(cr.tensor([[1, 2, 3], [3, 3, 19]]))
    assert out.shape == (2, 2)
    out.sum().backward()
    g = net[0].weight.grad.data
    used = {1, 2, 3, 19}
    assert all(g[i].any() == (i in used) for i in range(20))


def test_from_pretrained_and_errors():
    w = np.arange(12, dtype=np.float32).reshape(4, 3)
    emb = nn.Embedding.from_pretrained(cr.tensor(w))
    assert not emb.weight.requires_grad
    np.testing.assert_array_equal(emb(cr.tensor([3, 0])).data, w[[3, 0]])
    assert nn.Embedding.from_pretrained(w, freeze=False).weight.requires_grad
    with pytest.raises(IndexError, match=r"Embedding\(4, 3\): index 4 is out of range"):
        emb(cr.tensor([4]))
    with pytest.raises(TypeError, match=r"Embedding\(4, 3\): expected integer indices"):
        emb(cr.tensor([0.5]))
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(4, 3, padding_idx=4)
