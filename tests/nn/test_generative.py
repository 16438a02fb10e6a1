"""Tests of chainrule.nn.generative (re-exported by chainrule.nn.functional): Gaussian KL,
Bernoulli/Gaussian log-likelihoods, GAN value and losses, ELBO and importance-weighted estimates.

Against torch.distributions and closed forms; gradients by gradcheck in float64; stability at
logits of +-1e4; and the notes' section 4 identities on small discrete distributions."""
import itertools
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import backend
from chainrule.autograd import gradcheck
from chainrule.nn import functional as F
from chainrule.nn import generative as G


def _rng(seed=0):
    return np.random.default_rng(seed)


def _t(a, requires_grad=False):
    return cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def test_reexported_from_functional():
    for name in G.__all__:
        assert getattr(F, name) is getattr(G, name)
        assert name in F.__all__


# ---- Gaussian KL -------------------------------------------------------------------------------
def test_gaussian_kl_standard_normal_against_torch():
    torch = pytest.importorskip("torch")
    from torch.distributions import Independent, Normal, kl_divergence

    rng = _rng(1)
    mu, lv = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    q = Independent(Normal(torch.tensor(mu), torch.tensor(np.exp(0.5 * lv))), 1)
    p = Independent(Normal(torch.zeros(5, 3, dtype=torch.float64),
                           torch.ones(5, 3, dtype=torch.float64)), 1)
    ref = kl_divergence(q, p).numpy()
    assert ref.shape == (5,)
    out = F.gaussian_kl(_t(mu), _t(lv), reduction="none")
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(F.gaussian_kl(_t(mu), _t(lv)).item(), ref.sum(), rtol=1e-12)
    np.testing.assert_allclose(F.gaussian_kl(_t(mu), _t(lv), reduction="mean").item(),
                               ref.mean(), rtol=1e-12)
    # closed form -1/2 sum (1 + logvar - mu^2 - exp(logvar))
    np.testing.assert_allclose(out.numpy(), -0.5 * (1 + lv - mu ** 2 - np.exp(lv)).sum(-1),
                               rtol=1e-12)
    assert np.all(out.numpy() >= 0)


def test_gaussian_kl_two_gaussians_against_torch():
    torch = pytest.importorskip("torch")
    from torch.distributions import Independent, Normal, kl_divergence

    rng = _rng(2)
    mu, lv, mu2, lv2 = (rng.standard_normal((4, 6)) for _ in range(4))
    q = Independent(Normal(torch.tensor(mu), torch.tensor(np.exp(0.5 * lv))), 1)
    p = Independent(Normal(torch.tensor(mu2), torch.tensor(np.exp(0.5 * lv2))), 1)
    ref = kl_divergence(q, p).numpy()
    out = F.gaussian_kl(_t(mu), _t(lv), _t(mu2), _t(lv2), reduction="none")
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-12)
    # KL(q || q) = 0, and numbers for mu2/logvar2 broadcast (0, 0 is the standard normal)
    assert np.allclose(F.gaussian_kl(_t(mu), _t(lv), _t(mu), _t(lv), reduction="none").numpy(),
                       0, atol=1e-12)
    np.testing.assert_allclose(F.gaussian_kl(_t(mu), _t(lv), 0.0, 0.0).item(),
                               F.gaussian_kl(_t(mu), _t(lv)).item(), rtol=1e-12)
    np.testing.assert_allclose(F.gaussian_kl(_t(mu), _t(lv), mu2=_t(mu2)).item(),
                               F.gaussian_kl(_t(mu), _t(lv), _t(mu2), 0.0).item(), rtol=1e-12)


def test_gaussian_kl_event_dims_and_errors():
    rng = _rng(3)
    mu, lv = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((2, 3, 4, 4))
    out = F.gaussian_kl(_t(mu), _t(lv), reduction="none", event_dims=3)
    assert out.shape == (2,)
    np.testing.assert_allclose(out.numpy(), -0.5 * (1 + lv - mu ** 2 - np.exp(lv)).sum((1, 2, 3)),
                               rtol=1e-12)
    with pytest.raises(ValueError, match="reduction"):
        F.gaussian_kl(_t(mu), _t(lv), reduction="avg")
    with pytest.raises(ValueError, match=r"do not broadcast.*\(2, 3\)"):
        F.gaussian_kl(_t(np.zeros((2, 3))), _t(np.zeros((2, 4))))
    with pytest.raises(TypeError, match="mu.*Tensor"):
        F.gaussian_kl(mu, _t(lv))
    with pytest.raises(ValueError, match="event_dims"):
        F.gaussian_kl(_t(mu), _t(lv), event_dims=7)


# ---- log-likelihoods ---------------------------------------------------------------------------
def test_bernoulli_log_likelihood_against_torch():
    torch = pytest.importorskip("torch")
    from torch.distributions import Bernoulli

    rng = _rng(4)
    logits = 3 * rng.standard_normal((6, 5))
    x = (rng.random((6, 5)) < 0.5).astype(np.float64)
    ref = Bernoulli(logits=torch.tensor(logits)).log_prob(torch.tensor(x)).sum(-1).numpy()
    out = F.bernoulli_log_likelihood(_t(logits), _t(x), reduction="none")
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(F.bernoulli_log_likelihood(_t(logits), _t(x)).item(), ref.sum(),
                               rtol=1e-12)
    np.testing.assert_allclose(
        F.bernoulli_log_likelihood(_t(logits), _t(x), reduction="mean").item(), ref.mean(),
        rtol=1e-12)
    # closed form sum x A - log(1 + exp(A))
    np.testing.assert_allclose(out.numpy(), (x * logits - np.log1p(np.exp(logits))).sum(-1),
                               rtol=1e-10)
    with pytest.raises(ValueError, match=r"same shape.*\(6, 5\).*\(6, 4\)"):
        F.bernoulli_log_likelihood(_t(logits), _t(x[:, :4]))


def test_bernoulli_log_likelihood_images_event_dims():
    rng = _rng(5)
    logits = rng.standard_normal((3, 1, 4, 4))
    x = (rng.random((3, 1, 4, 4)) < 0.5).astype(np.float64)
    out = F.bernoulli_log_likelihood(_t(logits), _t(x), reduction="none", event_dims=3)
    flat = F.bernoulli_log_likelihood(_t(logits.reshape(3, 16)), _t(x.reshape(3, 16)),
                                      reduction="none")
    np.testing.assert_allclose(out.numpy(), flat.numpy(), rtol=1e-12)


@pytest.mark.parametrize("logvar_kind", ["none", "scalar", "tensor", "broadcast"])
def test_gaussian_log_likelihood_against_torch(logvar_kind):
    torch = pytest.importorskip("torch")
    from torch.distributions import Normal

    rng = _rng(6)
    x, mu = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    lv = {"none": None, "scalar": 0.7, "tensor": rng.standard_normal((4, 5)),
          "broadcast": rng.standard_normal(5)}[logvar_kind]
    std = np.exp(0.5 * (0.0 if lv is None else np.asarray(lv))) * np.ones((4, 5))
    ref = Normal(torch.tensor(mu), torch.tensor(std)).log_prob(torch.tensor(x)).sum(-1).numpy()
    lv_arg = lv if lv is None or isinstance(lv, float) else _t(lv)
    out = F.gaussian_log_likelihood(_t(x), _t(mu), lv_arg, reduction="none")
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
    np.testing.assert_allclose(F.gaussian_log_likelihood(_t(x), _t(mu), lv_arg).item(), ref.sum(),
                               rtol=1e-12)


def test_gaussian_log_likelihood_constant():
    # log N(0; 0, 1) = -1/2 log(2 pi) per dimension
    out = F.gaussian_log_likelihood(_t(np.zeros((1, 3))), _t(np.zeros((1, 3))))
    np.testing.assert_allclose(out.item(), -1.5 * math.log(2 * math.pi), rtol=1e-14)


# ---- gradients ---------------------------------------------------------------------------------
def test_gradcheck_kl_and_likelihoods():
    rng = _rng(7)
    mu, lv, mu2, lv2 = (_t(rng.standard_normal((3, 4)), True) for _ in range(4))
    assert gradcheck(lambda a, b: F.gaussian_kl(a, b, reduction="none"), [mu, lv])
    assert gradcheck(lambda a, b, c, d: F.gaussian_kl(a, b, c, d, reduction="mean"),
                     [mu, lv, mu2, lv2])
    logits = _t(2 * rng.standard_normal((3, 4)), True)
    x = _t(rng.random((3, 4)), True)  # soft targets: the gradient in x exists too
    assert gradcheck(lambda a, b: F.bernoulli_log_likelihood(a, b, reduction="none"), [logits, x])
    xs = _t(rng.standard_normal((3, 4)), True)
    assert gradcheck(lambda a, b, c: F.gaussian_log_likelihood(a, b, c, reduction="none"),
                     [xs, mu, lv])
    assert gradcheck(lambda a, b: F.gaussian_log_likelihood(a, b), [xs, mu])


def test_gradcheck_gan_losses():
    rng = _rng(8)
    real = _t(3 * rng.standard_normal(5), True)
    fake = _t(3 * rng.standard_normal((4, 1)), True)
    assert gradcheck(F.gan_discriminator_loss, [real, fake])
    assert gradcheck(F.gan_value, [real, fake])
    for kind in ("non_saturating", "minimax"):
        assert gradcheck(lambda a, k=kind: F.gan_generator_loss(a, kind=k), [fake])


def test_gradcheck_elbo_iwae_and_reparameterized_samples():
    rng = _rng(9)
    lp = _t(rng.standard_normal((6, 3)) * 5, True)
    lq = _t(rng.standard_normal((6, 3)) * 5, True)
    assert gradcheck(F.importance_weighted_log_likelihood, [lp, lq])
    assert gradcheck(lambda a, b: F.importance_weighted_log_likelihood(
        a.transpose(0, 1), b.transpose(0, 1), dim=1, reduction="mean"), [lp, lq])
    assert gradcheck(lambda a, b: F.elbo(a, b, reduction="sum"), [lp, lq])
    mu, lv = _t(rng.standard_normal((2, 3)), True), _t(rng.standard_normal((2, 3)), True)
    backend.manual_seed(0)
    state = backend.get_rng_state()

    def fn(m, v):  # the same eps at every call, as gradcheck needs
        backend.set_rng_state(state)
        return G.sample_diag_gaussian(m, v, K=4)

    assert gradcheck(fn, [mu, lv])


# ---- closed forms and stability of the GAN losses ---------------------------------------------
def test_gan_losses_closed_forms():
    rng = _rng(10)
    a_r, a_f = rng.standard_normal(7), rng.standard_normal(5)
    d_r, d_f = _sigmoid(a_r), _sigmoid(a_f)
    v = np.log(d_r).mean() + np.log(1 - d_f).mean()
    np.testing.assert_allclose(F.gan_value(_t(a_r), _t(a_f)).item(), v, rtol=1e-12)
    np.testing.assert_allclose(F.gan_discriminator_loss(_t(a_r), _t(a_f)).item(), -v, rtol=1e-12)
    np.testing.assert_allclose(F.gan_generator_loss(_t(a_f)).item(), -np.log(d_f).mean(),
                               rtol=1e-12)
    np.testing.assert_allclose(F.gan_generator_loss(_t(a_f), kind="minimax").item(),
                               np.log(1 - d_f).mean(), rtol=1e-12)
    with pytest.raises(ValueError, match="kind.*'wasserstein'"):
        F.gan_generator_loss(_t(a_f), kind="wasserstein")
    with pytest.raises(ValueError, match="empty"):
        F.gan_value(_t(np.zeros(0)), _t(a_f))


def test_gan_losses_match_torch_bce_with_logits():
    torch = pytest.importorskip("torch")
    rng = _rng(11)
    a_r, a_f = 4 * rng.standard_normal(6), 4 * rng.standard_normal(6)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    tr, tf = torch.tensor(a_r), torch.tensor(a_f)
    ref = (bce(tr, torch.ones_like(tr)) + bce(tf, torch.zeros_like(tf))).item()
    np.testing.assert_allclose(F.gan_discriminator_loss(_t(a_r), _t(a_f)).item(), ref, rtol=1e-12)
    np.testing.assert_allclose(F.gan_generator_loss(_t(a_f)).item(),
                               bce(tf, torch.ones_like(tf)).item(), rtol=1e-12)


def test_stability_at_huge_logits():
    big = np.array([1e4, -1e4, 0.0])
    real, fake = _t(big, True), _t(-big, True)
    losses = [F.gan_discriminator_loss(real, fake), F.gan_generator_loss(fake),
              F.gan_generator_loss(fake, kind="minimax"), F.gan_value(real, fake)]
    for loss in losses:
        assert np.isfinite(loss.item())
        gr = cr.autograd.grad(loss, [fake], retain_graph=True)[0]
        assert np.all(np.isfinite(gr.numpy()))
    # a perfect discriminator on (1e4 real, -1e4 fake): the terms are exactly 0 and 1e4
    np.testing.assert_allclose(F.gan_discriminator_loss(_t([1e4]), _t([-1e4])).item(), 0.0,
                               atol=1e-300)
    np.testing.assert_allclose(F.gan_generator_loss(_t([-1e4])).item(), 1e4, rtol=1e-12)
    # the minimax generator loss saturates: ~0 with a ~0 gradient where D rejects fakes
    f = _t([-1e4], True)
    F.gan_generator_loss(f, kind="minimax").backward()
    assert abs(f.grad.item()) < 1e-300
    f = _t([-1e4], True)
    F.gan_generator_loss(f).backward()  # non-saturating: gradient -1
    np.testing.assert_allclose(f.grad.item(), -1.0)
    # Bernoulli log-likelihood at huge logits, with gradients
    logits = _t([[1e4, -1e4, 1e4, -1e4]], True)
    x = _t([[1.0, 0.0, 0.0, 1.0]])
    ll = F.bernoulli_log_likelihood(logits, x)
    np.testing.assert_allclose(ll.item(), -2e4, rtol=1e-12)
    ll.backward()
    np.testing.assert_allclose(logits.grad.numpy(), [[0, 0, -1, 1]], atol=1e-300)
    # importance weights of size e^(+-1e4)
    lp, lq = _t([[1e4], [-1e4]], True), _t([[0.0], [0.0]])
    iw = F.importance_weighted_log_likelihood(lp, lq)
    np.testing.assert_allclose(iw.numpy(), [1e4 - math.log(2)], rtol=1e-12)
    iw.sum().backward()
    assert np.all(np.isfinite(lp.grad.numpy()))
    # float32 huge logits stay finite too
    a32 = cr.tensor(np.array([1e4, -1e4], np.float32))
    assert np.isfinite(F.gan_discriminator_loss(a32, a32).item())


# ---- the notes' GAN identities on a discrete distribution -------------------------------------
# P_data and p_theta on 5 points, with rational probabilities: a "batch" holding point x
# count(x) times makes the batch mean in V(D, G) the exact expectation.
_DATA_COUNTS = np.array([3, 1, 2, 5, 1])
_MODEL_COUNTS = np.array([1, 4, 2, 1, 4])


def _batch(logits_per_point, counts):
    return cr.ops.index_select(logits_per_point, 0, cr.tensor(np.repeat(np.arange(5), counts)))


def _value(logits_per_point):
    """V(D, G) with D(x) = sigmoid(logits_per_point[x]), as the exact expectation."""
    return F.gan_value(_batch(logits_per_point, _DATA_COUNTS),
                       _batch(logits_per_point, _MODEL_COUNTS))


def test_optimal_discriminator_maximizes_value():
    p_data = _DATA_COUNTS / _DATA_COUNTS.sum()
    p_model = _MODEL_COUNTS / _MODEL_COUNTS.sum()
    d_star = p_data / (p_data + p_model)
    a_star = np.log(d_star / (1 - d_star))  # logit of D* = log(P_data / p_theta)
    a = _t(a_star, True)
    v_star = _value(a)
    v_star.backward()  # dV/dD = 0 at D* (notes 4.3), so the gradient in the logits is 0 too
    np.testing.assert_allclose(a.grad.numpy(), 0, atol=1e-12)
    rng = _rng(12)
    for _ in range(20):
        v = _value(_t(a_star + 0.3 * rng.standard_normal(5))).item()
        assert v < v_star.item()
    assert _value(_t(np.zeros(5))).item() < v_star.item()  # D = 1/2 everywhere


def test_value_at_optimal_discriminator_is_jsd():
    p_data = _DATA_COUNTS / _DATA_COUNTS.sum()
    p_model = _MODEL_COUNTS / _MODEL_COUNTS.sum()
    m = (p_data + p_model) / 2
    kl = lambda p, q: float(np.sum(p * np.log(p / q)))  # noqa: E731
    jsd = 0.5 * kl(p_data, m) + 0.5 * kl(p_model, m)  # the standard JSD, in [0, log 2]
    v_star = _value(_t(np.log(p_data / p_model))).item()
    np.testing.assert_allclose(v_star, 2 * jsd - 2 * math.log(2), rtol=1e-12)
    # the notes' JSD is KL(p_theta | p_mix) + KL(P_data | p_mix), so V(D*, G) = JSD_notes - 2 log 2
    np.testing.assert_allclose(v_star, kl(p_model, m) + kl(p_data, m) - 2 * math.log(2),
                               rtol=1e-12)
    # p_theta = P_data: D* = 1/2 and V = -2 log 2, the value at the global optimum of G
    v_eq = F.gan_value(_batch(_t(np.zeros(5)), _DATA_COUNTS), _batch(_t(np.zeros(5)),
                                                                     _DATA_COUNTS)).item()
    np.testing.assert_allclose(v_eq, -2 * math.log(2), rtol=1e-12)


def test_gan_value_jsd_against_torch_kl():
    torch = pytest.importorskip("torch")
    from torch.distributions import Categorical, kl_divergence

    p_data = torch.tensor(_DATA_COUNTS / _DATA_COUNTS.sum())
    p_model = torch.tensor(_MODEL_COUNTS / _MODEL_COUNTS.sum())
    m = Categorical(probs=(p_data + p_model) / 2)
    jsd = 0.5 * (kl_divergence(Categorical(probs=p_data), m)
                 + kl_divergence(Categorical(probs=p_model), m)).item()
    v_star = _value(_t(np.log(p_data.numpy() / p_model.numpy()))).item()
    np.testing.assert_allclose(v_star, 2 * jsd - 2 * math.log(2), rtol=1e-10)


# ---- a tiny latent-variable model with binary h, enumerable ------------------------------------
# h in {0, 1}^3 (8 configurations), prior Bernoulli(sigmoid(b_h)) per bit, decoder
# p(x|h) = Bernoulli(sigmoid(W h + c)) on x in {0, 1}^4; recognition q(h|x) = Bernoulli(sigmoid(U x
# + e)) per bit, as in a Helmholtz machine.
class _TinyModel:
    def __init__(self, seed=13):
        rng = _rng(seed)
        self.b = rng.standard_normal(3)
        self.W = 2 * rng.standard_normal((4, 3))
        self.c = rng.standard_normal(4)
        self.U = rng.standard_normal((3, 4))
        self.e = rng.standard_normal(3)
        self.H = np.array(list(itertools.product([0.0, 1.0], repeat=3)))  # (8, 3)

    def log_p_joint(self, x, h):
        """x: (N, 4) array; h: (K, N, 3) Tensor or array -> (K, N) log p(h) + log p(x|h)."""
        h = h if isinstance(h, cr.Tensor) else _t(h)
        k, n = h.shape[0], h.shape[1]
        prior = F.bernoulli_log_likelihood(_t(np.broadcast_to(self.b, (k, n, 3))), h,
                                           reduction="none")
        logits = h @ _t(self.W.T) + _t(self.c)
        xs = _t(np.broadcast_to(x, (k, n, 4)))
        return prior + F.bernoulli_log_likelihood(logits, xs, reduction="none")

    def q_logits(self, x):
        return x @ self.U.T + self.e  # (N, 3)

    def log_q(self, x, h):
        h = h if isinstance(h, cr.Tensor) else _t(h)
        lg = np.broadcast_to(self.q_logits(x), tuple(h.shape))
        return F.bernoulli_log_likelihood(_t(lg), h, reduction="none")

    def enumerate(self, x):
        """(8, N) log p(x, h) and log q(h|x) over every h, and log p(x) (N,)."""
        n = x.shape[0]
        hs = np.broadcast_to(self.H[:, None, :], (8, n, 3))
        lp = self.log_p_joint(x, hs).numpy()
        lq = self.log_q(x, hs).numpy()
        m = lp.max(0)
        return lp, lq, m + np.log(np.exp(lp - m).sum(0))


_X = np.array([[1, 0, 1, 1], [0, 0, 1, 0], [1, 1, 1, 1]], dtype=np.float64)


def test_tiny_model_enumeration_is_normalized():
    model = _TinyModel()
    allx = np.array(list(itertools.product([0.0, 1.0], repeat=4)))
    _, lq, log_px = model.enumerate(allx)
    np.testing.assert_allclose(np.exp(log_px).sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.exp(lq).sum(0), 1.0, rtol=1e-12)


def test_elbo_identity_log_px_minus_kl_to_posterior():
    """ELBO(x) = E_q[log p(x, h) - log q(h|x)] = log p(x) - KL(q(h|x) || p(h|x)) (notes 4.5)."""
    model = _TinyModel()
    lp, lq, log_px = model.enumerate(_X)
    post = np.exp(lp - log_px)  # p(h|x), (8, N)
    q = np.exp(lq)
    kl = (q * (lq - np.log(post))).sum(0)
    assert np.all(kl > 1e-3)  # q is not the posterior here
    elbo_exact = (q * (lp - lq)).sum(0)
    np.testing.assert_allclose(elbo_exact, log_px - kl, rtol=1e-12)
    # F.elbo over a sample set holding each h in proportion to rational q(h) is the expectation:
    # use a q with probabilities counts / 16 for the first example.
    counts = np.array([1, 3, 2, 1, 4, 2, 1, 2])
    qr = counts / counts.sum()
    idx = np.repeat(np.arange(8), counts)
    lp0 = lp[idx, 0:1]
    lq0 = np.log(qr[idx])[:, None]
    out = F.elbo(_t(lp0), _t(lq0)).numpy()
    kl_r = (qr * (np.log(qr) - np.log(post[:, 0]))).sum()
    np.testing.assert_allclose(out, [log_px[0] - kl_r], rtol=1e-12)


def _exact_iwae_expectation(lp, lq, k):
    """E over h_1..h_k ~ q iid of L_k, by enumerating all 8^k tuples (for each example)."""
    n = lp.shape[1]
    tuples = np.array(list(itertools.product(range(8), repeat=k))).T  # (k, 8^k)
    out = []
    for i in range(n):
        lw_p = _t(lp[tuples, i])
        lw_q = _t(lq[tuples, i])
        l_k = F.importance_weighted_log_likelihood(lw_p, lw_q).numpy()  # (8^k,)
        prob = np.exp(lq[tuples, i].sum(0))  # q(h_1) ... q(h_k)
        out.append(float((prob * l_k).sum()))
    return np.array(out)


def test_iwae_bound_tightens_with_k_and_stays_below_log_px():
    model = _TinyModel()
    lp, lq, log_px = model.enumerate(_X)
    e = [_exact_iwae_expectation(lp, lq, k) for k in (1, 2, 3, 4)]
    q = np.exp(lq)
    np.testing.assert_allclose(e[0], (q * (lp - lq)).sum(0), rtol=1e-12)  # L_1 is the ELBO
    for lo, hi in zip(e, e[1:]):
        assert np.all(hi > lo + 1e-6)
    assert np.all(e[-1] < log_px)
    # Monte Carlo with many samples through the high-level API approaches log p(x)
    rng = _rng(14)
    ql = model.q_logits(_X)

    def sample_q(x, k):
        h = (rng.random((k,) + ql.shape) < _sigmoid(ql)).astype(np.float64)
        return _t(h), model.log_q(x, h)

    k = 20000
    est = F.iwae_log_likelihood(_X, sample_q, model.log_p_joint, K=k, chunk_size=5000)
    assert est.shape == (3,)
    # L_K - log p(x) ~ N(0, chi2 / K) for large K, chi2 = E_q[(p(x, h) / q(h|x) / p(x))^2] - 1
    chi2 = np.exp(2 * lp - lq).sum(0) / np.exp(2 * log_px) - 1
    tol = 5 * np.sqrt(chi2 / k)
    assert np.all(np.abs(est.numpy() - log_px) < tol)
    assert np.all(est.numpy() > e[-1] - tol)


def test_iwae_exact_when_q_is_the_posterior():
    model = _TinyModel()
    lp, lq, log_px = model.enumerate(_X)
    log_post = lp - log_px  # (8, N)
    rng = _rng(15)
    for k in (1, 3, 17):
        idx = np.stack([rng.choice(8, size=k, p=np.exp(log_post[:, i])) for i in range(3)], 1)
        lpk = np.take_along_axis(lp, idx, 0)
        lqk = np.take_along_axis(log_post, idx, 0)
        out = F.importance_weighted_log_likelihood(_t(lpk), _t(lqk)).numpy()
        np.testing.assert_allclose(out, log_px, rtol=1e-12)
        np.testing.assert_allclose(F.elbo(_t(lpk), _t(lqk)).numpy(), log_px, rtol=1e-12)


# ---- a linear-Gaussian VAE: reparameterized Gaussian q, exact posterior ------------------------
# h ~ N(0, 1), x | h ~ N(a h, s^2): p(x) = N(0, a^2 + s^2), p(h|x) = N(a x / (a^2 + s^2),
# s^2 / (a^2 + s^2)).
def _linear_gaussian(x, a=1.5, s2=0.5):
    v = a * a + s2
    post_mu, post_lv = a * x / v, np.log(s2 / v) * np.ones_like(x)
    log_px = -0.5 * (math.log(2 * math.pi * v) + x ** 2 / v)

    def log_p_joint(xx, h):  # h: (K, N, 1)
        prior = F.gaussian_log_likelihood(h, 0.0, reduction="none")
        lik = F.gaussian_log_likelihood(_t(np.broadcast_to(xx, tuple(h.shape))), h * a,
                                        math.log(s2), reduction="none")
        return prior + lik

    return post_mu, post_lv, log_px[:, 0], log_p_joint


def test_vae_iwae_exact_with_posterior_and_elbo_with_closed_form_kl():
    x = np.array([[0.3], [-1.2], [2.0]])
    post_mu, post_lv, log_px, log_p_joint = _linear_gaussian(x)
    backend.manual_seed(3)
    sample_q = lambda xx, k: G.sample_diag_gaussian(_t(post_mu), _t(post_lv), k)  # noqa: E731
    est = F.iwae_log_likelihood(x, sample_q, log_p_joint, K=7)
    np.testing.assert_allclose(est.numpy(), log_px, rtol=1e-10)
    # ELBO = E_q log p(x|h) - KL(q || N(0, 1)) = log p(x) at q = posterior; E_q log p(x|h) is
    # closed form for the linear-Gaussian decoder: -1/2 [log 2 pi s2 + ((x - a mu)^2 + a^2 v) / s2]
    a, s2 = 1.5, 0.5
    rec = -0.5 * (np.log(2 * np.pi * s2) + ((x - a * post_mu) ** 2 + a * a * np.exp(post_lv)) / s2)
    kl = F.gaussian_kl(_t(post_mu), _t(post_lv), reduction="none").numpy()
    np.testing.assert_allclose(rec[:, 0] - kl, log_px, rtol=1e-12)
    # a worse q: the importance-weighted estimate is below log p(x) on average and tightens with
    # K; R replications of each example are extra rows of the batch.
    bad_mu, bad_lv = post_mu + 0.5, post_lv + 0.4
    r = 10000
    x_rep = np.tile(x, (r, 1))
    sample_bad = lambda xx, k: G.sample_diag_gaussian(  # noqa: E731
        _t(np.tile(bad_mu, (r, 1))), _t(np.tile(bad_lv, (r, 1))), k)
    backend.manual_seed(4)
    means = [F.iwae_log_likelihood(x_rep, sample_bad, log_p_joint, K=k).numpy().reshape(r, 3)
             .mean(0) for k in (1, 10, 100)]
    assert np.all(means[0] < means[1] - 0.02) and np.all(means[1] < means[2])
    assert np.all(means[2] < log_px) and np.all(means[2] > log_px - 0.05)
    # the ELBO by closed-form KL for the bad q is the expectation of the K = 1 estimate
    rec_bad = -0.5 * (np.log(2 * np.pi * s2) + ((x - a * bad_mu) ** 2
                                                + a * a * np.exp(bad_lv)) / s2)
    elbo_bad = rec_bad[:, 0] - F.gaussian_kl(_t(bad_mu), _t(bad_lv), reduction="none").numpy()
    np.testing.assert_allclose(means[0], elbo_bad, atol=0.08)  # ~5 standard errors


def test_iwae_chunking_is_exact():
    rng = _rng(16)
    lpk = rng.standard_normal((10, 4)) * 3
    lqk = rng.standard_normal((10, 4))
    state = {"i": 0}

    def sample_q(x, k):  # hands out the fixed samples in order
        i = state["i"]
        state["i"] = i + k
        return _t(np.arange(i, i + k)), _t(lqk[i:i + k])

    def log_p(x, idx):
        return _t(lpk[idx.numpy().astype(int)])

    full = F.importance_weighted_log_likelihood(_t(lpk), _t(lqk)).numpy()
    for chunk in (None, 1, 3, 10, 50):
        state["i"] = 0
        out = F.iwae_log_likelihood(None, sample_q, log_p, K=10, chunk_size=chunk)
        np.testing.assert_allclose(out.numpy(), full, rtol=1e-12)
    state["i"] = 0
    np.testing.assert_allclose(
        F.iwae_log_likelihood(None, sample_q, log_p, K=10, reduction="mean").item(), full.mean(),
        rtol=1e-12)


def test_sample_diag_gaussian_shapes_and_log_q():
    torch = pytest.importorskip("torch")
    from torch.distributions import Independent, Normal

    rng = _rng(17)
    mu, lv = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    backend.manual_seed(5)
    h, log_q = G.sample_diag_gaussian(_t(mu), _t(lv), K=6)
    assert h.shape == (6, 3, 2) and log_q.shape == (6, 3)
    ref = Independent(Normal(torch.tensor(mu), torch.tensor(np.exp(0.5 * lv))), 1).log_prob(
        torch.tensor(h.numpy())).numpy()
    np.testing.assert_allclose(log_q.numpy(), ref, rtol=1e-10)
    np.testing.assert_allclose(
        log_q.numpy(), F.gaussian_log_likelihood(h, _t(mu), _t(lv), reduction="none").numpy(),
        rtol=1e-10)
    with pytest.raises(ValueError, match="K must be a positive int"):
        G.sample_diag_gaussian(_t(mu), _t(lv), K=0)
    with pytest.raises(ValueError, match=r"same shape.*\(3, 2\).*\(3, 1\)"):
        G.sample_diag_gaussian(_t(mu), _t(lv[:, :1]))


def test_iwae_argument_errors():
    a = _t(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"same shape.*\(4, 2\).*\(4, 3\)"):
        F.importance_weighted_log_likelihood(a, _t(np.zeros((4, 3))))
    with pytest.raises(ValueError, match="0-d"):
        F.importance_weighted_log_likelihood(_t(1.0), _t(1.0))
    with pytest.raises(ValueError, match="K = 0"):
        F.elbo(_t(np.zeros((0, 2))), _t(np.zeros((0, 2))))
    with pytest.raises(ValueError, match="K must be a positive int"):
        F.iwae_log_likelihood(None, None, None, K=0)
    with pytest.raises(ValueError, match="chunk_size"):
        F.iwae_log_likelihood(None, None, None, K=3, chunk_size=0)


def test_gan_losses_exact_at_moderate_negative_logits():
    # log(1 - sigmoid(a)) = -a - log1p(exp(-a)) at a = 25: no cut-off error past the threshold
    a = np.array([25.0, 30.0])
    ref = -(a + np.log1p(np.exp(-a)))
    np.testing.assert_allclose(F.gan_generator_loss(_t(a), kind="minimax").item(), ref.mean(),
                               rtol=1e-15)
    np.testing.assert_allclose(F.gan_generator_loss(_t(-a)).item(), -ref.mean(), rtol=1e-15)


def test_gradcheck_vae_loss_end_to_end():
    """-ELBO of a tiny VAE: Bernoulli decoder, reparameterized Gaussian q, closed-form KL."""
    rng = _rng(18)
    x = _t((rng.random((3, 4)) < 0.5).astype(np.float64))
    w_enc = _t(0.5 * rng.standard_normal((4, 4)), True)  # -> (mu, logvar) of a 2-d code
    w_dec = _t(0.5 * rng.standard_normal((2, 4)), True)
    backend.manual_seed(1)
    state = backend.get_rng_state()

    def neg_elbo(we, wd):
        backend.set_rng_state(state)
        out = x @ we
        mu, lv = out[:, :2], out[:, 2:]
        h, _ = G.sample_diag_gaussian(mu, lv, K=2)  # (2, 3, 2)
        rec = F.bernoulli_log_likelihood(h @ wd, x.expand(2, 3, 4), reduction="none").mean(0)
        return (F.gaussian_kl(mu, lv, reduction="none") - rec).mean()

    assert np.isfinite(neg_elbo(w_enc, w_dec).item())
    assert gradcheck(neg_elbo, [w_enc, w_dec])
