"""Variational auto-encoders (Kingma and Welling 2013), notes sections 4.4 and 4.5.

A VAE has a prior p(h) = N(0, I) on a code h of ``latent_dim`` numbers, a decoder
p_theta(X|h) (a network g_theta(h) giving Bernoulli logits or a Gaussian mean for X) and an encoder
q_phi(h|X) = N(mu_phi(X), diag exp(logvar_phi(X))) that approximates the posterior p_theta(h|X).
Both are trained together by maximizing the evidence lower bound, averaged over the data:

    ELBO(X) = log p_theta(X) - KL(q_phi(h|X) || p_theta(h|X))
            = E_{q_phi(h|X)}[log p_theta(X|h)] - KL(q_phi(h|X) || p(h))  <=  log p_theta(X).

The first term is estimated with one reparameterized sample h = mu + exp(logvar / 2) * eps,
eps ~ N(0, I), so that its gradient reaches phi through h; the KL against N(0, I) is in closed form
(``nn.functional.gaussian_kl``). ``loss`` returns -ELBO. ``log_likelihood`` gives the K-sample
importance-weighted estimate of log p_theta(X), which is >= the ELBO on average and tends to
log p_theta(X) as K grows, so that models can be compared by likelihood.

Two forms: :class:`VAE` (MLPs on vectors (N, D); images are flattened) and :class:`ConvVAE`
(convolutional encoder, transposed-convolution decoder, for (N, C, H, W) images such as 1x28x28).
Every random draw (eps, prior samples) comes from chainrule's seeded generator
(``chainrule.manual_seed``) unless it is passed in explicitly.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend, nn
from ..nn import functional as F
from ..ops._util import OpError
from ..tensor import Tensor
from ._image import check_images

__all__ = ["VAE", "ConvVAE"]

_LIKELIHOODS = ("bernoulli", "gaussian")


def _positive(who, name, v):
    if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{who}: {name} must be a positive int, got {v!r}")
    return int(v)


class _VAEBase(nn.Module):
    """The parts shared by the MLP and the convolutional VAE. Subclasses define ``encode(x) ->
    (mu, logvar)`` (each (N, latent_dim)), ``_decode(h)`` for h (M, latent_dim) -> (M, *event)
    and ``_check_x(x)``; ``event_shape`` is the shape of one example."""

    def _init_common(self, who, latent_dim, likelihood, decoder_logvar):
        self.latent_dim = _positive(who, "latent_dim", latent_dim)
        if likelihood not in _LIKELIHOODS:
            raise ValueError(f"{who}: likelihood must be one of {_LIKELIHOODS}, got "
                             f"{likelihood!r}")
        self.likelihood = likelihood
        if not isinstance(decoder_logvar, numbers.Real):
            raise TypeError(f"{who}: decoder_logvar must be a number, got "
                            f"{type(decoder_logvar).__name__}")
        self.decoder_logvar = float(decoder_logvar)

    # ---- the two networks ----------------------------------------------------------------------
    def decode(self, h):
        """g_theta(h): h (N, latent_dim) -> Bernoulli logits (``likelihood='bernoulli'``) or the
        Gaussian mean (``'gaussian'``) of p_theta(X|h), of shape (N, *event_shape).
        h of shape (K, N, latent_dim) is decoded as K*N codes -> (K, N, *event_shape)."""
        if not isinstance(h, Tensor):
            raise TypeError(f"{self._who()}.decode: expected h as a Tensor of shape "
                            f"(N, {self.latent_dim}), got {type(h).__name__}")
        shape = tuple(h.shape)
        if len(shape) not in (2, 3) or shape[-1] != self.latent_dim:
            raise OpError(f"{self._who()}.decode: expected h of shape (N, {self.latent_dim}) or "
                          f"(K, N, {self.latent_dim}), got {shape}")
        if len(shape) == 3:
            out = self._decode(h.reshape(shape[0] * shape[1], self.latent_dim))
            return out.reshape(shape[0], shape[1], *self.event_shape)
        return self._decode(h)

    # ---- the reparameterization trick ----------------------------------------------------------
    def draw_eps(self, *batch, dtype=None):
        """eps ~ N(0, I) of shape (*batch, latent_dim) from chainrule's seeded generator, in
        ``dtype`` (default: the parameters' dtype)."""
        if dtype is None:
            dtype = next(iter(self.parameters())).dtype
        arr = backend.get_rng().standard_normal(tuple(batch) + (self.latent_dim,))
        return Tensor(arr.astype(dtype))

    def reparameterize(self, mu, logvar, eps=None):
        """h = mu + exp(logvar / 2) * eps with eps ~ N(0, I) (drawn if None; else a tensor or array
        of mu's shape), a sample of q_phi(h|X) = N(mu, diag exp(logvar)) that is a differentiable
        function of (mu, logvar)."""
        if eps is None:
            eps = self.draw_eps(*mu.shape[:-1], dtype=mu.dtype)
        else:
            if not isinstance(eps, Tensor):
                eps = Tensor(np.asarray(eps, dtype=mu.dtype))
            if tuple(eps.shape) != tuple(mu.shape):
                raise OpError(f"{self._who()}: expected eps of the shape of mu {tuple(mu.shape)}, "
                              f"got {tuple(eps.shape)}")
        return mu + (0.5 * logvar).exp() * eps

    def forward(self, x, eps=None):
        """x -> (recon, mu, logvar): mu, logvar (N, latent_dim) of q_phi(h|X), and recon =
        g_theta(h) (logits or mean, the shape of x) for one reparameterized h (noise ``eps``,
        (N, latent_dim), drawn if None)."""
        mu, logvar = self.encode(x)
        h = self.reparameterize(mu, logvar, eps)
        return self.decode(h), mu, logvar

    # ---- densities ----------------------------------------------------------------------------
    def _log_px_given_h(self, recon, x, event_dims):
        """log p_theta(X|h) per example (sum over the event dims), shape recon.shape[:-event_dims].
        """
        if self.likelihood == "bernoulli":
            return F.bernoulli_log_likelihood(recon, x, reduction="none", event_dims=event_dims)
        return F.gaussian_log_likelihood(x, recon, self.decoder_logvar, reduction="none",
                                         event_dims=event_dims)

    def elbo(self, x, eps=None):
        """Per-example one-sample ELBO (N,):

            ELBO(X) = E_{q_phi(h|X)}[log p_theta(X|h)] - KL(q_phi(h|X) || p(h)),

        the expectation estimated at h = mu + exp(logvar / 2) * eps, the KL in closed form."""
        self._check_x(x)
        recon, mu, logvar = self.forward(x, eps)
        rec = self._log_px_given_h(recon, x, len(self.event_shape))
        kl = F.gaussian_kl(mu, logvar, reduction="none")
        return rec - kl

    def loss(self, x, eps=None, reduction="mean"):
        """-ELBO(X) (nats): 'mean' (default) -> the mean over the batch of the per-example
        -ELBO, i.e. -(1/n) sum_i ELBO(X_i) as in notes 4.5; 'sum' -> the total; 'none' -> (N,).
        ``eps`` (N, latent_dim) fixes the noise of the reparameterized sample."""
        if reduction not in ("none", "sum", "mean"):
            raise ValueError(f"{self._who()}.loss: reduction must be 'none', 'sum' or 'mean', "
                             f"got {reduction!r}")
        neg = -self.elbo(x, eps)
        if reduction == "none":
            return neg
        return neg.sum() if reduction == "sum" else neg.mean()

    def log_likelihood(self, x, K=5000, chunk_size=None, reduction="none"):
        """The K-sample importance-weighted estimate of log p_theta(X) (nats), per example (N,) by
        default:

            log (1/K) sum_k p(h_k) p_theta(X|h_k) / q_phi(h_k|X),   h_k ~ q_phi(h|X),

        via ``nn.functional.iwae_log_likelihood``; K = 1 is a (Monte-Carlo KL) ELBO, and the
        estimate increases towards log p_theta(X) with K. Draws at most ``chunk_size`` samples
        at a time. Wrap in ``chainrule.no_grad()`` for evaluation."""
        self._check_x(x)
        mu, logvar = self.encode(x)
        n = x.shape[0]
        event_dims = len(self.event_shape)

        def sample_q(_x, k):
            return F.sample_diag_gaussian(mu, logvar, k)  # (k, N, d), (k, N)

        def log_p_joint(_x, h):
            k = h.shape[0]
            recon = self.decode(h)  # (k, N, *event)
            xk = x.unsqueeze(0).expand(k, n, *self.event_shape)
            log_px = self._log_px_given_h(recon, xk, event_dims)
            log_ph = F.gaussian_log_likelihood(h, 0.0, reduction="none")  # log N(h; 0, I)
            return log_px + log_ph

        return F.iwae_log_likelihood(x, sample_q, log_p_joint, K, chunk_size=chunk_size,
                                     reduction=reduction)

    # ---- generation ---------------------------------------------------------------------------
    def sample(self, n, h=None, binarize=False):
        """n images from the model: h ~ p(h) = N(0, I) (or the given codes h (n, latent_dim)),
        then the decoder's mean E[X|h]: sigmoid(logits) in [0, 1] for a Bernoulli decoder
        (``binarize=True`` draws X ~ Bernoulli instead), g_theta(h) for a Gaussian one.
        Returns (n, *event_shape); gradients are not recorded."""
        from ..autograd import no_grad

        n = _positive(f"{self._who()}.sample", "n", n)
        with no_grad():
            if h is None:
                h = self.draw_eps(n)
            elif tuple(h.shape) != (n, self.latent_dim):
                raise OpError(f"{self._who()}.sample: expected h of shape (n, latent_dim) = "
                              f"({n}, {self.latent_dim}), got {tuple(h.shape)}")
            out = self.decode(h)
            if self.likelihood == "gaussian":
                return out
            p = out.sigmoid()
            if binarize:
                u = backend.get_rng().random(tuple(p.shape))
                return Tensor((u < p.numpy()).astype(p.dtype))
            return p

    def _who(self):
        return f"{type(self).__name__}(latent_dim={self.latent_dim})"


class VAE(_VAEBase):
    """MLP VAE on vectors x (N, input_dim); images (N, C, H, W) with C*H*W = input_dim are
    flattened (and reconstructions come back flat, (N, input_dim)).

    ==========================================================  ==========================
    encoder q_phi(h|X)                                         output
    ==========================================================  ==========================
    [Linear, ReLU] for each width in ``hidden``                  (N, hidden[-1])
    Linear -> mu, Linear -> logvar                              (N, latent_dim) each
    ==========================================================  ==========================

    decoder p_theta(X|h): [Linear, ReLU] for each width in reversed(hidden), then Linear to
    (N, input_dim): Bernoulli logits (``likelihood='bernoulli'``, X in {0, 1} or [0, 1]) or the
    mean of N(g_theta(h), exp(decoder_logvar) I) (``'gaussian'``; decoder_logvar = 0 gives
    -log p_theta(X|h) = ||X - g_theta(h)||^2 / 2 + const).

    Args:
        input_dim: D, the size of one example.
        latent_dim: the size of h.
        hidden: widths of the hidden layers of the encoder (the decoder mirrors them).
        likelihood: 'bernoulli' or 'gaussian'.
        decoder_logvar: the fixed log-variance of a Gaussian decoder.

    Methods (shared with :class:`ConvVAE`): ``encode(x) -> (mu, logvar)``; ``decode(h)`` ->
    logits or mean; ``forward(x, eps=None) -> (recon, mu, logvar)``;
    ``reparameterize(mu, logvar, eps)``;
    ``elbo(x, eps=None)`` per example; ``loss(x, eps=None, reduction='mean')`` = -ELBO;
    ``log_likelihood(x, K, chunk_size=None)``, the K-sample importance-weighted estimate of
    log p_theta(X); ``sample(n, h=None, binarize=False)``. Passing ``eps`` (N, latent_dim) fixes
    the noise; otherwise it is drawn from the generator seeded by ``chainrule.manual_seed``.

    Example::

        >>> vae = VAE(784, 20, hidden=(400,))
        >>> loss = vae.loss(x)          # x (N, 784) in [0, 1]: -ELBO averaged over the batch
        >>> imgs = vae.sample(16)       # (16, 784) probabilities
    """

    def __init__(self, input_dim, latent_dim=20, hidden=(400,), likelihood="bernoulli",
                 decoder_logvar=0.0):
        super().__init__()
        who = "VAE"
        self.input_dim = _positive(who, "input_dim", input_dim)
        self._init_common(who, latent_dim, likelihood, decoder_logvar)
        hidden = tuple(_positive(who, "hidden width", w) for w in hidden)
        self.hidden = hidden
        enc, width = [], self.input_dim
        for w in hidden:
            enc += [nn.Linear(width, w), nn.ReLU()]
            width = w
        self.encoder = nn.Sequential(*enc)
        self.fc_mu = nn.Linear(width, self.latent_dim)
        self.fc_logvar = nn.Linear(width, self.latent_dim)
        dec, width = [], self.latent_dim
        for w in reversed(hidden):
            dec += [nn.Linear(width, w), nn.ReLU()]
            width = w
        dec.append(nn.Linear(width, self.input_dim))
        self.decoder = nn.Sequential(*dec)
        self.event_shape = (self.input_dim,)

    def _check_x(self, x):
        if not isinstance(x, Tensor):
            raise TypeError(f"{self._who()}: expected x as a Tensor of shape (N, "
                            f"{self.input_dim}), got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise OpError(f"{self._who()}: expected x of shape (N, {self.input_dim}) (flatten "
                          f"images first), got {tuple(x.shape)}")

    def _flat(self, x):
        if isinstance(x, Tensor) and x.ndim > 2 and int(np.prod(x.shape[1:])) == self.input_dim:
            return x.reshape(x.shape[0], self.input_dim)
        return x

    def encode(self, x):
        """x (N, input_dim) (or images flattening to it) -> (mu, logvar), each (N, latent_dim)."""
        x = self._flat(x)
        self._check_x(x)
        a = self.encoder(x)
        return self.fc_mu(a), self.fc_logvar(a)

    def _decode(self, h):
        return self.decoder(h)

    def elbo(self, x, eps=None):
        return super().elbo(self._flat(x), eps)

    def log_likelihood(self, x, K=5000, chunk_size=None, reduction="none"):
        return super().log_likelihood(self._flat(x), K, chunk_size, reduction)

    elbo.__doc__ = _VAEBase.elbo.__doc__
    log_likelihood.__doc__ = _VAEBase.log_likelihood.__doc__

    def _who(self):
        return f"VAE(input_dim={self.input_dim}, latent_dim={self.latent_dim})"

    def extra_repr(self):
        return (f"input_dim={self.input_dim}, latent_dim={self.latent_dim}, "
                f"hidden={self.hidden}, likelihood={self.likelihood!r}")


class ConvVAE(_VAEBase):
    """Convolutional VAE for images (N, in_channels, S, S), S divisible by 4 (1x28x28 by default).

    ==============================================================  ===========================
    encoder q_phi(h|X)                                              output (N, ...)
    ==============================================================  ===========================
    Conv2d(in_channels, c, 4, stride 2, pad 1), ReLU                (c, S/2, S/2)
    Conv2d(c, 2c, 4, stride 2, pad 1), ReLU                         (2c, S/4, S/4)
    flatten, Linear -> hidden, ReLU                                  (hidden,)
    Linear -> mu, Linear -> logvar                                  (latent_dim,) each
    ==============================================================  ===========================

    decoder p_theta(X|h), the mirror: Linear(latent_dim, hidden), ReLU, Linear(hidden,
    2c (S/4)^2), ReLU, reshape (2c, S/4, S/4), ConvTranspose2d(2c, c, 4, 2, 1), ReLU,
    ConvTranspose2d(c, in_channels, 4, 2, 1) -> (in_channels, S, S) logits (Bernoulli) or mean
    (Gaussian).

    Args:
        latent_dim: the size of h.
        in_channels, image_size: the images' channels and side S (divisible by 4).
        channels: c, the first conv's width (the second has 2c).
        hidden: the width of the fully connected layer between the convs and the code.
        likelihood, decoder_logvar: as :class:`VAE`.

    Methods (shared with :class:`VAE`): ``encode(x) -> (mu, logvar)``; ``decode(h)`` -> logits or
    mean; ``forward(x, eps=None) -> (recon, mu, logvar)``; ``reparameterize(mu, logvar, eps)``;
    ``elbo(x, eps=None)`` per example; ``loss(x, eps=None, reduction='mean')`` = -ELBO;
    ``log_likelihood(x, K, chunk_size=None)``, the K-sample importance-weighted estimate of
    log p_theta(X); ``sample(n, h=None, binarize=False)``. Passing ``eps`` (N, latent_dim) fixes
    the noise; otherwise it is drawn from the generator seeded by ``chainrule.manual_seed``.
    """

    def __init__(self, latent_dim=20, in_channels=1, image_size=28, channels=32, hidden=256,
                 likelihood="bernoulli", decoder_logvar=0.0):
        super().__init__()
        who = "ConvVAE"
        self._init_common(who, latent_dim, likelihood, decoder_logvar)
        self.in_channels = _positive(who, "in_channels", in_channels)
        self.image_size = _positive(who, "image_size", image_size)
        if self.image_size % 4:
            raise ValueError(f"{who}: image_size must be divisible by 4 (two stride-2 convs), got "
                             f"{image_size}")
        self.channels = c = _positive(who, "channels", channels)
        self.hidden = _positive(who, "hidden", hidden)
        s4 = self.image_size // 4
        self._map = (2 * c, s4, s4)
        flat = 2 * c * s4 * s4
        self.encoder = nn.Sequential(
            nn.Conv2d(self.in_channels, c, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(c, 2 * c, 4, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(flat, self.hidden), nn.ReLU())
        self.fc_mu = nn.Linear(self.hidden, self.latent_dim)
        self.fc_logvar = nn.Linear(self.hidden, self.latent_dim)
        self.decoder_fc = nn.Sequential(
            nn.Linear(self.latent_dim, self.hidden), nn.ReLU(),
            nn.Linear(self.hidden, flat), nn.ReLU())
        self.decoder_conv = nn.Sequential(
            nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(c, self.in_channels, 4, 2, 1))
        self.event_shape = (self.in_channels, self.image_size, self.image_size)

    def _check_x(self, x):
        s = self.image_size
        check_images(self._who(), x, self.in_channels, (s, s))

    def encode(self, x):
        """x (N, in_channels, S, S) -> (mu, logvar), each (N, latent_dim)."""
        self._check_x(x)
        a = self.encoder(x)
        return self.fc_mu(a), self.fc_logvar(a)

    def _decode(self, h):
        a = self.decoder_fc(h)
        return self.decoder_conv(a.reshape(h.shape[0], *self._map))

    def _who(self):
        return (f"ConvVAE(latent_dim={self.latent_dim}, in_channels={self.in_channels}, "
                f"image_size={self.image_size})")

    def extra_repr(self):
        return (f"latent_dim={self.latent_dim}, in_channels={self.in_channels}, "
                f"image_size={self.image_size}, channels={self.channels}, hidden={self.hidden}, "
                f"likelihood={self.likelihood!r}")
