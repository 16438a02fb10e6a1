"""An encoder-decoder that concatenates a content vector and a style vector (notes 4.1).

Two separate encoders read the image X: the content encoder gives the class scores
a = E_c(X) (K logits) and the style encoder a Gaussian q(s|X) = N(mu(X), diag exp(logvar(X))) over
a small style code s (``style_dim`` numbers). The decoder renders the concatenation:

    X_hat = g_theta([c ; s]),    c = one-hot(class) (K numbers),   s ~ q(s|X) (training) or mu(X).

What makes the split meaningful is supervision plus a price on the style code:

- content = the class. During training c is the one-hot of the *true* label; at test time it is
  the one-hot of the content encoder's prediction argmax_k a_k (so no label is needed). The
  content encoder is trained only by cross-entropy to predict the label; c carries no gradient.
- style = the rest. The decoder needs s for everything the class does not say (thickness,
  shade, width, pose, pattern); the KL term below charges for every nat s carries, and since the
  class is given for free in c, a style code that repeated it would pay for nothing. So s keeps
  what varies within a class, and [c' ; s] draws class c' in the style of the image s came from.

The loss, averaged over the batch of N examples (X_i, y_i):

    L = (1/N) sum_i [ ||X_i - g_theta([onehot(y_i) ; s_i])||^2            (least squares, 4.2)
                      + beta KL(q(s|X_i) || N(0, I))                      (the price of style)
                      + alpha (-log softmax(E_c(X_i))_{y_i}) ],           (content = class)

with s_i = mu_i + exp(logvar_i / 2) eps_i, eps_i ~ N(0, I) (the reparameterization of notes 4.5).
It is the negative ELBO of a class-conditional VAE with Gaussian decoder variance beta / 2, plus a
classifier. ``variational=False`` drops the noise and the KL (a plain autoencoder whose style
code is mu(X)); then only ``style_dim`` limits what s carries.

``swap(x_content, x_style)`` = g_theta([c(x_content) ; mu(x_style)]): the content of one image in
the style of another.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend, nn
from ..ops._util import OpError
from ..tensor import Tensor

__all__ = ["StyleContentAutoencoder"]

_OUTPUTS = ("linear", "sigmoid")


def _positive(who, name, v):
    if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{who}: {name} must be a positive int, got {v!r}")
    return int(v)


def _nonnegative(who, name, v):
    if not isinstance(v, numbers.Real) or isinstance(v, bool) or v < 0:
        raise ValueError(f"{who}: {name} must be a number >= 0, got {v!r}")
    return float(v)


def _conv_encoder(c_in, channels, size, n_out):
    """Conv 4x4 stride 2 (c), ReLU, Conv 4x4 stride 2 (2c), ReLU, flatten, Linear -> n_out:
    (N, c_in, S, S) -> (N, n_out)."""
    return nn.Sequential(
        nn.Conv2d(c_in, channels, kernel_size=4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(channels, 2 * channels, kernel_size=4, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(1), nn.Linear(2 * channels * (size // 4) ** 2, n_out))


class StyleContentAutoencoder(nn.Module):
    """Content encoder + style encoder -> [content ; style] -> decoder (see the module docstring).

    ===============  ====================================================  ============
    part             layers                                                output
    ===============  ====================================================  ============
    content_encoder  Conv 4x4/2 (c), ReLU, Conv 4x4/2 (2c), ReLU, Linear   (N, K)
    style_encoder    the same layers, another copy: mu and logvar of       (N, d) each
                     q(s|X) (d = style_dim)
    decoder          Linear(K + d, hidden), ReLU, Linear(hidden,           (N, C, S, S)
                     2c S/4 S/4), ReLU, ConvT 4x4/2 (c), ReLU,
                     ConvT 4x4/2 (C) [, sigmoid]
    ===============  ====================================================  ============

    Args:
        num_classes: K, the number of classes (the content code is one-hot over them).
        style_dim: d, the size of the style code.
        in_channels: C. image_size: S (divisible by 4; default 28).
        channels: c, the encoders' and decoder's base width (default 16).
        hidden: the decoder's first fully connected width (default 256).
        beta: the weight of KL(q(s|X) || N(0, I)) (default 4.0: on Fashion-MNIST 0.5 lets
            the style code carry the class, 8 blurs the images; see the style recipe).
        alpha: the weight of the content cross-entropy (default 1.0).
        variational: draw s from q(s|X) in training and charge the KL (default True).
        output: 'sigmoid' (images in [0, 1], default) or 'linear'.

    Methods: ``content_logits(x)``; ``content_code(x=None, labels=None)``; ``style_params(x)``
    -> (mu, logvar); ``style_code(x, eps=None)``; ``decode(c, s)``; ``forward(x, labels=None,
    eps=None)`` -> (recon, logits, mu, logvar); ``losses(x, labels, eps=None)`` -> dict;
    ``loss(...)`` -> the scalar L; ``swap(x_content, x_style)``; ``swap_grid(contents, styles)``.

    Example::

        >>> ae = StyleContentAutoencoder(num_classes=10, style_dim=8)
        >>> ae.loss(x, y).backward()                    # x (N, 1, 28, 28) in [0, 1], y (N,)
        >>> ae.swap(x[:4], x[4:8]).shape                 # (4, 1, 28, 28)
    """

    def __init__(self, num_classes=10, style_dim=8, in_channels=1, image_size=28, channels=16,
                 hidden=256, beta=4.0, alpha=1.0, variational=True, output="sigmoid"):
        super().__init__()
        who = "StyleContentAutoencoder"
        self.num_classes = _positive(who, "num_classes", num_classes)
        self.style_dim = _positive(who, "style_dim", style_dim)
        self.in_channels = _positive(who, "in_channels", in_channels)
        self.image_size = _positive(who, "image_size", image_size)
        if self.image_size % 4:
            raise ValueError(f"{who}: image_size must be divisible by 4 (two stride-2 layers), "
                             f"got {image_size}")
        self.channels = _positive(who, "channels", channels)
        self.hidden = _positive(who, "hidden", hidden)
        self.beta = _nonnegative(who, "beta", beta)
        self.alpha = _nonnegative(who, "alpha", alpha)
        self.variational = bool(variational)
        if output not in _OUTPUTS:
            raise ValueError(f"{who}: output must be one of {_OUTPUTS}, got {output!r}")
        self.output = output
        C, S, c, d = self.in_channels, self.image_size, self.channels, self.style_dim
        self.content_encoder = _conv_encoder(C, c, S, self.num_classes)
        self.style_encoder = _conv_encoder(C, c, S, 2 * d if self.variational else d)
        layers = [nn.Linear(self.num_classes + d, self.hidden), nn.ReLU(),
                  nn.Linear(self.hidden, 2 * c * (S // 4) ** 2), nn.ReLU(),
                  nn.Unflatten(1, (2 * c, S // 4, S // 4)),
                  nn.ConvTranspose2d(2 * c, c, kernel_size=4, stride=2, padding=1), nn.ReLU(),
                  nn.ConvTranspose2d(c, C, kernel_size=4, stride=2, padding=1)]
        if output == "sigmoid":
            layers.append(nn.Sigmoid())
        self.decoder = nn.Sequential(*layers)

    def _who(self):
        return (f"StyleContentAutoencoder(num_classes={self.num_classes}, "
                f"style_dim={self.style_dim})")

    def _check_x(self, x, name="x"):
        shape = (self.in_channels, self.image_size, self.image_size)
        if not isinstance(x, Tensor):
            raise TypeError(f"{self._who()}: expected {name} as a Tensor of shape "
                            f"(N, {', '.join(map(str, shape))}), got {type(x).__name__}")
        if x.ndim != 4 or tuple(x.shape[1:]) != shape:
            raise OpError(f"{self._who()}: expected {name} of shape "
                          f"(N, {', '.join(map(str, shape))}), got {tuple(x.shape)}")

    def _dtype(self):
        return next(iter(self.parameters())).dtype

    # ---- content ------------------------------------------------------------------------------
    def content_logits(self, x):
        """a = E_c(x): the class scores (N, K)."""
        self._check_x(x)
        return self.content_encoder(x)

    def _one_hot(self, labels, n=None):
        y = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
        if y.ndim != 1 or (n is not None and len(y) != n) or not np.issubdtype(y.dtype,
                                                                               np.integer):
            raise OpError(f"{self._who()}: expected integer labels of shape "
                          f"({'N' if n is None else n},), got {y.dtype} {y.shape}")
        if y.size and (y.min() < 0 or y.max() >= self.num_classes):
            raise OpError(f"{self._who()}: expected labels in [0, {self.num_classes}), got "
                          f"values in [{y.min()}, {y.max()}]")
        out = np.zeros((len(y), self.num_classes), dtype=self._dtype())
        out[np.arange(len(y)), y] = 1
        return Tensor(out)

    def content_code(self, x=None, labels=None):
        """c = one-hot of ``labels`` (N,) if given, else of argmax E_c(x): (N, K), no gradient."""
        if labels is not None:
            return self._one_hot(labels, None if x is None else x.shape[0])
        if x is None:
            raise ValueError(f"{self._who()}.content_code: give x or labels")
        from ..autograd import no_grad

        with no_grad():
            pred = self.content_logits(x).numpy().argmax(-1)
        return self._one_hot(pred)

    # ---- style --------------------------------------------------------------------------------
    def style_params(self, x):
        """(mu, logvar) of q(s|x), each (N, style_dim); logvar is None when not variational."""
        self._check_x(x)
        out = self.style_encoder(x)
        if not self.variational:
            return out, None
        d = self.style_dim
        return out[:, :d], out[:, d:]

    def style_code(self, x, eps=None, sample=None):
        """s: mu(x) + exp(logvar / 2) eps when ``sample`` (default: in training mode and
        variational), else mu(x); (N, style_dim). ``eps`` (N, style_dim) fixes the noise."""
        mu, logvar = self.style_params(x)
        return self._reparameterize(mu, logvar, eps, sample)[0]

    def _reparameterize(self, mu, logvar, eps, sample):
        if sample is None:
            sample = self.training and self.variational
        if not sample or logvar is None:
            return mu, mu, logvar
        if eps is None:
            eps = Tensor(backend.get_rng().standard_normal(tuple(mu.shape)).astype(mu.dtype))
        elif not isinstance(eps, Tensor):
            eps = Tensor(np.asarray(eps, dtype=mu.dtype))
        if tuple(eps.shape) != tuple(mu.shape):
            raise OpError(f"{self._who()}: expected eps of the shape of mu {tuple(mu.shape)}, "
                          f"got {tuple(eps.shape)}")
        return mu + (0.5 * logvar).exp() * eps, mu, logvar

    # ---- decoder ------------------------------------------------------------------------------
    def decode(self, c, s):
        """g_theta([c ; s]): content (N, K) and style (N, style_dim) -> images (N, C, S, S)."""
        from ..ops import cat

        for name, t, width in (("c", c, self.num_classes), ("s", s, self.style_dim)):
            if not isinstance(t, Tensor) or t.ndim != 2 or t.shape[1] != width:
                got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
                raise OpError(f"{self._who()}.decode: expected {name} of shape (N, {width}), "
                              f"got {got}")
        if c.shape[0] != s.shape[0]:
            raise OpError(f"{self._who()}.decode: expected as many content as style codes, got "
                          f"{c.shape[0]} and {s.shape[0]}")
        return self.decoder(cat([c, s], 1))

    def forward(self, x, labels=None, eps=None):
        """x -> (recon, logits, mu, logvar): the content from ``labels`` (else the predicted
        class), the style sampled (training, variational) or mu (eval); logvar None when not
        variational."""
        logits = self.content_logits(x)
        if labels is not None:
            c = self._one_hot(labels, x.shape[0])
        else:
            c = self._one_hot(logits.numpy().argmax(-1))
        s, mu, logvar = self._reparameterize(*self.style_params(x), eps, None)
        return self.decode(c, s), logits, mu, logvar

    def losses(self, x, labels, eps=None):
        """The terms of L (scalars, averaged over the batch): ``recon`` (1/N) sum_i
        ||X_i - X_hat_i||^2, ``kl`` (1/N) sum_i KL(q(s|X_i) || N(0, I)) (0 when not variational),
        ``ce`` the content cross-entropy, and ``loss`` = recon + beta kl + alpha ce; also
        ``logits``, the content scores (N, K)."""
        from ..nn.generative import gaussian_kl
        from ..ops.loss import cross_entropy

        if labels is None:
            raise ValueError(f"{self._who()}.losses: the labels are needed (content = class)")
        recon, logits, mu, logvar = self.forward(x, labels, eps)
        n = x.shape[0]
        rec = ((recon - x) ** 2).sum() / n
        ce = cross_entropy(logits, labels if isinstance(labels, Tensor) else
                           Tensor(np.asarray(labels, dtype=np.int64)))
        total = rec + self.alpha * ce
        if logvar is not None:
            kl = gaussian_kl(mu, logvar, reduction="mean")
            total = total + self.beta * kl
        else:
            kl = Tensor(np.zeros((), dtype=rec.dtype))
        return {"loss": total, "recon": rec, "kl": kl, "ce": ce, "logits": logits}

    def loss(self, x, labels, eps=None):
        """L = recon + beta KL + alpha CE (see the module docstring), a scalar."""
        return self.losses(x, labels, eps)["loss"]

    # ---- swapping -----------------------------------------------------------------------------
    def swap(self, x_content, x_style, content_labels=None):
        """g_theta([c(x_content) ; mu(x_style)]): the i-th content image drawn in the style of the
        i-th style image (N, C, S, S). The content is the predicted class (or
        ``content_labels``); no graph is recorded."""
        from ..autograd import no_grad

        self._check_x(x_content, "x_content")
        self._check_x(x_style, "x_style")
        if x_content.shape[0] != x_style.shape[0]:
            raise OpError(f"{self._who()}.swap: expected as many content as style images, got "
                          f"{x_content.shape[0]} and {x_style.shape[0]} (swap_grid pairs every "
                          f"content with every style)")
        with no_grad():
            c = self.content_code(x_content, content_labels)
            mu, _ = self.style_params(x_style)
            return self.decode(c, mu)

    def swap_grid(self, contents, styles, content_labels=None):
        """Every content with every style: (R, K, C, S, S) for R content and K style images
        (entry [i, j] = content i in style j); no graph."""
        from ..autograd import no_grad

        self._check_x(contents, "contents")
        self._check_x(styles, "styles")
        R, K = contents.shape[0], styles.shape[0]
        with no_grad():
            c = self.content_code(contents, content_labels).numpy()
            mu = self.style_params(styles)[0].numpy()
            cc = Tensor(np.repeat(c, K, axis=0))
            ss = Tensor(np.tile(mu, (R, 1)))
            out = self.decode(cc, ss)
        return out.reshape(R, K, *out.shape[1:])

    def extra_repr(self):
        return (f"num_classes={self.num_classes}, style_dim={self.style_dim}, "
                f"beta={self.beta:g}, alpha={self.alpha:g}, variational={self.variational}")
