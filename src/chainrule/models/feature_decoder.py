"""The supervised decoder of notes 4.2: an image generated from the features of one layer of a CNN.

A trained classifier (LeNet-5 here) maps an image X to the features of its layer l,
h = f_l(X). A top-down network g_theta, chosen from the shape of h, is trained to give the image
back by least squares over the pairs {(h_i, X_i)}, with the classifier frozen:

    min_theta  sum_i ||X_i - g_theta(h_i)||^2,        h_i = f_l(X_i).

The reconstructions show what the layer keeps: from a low layer the image comes back nearly
exact; from the top (the class scores) only a typical member of the predicted class comes back.

- :func:`layer_features`: the outputs of named layers (dotted module names such as
  ``"features.2"`` or ``"classifier.3"``), captured by forward hooks; the forward pass stops as
  soon as the last of them has been computed.
- :func:`layer_names`: the names that can be asked for.
- :class:`FeatureDecoder`: g_theta for one layer of one classifier, with ``loss`` the mean
  squared error.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import nn
from ..ops._util import OpError
from ..tensor import Tensor

__all__ = ["FeatureDecoder", "layer_features", "layer_names"]

_OUTPUTS = ("linear", "sigmoid")


class _Stop(Exception):
    """Raised by a hook once every asked-for layer has fired, to skip the rest of the forward."""


def layer_names(model):
    """The dotted names of ``model``'s submodules, in registration order (the model itself,
    named "", is left out): what :func:`layer_features` and :class:`FeatureDecoder` accept."""
    return [name for name, _ in model.named_modules() if name]


def layer_features(model, layers, x):
    """The outputs of the named layers of ``model`` on input ``x``.

    Args:
        model: an ``nn.Module`` (e.g. ``LeNet5``).
        layers: one dotted module name (``"features.5"``) or a sequence of them.
        x: the model's input.

    Returns: the output Tensor of the layer (for one name) or a dict name -> Tensor (for a
    sequence). The forward pass stops once the last of them has been computed. Gradients are
    recorded as usual: wrap in ``chainrule.no_grad()`` for frozen features. A layer that runs
    more than once per forward gives its first output.
    """
    single = isinstance(layers, str)
    names = [layers] if single else list(layers)
    if not names:
        raise ValueError("layer_features: expected at least one layer name, got none")
    known = layer_names(model)
    modules = {}
    for name in names:
        if not isinstance(name, str) or name not in known:
            raise KeyError(f"layer_features: {type(model).__name__} has no layer {name!r}; "
                           f"its layers are: {', '.join(known)}")
        modules[name] = model.get_submodule(name)
    out = {}

    def hook_for(name):
        def hook(module, args, output):
            if name not in out:
                if not isinstance(output, Tensor):
                    raise TypeError(f"layer_features: layer {name!r} of {type(model).__name__} "
                                    f"returned {type(output).__name__}, expected a Tensor")
                out[name] = output
            if len(out) == len(names):
                raise _Stop
        return hook

    handles = [modules[name].register_forward_hook(hook_for(name)) for name in dict.fromkeys(names)]
    try:
        model(x)
    except _Stop:
        pass
    finally:
        for h in handles:
            h.remove()
    missing = [name for name in names if name not in out]
    if missing:
        raise RuntimeError(f"layer_features: the forward pass of {type(model).__name__} did not "
                           f"run the layers {missing}")
    return out[names[0]] if single else {name: out[name] for name in names}


def _positive(who, name, v):
    if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{who}: {name} must be a positive int, got {v!r}")
    return int(v)


def _doublings(size, smallest):
    """The most times k (<= 3) that ``size`` halves evenly with size / 2^k >= ``smallest``."""
    k = 0
    while k < 3 and size % (2 ** (k + 1)) == 0 and size // 2 ** (k + 1) >= smallest:
        k += 1
    return k


class FeatureDecoder(nn.Module):
    """g_theta: the features h = f_l(X) of layer ``layer`` of a frozen ``classifier`` -> the image.

    The architecture follows the shape of h (the image is C x H x W, ``image_shape``):

    - a square feature map (c, s, s) with s <= H = W (e.g. LeNet-5's ``features.2``, 6x14x14,
      or ``features.5``, 16x5x5): first to the size t = H / 2^k nearest above s (a
      ConvTranspose2d with kernel t - s + 1, or a 3x3 Conv2d when s = t), then k stride-2
      ConvTranspose2d (kernel 4, padding 1) doubling the size to H, then a 3x3 stride-1 layer
      to C channels (a ConvTranspose2d, the same maps as a 3x3 Conv2d); ReLU between the layers;
    - any other features (a vector such as ``classifier.3``, 84 numbers, or the logits): flatten,
      Linear(D, hidden), ReLU, Linear(hidden, c0 * H/2^k * W/2^k), ReLU, reshape, then the same
      k doublings and the final 3x3 layer.

    The channels halve at each doubling down to ``channels`` at full size. ``output='sigmoid'``
    puts the image through a sigmoid (targets in [0, 1]); ``'linear'`` (default) leaves it as is.

    The classifier is frozen and *not* a submodule: its parameters are neither trained nor in
    this module's ``parameters()`` / ``state_dict()`` (save it on its own). Features are computed
    in its eval mode without a graph.

    Args:
        classifier: the trained network (an ``nn.Module`` taking (N, *image_shape)).
        layer: the dotted name of the layer (see :func:`layer_names`).
        image_shape: (C, H, W) of the images (default (1, 28, 28)).
        channels: the channels at full size (default 16).
        hidden: the hidden width of the vector path (default 256).
        output: 'linear' or 'sigmoid'.

    Shapes: ``features(x)``: (N, *image_shape) -> (N, *feature_shape); ``forward(h)``:
    (N, *feature_shape) -> (N, *image_shape); ``reconstruct(x)`` = forward(features(x));
    ``loss(x, target=None)``: the mean squared error (1 / (N C H W)) sum_i ||X_i - g(h_i)||^2,
    a scalar (same minimizer as the sum of the notes).

    Example::

        >>> dec = FeatureDecoder(lenet, "features.5")     # h (N, 16, 5, 5)
        >>> loss = dec.loss(x)                            # least squares on (f_l(x), x)
        >>> dec.reconstruct(x).shape                      # (N, 1, 28, 28)
    """

    def __init__(self, classifier, layer, image_shape=(1, 28, 28), channels=16, hidden=256,
                 output="linear"):
        super().__init__()
        if not isinstance(classifier, nn.Module):
            raise TypeError(f"FeatureDecoder: expected the classifier as an nn.Module, got "
                            f"{type(classifier).__name__}")
        who = f"FeatureDecoder({layer!r})"
        shape = tuple(image_shape) if isinstance(image_shape, (tuple, list)) else None
        if shape is None or len(shape) != 3:
            raise ValueError(f"{who}: image_shape must be (C, H, W), got {image_shape!r}")
        self.image_shape = tuple(_positive(who, "image_shape entry", s) for s in shape)
        self.channels = _positive(who, "channels", channels)
        self.hidden = _positive(who, "hidden", hidden)
        if output not in _OUTPUTS:
            raise ValueError(f"{who}: output must be one of {_OUTPUTS}, got {output!r}")
        self.output = output
        object.__setattr__(self, "_classifier", classifier)  # frozen, not registered
        self.layer = layer
        self.feature_shape = self._probe_feature_shape()
        self.decoder = self._build()

    @property
    def classifier(self):
        """The frozen network whose layer is decoded (not a submodule)."""
        return self._classifier

    def _who(self):
        return f"FeatureDecoder({self.layer!r})"

    def _probe_feature_shape(self):
        from ..autograd import no_grad

        p = next(iter(self._classifier.parameters()), None)
        dtype = np.float32 if p is None else p.dtype
        with no_grad():
            was = self._classifier.training
            self._classifier.eval()
            try:
                h = layer_features(self._classifier, self.layer,
                                   Tensor(np.zeros((1,) + self.image_shape, dtype=dtype)))
            except KeyError as e:
                raise KeyError(f"{self._who()}: {e.args[0]}") from None
            finally:
                self._classifier.train(was)
        return tuple(h.shape[1:])

    def _build(self):
        C, H, W = self.image_shape
        fs = self.feature_shape
        layers = []
        square = len(fs) == 3 and fs[1] == fs[2] and H == W and fs[1] <= H
        if square:  # a feature map: stay convolutional
            c, s = fs[0], fs[1]
            k = _doublings(H, s)
            t = H // 2 ** k
            width = self.channels * 2 ** k
            if t > s:
                layers.append(nn.ConvTranspose2d(c, width, kernel_size=t - s + 1))
            else:
                layers.append(nn.Conv2d(c, width, kernel_size=3, padding=1))
            layers.append(nn.ReLU())
            self.path = "conv"
        else:  # a vector (or an odd map): through fully connected layers to a small map
            D = int(np.prod(fs))
            k = min(_doublings(H, 4), _doublings(W, 4))
            width = self.channels * 2 ** k
            h0, w0 = H // 2 ** k, W // 2 ** k
            if len(fs) > 1:
                layers.append(nn.Flatten(1))
            layers += [nn.Linear(D, self.hidden), nn.ReLU(),
                       nn.Linear(self.hidden, width * h0 * w0), nn.ReLU(),
                       nn.Unflatten(1, (width, h0, w0))]
            self.path = "linear"
        for _ in range(k):  # each doubles the size and halves the channels
            layers += [nn.ConvTranspose2d(width, width // 2, kernel_size=4, stride=2, padding=1),
                       nn.ReLU()]
            width //= 2
        # the last 3x3 layer, stride 1: a ConvTranspose2d computes the same family of maps as a
        # Conv2d (the kernel flipped) and its backward is the cheaper one here
        layers.append(nn.ConvTranspose2d(width, C, kernel_size=3, padding=1))
        if self.output == "sigmoid":
            layers.append(nn.Sigmoid())
        return nn.Sequential(*layers)

    # ---- the two halves -----------------------------------------------------------------------
    def _check_x(self, x, name="x"):
        if not isinstance(x, Tensor):
            raise TypeError(f"{self._who()}: expected {name} as a Tensor of shape "
                            f"(N, {', '.join(map(str, self.image_shape))}), got "
                            f"{type(x).__name__}")
        if x.ndim != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise OpError(f"{self._who()}: expected {name} of shape "
                          f"(N, {', '.join(map(str, self.image_shape))}), got {tuple(x.shape)}")

    def features(self, x):
        """h = f_l(x), (N, *feature_shape), from the frozen classifier in eval mode, no graph."""
        from ..autograd import no_grad

        self._check_x(x)
        was = self._classifier.training
        self._classifier.eval()
        try:
            with no_grad():
                return layer_features(self._classifier, self.layer, x).detach()
        finally:
            self._classifier.train(was)

    def forward(self, h):
        """g_theta(h): features (N, *feature_shape) -> images (N, *image_shape)."""
        if not isinstance(h, Tensor):
            raise TypeError(f"{self._who()}: expected h as a Tensor of shape (N, "
                            f"{', '.join(map(str, self.feature_shape))}), got {type(h).__name__}")
        if h.ndim != 1 + len(self.feature_shape) or tuple(h.shape[1:]) != self.feature_shape:
            raise OpError(f"{self._who()}: expected features h of shape (N, "
                          f"{', '.join(map(str, self.feature_shape))}), got {tuple(h.shape)}")
        return self.decoder(h)

    def reconstruct(self, x):
        """g_theta(f_l(x)): the image rebuilt from the layer's features, (N, *image_shape)."""
        return self.forward(self.features(x))

    def loss(self, x, target=None, h=None):
        """Least squares (1 / (N C H W)) sum_i ||X_i - g_theta(h_i)||^2 (a scalar).

        ``x`` is the classifier's input; ``target`` the image to rebuild (default ``x``; e.g.
        the [0, 1] pixels when ``x`` is normalized); ``h`` the features if already computed."""
        from ..ops.loss import mse_loss

        target = x if target is None else target
        self._check_x(target, "target")
        h = self.features(x) if h is None else h
        if h.shape[0] != target.shape[0]:
            raise OpError(f"{self._who()}: expected as many features as targets, got "
                          f"{h.shape[0]} and {target.shape[0]}")
        return mse_loss(self.forward(h), target)

    def extra_repr(self):
        return (f"layer={self.layer!r}, feature_shape={self.feature_shape}, "
                f"image_shape={self.image_shape}, path={self.path!r}, output={self.output!r}")
