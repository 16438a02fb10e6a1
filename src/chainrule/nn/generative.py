"""Losses and estimators for generative models (notes section 4): Gaussian KL divergences,
Bernoulli and Gaussian log-likelihoods, the GAN value and losses, the ELBO and the
importance-weighted (IWAE) estimate of log p_theta(X).

Every function is composed of chainrule's differentiable ops, so autograd gives the gradients.
Conventions:

* ``event_dims`` trailing dims make one example (default 1: a vector per example; use 3 for
  (N, C, H, W) images, or flatten first). ``reduction="none"`` returns one value per example
  (the sum over the event dims), ``"sum"`` the total, ``"mean"`` the mean over examples of the
  per-example sums (the per-example loss a VAE averages over its batch, as in the notes' ELBO
  (1/n) sum_i [...]), NOT the mean over every element.
* Log-likelihoods are in nats.
"""
from __future__ import annotations

import math

import numpy as np

from .. import ops
from ..ops.loss import binary_cross_entropy_with_logits
from ..tensor import Tensor

__all__ = ["gaussian_kl", "bernoulli_log_likelihood", "gaussian_log_likelihood", "gan_value",
           "gan_discriminator_loss", "gan_generator_loss", "elbo",
           "importance_weighted_log_likelihood", "iwae_log_likelihood", "sample_diag_gaussian"]

_LOG_2PI = math.log(2.0 * math.pi)
_REDUCTIONS = ("none", "sum", "mean")


# ---- helpers -----------------------------------------------------------------------------------
def _check_tensor(fn, name, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: expected {name} to be a chainrule Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{fn}: expected {name} to be a floating-point tensor, got dtype "
                        f"{x.dtype}")


def _check_reduction(fn, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_broadcast(fn, names, *shapes):
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"{fn}: shapes of {names} do not broadcast: "
                         f"{', '.join(str(tuple(s)) for s in shapes)}") from None


def _reduce_events(fn, v, event_dims, reduction):
    """Sum the elementwise terms ``v`` over the last ``event_dims`` dims, then reduce."""
    if not isinstance(event_dims, int) or event_dims < 0 or event_dims > v.ndim:
        raise ValueError(f"{fn}: event_dims must be an int in [0, {v.ndim}] for terms of shape "
                         f"{tuple(v.shape)}, got {event_dims!r}")
    if event_dims:
        v = v.sum(dim=tuple(range(v.ndim - event_dims, v.ndim)))
    if reduction == "none":
        return v
    if reduction == "sum":
        return v.sum()
    if v.ndim == 0:
        return v
    return v.mean()


def _log_sigmoid(a):
    """log sigmoid(a) = -softplus(-a), finite for logits of any size (softplus is evaluated as
    max(s, 0) + log1p(exp(-|s|)) everywhere: no linear cut-off, so no 1e-9 error past it)."""
    return -ops.softplus(-a, 1.0, math.inf)


def _as_operand(fn, name, v, like):
    """A Tensor operand from a Tensor or a Python/NumPy number (in ``like``'s dtype)."""
    if isinstance(v, Tensor):
        _check_tensor(fn, name, v)
        return v
    try:
        arr = np.asarray(v, dtype=like.dtype)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: expected {name} to be a Tensor or a number, got "
                        f"{type(v).__name__}") from None
    if isinstance(like, Tensor) and type(like.data) is not np.ndarray:  # on like's device
        from .. import backend

        arr = backend.asarray_like(like.data, arr)
    return Tensor(arr)


# ---- KL and log-likelihoods --------------------------------------------------------------------
def gaussian_kl(mu, logvar, mu2=None, logvar2=None, reduction="sum", event_dims=1):
    """KL(q || p) between diagonal Gaussians, in closed form (nats).

    q = N(mu, diag exp(logvar)) is the encoder q_phi(h|X) of a VAE (notes 4.4). With p the prior
    N(0, I) (``mu2`` and ``logvar2`` None):

        KL(q || N(0, I)) = -1/2 sum_j [1 + logvar_j - mu_j^2 - exp(logvar_j)],

    and between two diagonal Gaussians q = N(mu, diag s^2), p = N(mu2, diag s2^2):

        KL(q || p) = 1/2 sum_j [logvar2_j - logvar_j + (exp(logvar_j) + (mu_j - mu2_j)^2)
                                / exp(logvar2_j) - 1].

    The ELBO of notes 4.5, log p_theta(X) - KL(q_phi(h|X) || p_theta(h|X)), equals
    E_q[log p_theta(X|h)] - KL(q_phi(h|X) || p(h)), whose second term is this function with the
    prior p(h) = N(0, I).

    Args:
        mu, logvar: (*, D) tensors (N examples of a D-dim code, typically (N, D)).
        mu2, logvar2: the second Gaussian's mean and log-variance, tensors broadcasting to (*, D) or
            numbers; either may be None (mean 0, log-variance 0).
        reduction: 'none' -> (*,) per-example sums over the last ``event_dims`` dims; 'sum' -> the
            total; 'mean' -> the mean of the per-example sums.
    """
    fn = "gaussian_kl"
    _check_tensor(fn, "mu", mu)
    _check_tensor(fn, "logvar", logvar)
    _check_reduction(fn, reduction)
    shapes = [mu.shape, logvar.shape]
    if mu2 is None and logvar2 is None:
        _check_broadcast(fn, "(mu, logvar)", *shapes)
        terms = -0.5 * (1.0 + logvar - mu * mu - logvar.exp())
        return _reduce_events(fn, terms, event_dims, reduction)
    mu2 = 0.0 if mu2 is None else mu2
    logvar2 = 0.0 if logvar2 is None else logvar2
    mu2 = _as_operand(fn, "mu2", mu2, mu)
    logvar2 = _as_operand(fn, "logvar2", logvar2, mu)
    _check_broadcast(fn, "(mu, logvar, mu2, logvar2)", *shapes, mu2.shape, logvar2.shape)
    d = mu - mu2
    terms = 0.5 * (logvar2 - logvar + (logvar.exp() + d * d) * (-logvar2).exp() - 1.0)
    return _reduce_events(fn, terms, event_dims, reduction)


def bernoulli_log_likelihood(logits, x, reduction="sum", event_dims=1):
    """log p(x) of x in {0, 1} (or soft targets in [0, 1]) under Bernoulli(sigmoid(logits)).

    With p = sigmoid(A) (notes 1.1), log p(x) = sum_i [x_i A_i - log(1 + exp(A_i))]
    = -sum_i BCEWithLogits(A_i, x_i), computed without overflow for logits of any size. This is
    the decoder term log p_theta(X|h) of a VAE with a Bernoulli decoder.

    Args:
        logits: (*, D) scores A; x: the same shape.
        reduction: 'none' -> (*,) per-example sums over the last ``event_dims`` dims;
            'sum' | 'mean'.
    """
    fn = "bernoulli_log_likelihood"
    _check_tensor(fn, "logits", logits)
    _check_tensor(fn, "x", x)
    _check_reduction(fn, reduction)
    if tuple(logits.shape) != tuple(x.shape):
        raise ValueError(f"{fn}: expected logits and x of the same shape, got "
                         f"{tuple(logits.shape)} and {tuple(x.shape)}")
    terms = -binary_cross_entropy_with_logits(logits, x, reduction="none")
    return _reduce_events(fn, terms, event_dims, reduction)


def gaussian_log_likelihood(x, mu, logvar=None, reduction="sum", event_dims=1):
    """log N(x; mu, diag exp(logvar)) in nats, with the constant:

        log p(x) = -1/2 sum_j [log(2 pi) + logvar_j + (x_j - mu_j)^2 / exp(logvar_j)].

    ``logvar`` None means unit variance (then -log p is 1/2 ||x - mu||^2 plus a constant, the
    notes' least-squares decoder loss of 4.2); a number or a tensor broadcasting to x's shape
    gives a shared or per-element variance. Used for Gaussian decoders p_theta(X|h) and for
    log q_phi(h|X) of reparameterized samples h.

    Args:
        x: (*, D); mu: broadcasting to x; logvar: None, a number, or a tensor broadcasting to x.
        reduction: 'none' -> per-example sums over the last ``event_dims`` dims; 'sum' | 'mean'.
    """
    fn = "gaussian_log_likelihood"
    _check_tensor(fn, "x", x)
    mu = _as_operand(fn, "mu", mu, x)
    _check_reduction(fn, reduction)
    d = x - mu
    if logvar is None:
        _check_broadcast(fn, "(x, mu)", x.shape, mu.shape)
        terms = -0.5 * (d * d + _LOG_2PI)
    else:
        logvar = _as_operand(fn, "logvar", logvar, x)
        _check_broadcast(fn, "(x, mu, logvar)", x.shape, mu.shape, logvar.shape)
        terms = -0.5 * (d * d * (-logvar).exp() + logvar + _LOG_2PI)
    return _reduce_events(fn, terms, event_dims, reduction)


# ---- GAN ---------------------------------------------------------------------------------------
def _gan_logits(fn, name, a):
    _check_tensor(fn, name, a)
    if a.numel() == 0:
        raise ValueError(f"{fn}: {name} is empty (shape {tuple(a.shape)})")


def gan_value(real_logits, fake_logits):
    """The GAN value V(D, G) of notes 4.3, estimated from the discriminator's logits:

        V(D, G) = E_{P_data}[log D(X)] + E_{h ~ p(h)}[log(1 - D(G(h)))],

    with D(X) = sigmoid(a(X)), each expectation a mean over its batch; log D = log sigmoid(a) and
    log(1 - D) = log sigmoid(-a) are computed as -softplus(-a) and -softplus(a), finite for any a.
    D maximizes V; G minimizes it. For a fixed G the maximizer is D*(X) = P_data(X) /
    (P_data(X) + p_theta(X)), and V(D*, G) = 2 JSD(P_data, p_theta) - 2 log 2 with the standard
    JSD = 1/2 KL(P_data || p_mix) + 1/2 KL(p_theta || p_mix), p_mix = (P_data + p_theta) / 2.
    The notes write JSD for the sum KL(p_theta | p_mix) + KL(P_data | p_mix) (twice the standard
    one), whence their V(D*, G) = JSD - 2 log 2.

    Args:
        real_logits: a(X) on data, any shape (N_real,) or (N_real, 1).
        fake_logits: a(G(h)) on generated samples, any shape.
    Returns a 0-d tensor.
    """
    fn = "gan_value"
    _gan_logits(fn, "real_logits", real_logits)
    _gan_logits(fn, "fake_logits", fake_logits)
    return _log_sigmoid(real_logits).mean() + _log_sigmoid(-fake_logits).mean()


def gan_discriminator_loss(real_logits, fake_logits):
    """The discriminator's loss -V(D, G) (notes 4.3), which D minimizes:

        -E_{P_data}[log D(X)] - E_{h ~ p(h)}[log(1 - D(G(h)))]
        = mean softplus(-a_real) + mean softplus(a_fake),

    i.e. binary cross-entropy with label 1 on real and 0 on fake examples, from logits, stable for
    any logit. See :func:`gan_value` for the optimal discriminator and the JSD identity.
    Returns a 0-d tensor.
    """
    return -gan_value(real_logits, fake_logits)


def gan_generator_loss(fake_logits, kind="non_saturating"):
    """The generator's loss, minimized by G, from the discriminator's logits a = a(G(h)):

    * ``"minimax"``: E_{h ~ p(h)}[log(1 - D(G(h)))] = -mean softplus(a), G's part of
      min_G max_D V(D, G); its gradient vanishes when D confidently rejects the samples.
    * ``"non_saturating"`` (used in practice, notes 4.3): -E_{h ~ p(h)}[log D(G(h))]
      = mean softplus(-a), i.e. G maximizes E[log D(G(h))].

    Returns a 0-d tensor.
    """
    fn = "gan_generator_loss"
    _gan_logits(fn, "fake_logits", fake_logits)
    if kind == "non_saturating":
        return -_log_sigmoid(fake_logits).mean()
    if kind == "minimax":
        return _log_sigmoid(-fake_logits).mean()
    raise ValueError(f"{fn}: kind must be 'non_saturating' or 'minimax', got {kind!r}")


# ---- ELBO and importance-weighted log-likelihood ------------------------------------------------
def _check_log_weights(fn, log_p_joint, log_q, dim):
    _check_tensor(fn, "log_p_joint", log_p_joint)
    _check_tensor(fn, "log_q", log_q)
    if tuple(log_p_joint.shape) != tuple(log_q.shape):
        raise ValueError(f"{fn}: expected log_p_joint and log_q of the same shape (K, *), got "
                         f"{tuple(log_p_joint.shape)} and {tuple(log_q.shape)}")
    if log_q.ndim == 0:
        raise ValueError(f"{fn}: expected log-densities of shape (K, *) with a sample axis, got a "
                         f"0-d tensor")
    if not -log_q.ndim <= dim < log_q.ndim:
        raise ValueError(f"{fn}: dim {dim} is out of range for shape {tuple(log_q.shape)}")
    if log_q.shape[dim] == 0:
        raise ValueError(f"{fn}: no samples (K = 0) along dim {dim} of shape "
                         f"{tuple(log_q.shape)}")


def _reduce_examples(v, reduction):
    if reduction == "none":
        return v
    return v.sum() if reduction == "sum" else v.mean()


def elbo(log_p_joint, log_q, dim=0, reduction="none"):
    """Monte-Carlo ELBO (notes 4.5) from K samples h_k ~ q_phi(h|X):

        ELBO(X) = E_q[log p_theta(X, h) - log q_phi(h|X)]
                ~ (1/K) sum_k [log p(X, h_k) - log q(h_k|X)]
                = log p_theta(X) - KL(q_phi(h|X) || p_theta(h|X)) <= log p_theta(X).

    Args:
        log_p_joint: (K, *) log p_theta(X, h_k) = log p(h_k) + log p_theta(X|h_k).
        log_q: (K, *) log q_phi(h_k|X) of the same samples.
        dim: the sample axis (default 0).
        reduction: 'none' -> (*) per example; 'sum' | 'mean' over examples.
    """
    fn = "elbo"
    _check_log_weights(fn, log_p_joint, log_q, dim)
    _check_reduction(fn, reduction)
    return _reduce_examples((log_p_joint - log_q).mean(dim=dim), reduction)


def importance_weighted_log_likelihood(log_p_joint, log_q, dim=0, reduction="none"):
    """The K-sample importance-weighted estimate of log p_theta(X) (IWAE bound):

        L_K(X) = log (1/K) sum_k p_theta(X, h_k) / q(h_k|X),   h_k ~ q(h|X) independently,
               = logsumexp_k [log p(X, h_k) - log q(h_k|X)] - log K,

    computed with a stable logsumexp over the sample axis. E[L_K] <= log p_theta(X), L_1 is the
    ELBO, E[L_K] increases with K and tends to log p_theta(X); when q is the exact posterior
    p_theta(h|X) every weight equals p_theta(X) and L_K = log p_theta(X) for every draw.

    Works for any q whose samples' log-densities are known: a VAE's reparameterized Gaussian
    (see :func:`sample_diag_gaussian`) or a Helmholtz machine's binary recognition layers (log q
    of the sampled bits from :func:`bernoulli_log_likelihood` with reduction='none').

    Args:
        log_p_joint: (K, *) log p_theta(X, h_k), e.g. (K, N) for N examples.
        log_q: (K, *) log q(h_k|X).
        dim: the sample axis (default 0).
        reduction: 'none' -> (*) per example; 'sum' | 'mean' over examples.
    """
    fn = "importance_weighted_log_likelihood"
    _check_log_weights(fn, log_p_joint, log_q, dim)
    _check_reduction(fn, reduction)
    k = log_q.shape[dim]
    out = ops.logsumexp(log_p_joint - log_q, dim) - math.log(k)
    return _reduce_examples(out, reduction)


def sample_diag_gaussian(mu, logvar, K=1):
    """K reparameterized samples h_k = mu + exp(logvar / 2) * eps_k, eps_k ~ N(0, I), and their
    log-densities log q(h_k) = log N(h_k; mu, diag exp(logvar)) summed over the last dim.

    Gradients flow to mu and logvar through h (the reparameterization trick of the VAE).

    Args:
        mu, logvar: (N, D) (or (*, D)) encoder outputs of q_phi(h|X).
    Returns (h, log_q) of shapes (K, *, D) and (K, *).
    """
    fn = "sample_diag_gaussian"
    _check_tensor(fn, "mu", mu)
    _check_tensor(fn, "logvar", logvar)
    if tuple(mu.shape) != tuple(logvar.shape):
        raise ValueError(f"{fn}: expected mu and logvar of the same shape, got {tuple(mu.shape)} "
                         f"and {tuple(logvar.shape)}")
    if not isinstance(K, (int, np.integer)) or K < 1:
        raise ValueError(f"{fn}: K must be a positive int, got {K!r}")
    from .. import backend

    # drawn on the host generator, moved to mu's device (seeded runs match across devices)
    eps = backend.host_random(mu.data, "standard_normal", (int(K),) + tuple(mu.shape))
    eps = eps.astype(mu.dtype)
    eps_t = Tensor(eps)
    h = mu + (0.5 * logvar).exp() * eps_t
    # log q(h) with (h - mu)^2 / exp(logvar) = eps^2, exact and with the right gradient in logvar
    log_q = (-0.5 * (eps_t * eps_t + logvar + _LOG_2PI)).sum(dim=-1)
    return h, log_q


def iwae_log_likelihood(x, sample_q, log_p_joint_fn, K, chunk_size=None, reduction="none"):
    """Importance-weighted estimate of log p_theta(X) with K samples from a recognition model.

    Args:
        x: (N, ...) examples.
        sample_q: callable (x, k) -> (h, log_q): k samples per example from q(h|X), h of shape
            (k, N, ...) and log q(h|X) of shape (k, N). For a VAE:
            ``lambda x, k: sample_diag_gaussian(*encoder(x), k)``; for a Helmholtz machine draw the
            bits and return log q from :func:`bernoulli_log_likelihood` (reduction='none').
        log_p_joint_fn: callable (x, h) -> (k, N) log p_theta(X, h) = log p(h) + log p_theta(X|h).
        K: number of samples; chunk_size: draw at most this many at a time (bounds memory for
            K = 5000; the chunks' logsumexps are combined exactly).
        reduction: 'none' -> (N,) per example; 'sum' | 'mean'.
    Returns log (1/K) sum_k p(X, h_k) / q(h_k|X), see
    :func:`importance_weighted_log_likelihood`.
    """
    fn = "iwae_log_likelihood"
    if not isinstance(K, (int, np.integer)) or K < 1:
        raise ValueError(f"{fn}: K must be a positive int, got {K!r}")
    _check_reduction(fn, reduction)
    step = int(K) if chunk_size is None else int(chunk_size)
    if step < 1:
        raise ValueError(f"{fn}: chunk_size must be a positive int, got {chunk_size!r}")
    parts = []
    done = 0
    while done < K:
        k = min(step, int(K) - done)
        h, log_q = sample_q(x, k)
        log_p = log_p_joint_fn(x, h)
        _check_log_weights(fn, log_p, log_q, 0)
        if log_q.shape[0] != k:
            raise ValueError(f"{fn}: sample_q returned {log_q.shape[0]} samples along dim 0, "
                             f"expected {k}")
        parts.append(ops.logsumexp(log_p - log_q, 0))  # (*,) log sum_k w_k over this chunk
        done += k
    total = parts[0] if len(parts) == 1 else ops.logsumexp(ops.stack(parts, 0), 0)
    return _reduce_examples(total - math.log(int(K)), reduction)
