"""Tests for chainrule.models.VAE / ConvVAE (notes 4.4-4.5)."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import gradcheck
from chainrule.models import VAE, ConvVAE
from chainrule.nn import functional as F
from chainrule.ops._util import OpError

PATTERNS = np.array([[1, 1, 1, 1, 0, 0, 0, 0],
                     [0, 0, 0, 0, 1, 1, 1, 1],
                     [1, 0, 1, 0, 1, 0, 1, 0],
                     [0, 1, 0, 1, 0, 1, 0, 1]], dtype=np.float64)


def _binary(n, d, seed=0, dtype=np.float32):
    return cr.tensor((np.random.default_rng(seed).random((n, d)) > 0.5).astype(dtype))


# ---- shapes --------------------------------------------------------------------------------------
def test_mlp_shapes():
    cr.manual_seed(0)
    vae = VAE(8, latent_dim=3, hidden=(16, 12))
    x = _binary(5, 8)
    mu, logvar = vae.encode(x)
    assert mu.shape == (5, 3) and logvar.shape == (5, 3)
    assert vae.decode(mu).shape == (5, 8)
    assert vae.decode(cr.randn(4, 5, 3)).shape == (4, 5, 8)
    recon, mu, logvar = vae(x)
    assert recon.shape == (5, 8) and mu.shape == (5, 3) and logvar.shape == (5, 3)
    assert vae.loss(x).shape == () and vae.loss(x, reduction="none").shape == (5,)
    assert vae.log_likelihood(x, K=7).shape == (5,)
    assert vae.log_likelihood(x, K=7, reduction="mean").shape == ()


def test_mlp_flattens_images():
    cr.manual_seed(0)
    vae = VAE(16, latent_dim=2, hidden=(8,))
    x = cr.tensor((np.random.default_rng(1).random((3, 1, 4, 4)) > 0.5).astype(np.float32))
    recon, mu, _ = vae(x)
    assert recon.shape == (3, 16) and mu.shape == (3, 2)
    eps = cr.randn(3, 2)
    assert np.allclose(vae.loss(x, eps=eps).item(), vae.loss(x.reshape(3, 16), eps=eps).item())


def test_conv_shapes():
    cr.manual_seed(0)
    vae = ConvVAE(latent_dim=4, channels=4, hidden=16)
    x = cr.tensor((np.random.default_rng(2).random((2, 1, 28, 28)) > 0.5).astype(np.float32))
    mu, logvar = vae.encode(x)
    assert mu.shape == (2, 4) and logvar.shape == (2, 4)
    recon, _, _ = vae(x)
    assert recon.shape == (2, 1, 28, 28)
    loss = vae.loss(x)
    assert loss.shape == () and np.isfinite(loss.item())
    loss.backward()
    assert all(p.grad is not None for p in vae.parameters())
    assert vae.log_likelihood(x, K=3, chunk_size=2).shape == (2,)
    s = vae.sample(3)
    assert s.shape == (3, 1, 28, 28)


def test_bad_inputs_name_what_was_expected():
    vae = VAE(8, latent_dim=3)
    with pytest.raises(OpError, match=r"expected x of shape \(N, 8\).*\(5, 7\)"):
        vae.loss(cr.zeros(5, 7))
    with pytest.raises(OpError, match="expected eps"):
        vae.loss(cr.zeros(5, 8), eps=cr.zeros(5, 2))
    with pytest.raises(OpError, match=r"decode: expected h.*\(4, 2\)"):
        vae.decode(cr.zeros(4, 2))
    with pytest.raises(ValueError, match="likelihood"):
        VAE(8, likelihood="poisson")
    with pytest.raises(ValueError, match="divisible by 4"):
        ConvVAE(image_size=30)
    with pytest.raises(OpError, match=r"expected input \(N, 1, 28, 28\)"):
        ConvVAE(latent_dim=2, channels=2, hidden=4).encode(cr.zeros(2, 1, 27, 27))


# ---- the loss is -ELBO ---------------------------------------------------------------------------
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_loss_is_negative_elbo(likelihood):
    cr.manual_seed(0)
    vae = VAE(8, latent_dim=3, hidden=(10,), likelihood=likelihood, decoder_logvar=-0.5)
    x = _binary(6, 8, seed=3)
    eps = cr.randn(6, 3)
    mu, logvar = vae.encode(x)
    h = mu + (0.5 * logvar).exp() * eps
    out = vae.decode(h)
    if likelihood == "bernoulli":
        rec = F.bernoulli_log_likelihood(out, x, reduction="none")
    else:
        rec = F.gaussian_log_likelihood(x, out, -0.5, reduction="none")
    kl = F.gaussian_kl(mu, logvar, reduction="none")
    per = (kl - rec).numpy()
    assert np.allclose(vae.loss(x, eps=eps, reduction="none").numpy(), per, atol=1e-5)
    assert np.isclose(vae.loss(x, eps=eps).item(), per.mean(), atol=1e-5)
    assert np.isclose(vae.loss(x, eps=eps, reduction="sum").item(), per.sum(), atol=1e-4)
    assert np.allclose(vae.elbo(x, eps=eps).numpy(), -per, atol=1e-5)
    # by hand for the Gaussian KL: -1/2 sum (1 + logvar - mu^2 - exp(logvar))
    m, lv = mu.numpy(), logvar.numpy()
    assert np.allclose(kl.numpy(), -0.5 * (1 + lv - m ** 2 - np.exp(lv)).sum(1), atol=1e-5)


def test_conv_loss_is_negative_elbo():
    cr.manual_seed(0)
    vae = ConvVAE(latent_dim=2, channels=2, hidden=8, image_size=8)
    x = cr.tensor((np.random.default_rng(4).random((3, 1, 8, 8)) > 0.5).astype(np.float32))
    eps = cr.randn(3, 2)
    recon, mu, logvar = vae(x, eps=eps)
    rec = F.bernoulli_log_likelihood(recon, x, reduction="none", event_dims=3)
    kl = F.gaussian_kl(mu, logvar, reduction="none")
    assert np.allclose(vae.loss(x, eps=eps, reduction="none").numpy(), (kl - rec).numpy(),
                       atol=1e-4)


def test_default_noise_follows_the_seed():
    cr.manual_seed(0)
    vae = VAE(8, latent_dim=3, hidden=(10,))
    x = _binary(4, 8)
    cr.manual_seed(123)
    a = vae.loss(x).item()
    cr.manual_seed(123)
    eps = cr.randn(4, 3)  # the same draw the loss makes
    assert np.isclose(a, vae.loss(x, eps=eps).item(), atol=1e-6)


# ---- gradients -----------------------------------------------------------------------------------
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_gradcheck_mlp(likelihood):
    cr.manual_seed(0)
    vae = VAE(4, latent_dim=2, hidden=(3,), likelihood=likelihood).double()
    x = cr.tensor(PATTERNS[:3, ::2].copy())
    eps = cr.tensor(np.random.default_rng(5).standard_normal((3, 2)))
    params = list(vae.parameters())
    for p in params:
        p.requires_grad_(True)
    # the loss as a function of (input, parameters), with the noise fixed by eps
    xin = cr.tensor(x.numpy() * 0.8 + 0.1, requires_grad=True)
    assert gradcheck(lambda xx, *ps: vae.loss(xx, eps=eps), [xin] + params)


def test_gradcheck_conv():
    cr.manual_seed(0)
    vae = ConvVAE(latent_dim=2, channels=1, hidden=3, image_size=4).double()
    x = cr.tensor(np.random.default_rng(6).random((2, 1, 4, 4)))
    eps = cr.tensor(np.random.default_rng(7).standard_normal((2, 2)))
    params = list(vae.parameters())
    assert gradcheck(lambda *ps: vae.loss(x, eps=eps), params)


def test_gradcheck_with_seeded_noise():
    vae = VAE(4, latent_dim=2, hidden=(3,)).double()
    x = cr.tensor(PATTERNS[:2, :4].copy())
    params = list(vae.parameters())

    def f(*ps):
        cr.manual_seed(11)
        return vae.loss(x)
    assert gradcheck(f, params)


# ---- training, IWAE and sampling -----------------------------------------------------------------
def _train_tiny(seed=0, steps=200):
    cr.manual_seed(seed)
    vae = VAE(8, latent_dim=2, hidden=(16,))
    x = cr.tensor(PATTERNS.astype(np.float32))
    opt = cr.optim.Adam(vae.parameters(), lr=0.02)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = vae.loss(x)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return vae, x, losses


def test_tiny_vae_trains_and_iwae_bounds_elbo():
    vae, x, losses = _train_tiny()
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    assert last < first - 1.0, (first, last)
    assert last < 0.75 * 8 * np.log(2)  # better than 0.75 x the uniform model's 5.5 nats
    cr.manual_seed(1)
    with cr.no_grad():
        elbos = np.mean([vae.elbo(x).numpy() for _ in range(50)], axis=0)  # (4,)
        ll50 = np.mean([vae.log_likelihood(x, K=50).numpy() for _ in range(5)], axis=0)
        ll1 = np.mean([vae.log_likelihood(x, K=1).numpy() for _ in range(50)], axis=0)
    assert ll50.mean() >= elbos.mean()
    assert ll50.mean() >= ll1.mean()
    assert np.all(ll50 <= 0)  # a log-probability of binary data


def test_log_likelihood_chunks_agree_with_one_pass():
    cr.manual_seed(0)
    vae = VAE(8, latent_dim=2, hidden=(6,))
    x = _binary(3, 8)
    with cr.no_grad():
        cr.manual_seed(5)
        a = vae.log_likelihood(x, K=12).numpy()
        cr.manual_seed(5)
        b = vae.log_likelihood(x, K=12, chunk_size=12).numpy()
    assert np.allclose(a, b)
    assert np.all(np.isfinite(a))


def test_sample_shape_range_and_binarize():
    cr.manual_seed(0)
    vae = VAE(8, latent_dim=3, hidden=(10,))
    s = vae.sample(7)
    assert s.shape == (7, 8) and s.requires_grad is False
    v = s.numpy()
    assert v.min() >= 0 and v.max() <= 1
    b = vae.sample(7, binarize=True).numpy()
    assert set(np.unique(b)) <= {0.0, 1.0}
    h = cr.zeros(2, 3)
    assert np.allclose(vae.sample(2, h=h).numpy(), vae.decode(h).sigmoid().numpy())
    g = VAE(8, latent_dim=3, likelihood="gaussian")
    assert g.sample(4).shape == (4, 8)
    with pytest.raises(OpError, match=r"expected h of shape"):
        vae.sample(2, h=cr.zeros(3, 3))


def test_reproducible_under_seed():
    def run():
        cr.manual_seed(42)
        vae = VAE(8, latent_dim=2, hidden=(8,))
        x = _binary(4, 8)
        loss = vae.loss(x).item()
        return loss, vae.sample(3).numpy(), vae.log_likelihood(x, K=5).numpy()
    a, b = run(), run()
    assert a[0] == b[0]
    assert np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2])
    _, _, la = _train_tiny(seed=3, steps=20)
    _, _, lb = _train_tiny(seed=3, steps=20)
    assert la == lb


def test_torch_oracle_loss():
    torch = pytest.importorskip("torch")
    cr.manual_seed(0)
    vae = VAE(8, latent_dim=3, hidden=(5,))
    x = _binary(4, 8, seed=9)
    eps = cr.randn(4, 3)
    W = {k: torch.tensor(v.numpy()) for k, v in vae.state_dict().items()}
    tx, te = torch.tensor(x.numpy()), torch.tensor(eps.numpy())
    lin = torch.nn.functional.linear
    a = torch.relu(lin(tx, W["encoder.0.weight"], W["encoder.0.bias"]))
    mu = lin(a, W["fc_mu.weight"], W["fc_mu.bias"])
    lv = lin(a, W["fc_logvar.weight"], W["fc_logvar.bias"])
    h = mu + torch.exp(0.5 * lv) * te
    logits = lin(torch.relu(lin(h, W["decoder.0.weight"], W["decoder.0.bias"])),
                 W["decoder.2.weight"], W["decoder.2.bias"])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, tx, reduction="none").sum(1)
    kl = -0.5 * (1 + lv - mu ** 2 - lv.exp()).sum(1)
    assert np.isclose(vae.loss(x, eps=eps).item(), (bce + kl).mean().item(), atol=1e-5)


def test_iwae_approaches_log_p_by_quadrature():
    """With a 1-d code, log p_theta(X) = log int N(h; 0, 1) p_theta(X|h) dh by quadrature:
    ELBO <= log p(X), and the K-sample estimate is close to it for large K."""
    cr.manual_seed(3)
    vae = VAE(8, latent_dim=1, hidden=(6,)).double()
    for p in vae.parameters():  # a sharper decoder than the default init
        p.data[...] = p.data * 2
    x = cr.tensor(PATTERNS[:2].copy())
    grid = np.linspace(-10, 10, 4001)
    with cr.no_grad():
        logits = vae.decode(cr.tensor(grid[:, None]))  # (G, 8)
        log_px_h = np.stack([F.bernoulli_log_likelihood(
            logits, x[i:i + 1].expand(len(grid), 8), reduction="none").numpy() for i in range(2)])
        integrand = log_px_h - 0.5 * grid ** 2 - 0.5 * np.log(2 * np.pi)  # (2, G)
        m = integrand.max(1, keepdims=True)
        log_p = (m[:, 0] + np.log(np.exp(integrand - m).sum(1) * (grid[1] - grid[0])))
        cr.manual_seed(0)
        elbo = np.mean([vae.elbo(x).numpy() for _ in range(200)], axis=0)
        ll = vae.log_likelihood(x, K=4000, chunk_size=1000).numpy()
    assert np.all(elbo <= log_p + 1e-6)
    assert np.allclose(ll, log_p, atol=0.05), (ll, log_p)
    # the K-sample estimate is much tighter than the ELBO (whose gap is KL(q || p(h|X)))
    assert np.all(np.abs(ll - log_p) < 0.2 * (log_p - elbo)), (elbo, ll, log_p)


def test_noise_dtype_and_explicit_numpy_eps():
    cr.manual_seed(0)
    vae = VAE(8, latent_dim=3, hidden=(4,)).double()
    assert vae.sample(2).dtype == np.float64
    assert vae.draw_eps(5).shape == (5, 3) and vae.draw_eps(5).dtype == np.float64
    x = cr.tensor(PATTERNS[:2].copy())
    eps = np.random.default_rng(0).standard_normal((2, 3))
    assert np.isclose(vae.loss(x, eps=eps).item(), vae.loss(x, eps=cr.tensor(eps)).item())
