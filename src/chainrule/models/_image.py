"""The input check shared by the image classifiers (LeNet, AlexNet, VGG, GoogLeNet, ResNet).

Each network checks its input once, at the top of ``forward``, so that a wrong image batch is
reported with the network's name (``resnet20(in_channels=1): expected input (N, 1, H, W), got
(8, 3, 32, 32)``) rather than by whichever layer happens to fail first.
"""
from __future__ import annotations

from ..ops._util import OpError
from ..tensor import Tensor


def check_images(who, x, in_channels, size=None, min_size=None):
    """Raise unless ``x`` is an image batch (N, in_channels, H, W), with (H, W) == ``size`` if
    given.

    Args:
        who: the network's name for the message, e.g. ``"lenet5(in_channels=1)"``.
        x: the input.
        in_channels: the number of channels the first layer expects.
        size: the exact (H, W) the network needs (networks with a fixed-size classifier), or None.
        min_size: the smallest H and W the network takes (its pools need a window), or None.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{who}: expected a Tensor of shape (N, {in_channels}, H, W), got "
                        f"{type(x).__name__}")
    shape = tuple(x.shape)
    if len(shape) != 4 or shape[1] != in_channels or (size is not None and shape[2:] != size):
        hw = "H, W" if size is None else f"{size[0]}, {size[1]}"
        raise OpError(f"{who}: expected input (N, {in_channels}, {hw}), got {shape}")
    if min_size is not None and min(shape[2:]) < min_size:
        raise OpError(f"{who}: expected images of at least {min_size}x{min_size}, got "
                      f"{shape[2]}x{shape[3]} (input {shape})")
