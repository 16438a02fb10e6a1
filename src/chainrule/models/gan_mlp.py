"""Fully connected GAN nets (Goodfellow et al. 2014, the notes' section 4.3): the MLP versions of
the DCGAN pair of ``models/dcgan.py``, with the same call conventions, so that a recipe switches
between them with one flag.

The generator maps z ~ N(0, I) through hidden layers Linear -> [BatchNorm1d] -> ReLU and a last
Linear -> Tanh to nc * image_size^2 values, reshaped to an image batch in [-1, 1]; the
discriminator flattens an image, applies Linear -> LeakyReLU(0.2) hidden layers and a last
Linear to one logit per image. There is no pooling or convolution: every output pixel of G and
every hidden unit of D sees the whole image, and the nets know nothing of the images' locality,
which is why they need more parameters than the DCGAN for worse samples (the comparison the
DCGAN paper starts from). Linear layers keep chainrule's default initialization (the uniform
init of ``nn.Linear``); BN's gamma 1 and beta 0.

The layers sit in one ``nn.Sequential`` called ``main`` (as the DCGAN nets).
"""
from __future__ import annotations

import numbers

from .. import nn
from ._image import check_images
from .dcgan import check_noise


def _positive(who, name, v):
    if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{who}: {name} must be a positive int, got {v!r}")
    return int(v)


def _widths(who, hidden):
    if isinstance(hidden, numbers.Integral) and not isinstance(hidden, bool):
        hidden = (hidden,)
    try:
        widths = tuple(hidden)
    except TypeError:
        raise ValueError(f"{who}: hidden must be an int or a sequence of positive ints, got "
                         f"{hidden!r}") from None
    if not widths:
        raise ValueError(f"{who}: expected at least one hidden layer, got hidden={hidden!r}")
    return tuple(_positive(who, "every hidden width", w) for w in widths)


class MLPGenerator(nn.Module):
    """The MLP generator: z (N, nz) -> image (N, nc, image_size, image_size) in [-1, 1].

    ==========================================================  ==========================
    layer                                                       output (N, ...)
    ==========================================================  ==========================
    z (or (N, nz, 1, 1), flattened)                             (nz,)
    Linear(w_{i-1}, w_i) [, BatchNorm1d(w_i)], ReLU  (w_0 = nz)  (w_i,) for each hidden w_i
    Linear(w_last, nc * image_size^2), Tanh                     (nc * image_size^2,)
    reshaped                                                    (nc, image_size, image_size)
    ==========================================================  ==========================

    With the defaults (nz 100, hidden (256, 512, 1024), 28x28 grey images) it has 1,488,144
    parameters (with batch norm). A Linear before a BatchNorm1d has no bias (BN's beta is one).

    Args:
        nz: the dimension of z.
        hidden: the widths of the hidden layers (an int for one).
        nc: the channels of the images.
        image_size: the side of the square images (any positive int).
        batch_norm: put a BatchNorm1d after every hidden Linear (default True).

    Shape: z (N, nz) or (N, nz, 1, 1) -> (N, nc, image_size, image_size).
    """

    def __init__(self, nz=100, hidden=(256, 512, 1024), nc=1, image_size=28, batch_norm=True):
        super().__init__()
        who = "MLPGenerator"
        self.nz = _positive(who, "nz", nz)
        self.nc = _positive(who, "nc", nc)
        self.image_size = _positive(who, "image_size", image_size)
        self.hidden = _widths(who, hidden)
        self.batch_norm = bool(batch_norm)
        layers, width = [], self.nz
        for w in self.hidden:
            layers.append(nn.Linear(width, w, bias=not self.batch_norm))
            if self.batch_norm:
                layers.append(nn.BatchNorm1d(w))
            layers.append(nn.ReLU())
            width = w
        layers += [nn.Linear(width, self.nc * self.image_size ** 2), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z):
        z = check_noise(self._who(), z, self.nz)
        n, s = z.shape[0], self.image_size
        return self.main(z.reshape(n, self.nz)).reshape(n, self.nc, s, s)

    def _who(self):
        return f"MLPGenerator(nz={self.nz}, image_size={self.image_size})"

    def extra_repr(self):
        return (f"nz={self.nz}, hidden={self.hidden}, nc={self.nc}, "
                f"image_size={self.image_size}, batch_norm={self.batch_norm}")


class MLPDiscriminator(nn.Module):
    """The MLP discriminator: image (N, nc, image_size, image_size) -> one score per image (N,).

    ==========================================================  ==========================
    layer                                                       output (N, ...)
    ==========================================================  ==========================
    input, flattened                                            (nc * image_size^2,)
    Linear(w_{i-1}, w_i), LeakyReLU(0.2) [, Dropout(p)]         (w_i,) for each hidden w_i
    Linear(w_last, 1)                                           (1,), flattened: (N,) in all
    [Sigmoid, if ``sigmoid=True``]
    ==========================================================  ==========================

    The defaults (hidden (512, 256), 28x28 grey images) have 533,505 parameters. As
    ``DCGANDiscriminator``, the output is the logit l (D(x) = sigma(l)) unless ``sigmoid=True``.

    Args:
        nc: the channels of the images.
        hidden: the widths of the hidden layers (an int for one).
        image_size: the side of the square images (any positive int).
        sigmoid: end with a Sigmoid instead of returning the logit.
        dropout: the dropout probability after every hidden layer (default 0: none).

    Shape: (N, nc, image_size, image_size) -> (N,).
    """

    def __init__(self, nc=1, hidden=(512, 256), image_size=28, sigmoid=False, dropout=0.0):
        super().__init__()
        who = "MLPDiscriminator"
        self.nc = _positive(who, "nc", nc)
        self.image_size = _positive(who, "image_size", image_size)
        self.hidden = _widths(who, hidden)
        self.sigmoid = bool(sigmoid)
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"{who}: dropout must be in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)
        layers, width = [], self.nc * self.image_size ** 2
        for w in self.hidden:
            layers += [nn.Linear(width, w), nn.LeakyReLU(0.2)]
            if self.dropout:
                layers.append(nn.Dropout(self.dropout))
            width = w
        layers.append(nn.Linear(width, 1))
        if self.sigmoid:
            layers.append(nn.Sigmoid())
        self.main = nn.Sequential(*layers)

    def forward(self, x):
        s = self.image_size
        check_images(f"MLPDiscriminator(nc={self.nc}, image_size={s})", x, self.nc, (s, s))
        return self.main(x.reshape(x.shape[0], -1)).reshape(-1)  # (N, 1) -> (N,)

    def extra_repr(self):
        return (f"nc={self.nc}, hidden={self.hidden}, image_size={self.image_size}"
                + (f", dropout={self.dropout}" if self.dropout else "")
                + (", sigmoid=True" if self.sigmoid else ""))
