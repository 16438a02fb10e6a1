"""Tests for chainrule.models.StyleContentAutoencoder (notes 4.1)."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import gradcheck
from chainrule.models import StyleContentAutoencoder
from chainrule.nn import functional as F
from chainrule.nn.generative import gaussian_kl
from chainrule.ops._util import OpError


def _tiny(**kw):
    cfg = dict(num_classes=3, style_dim=2, in_channels=1, image_size=8, channels=2, hidden=6)
    cfg.update(kw)
    return StyleContentAutoencoder(**cfg)


def _data(n=6, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return (cr.tensor(rng.random((n, 1, 8, 8)).astype(dtype)),
            cr.tensor(np.arange(n, dtype=np.int64) % 3))


# ---- shapes -----------------------------------------------------------------------------------
def test_shapes():
    cr.manual_seed(0)
    ae = _tiny()
    x, y = _data()
    assert ae.content_logits(x).shape == (6, 3)
    mu, logvar = ae.style_params(x)
    assert mu.shape == (6, 2) and logvar.shape == (6, 2)
    assert ae.style_code(x).shape == (6, 2)
    c = ae.content_code(labels=y)
    assert c.shape == (6, 3) and np.array_equal(c.numpy().argmax(1), y.numpy())
    assert np.array_equal(c.numpy().sum(1), np.ones(6))
    assert ae.decode(c, mu).shape == (6, 1, 8, 8)
    recon, logits, mu, logvar = ae(x, y)
    assert recon.shape == (6, 1, 8, 8) and logits.shape == (6, 3)
    assert 0 < recon.numpy().min() and recon.numpy().max() < 1  # sigmoid output
    assert ae.swap(x[:2], x[2:4]).shape == (2, 1, 8, 8)
    assert ae.swap_grid(x[:2], x[:4]).shape == (2, 4, 1, 8, 8)
    assert ae.loss(x, y).shape == ()


def test_content_code_without_labels_is_the_predicted_class():
    cr.manual_seed(1)
    ae = _tiny()
    x, _ = _data()
    pred = ae.content_logits(x).numpy().argmax(1)
    assert np.array_equal(ae.content_code(x).numpy().argmax(1), pred)
    recon, _, mu, _ = ae.eval()(x)
    assert np.allclose(recon.numpy(), ae.decode(ae.content_code(x), mu).numpy())


def test_swap_grid_entries_are_swaps():
    cr.manual_seed(2)
    ae = _tiny().eval()
    x, _ = _data()
    grid = ae.swap_grid(x[:2], x[2:5]).numpy()
    for i in range(2):
        for j in range(3):
            one = ae.swap(x[i:i + 1], x[2 + j:3 + j]).numpy()[0]
            assert np.allclose(grid[i, j], one, atol=1e-6)
    # the content labels, when given, replace the predicted class
    y = np.array([2, 0])
    same = ae.swap(x[:2], x[2:4], content_labels=y).numpy()
    ref = ae.decode(ae.content_code(labels=y), ae.style_params(x[2:4])[0]).numpy()
    assert np.allclose(same, ref)


# ---- the loss ---------------------------------------------------------------------------------
def test_loss_terms_match_their_formulas():
    cr.manual_seed(3)
    ae = _tiny(beta=0.7, alpha=2.5)
    x, y = _data()
    eps = cr.tensor(np.random.default_rng(4).standard_normal((6, 2)).astype(np.float32))
    parts = ae.losses(x, y, eps=eps)
    mu, logvar = ae.style_params(x)
    s = mu + (0.5 * logvar).exp() * eps
    recon = ae.decode(ae.content_code(labels=y), s).numpy()
    rec = np.sum((recon - x.numpy()) ** 2) / 6
    kl = gaussian_kl(mu, logvar, reduction="mean").item()
    ce = F.cross_entropy(ae.content_logits(x), y).item()
    assert np.isclose(parts["recon"].item(), rec, rtol=1e-5)
    assert np.isclose(parts["kl"].item(), kl, rtol=1e-5)
    assert np.isclose(parts["ce"].item(), ce, rtol=1e-5)
    assert np.isclose(parts["loss"].item(), rec + 0.7 * kl + 2.5 * ce, rtol=1e-5)


def test_style_is_sampled_in_training_and_mu_in_eval():
    cr.manual_seed(5)
    ae = _tiny()
    x, y = _data()
    a, b = ae.style_code(x).numpy(), ae.style_code(x).numpy()
    assert not np.allclose(a, b)  # fresh noise in training mode
    ae.eval()
    mu = ae.style_params(x)[0].numpy()
    assert np.allclose(ae.style_code(x).numpy(), mu)
    plain = _tiny(variational=False)  # a plain autoencoder: deterministic, no KL
    mu, logvar = plain.style_params(x)
    assert logvar is None and np.allclose(plain.style_code(x).numpy(), mu.numpy())
    assert plain.losses(x, y)["kl"].item() == 0.0


def test_errors_name_what_was_expected():
    with pytest.raises(ValueError, match="image_size must be divisible by 4"):
        _tiny(image_size=10)
    with pytest.raises(ValueError, match="beta must be a number >= 0"):
        _tiny(beta=-1)
    with pytest.raises(ValueError, match="output must be one of"):
        _tiny(output="relu")
    ae = _tiny()
    x, y = _data()
    with pytest.raises(OpError, match=r"expected x of shape \(N, 1, 8, 8\), got \(6, 1, 9, 9\)"):
        ae.content_logits(cr.randn(6, 1, 9, 9))
    with pytest.raises(OpError, match=r"labels in \[0, 3\), got values in \[0, 7\]"):
        ae.loss(x, cr.tensor(np.array([0, 1, 2, 7, 1, 0])))
    with pytest.raises(OpError, match=r"integer labels of shape \(6,\)"):
        ae.loss(x, cr.tensor(np.array([0, 1])))
    with pytest.raises(ValueError, match="the labels are needed"):
        ae.losses(x, None)
    with pytest.raises(OpError, match="as many content as style images, got 2 and 3"):
        ae.swap(x[:2], x[:3])
    with pytest.raises(OpError, match=r"decode: expected s of shape \(N, 2\), got \(6, 5\)"):
        ae.decode(ae.content_code(labels=y), cr.randn(6, 5))
    with pytest.raises(OpError, match="eps of the shape of mu"):
        ae.loss(x, y, eps=cr.randn(6, 3))


# ---- gradients and fitting --------------------------------------------------------------------
def test_gradcheck_float64():
    cr.manual_seed(6)
    ae = _tiny(beta=0.5, alpha=0.3, channels=1, hidden=4).double()
    x, y = _data(2, seed=7, dtype=np.float64)
    eps = cr.tensor(np.random.default_rng(8).standard_normal((2, 2)))
    xin = cr.tensor(x.numpy(), requires_grad=True)
    params = list(ae.parameters())
    assert gradcheck(lambda xx, *ps: ae.loss(xx, y, eps=eps), [xin] + params)


def test_overfits_a_few_images_and_the_content_follows_the_label():
    cr.manual_seed(7)
    ae = _tiny(channels=4, hidden=32, style_dim=2, beta=0.01)
    rng = np.random.default_rng(9)
    protos = rng.random((3, 1, 8, 8)).astype(np.float32)  # one pattern per class
    y = np.array([0, 1, 2, 0, 1, 2])
    x = cr.tensor(np.clip(protos[y] + 0.05 * rng.standard_normal((6, 1, 8, 8)), 0, 1)
                  .astype(np.float32))
    yt = cr.tensor(y)
    opt = cr.optim.Adam(ae.parameters(), lr=1e-2)
    first = ae.losses(x, yt)["recon"].item()
    for _ in range(300):
        opt.zero_grad()
        ae.loss(x, yt).backward()
        opt.step()
    ae.eval()
    assert np.array_equal(ae.content_logits(x).numpy().argmax(1), y)
    recon = ae(x)[0].numpy()
    assert np.mean((recon - x.numpy()) ** 2) < 0.15 * first / 64  # per pixel, from ~0.08
    # content of image 0 (class 0) in the style of image 1: near class 0's pattern
    swapped = ae.swap(x[:1], x[1:2]).numpy()[0]
    d = [np.mean((swapped - p) ** 2) for p in protos]
    assert int(np.argmin(d)) == 0
