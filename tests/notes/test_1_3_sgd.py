"""Notes 1.3: SGD, mini-batches, the Robbins-Monro conditions, momentum, Adagrad, RMSprop/Adadelta
and Adam, each update written out from the notes and run against chainrule.optim.

    SGD:       theta_{t+1} = theta_t - eta_t g_t   (g_t: the gradient averaged over a mini-batch)
    Momentum:  v_t = gamma v_{t-1} + eta_t g_t,  theta_t = theta_{t-1} - v_t
    Adagrad:   G_t = G_{t-1} + g_t^2,  theta_{t+1} = theta_t - eta_t g_t / sqrt(G_t + eps)
    RMSprop:   G_t = beta G_{t-1} + (1 - beta) g_t^2
               = (1 - beta)(beta^{t-1} g_1^2 + ... + beta g_{t-1}^2 + g_t^2)
    Adam:      v_t = gamma v_{t-1} + (1 - gamma) g_t,  G_t = beta G_{t-1} + (1 - beta) g_t^2,
               v_t <- v_t / (1 - gamma), G_t <- G_t / (1 - beta)     [the power t is missing]
               theta_{t+1} = theta_t - eta_t v_t / sqrt(G_t + eps)
    Robbins-Monro: sum_t eta_t = inf, sum_t eta_t^2 < inf, e.g. eta_t = c / t.

Where the notes' form differs from the standard one (eps inside the root, Adam's bias correction
without the power t, the learning rate inside the momentum), the test says so and checks that the
code follows the standard (PyTorch's) form; see docs/notes.md.
"""
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.nn import functional as F
from chainrule.optim.lr_scheduler import InverseTimeLR, StepLR

from ._common import close

RNG = np.random.default_rng(0)
Q = RNG.standard_normal((4, 4))
Q = Q @ Q.T / 4 + np.eye(4)                     # a positive definite quadratic
C = RNG.standard_normal((12, 4))                # one "mini-batch" term c_t per step
THETA0 = RNG.standard_normal(4)


def _grad(theta, step):
    """g_t for f_t(theta) = theta^T Q theta / 2 - c_t^T theta (a different c_t at each step)."""
    return Q @ theta - C[step % len(C)]


def _run(make_opt, steps=12, sched=None):
    """chainrule's iterates theta_1..theta_T, the gradient from autograd at each step."""
    p = nn.Parameter(THETA0.copy())
    opt = make_opt([p])
    s = sched(opt) if sched else None
    traj, grads = [], []
    for step in range(steps):
        opt.zero_grad()
        loss = 0.5 * (p @ (cr.tensor(Q) @ p)) - cr.tensor(C[step % len(C)]) @ p
        loss.backward()
        grads.append(p.grad.numpy().copy())
        opt.step()
        if s:
            s.step()
        traj.append(p.numpy().copy())
    return np.array(traj), np.array(grads), opt, p


def _reference(update, steps=12, lrs=None):
    """The notes' iterates from ``update(theta, g, t, lr, state) -> theta`` (t = 1, 2, ...)."""
    theta, state, traj = THETA0.copy(), {}, []
    for step in range(steps):
        lr = lrs[step] if lrs is not None else None
        theta = update(theta, _grad(theta, step), step + 1, lr, state)
        traj.append(theta.copy())
    return np.array(traj)


def test_sgd_update():
    """theta_{t+1} = theta_t - eta g_t."""
    got, grads, _, _ = _run(lambda ps: optim.SGD(ps, lr=0.1))
    close(got, _reference(lambda th, g, t, lr, s: th - 0.1 * g))
    close(grads[1], _grad(got[0], 1))          # autograd's g_t is the gradient at theta_t


def test_minibatch_gradient_is_the_average_of_the_examples_gradients():
    """With L = (1/n) sum_i L_i (regression loss (y_i - f(X_i))^2), dL/dtheta is the average of
    the L_i'(theta): what SGD uses for a mini-batch."""
    cr.manual_seed(0)
    lin = nn.Linear(3, 1)
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 1))
    lin.zero_grad()
    F.mse_loss(lin(cr.tensor(X)), cr.tensor(y)).backward()   # (1/n) sum_i (y_i - f(X_i))^2
    batch = lin.weight.grad.numpy().copy()
    each = []
    for i in range(6):
        lin.zero_grad()
        ((cr.tensor(y[i]) - lin(cr.tensor(X[i:i + 1]))[0]) ** 2).sum().backward()
        each.append(lin.weight.grad.numpy().copy())
    close(batch, np.mean(each, axis=0))


def _notes_momentum(gamma):
    def update(theta, g, t, lr, s):
        s["v"] = gamma * s.get("v", 0.0) + lr * g       # v_t = gamma v_{t-1} + eta_t g_t
        return theta - s["v"]                           # theta_t = theta_{t-1} - v_t
    return update


def test_momentum_update():
    """The notes' v_t = gamma v_{t-1} + eta g_t, theta_t = theta_{t-1} - v_t gives the iterates of
    optim.SGD(momentum=gamma) while eta is constant (the code keeps eta out of the velocity, as
    PyTorch: b_t = gamma b_{t-1} + g_t, theta -= eta_t b_t, so v_t = eta b_t)."""
    got, _, opt, p = _run(lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9))
    lrs = [0.05] * 12
    close(got, _reference(_notes_momentum(0.9), lrs=lrs))
    assert "momentum_buffer" in opt.state[p]


def test_momentum_with_a_changing_rate_follows_pytorch_form():
    """When eta_t changes, the two forms differ: the notes scale only the new gradient by eta_t,
    the code (PyTorch) the whole velocity. Documented in docs/notes.md; the code follows PyTorch."""
    sched = lambda o: StepLR(o, step_size=4, gamma=0.1)       # noqa: E731
    got, _, _, _ = _run(lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9), sched=sched)
    lrs = [0.05 * 0.1 ** (k // 4) for k in range(12)]

    def pytorch(theta, g, t, lr, s):
        s["b"] = g if t == 1 else 0.9 * s["b"] + g
        return theta - lr * s["b"]
    close(got, _reference(pytorch, lrs=lrs))
    assert not np.allclose(got, _reference(_notes_momentum(0.9), lrs=lrs), rtol=1e-6)


def _adagrad(eps, inside):
    def update(theta, g, t, lr, s):
        s["G"] = s.get("G", 0.0) + g ** 2                     # G_t = G_{t-1} + g_t^2
        d = np.sqrt(s["G"] + eps) if inside else np.sqrt(s["G"]) + eps
        return theta - 0.3 * g / d
    return update


def test_adagrad_update():
    """With eps = 0 the notes' theta_{t+1} = theta_t - eta g_t / sqrt(G_t + eps) is the code's
    update exactly. With eps > 0 the code adds eps after the root (Duchi et al., PyTorch), not
    inside it as the notes do; the test pins that form (a large eps makes the two differ)."""
    got, _, opt, p = _run(lambda ps: optim.Adagrad(ps, lr=0.3, eps=0.0))
    close(got, _reference(_adagrad(0.0, inside=True)))
    close(opt.state[p]["sum"], np.sum(_run(lambda ps: optim.Adagrad(ps, lr=0.3, eps=0.0))[1] ** 2,
                                      axis=0))
    got, _, _, _ = _run(lambda ps: optim.Adagrad(ps, lr=0.3, eps=0.5))
    close(got, _reference(_adagrad(0.5, inside=False)))
    assert not np.allclose(got, _reference(_adagrad(0.5, inside=True)), rtol=1e-3)


def test_rmsprop_update_and_decaying_sum():
    """G_t = beta G_{t-1} + (1 - beta) g_t^2 in Adagrad's update (eps = 0), and the closed form
    G_t = (1 - beta) sum_s beta^(t-s) g_s^2: the code's state after t steps."""
    beta, steps = 0.9, 12

    def update(theta, g, t, lr, s):
        s["G"] = beta * s.get("G", 0.0) + (1 - beta) * g ** 2
        return theta - 0.01 * g / np.sqrt(s["G"])
    got, grads, opt, p = _run(lambda ps: optim.RMSprop(ps, lr=0.01, alpha=beta, eps=0.0), steps)
    close(got, _reference(update, steps))
    weights = (1 - beta) * beta ** np.arange(steps - 1, -1, -1)    # beta^(t-s), s = 1..t
    close(opt.state[p]["square_avg"], weights @ grads ** 2)


def test_adadelta_update_and_decaying_sum():
    """Adadelta (Zeiler 2012): the notes' G_t = rho G_{t-1} + (1 - rho) g_t^2, then the step
    Delta_t = sqrt(D_{t-1} + eps) / sqrt(G_t + eps) g_t and D_t = rho D_{t-1} + (1 - rho)
    Delta_t^2 (the notes give only G_t); G_t again the decaying sum."""
    rho, eps, steps = 0.9, 1e-6, 12

    def update(theta, g, t, lr, s):
        s["G"] = rho * s.get("G", 0.0) + (1 - rho) * g ** 2
        delta = np.sqrt(s.get("D", 0.0) + eps) / np.sqrt(s["G"] + eps) * g
        s["D"] = rho * s.get("D", 0.0) + (1 - rho) * delta ** 2
        return theta - 1.0 * delta
    got, grads, opt, p = _run(lambda ps: optim.Adadelta(ps, lr=1.0, rho=rho, eps=eps), steps)
    close(got, _reference(update, steps))
    weights = (1 - rho) * rho ** np.arange(steps - 1, -1, -1)
    close(opt.state[p]["square_avg"], weights @ grads ** 2)


def _adam(gamma, beta, eps, power_t):
    def update(theta, g, t, lr, s):
        s["v"] = gamma * s.get("v", 0.0) + (1 - gamma) * g        # v_t
        s["G"] = beta * s.get("G", 0.0) + (1 - beta) * g ** 2     # G_t
        tt = t if power_t else 1
        v_hat, G_hat = s["v"] / (1 - gamma ** tt), s["G"] / (1 - beta ** tt)
        return theta - 0.01 * v_hat / (np.sqrt(G_hat) + eps)
    return update


def test_adam_bias_correction():
    """The code divides by 1 - gamma^t and 1 - beta^t (Kingma & Ba; the notes print 1 - gamma and
    1 - beta, the power t lost). The two agree at t = 1 and part from t = 2 on; the code follows
    the power-t form. eps is added after the root, as PyTorch (the notes put it inside)."""
    got, grads, opt, p = _run(lambda ps: optim.Adam(ps, lr=0.01, betas=(0.9, 0.999), eps=1e-8))
    close(got, _reference(_adam(0.9, 0.999, 1e-8, power_t=True)))
    notes = _reference(_adam(0.9, 0.999, 1e-8, power_t=False))
    close(got[0], notes[0])
    assert not np.allclose(got[1:], notes[1:], rtol=1e-4)
    # with the correction, the first step is eta g / |g| (|eta| per coordinate, for eps -> 0)
    close(got[0] - THETA0, -0.01 * np.sign(grads[0]), rtol=1e-6)
    assert opt.state[p]["step"] == 12


# ---- Robbins-Monro ------------------------------------------------------------------------------

def _schedule(steps, **kw):
    p = nn.Parameter(np.zeros(1))
    opt = optim.SGD([p], lr=0.5)
    sched = InverseTimeLR(opt, **kw)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(lrs)


def test_inverse_time_lr_meets_robbins_monro():
    """InverseTimeLR's eta_t = eta_0 t0 / (t0 + t) (the notes' c / t with t0 = 1): the partial sums
    of eta_t grow by c log 2 every doubling of T (so sum eta_t = inf), while those of eta_t^2 grow
    by less and less, bounded by c^2 pi^2 / 6 (so sum eta_t^2 < inf)."""
    T = 4096
    lrs = _schedule(T, t0=1.0)
    t = np.arange(T)
    close(lrs, 0.5 / (1 + t))                            # c = 0.5, eta_t = c / (t + 1)
    S, S2 = np.cumsum(lrs), np.cumsum(lrs ** 2)
    doublings = [2 ** k for k in range(6, 12)]           # T = 64, 128, ..., 2048
    grow = [S[2 * n - 1] - S[n - 1] for n in doublings]
    grow2 = [S2[2 * n - 1] - S2[n - 1] for n in doublings]
    assert all(abs(g - 0.5 * math.log(2)) < 0.01 for g in grow)     # no decay: diverges
    assert all(b < a / 1.9 for a, b in zip(grow2, grow2[1:]))         # geometric decay
    assert S2[-1] < 0.25 * math.pi ** 2 / 6
    assert S2[-1] > 0.25 * (math.pi ** 2 / 6 - 1.0 / T) - 1e-12      # close to the limit already
    # power p: eta_t ~ t^-p. Over a doubling of T a series of terms ~ t^-q grows by an amount
    # that changes by the factor 2^(1-q) from one doubling to the next: >= 1 (diverges) for q <= 1,
    # < 1 (a geometric tail: converges) for q > 1. Both conditions hold exactly for 0.5 < p <= 1.
    for power, sum_diverges, squares_converge in ((1.0, True, True), (0.75, True, True),
                                                  (0.5, True, False), (2.0, False, True)):
        lrs = _schedule(T, t0=1.0, power=power)
        close(lrs, 0.5 * (1 / (1 + t)) ** power)
        for q, series, diverges in ((power, lrs, sum_diverges),
                                    (2 * power, lrs ** 2, not squares_converge)):
            S = np.cumsum(series)
            ratio = (S[4095] - S[2047]) / (S[2047] - S[1023])
            assert ratio == pytest.approx(2 ** (1 - q), abs=0.01), (power, q)
            assert (ratio >= 0.99) == diverges, (power, q)


def test_sgd_with_inverse_time_lr_converges_where_a_constant_rate_stalls():
    """On noisy gradients g = theta + noise (f = theta^2 / 2), a constant eta leaves theta
    jittering at a noise floor ~ sqrt(eta / 2); eta_t = c / (t0 + t) drives it to the minimum 0."""
    rng = np.random.default_rng(3)
    noise = rng.standard_normal(3000)

    def final(sched):
        p = nn.Parameter(np.array([5.0]))
        opt = optim.SGD([p], lr=0.2)
        s = sched(opt) if sched else None
        tail = []
        for k in range(3000):
            p.grad = cr.tensor(p.numpy() + noise[k])
            opt.step()
            if s:
                s.step()
            tail.append(abs(p.numpy()[0]))
        return np.mean(tail[-500:])
    constant = final(None)
    decaying = final(lambda o: InverseTimeLR(o, c=1.0, t0=5.0))
    assert constant > 0.15
    assert decaying < 0.05
