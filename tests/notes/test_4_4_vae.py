"""Notes 4.4: the geometry of the VAE.

    L(phi, theta, X) = KL(q_phi(h|X) | p(h)) - E_{q_phi(h|X)}[log p_theta(X|h)]   (p(h) = N(0, I))
    KL(P_data(X) | p_theta(X)) + KL(q_phi(h|X) | p_theta(h|X))
        = KL(P_data(X) q_phi(h|X) | p_theta(h, X))   (the second KL averaged over P_data(X))
    d/dtheta KL(P_data | p_theta(X)) = -E_{P_data} E_{p(h|X)} d/dtheta log p_theta(h, X)
    VAE step (1): q = argmin_q KL(q | p_t); step (2): p = argmin_p KL(q | p)
    wake-sleep: step (2) the same (wake), step (1) q = argmin_q KL(p_t | q) on dreams (sleep)

The discrete identities are checked on a small Helmholtz machine (binary x in {0,1}^3, hidden
bits h in {0,1}^3 in two layers) by enumerating every (x, h).
"""
import itertools

import numpy as np

import chainrule as cr
from chainrule.models import VAE, HelmholtzMachine
from chainrule.nn.functional import bernoulli_log_likelihood, gaussian_kl

from ._common import close, t

P_DATA = np.array([3, 1, 0.5, 2, 1, 1, 0.5, 1]) / 10.0      # over the 8 images x in {0,1}^3


def _machine(seed=0):
    cr.manual_seed(seed)
    hm = HelmholtzMachine((3, 2, 1))
    rng = np.random.default_rng(seed)
    with cr.no_grad():
        for p in hm.parameters():
            p.data[...] = rng.standard_normal(p.shape) * 1.5
    return hm


def _grid(hm):
    """Every (x, h) pair: x (8*M, 3) and h as the machine's layer list, M = 2^3 hidden states."""
    xs = np.array(list(itertools.product([0.0, 1.0], repeat=3)))                 # (8, 3)
    states = [s.numpy() for s in hm.hidden_states()]                            # [(M, 2), (M, 1)]
    M = states[0].shape[0]
    x = np.repeat(xs, M, 0)
    h = [np.tile(s, (8, 1)) for s in states]
    return x, h, M


def _tables(hm):
    """log p_theta(x, h) and log q_phi(h|x) as (8, M) arrays (rows x, columns h)."""
    x, h, M = _grid(hm)
    with cr.no_grad():
        lj = hm.log_joint(t(x), [t(a) for a in h]).numpy().reshape(8, M)
        lq = hm.log_q([t(a) for a in h], t(x)).numpy().reshape(8, M)
    return lj, lq


def _kl(p, q):
    p, q = np.ravel(p), np.ravel(q)
    return float(np.sum(p * (np.log(p) - np.log(q))))


def test_kl_decomposition_by_enumeration():
    hm = _machine()
    lj, lq = _tables(hm)
    p_joint, q = np.exp(lj), np.exp(lq)
    close(p_joint.sum(), 1.0)                          # p_theta(h, x) is a distribution
    close(q.sum(1), np.ones(8))                        # q_phi(.|x) for every x
    p_x = p_joint.sum(1)
    post = p_joint / p_x[:, None]                      # p_theta(h|x)
    lhs = _kl(P_DATA, p_x) + sum(P_DATA[i] * _kl(q[i], post[i]) for i in range(8))
    rhs = _kl(P_DATA[:, None] * q, p_joint)
    close(lhs, rhs)
    # both terms are positive: each alone is not the right-hand side
    assert _kl(P_DATA, p_x) > 1e-3 and lhs - _kl(P_DATA, p_x) > 1e-3


def test_likelihood_gradient_is_the_posterior_expected_complete_data_gradient():
    """d/dtheta KL(P_data | p_theta(X)) = -E_{P_data} E_{p(h|X)} d/dtheta log p_theta(h, X),
    the posterior p(h|X) held fixed (the notes' derivation, where q then stands in for it)."""
    hm = _machine(1)
    x, h, M = _grid(hm)
    lj = hm.log_joint(t(x), [t(a) for a in h]).reshape(8, M)
    (-(t(P_DATA) * cr.logsumexp(lj, 1)).sum()).backward()
    want = [p.grad.numpy().copy() for p in hm.generative_parameters()]
    hm.zero_grad()
    post = np.exp(lj.numpy() - np.log(np.exp(lj.numpy()).sum(1, keepdims=True)))
    lj = hm.log_joint(t(x), [t(a) for a in h]).reshape(8, M)
    (-(t(P_DATA[:, None] * post) * lj).sum()).backward()
    for p, w in zip(hm.generative_parameters(), want):
        close(p.grad, w)


def test_vae_loss_is_kl_to_prior_minus_expected_log_likelihood():
    """VAE.loss = KL(q_phi(h|X) || N(0, I)) - log p_theta(X|h) at h = mu + sigma eps, and the
    KL is the closed form -1/2 sum (1 + log s^2 - mu^2 - s^2)."""
    cr.manual_seed(0)
    vae = VAE(input_dim=5, latent_dim=2, hidden=(4,))
    rng = np.random.default_rng(0)
    x = t((rng.random((3, 5)) < 0.5).astype(float))
    eps = rng.standard_normal((3, 2))
    mu, logvar = vae.encode(x)
    h = mu + (0.5 * logvar).exp() * t(eps)
    want = gaussian_kl(mu, logvar, reduction="none") - bernoulli_log_likelihood(
        vae.decode(h), x, reduction="none")
    close(vae.loss(x, eps=t(eps), reduction="none"), want)
    close(vae.loss(x, eps=t(eps)), want.numpy().mean())
    m, lv = mu.numpy(), logvar.numpy()
    close(gaussian_kl(mu, logvar, reduction="none"),
          -0.5 * (1 + lv - m ** 2 - np.exp(lv)).sum(1))
    a, xv = vae.decode(h).numpy(), x.numpy()
    close(bernoulli_log_likelihood(vae.decode(h), x, reduction="none"),
          (xv * a - np.log1p(np.exp(a))).sum(1))


def _per_pair_grads(hm, loss_of_pair, params, weights):
    """sum over every (x, h) of weights[x, h] * d loss_of_pair(x, h) / d params."""
    x, h, M = _grid(hm)
    total = [np.zeros(p.shape) for p in params]
    for k in range(8 * M):
        hm.zero_grad()
        loss_of_pair(t(x[k:k + 1]), [t(a[k:k + 1]) for a in h]).backward()
        for acc, p in zip(total, params):
            acc += weights.ravel()[k] * (p.grad.numpy() if p.grad is not None else 0.0)
    hm.zero_grad()
    return total


def test_sleep_loss_descends_kl_of_the_model_to_q():
    """E over dreams (x, h) ~ p_theta of d/dphi sleep_loss = d/dphi KL(p_theta(h, x) | p_theta(x)
    q_phi(h|x)) (step (1) with the KL reversed), which is not the VAE's d/dphi KL(q | p)."""
    hm = _machine(2)
    lj, _ = _tables(hm)
    p_joint = np.exp(lj)
    phi = hm.recognition_parameters()
    got = _per_pair_grads(hm, lambda x, h: hm.sleep_loss(dream=(x, h)), phi, p_joint)
    x, h, M = _grid(hm)
    lq = hm.log_q([t(a) for a in h], t(x)).reshape(8, M)
    p_x = p_joint.sum(1, keepdims=True)
    kl_pq = (t(p_joint) * (t(lj - np.log(p_x)) - lq)).sum()     # KL(p(h,x) | p(x) q(h|x))
    kl_pq.backward()
    want = [p.grad.numpy().copy() for p in phi]
    for g, w in zip(got, want):
        close(g, w)
    hm.zero_grad()
    lq = hm.log_q([t(a) for a in h], t(x)).reshape(8, M)
    kl_qp = (t(p_x) * lq.exp() * (lq - t(lj - np.log(p_x)))).sum()  # sum_x p(x) KL(q | p(h|x))
    kl_qp.backward()
    assert not np.allclose(phi[0].grad.numpy(), want[0], atol=1e-3)
    # the sleep loss reaches phi only
    hm.zero_grad()
    xd, hd = hm.dream(4)
    hm.sleep_loss(dream=(xd, hd)).backward()
    assert all(p.grad is None or not p.grad.numpy().any() for p in hm.generative_parameters())


def test_wake_loss_descends_kl_of_data_times_q_to_the_model():
    """E over x ~ P_data, h ~ q_phi(.|x) of d/dtheta wake_loss = d/dtheta KL(P_data q_phi | p_theta)
    (step (2), the same as the VAE's)."""
    hm = _machine(3)
    lj, lq = _tables(hm)
    target = P_DATA[:, None] * np.exp(lq)
    theta = hm.generative_parameters()
    got = _per_pair_grads(hm, lambda x, h: hm.wake_loss(x, h), theta, target)
    x, h, M = _grid(hm)
    lj_t = hm.log_joint(t(x), [t(a) for a in h]).reshape(8, M)
    (t(target) * (t(np.log(target)) - lj_t)).sum().backward()   # KL(P_data q | p_theta)
    for g, p in zip(got, theta):
        close(g, p.grad)
    hm.zero_grad()
    hm.wake_loss(t(x[:4]), [t(a[:4]) for a in h]).backward()
    assert all(p.grad is None or not p.grad.numpy().any() for p in hm.recognition_parameters())
