"""Notes 4.5: the ELBO.

    E_{P_data}[log p_theta(X)] - KL(q_phi(h|X) | p_theta(h|X))
        = (1/n) sum_i [log p_theta(X_i) - KL(q_phi(h_i|X_i) | p_theta(h_i|X_i))]  <= E log p(X),
    the evidence lower bound; per example ELBO(X) = E_q[log p(X, h) - log q(h|X)].

Checked on a joint table p(h, X) over 4 hidden states and 3 visible ones, by enumeration. A q
with probabilities k/8 is a set of 8 "samples" (state h repeated 8 q(h) times), so the sample
mean in elbo is the exact expectation. The K-sample importance-weighted estimate
L_K = log (1/K) sum_k p(X, h_k) / q(h_k|X) is averaged exactly over all 4^K draws.
"""
import itertools

import numpy as np

from chainrule.nn.functional import elbo, importance_weighted_log_likelihood, iwae_log_likelihood

from ._common import close, t

RNG = np.random.default_rng(0)
JOINT = RNG.dirichlet(np.ones(12)).reshape(4, 3)      # p(h, X): rows h, columns X
Q = np.array([[1, 1, 2, 4], [3, 3, 1, 1]]) / 8.0        # q(h|X) for X = 0 and X = 2


def _log_px(x):
    return np.log(JOINT[:, x].sum())


def _kl_to_posterior(q, x):
    post = JOINT[:, x] / JOINT[:, x].sum()
    return float(np.sum(q * np.log(q / post)))


def _samples(q):
    return np.repeat(np.arange(4), np.rint(8 * q).astype(int))


def _elbo_inputs(xs=(0, 2)):
    """(8, n) log p(X_i, h_k) and log q(h_k|X_i) of the 8 samples of each q(.|X_i)."""
    hs = np.stack([_samples(Q[i]) for i in range(len(xs))], 1)            # (8, n)
    lp = np.stack([np.log(JOINT[hs[:, i], x]) for i, x in enumerate(xs)], 1)
    lq = np.stack([np.log(Q[i][hs[:, i]]) for i in range(len(xs))], 1)
    return lp, lq


def test_elbo_is_log_px_minus_kl_to_the_posterior():
    lp, lq = _elbo_inputs()
    got = elbo(t(lp), t(lq)).numpy()
    want = [_log_px(x) - _kl_to_posterior(Q[i], x) for i, x in enumerate((0, 2))]
    close(got, want)
    # the notes' (1/n) sum_i form
    close(elbo(t(lp), t(lq), reduction="mean"), np.mean(want))
    # a lower bound, strictly below log p(X) since q is not the posterior
    assert (got < [_log_px(0), _log_px(2)]).all()


def test_elbo_equals_log_px_when_q_is_the_posterior():
    """With q = p(h|X) every weight p(X, h) / q(h|X) = p(X): ELBO = L_K = log p(X) for any h."""
    x = 1
    post = JOINT[:, x] / JOINT[:, x].sum()
    hs = np.array([3, 0, 0, 2, 1])
    lp, lq = np.log(JOINT[hs, x])[:, None], np.log(post[hs])[:, None]
    close(elbo(t(lp), t(lq)), [_log_px(x)])
    close(importance_weighted_log_likelihood(t(lp), t(lq)), [_log_px(x)])


def _expected_iw(K, i=0, x=0):
    """E over all 4^K independent draws h_1..h_K ~ q(.|X) of L_K, exactly."""
    draws = np.array(list(itertools.product(range(4), repeat=K))).T        # (K, 4^K)
    lp, lq = np.log(JOINT[draws, x]), np.log(Q[i][draws])
    lk = importance_weighted_log_likelihood(t(lp), t(lq)).numpy()          # (4^K,)
    return float(np.sum(np.prod(Q[i][draws], 0) * lk))


def test_importance_weighted_estimate_tightens_with_k():
    """E[L_1] is the ELBO; E[L_K] increases with K and stays below log p(X)."""
    lp, lq = _elbo_inputs()
    e = [_expected_iw(K) for K in (1, 2, 3, 4)]
    close(e[0], elbo(t(lp), t(lq)).numpy()[0])
    assert e[0] < e[1] < e[2] < e[3] < _log_px(0)
    # one draw by hand: L_2 = log (w_1 + w_2) / 2
    w = JOINT[[0, 3], 0] / Q[0][[0, 3]]
    lp2, lq2 = np.log(JOINT[[0, 3], 0])[:, None], np.log(Q[0][[0, 3]])[:, None]
    close(importance_weighted_log_likelihood(t(lp2), t(lq2)), [np.log(w.mean())])


def test_iwae_from_a_sampler_combines_chunks_exactly():
    """iwae_log_likelihood drawing the K samples in chunks gives the same L_K as one call on
    all of them."""
    hs = np.array([0, 3, 1, 3, 2, 2, 0])
    lp, lq = np.log(JOINT[hs, 0])[:, None], np.log(Q[0][hs])[:, None]
    want = importance_weighted_log_likelihood(t(lp), t(lq)).numpy()
    pos = [0]

    def sample_q(_x, k):
        sl = slice(pos[0], pos[0] + k)
        pos[0] += k
        return t(hs[sl][:, None]), t(lq[sl])

    def log_p_joint(_x, h):
        return t(np.log(JOINT[h.numpy().astype(int), 0]))             # (k, 1)

    got = iwae_log_likelihood(t(np.zeros((1, 1))), sample_q, log_p_joint, 7, chunk_size=3)
    close(got, want)
