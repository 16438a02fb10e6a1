"""Deep convolutional GAN nets (Radford, Metz and Chintala 2015, "Unsupervised representation
learning with deep convolutional generative adversarial networks"), the notes' section 4.

The generator G maps a noise vector z ~ p(z) to an image x = G(z); the discriminator D maps an
image to a score, the logit of the probability that the image is real rather than generated. They
are trained against each other (min over G, max over D of V(D, G)); the losses and the training
loop live elsewhere, this file has only the two nets.

The paper's guidelines for nets that train stably, in short: no pooling and no hidden fully
connected layers, the nets are all convolutional, and the resolution changes only through the
stride: D halves its maps with stride-2 convolutions and G doubles them with stride-2 transposed
("fractionally strided") convolutions, so that each net learns its own down- or up-sampling. Both
nets use batch normalization after every convolution except G's output layer and D's input layer
(normalizing those made samples oscillate); a conv followed by BN has no bias since BN's beta
plays that role. G uses ReLU inside and tanh at the output (images scaled to [-1, 1]); D uses
LeakyReLU with slope 0.2 everywhere. The first layer of G is a projection of z to a small map
(4x4): a linear layer reshaped, which is exactly a transposed conv with a 4x4 kernel on the 1x1
map of z. Weights start from N(0, 0.02^2), BN's gamma from N(1, 0.02^2) and beta at 0 (and the
paper trains with Adam, lr 2e-4, beta1 0.5).

Image sizes: base * 2^k with base 4 (the paper: 4 -> 8 -> 16 -> 32 -> 64) or base 7 (28x28
Fashion-MNIST: 7 -> 14 -> 28) and k >= 1 stride-2 layers. With ngf = ndf = 64 the channels at the
4x4 map are 512 for 64x64 images (the paper's figure shows 1024: ngf = 128), and the default nets
have 3,576,704 (G) and 2,765,568 (D) parameters. The layers sit in one ``nn.Sequential`` called
``main``, with the order (and so the state_dict keys ``main.<i>.*``) of the DCGAN example that
ships with PyTorch.
"""
from __future__ import annotations

import numbers

from .. import nn
from ..nn import init
from ..ops._util import OpError
from ..tensor import Tensor
from ._image import check_images

_BASES = (4, 7)  # the side of G's first map (and of D's last one)


def _plan(who, image_size):
    """(base, k): image_size = base * 2^k with base in _BASES and k >= 1 stride-2 layers."""
    if not isinstance(image_size, numbers.Integral) or isinstance(image_size, bool):
        raise TypeError(f"{who}: image_size must be an int, got {type(image_size).__name__}")
    for base in _BASES:
        size, k = int(image_size), 0
        while size > base and size % 2 == 0:
            size, k = size // 2, k + 1
        if size == base and k >= 1:
            return base, k
    raise ValueError(f"{who}: unsupported image_size {image_size!r}; expected 4 * 2^k (8, 16, 32, "
                     f"64, 128, ...) or 7 * 2^k (14, 28, 56, ...) with k >= 1, e.g. 32 or 64 "
                     f"(CIFAR, the paper's LSUN/faces) or 28 (Fashion-MNIST)")


def _positive(who, name, v):
    if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{who}: {name} must be a positive int, got {v!r}")
    return int(v)


def check_noise(who, z, nz):
    """``z`` checked as a generator's noise batch, (N, nz) or (N, nz, 1, 1); returned as given."""
    if not isinstance(z, Tensor):
        raise TypeError(f"{who}: expected z as a Tensor of shape (N, {nz}), got "
                        f"{type(z).__name__}")
    shape = tuple(z.shape)
    if not (len(shape) == 2 and shape[1] == nz or len(shape) == 4 and shape[1:] == (nz, 1, 1)):
        raise OpError(f"{who}: expected z of shape (N, {nz}) or (N, {nz}, 1, 1), got {shape}")
    return z


def dcgan_init_(module):
    """The paper's initialization of one module, for ``net.apply(dcgan_init_)``: conv and
    transposed-conv weights from N(0, 0.02^2) (biases, if any, 0); batch-norm gamma from
    N(1, 0.02^2) and beta 0. Other modules are left as they are. Returns ``module``."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if module.weight is not None:
            init.normal_(module.weight, 1.0, 0.02)
            init.zeros_(module.bias)
    return module


class DCGANGenerator(nn.Module):
    """The DCGAN generator: z (N, nz) -> image (N, nc, image_size, image_size) in [-1, 1].

    With image_size = base * 2^k (base 4 or 7) and w_i = ngf * 2^(k-1-i):

    ==============================================================  =======================
    layer                                                           output (N, ...)
    ==============================================================  =======================
    z, reshaped                                                     (nz, 1, 1)
    ConvTranspose2d(nz, w_0, base, stride 1, pad 0), BN, ReLU       (w_0, base, base)
    ConvTranspose2d(w_{i-1}, w_i, 4, stride 2, pad 1), BN, ReLU     (w_i, base 2^i, base 2^i)
      for i = 1 .. k-1
    ConvTranspose2d(w_{k-1}, nc, 4, stride 2, pad 1), Tanh          (nc, image_size, ...)
    ==============================================================  =======================

    For the default 64x64: 100 -> 512 (4x4) -> 256 (8x8) -> 128 (16x16) -> 64 (32x32) -> 3 (64x64),
    3,576,704 parameters. For 28x28 (nc=1): nz -> 2 ngf (7x7) -> ngf (14x14) -> 1 (28x28). No conv
    has a bias (those before a BN don't need one; the output layer has none either, as in the
    usual DCGAN).

    Args:
        nz: the dimension of z.
        ngf: the width of the last hidden layer; the widths double towards z.
        nc: the channels of the images (3 colour, 1 grey).
        image_size: the side of the square images, 4 * 2^k or 7 * 2^k with k >= 1.

    Weights are initialized as the paper (``dcgan_init_``); ``reset_parameters()`` redraws them.

    Shape: z (N, nz) or (N, nz, 1, 1) -> (N, nc, image_size, image_size).

    Example::

        >>> g = DCGANGenerator(nz=100, image_size=32)
        >>> g(cr.randn(8, 100)).shape          # (8, 3, 32, 32)
    """

    def __init__(self, nz=100, ngf=64, nc=3, image_size=64):
        super().__init__()
        who = "DCGANGenerator"
        self.nz, self.ngf = _positive(who, "nz", nz), _positive(who, "ngf", ngf)
        self.nc = _positive(who, "nc", nc)
        base, k = _plan(who, image_size)
        self.image_size = int(image_size)
        widths = [self.ngf * 2 ** (k - 1 - i) for i in range(k)]
        layers = [nn.ConvTranspose2d(self.nz, widths[0], base, 1, 0, bias=False),
                  nn.BatchNorm2d(widths[0]), nn.ReLU()]
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(cout), nn.ReLU()]
        layers += [nn.ConvTranspose2d(widths[-1], self.nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.reset_parameters()

    def reset_parameters(self):
        """Redraw every weight as the paper: N(0, 0.02^2) for convs, gamma N(1, 0.02^2), beta 0."""
        self.apply(dcgan_init_)

    def forward(self, z):
        z = check_noise(self._who(), z, self.nz)
        return self.main(z.reshape(z.shape[0], self.nz, 1, 1))

    def _who(self):
        return f"DCGANGenerator(nz={self.nz}, image_size={self.image_size})"

    def extra_repr(self):
        return f"nz={self.nz}, ngf={self.ngf}, nc={self.nc}, image_size={self.image_size}"


class DCGANDiscriminator(nn.Module):
    """The DCGAN discriminator: image (N, nc, image_size, image_size) -> one score per image (N,).

    With image_size = base * 2^k (base 4 or 7) and w_i = ndf * 2^i, the mirror of the generator:

    ==============================================================  =======================
    layer                                                           output (N, ...)
    ==============================================================  =======================
    input                                                           (nc, image_size, ...)
    Conv2d(nc, w_0, 4, stride 2, pad 1), LeakyReLU(0.2)             (w_0, image_size / 2, ...)
    Conv2d(w_{i-1}, w_i, 4, stride 2, pad 1), BN, LeakyReLU(0.2)    (w_i, image_size / 2^(i+1))
      for i = 1 .. k-1
    Conv2d(w_{k-1}, 1, base, stride 1, pad 0)                       (1, 1, 1)
    flattened                                                       (N,) in all
    [Sigmoid, if ``sigmoid=True``]
    ==============================================================  =======================

    For the default 64x64: 3 -> 64 (32x32) -> 128 (16x16) -> 256 (8x8) -> 512 (4x4) -> 1,
    2,765,568 parameters. No conv has a bias.

    The output is a logit l by default (``sigmoid=False``): D(x) = sigma(l). The GAN losses need
    log D = -softplus(-l) and log(1 - D) = -softplus(l), which are exact from l
    (``nn.BCEWithLogitsLoss``) but lose everything once sigma(l) has rounded to 0 or 1 in float32
    (|l| > ~17), which happens early in training when D wins. ``sigmoid=True`` appends the
    paper's Sigmoid, for ``nn.BCELoss`` or to read probabilities.

    Args:
        nc: the channels of the images.
        ndf: the width of the first layer; the widths double with depth.
        image_size: the side of the square images, 4 * 2^k or 7 * 2^k with k >= 1.
        sigmoid: end with a Sigmoid (D(x) in (0, 1)) instead of returning the logit.

    Weights are initialized as the paper (``dcgan_init_``); ``reset_parameters()`` redraws them.

    Shape: (N, nc, image_size, image_size) -> (N,).
    """

    def __init__(self, nc=3, ndf=64, image_size=64, sigmoid=False):
        super().__init__()
        who = "DCGANDiscriminator"
        self.nc, self.ndf = _positive(who, "nc", nc), _positive(who, "ndf", ndf)
        base, k = _plan(who, image_size)
        self.image_size = int(image_size)
        self.sigmoid = bool(sigmoid)
        widths = [self.ndf * 2 ** i for i in range(k)]
        layers = [nn.Conv2d(self.nc, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout),
                       nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(widths[-1], 1, base, 1, 0, bias=False))
        if self.sigmoid:
            layers.append(nn.Sigmoid())
        self.main = nn.Sequential(*layers)
        self.reset_parameters()

    def reset_parameters(self):
        """Redraw every weight as the paper: N(0, 0.02^2) for convs, gamma N(1, 0.02^2), beta 0."""
        self.apply(dcgan_init_)

    def forward(self, x):
        s = self.image_size
        check_images(f"DCGANDiscriminator(nc={self.nc}, image_size={s})", x, self.nc, (s, s))
        return self.main(x).reshape(-1)  # (N, 1, 1, 1) -> (N,)

    def extra_repr(self):
        return (f"nc={self.nc}, ndf={self.ndf}, image_size={self.image_size}"
                + (", sigmoid=True" if self.sigmoid else ""))
