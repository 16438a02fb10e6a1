"""Notes 4.3: the GAN.

    V(D, G) = E_{P_data}[log D(X)] + E_{h ~ p(h)}[log(1 - D(G(h)))],   min_G max_D V(D, G)
    dV/dD = 0  =>  D*(X) = P_data(X) / (P_data(X) + p_theta(X))
    "JSD"(P_data | p_theta) = KL(p_theta | p_mix) + KL(P_data | p_mix) = 2 log 2 + V(D*, G),
        p_mix = (P_data + p_theta) / 2   (the notes' JSD is twice the standard one)
    in practice G maximizes E_h[log D(G(h))] (non-saturating) to avoid vanishing gradients.

D(X) = sigmoid(a(X)); the functions take the logits a. A distribution over a few states with
probabilities k/8 is a batch of 8 samples (state x repeated 8 P(x) times), so each batch mean in
gan_value is the exact expectation.
"""
import numpy as np

from chainrule.nn.functional import gan_discriminator_loss, gan_generator_loss, gan_value

from ._common import close, sigmoid, t

P_DATA = np.array([1, 2, 5]) / 8.0
P_THETA = np.array([4, 3, 1]) / 8.0


def _batch(p):
    """The states 0..2, each repeated 8 p(x) times: a batch whose mean is E_p."""
    return np.repeat(np.arange(3), np.rint(8 * p).astype(int))


def _value(d):
    """V(D, G) for D(x) = d[x], through gan_value on the two batches, and its logits tensor."""
    a = t(np.log(d / (1 - d)), grad=True)
    return gan_value(a[_batch(P_DATA)], a[_batch(P_THETA)]), a


def _kl(p, q):
    return float(np.sum(p * np.log(p / q)))


def test_value_is_its_formula_and_the_discriminator_loss_its_negative():
    rng = np.random.default_rng(0)
    ar, af = rng.standard_normal(5) * 3, rng.standard_normal(7) * 3
    want = np.mean(np.log(sigmoid(ar))) + np.mean(np.log(1 - sigmoid(af)))
    close(gan_value(t(ar), t(af)), want)
    close(gan_discriminator_loss(t(ar), t(af)), -want)
    # the two terms are not interchangeable: swapping real and fake changes V
    assert abs(gan_value(t(af), t(ar)).item() - want) > 1e-3


def test_optimal_discriminator_maximizes_value_pointwise():
    """At D* = P_data / (P_data + p_theta), dV/dD(x) = P_data/D - p_theta/(1 - D) = 0 for every
    state x, and moving any single D(x) away from D*(x) lowers V."""
    d_star = P_DATA / (P_DATA + P_THETA)
    v_star, a = _value(d_star)
    v_star.backward()
    close(a.grad, np.zeros(3), atol=1e-12)
    for x in range(3):
        for step in (-0.05, 0.05):
            d = d_star.copy()
            d[x] += step
            assert _value(d)[0].item() < v_star.item()
    # a discriminator that ignores the data (D = 1/2) is worse
    assert _value(np.full(3, 0.5))[0].item() < v_star.item()


def test_value_at_optimum_is_the_notes_jsd_minus_2_log_2():
    """The notes' identity in their convention: KL(p_theta | p_mix) + KL(P_data | p_mix)
    = 2 log 2 + V(D*, G); with the standard JSD (half that sum), V(D*, G) = 2 JSD - 2 log 2."""
    mix = (P_DATA + P_THETA) / 2
    jsd_notes = _kl(P_THETA, mix) + _kl(P_DATA, mix)
    v_star = _value(P_DATA / (P_DATA + P_THETA))[0].item()
    close(jsd_notes, 2 * np.log(2) + v_star)
    jsd_standard = 0.5 * jsd_notes
    close(v_star, 2 * jsd_standard - 2 * np.log(2))
    # when the generator is perfect, D* = 1/2 and V = -2 log 2 (the minimum over G)
    v_equal = gan_value(t(np.zeros(4)), t(np.zeros(4))).item()
    close(v_equal, -2 * np.log(2))
    assert v_star > v_equal


def test_non_saturating_generator_loss_does_not_vanish_when_d_rejects_fakes():
    """Where D(G(h)) = sigmoid(a) is near 0, the minimax loss log(1 - D) has gradient
    -sigmoid(a) -> 0 in a, the non-saturating -log D has -(1 - sigmoid(a)) -> -1."""
    a0 = np.array([-7.0, -5.0, -6.0])
    a_mm, a_ns = t(a0, grad=True), t(a0, grad=True)
    mm, ns = gan_generator_loss(a_mm, "minimax"), gan_generator_loss(a_ns, "non_saturating")
    close(mm, np.mean(np.log(1 - sigmoid(a0))))
    close(ns, -np.mean(np.log(sigmoid(a0))))
    mm.backward()
    ns.backward()
    close(a_mm.grad, -sigmoid(a0) / 3)
    close(a_ns.grad, -(1 - sigmoid(a0)) / 3)
    # both push a up (D(G(h)) towards 1), the non-saturating one > 100 times harder here
    assert (a_mm.grad.numpy() < 0).all() and (a_ns.grad.numpy() < 0).all()
    assert (np.abs(a_ns.grad.numpy()) > 100 * np.abs(a_mm.grad.numpy())).all()
