"""Tests for chainrule.models.HelmholtzMachine and wake-sleep (notes 4.4-4.5).

Small models (4 visible, 2 + 2 hidden units) are checked against exact enumeration of the 16
hidden states: log p(x) = log sum_h p(x, h), and the ELBO E_q[log p(x, h) - log q(h|x)].
"""
import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import grad, gradcheck
from chainrule.models import HelmholtzMachine
from chainrule.ops._util import OpError

X4 = np.array([[1, 0, 1, 0], [1, 1, 1, 1], [0, 0, 0, 1]], dtype=np.float64)
PATTERNS = np.array([[1, 1, 1, 1, 0, 0, 0, 0],
                     [0, 0, 0, 0, 1, 1, 1, 1],
                     [1, 0, 1, 0, 1, 0, 1, 0],
                     [0, 1, 0, 1, 0, 1, 0, 1]], dtype=np.float64)


def _small(seed=0, sizes=(4, 2, 2)):
    """A float64 machine with weights large enough that q is far from the true posterior."""
    cr.manual_seed(seed)
    hm = HelmholtzMachine(sizes, dtype=np.float64)
    rng = np.random.default_rng(seed)
    for p in hm.parameters():
        p.data[...] = rng.normal(0.0, 1.5, p.shape)
    return hm


def _bits(a):
    return np.all((a == 0) | (a == 1))


def _exact_elbo(hm, x):
    """sum_h q(h|x) [log p(x, h) - log q(h|x)] by enumeration, (N,)."""
    states = hm.hidden_states()
    m, n = states[0].shape[0], x.shape[0]
    h = [cr.tensor(np.broadcast_to(s.numpy()[:, None], (m, n, s.shape[1])).copy())
         for s in states]
    with cr.no_grad():
        lj = hm.log_joint(x, h).numpy()
        lq = hm.log_q(h, x).numpy()
    return (np.exp(lq) * (lj - lq)).sum(0)


# ---- shapes and densities ----------------------------------------------------------------------
def test_shapes_and_parameter_groups():
    cr.manual_seed(0)
    hm = HelmholtzMachine((10, 6, 3))
    assert hm.layer_sizes == (10, 6, 3) and hm.n_hidden_layers == 2
    assert [tuple(m.weight.shape) for m in hm.generative] == [(10, 6), (6, 3)]
    assert [tuple(m.weight.shape) for m in hm.recognition] == [(6, 10), (3, 6)]
    theta = {id(p) for p in hm.generative_parameters()}
    phi = {id(p) for p in hm.recognition_parameters()}
    assert not theta & phi and theta | phi == {id(p) for p in hm.parameters()}
    x = cr.tensor((np.random.default_rng(0).random((5, 10)) < 0.5).astype(np.float32))
    h, lq = hm.sample_q(x)
    assert [t.shape for t in h] == [(5, 6), (5, 3)] and lq.shape == (5,)
    hk, lqk = hm.sample_q(x, K=7)
    assert [t.shape for t in hk] == [(7, 5, 6), (7, 5, 3)] and lqk.shape == (7, 5)
    assert hm.log_joint(x, h).shape == (5,) and hm.log_joint(x, hk).shape == (7, 5)
    assert hm.log_q(hk, x).shape == (7, 5)
    assert np.allclose(hm.log_q(hk, x).numpy(), lqk.numpy(), atol=1e-5)
    xd, hd = hm.dream(4)
    assert xd.shape == (4, 10) and [t.shape for t in hd] == [(4, 6), (4, 3)]
    assert hm.log_likelihood(x, K=9).shape == (5,)
    assert hm.log_likelihood(x, K=9, reduction="mean").shape == ()
    # images are flattened
    img = cr.tensor(x.numpy().reshape(5, 1, 2, 5))
    assert hm.log_joint(img, h).shape == (5,)


def test_log_joint_and_log_q_match_a_direct_computation():
    hm = _small(1)
    x = cr.tensor(X4)
    h = [cr.tensor(np.array([[1, 0], [0, 0], [1, 1]], np.float64)),
         cr.tensor(np.array([[0, 1], [1, 1], [0, 0]], np.float64))]

    def logb(a, v):
        return (v * a - np.logaddexp(0, a)).sum(-1)

    W = [(m.weight.numpy(), m.bias.numpy()) for m in hm.generative]
    R = [(m.weight.numpy(), m.bias.numpy()) for m in hm.recognition]
    h1, h2 = h[0].numpy(), h[1].numpy()
    want_p = (logb(hm.prior_logits.numpy(), h2) + logb(h2 @ W[1][0].T + W[1][1], h1)
              + logb(h1 @ W[0][0].T + W[0][1], X4))
    want_q = logb(X4 @ R[0][0].T + R[0][1], h1) + logb(h1 @ R[1][0].T + R[1][1], h2)
    assert np.allclose(hm.log_joint(x, h).numpy(), want_p, atol=1e-12)
    assert np.allclose(hm.log_q(h, x).numpy(), want_q, atol=1e-12)


def test_log_joint_matches_torch_bernoulli():
    torch = pytest.importorskip("torch")
    hm = _small(2)
    x = cr.tensor(X4)
    h, _ = hm.sample_q(x)
    Bern = torch.distributions.Bernoulli
    t = {k: torch.tensor(v.numpy()) for k, v in hm.state_dict().items()}
    h1, h2 = (torch.tensor(v.numpy()) for v in h)
    want = (Bern(logits=t["prior_logits"]).log_prob(h2).sum(-1)
            + Bern(logits=h2 @ t["generative.1.weight"].T + t["generative.1.bias"])
            .log_prob(h1).sum(-1)
            + Bern(logits=h1 @ t["generative.0.weight"].T + t["generative.0.bias"])
            .log_prob(torch.tensor(X4)).sum(-1))
    assert np.allclose(hm.log_joint(x, h).numpy(), want.numpy(), atol=1e-10)


def test_joint_sums_to_one_over_every_state():
    hm = _small(3)
    xs = cr.tensor(((np.arange(16)[:, None] >> np.arange(4)) & 1).astype(np.float64))
    ll = hm.exact_log_likelihood(xs)
    assert ll.shape == (16,) and np.exp(ll).sum() == pytest.approx(1.0, abs=1e-12)


# ---- importance-weighted estimate vs enumeration -----------------------------------------------
def test_iw_estimate_converges_to_the_exact_log_likelihood():
    hm = _small(0)
    x = cr.tensor(X4)
    exact = hm.exact_log_likelihood(x)
    cr.manual_seed(5)
    with cr.no_grad():
        est = hm.log_likelihood(x, K=50000, chunk_size=10000).numpy()
    assert np.allclose(est, exact, atol=0.03), (est, exact)


def test_iw_estimate_is_a_lower_bound_that_tightens_with_K():
    hm = _small(0)
    x = cr.tensor(X4)
    exact = hm.exact_log_likelihood(x)
    elbo = _exact_elbo(hm, x)
    assert np.all(elbo < exact - 0.05)  # q is far from the posterior: a real gap
    reps = 3000
    xr = cr.tensor(np.repeat(X4, reps, axis=0))
    cr.manual_seed(11)
    means, sems = {}, {}
    with cr.no_grad():
        for K in (1, 5, 50):
            v = hm.log_likelihood(xr, K=K).numpy().reshape(len(X4), reps)
            means[K], sems[K] = v.mean(1), v.std(1) / np.sqrt(reps)
    # L_1 is the ELBO, unbiased
    assert np.all(np.abs(means[1] - elbo) < 5 * sems[1] + 1e-3), (means[1], elbo)
    # below log p(x) in expectation, and increasing in K
    for K in (1, 5, 50):
        assert np.all(means[K] < exact + 3 * sems[K])
    assert np.all(means[1] < means[5] - 3 * np.hypot(sems[1], sems[5]))
    assert np.all(means[5] < means[50] - 3 * np.hypot(sems[5], sems[50]))
    assert np.all(exact - means[50] < 0.5 * (exact - means[1]))


def test_iw_chunks_give_the_same_estimate_for_the_same_draws():
    hm = _small(4)
    x = cr.tensor(X4)
    with cr.no_grad():
        cr.manual_seed(9)
        a = hm.log_likelihood(x, K=64, chunk_size=64).numpy()
        cr.manual_seed(9)
        b = hm.log_likelihood(x, K=64, chunk_size=64).numpy()
        cr.manual_seed(9)
        c = hm.log_likelihood(x, K=64, chunk_size=10).numpy()
    assert np.array_equal(a, b)
    assert np.all(np.isfinite(c)) and np.allclose(c, hm.exact_log_likelihood(x), atol=0.5)


# ---- wake-sleep gradients ----------------------------------------------------------------------
def test_wake_loss_gradient_checks_and_reaches_theta_only():
    hm = _small(6)
    x = cr.tensor(X4)
    h, _ = hm.sample_q(x)
    theta, phi = hm.generative_parameters(), hm.recognition_parameters()
    assert gradcheck(lambda *ps: hm.wake_loss(x, h), theta)
    loss = hm.wake_loss(x)
    gs = grad(loss, theta + phi, allow_unused=True)
    assert all(g is not None and np.abs(g.numpy()).sum() > 0 for g in gs[:len(theta)])
    assert all(g is None for g in gs[len(theta):])
    # by hand: d/db of -mean log p(h_2) = sigmoid(b) - mean h_2
    b = hm.prior_logits.numpy()
    want = 1 / (1 + np.exp(-b)) - h[1].numpy().mean(0)
    assert np.allclose(grad(hm.wake_loss(x, h), [hm.prior_logits])[0].numpy(), want)


def test_sleep_loss_gradient_checks_and_reaches_phi_only():
    hm = _small(7)
    cr.manual_seed(1)
    dream = hm.dream(5)
    assert _bits(dream[0].numpy()) and all(_bits(t.numpy()) for t in dream[1])
    theta, phi = hm.generative_parameters(), hm.recognition_parameters()
    assert gradcheck(lambda *ps: hm.sleep_loss(dream=dream), phi)
    loss = hm.sleep_loss(6)
    gs = grad(loss, theta + phi, allow_unused=True)
    assert all(g is None for g in gs[:len(theta)])
    assert all(g is not None and np.abs(g.numpy()).sum() > 0 for g in gs[len(theta):])


def test_wake_sleep_losses_backward_fills_disjoint_gradients():
    hm = _small(8)
    x = cr.tensor(X4)
    cr.manual_seed(2)
    wake, sleep = hm.wake_sleep_losses(x)
    assert wake.shape == () and sleep.shape == () and wake.item() > 0 and sleep.item() > 0
    wake.backward()
    assert all(p.grad is not None for p in hm.generative_parameters())
    assert all(p.grad is None for p in hm.recognition_parameters())
    hm.zero_grad()
    sleep.backward()
    assert all(p.grad is not None for p in hm.recognition_parameters())
    assert all(p.grad is None or not np.any(p.grad.numpy())
               for p in hm.generative_parameters())


# ---- training ----------------------------------------------------------------------------------
def test_wake_sleep_training_raises_the_log_likelihood():
    cr.manual_seed(0)
    hm = HelmholtzMachine((8, 4, 2), dtype=np.float64)
    x = cr.tensor(np.tile(PATTERNS, (8, 1)))  # 32 examples, the 4 patterns
    before = hm.exact_log_likelihood(cr.tensor(PATTERNS)).mean()
    opt_p = cr.optim.Adam(hm.generative_parameters(), lr=0.05)
    opt_q = cr.optim.Adam(hm.recognition_parameters(), lr=0.05)
    wakes = []
    for _ in range(300):
        wakes.append(hm.wake_step(x, opt_p))
        hm.sleep_step(32, opt_q)
    after = hm.exact_log_likelihood(cr.tensor(PATTERNS)).mean()
    assert before < -5.0  # about 8 log 2 at the start
    assert after > before + 2.5 and after > -3.0, (before, after)  # the ideal is -log 4 = -1.39
    assert np.mean(wakes[-20:]) < np.mean(wakes[:20])
    with cr.no_grad():
        cr.manual_seed(3)
        iw = hm.log_likelihood(cr.tensor(PATTERNS), K=2000).numpy().mean()
    assert iw == pytest.approx(after, abs=0.1)
    # the model's dreams are mostly the patterns
    cr.manual_seed(4)
    xs = hm.sample(400).numpy()
    hits = (xs[:, None, :] == PATTERNS[None]).all(-1).any(-1).mean()
    assert hits > 0.5


# ---- sampling ----------------------------------------------------------------------------------
def test_sampling_is_seeded_and_binary():
    hm = _small(9, sizes=(6, 3, 2))
    cr.manual_seed(42)
    a = hm.sample(50).numpy()
    cr.manual_seed(42)
    b = hm.sample(50).numpy()
    cr.manual_seed(43)
    c = hm.sample(50).numpy()
    assert a.shape == (50, 6) and _bits(a) and np.array_equal(a, b) and not np.array_equal(a, c)
    p = hm.sample(10, probabilities=True).numpy()
    assert p.shape == (10, 6) and np.all((p > 0) & (p < 1)) and not _bits(p)
    # the visible marginal of many samples matches the exact p(x)
    cr.manual_seed(0)
    xs = hm.sample(20000).numpy()
    codes = (xs * (1 << np.arange(6))).sum(1).astype(int)
    freq = np.bincount(codes, minlength=64) / len(codes)
    allx = cr.tensor(((np.arange(64)[:, None] >> np.arange(6)) & 1).astype(np.float64))
    assert np.abs(freq - np.exp(hm.exact_log_likelihood(allx))).max() < 0.015


def test_init_visible_bias_sets_the_marginals():
    cr.manual_seed(0)
    hm = HelmholtzMachine((3, 2))
    hm.init_visible_bias_(np.array([0.5, 0.9, 0.0]))
    assert np.allclose(hm.generative[0].bias.numpy(), [0.0, np.log(9), np.log(1e-3 / (1 - 1e-3))],
                       atol=1e-5)
    with pytest.raises(ValueError, match=r"mean of shape \(3,\)"):
        hm.init_visible_bias_(np.zeros(4))


# ---- errors ------------------------------------------------------------------------------------
def test_bad_inputs_give_clear_errors():
    hm = _small(0)
    x = cr.tensor(X4)
    h, _ = hm.sample_q(x)
    with pytest.raises(ValueError, match="at least two positive ints"):
        HelmholtzMachine((784,))
    with pytest.raises(ValueError, match="at least two positive ints"):
        HelmholtzMachine((784, 0))
    with pytest.raises(TypeError, match="sequence of ints"):
        HelmholtzMachine(784)
    with pytest.raises(ValueError, match="expected binary x.*0.5"):
        hm.wake_loss(cr.tensor(X4 * 0.5))
    with pytest.raises(OpError, match=r"expected x of shape \(N, 4\), got \(3, 5\)"):
        hm.log_likelihood(cr.tensor(np.zeros((3, 5))), K=2)
    with pytest.raises(TypeError, match="dtype float64.*got float32"):
        hm.wake_loss(cr.tensor(X4.astype(np.float32)))
    with pytest.raises(TypeError, match="chainrule Tensor"):
        hm.wake_loss(X4)
    with pytest.raises(ValueError, match="expected 2 hidden layers in h, got 1"):
        hm.log_joint(x, h[:1])
    with pytest.raises(OpError, match=r"h\[1\] \(layer 2\) of shape \(3, 2\), got \(3, 3\)"):
        hm.log_joint(x, [h[0], cr.zeros(3, 3, dtype=cr.float64)])
    with pytest.raises(OpError, match="does not match the hidden batch"):
        hm.log_joint(cr.tensor(X4[:2]), h)
    with pytest.raises(ValueError, match="K must be a positive int, got 0"):
        hm.log_likelihood(x, K=0)
    with pytest.raises(ValueError, match="n must be a positive int, got -1"):
        hm.sample(-1)
    with pytest.raises(ValueError, match="number of dreams"):
        hm.sleep_loss()
    with pytest.raises(ValueError, match="enumeration is limited"):
        HelmholtzMachine((4, 21)).exact_log_likelihood(cr.zeros(1, 4))
