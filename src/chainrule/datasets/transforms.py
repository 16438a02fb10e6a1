"""Per-sample image transforms, torchvision's names: ToTensor, Normalize, Flatten, Compose, Lambda.

They work on one sample at a time (a DataLoader then fetches samples one by one). For whole
datasets in memory, ``ds.as_tensor_dataset(flatten=..., normalize=...)`` does the same at once
and keeps the DataLoader's batch fast path.

Example:
    >>> t = Compose([ToTensor(), Normalize((0.2860,), (0.3530,)), Flatten()])
    >>> ds = FashionMNIST("data", transform=t)      # ds[i][0]: float32 (784,)
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor


def _tensor(arr):
    return Tensor._make(arr, False, None, 0)


class Compose:
    """Apply transforms in order: ``Compose([f, g])(x) == g(f(x))``."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self):
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


class ToTensor:
    """An image array (H, W) or (H, W, C) -> a float32 Tensor (C, H, W).

    uint8 values are scaled to [0, 1] (x / 255); floating-point arrays keep their values
    (cast to float32). A Tensor is returned unchanged.
    """

    def __call__(self, pic):
        if isinstance(pic, Tensor):
            return pic
        arr = np.asarray(pic)
        if arr.ndim not in (2, 3):
            raise ValueError(f"ToTensor: expected an image array (H, W) or (H, W, C), got shape "
                             f"{arr.shape}")
        chw = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
        if arr.dtype == np.uint8:
            return _tensor(chw.astype(np.float32) / np.float32(255))
        return _tensor(np.ascontiguousarray(chw, dtype=np.float32))

    def __repr__(self):
        return "ToTensor()"


class Normalize:
    """Standardize each channel: ``out[c] = (x[c] - mean[c]) / std[c]`` on (..., C, H, W).

    ``mean`` and ``std`` are sequences with one value per channel (or one for all).
    """

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1)
        self.std = np.asarray(std, dtype=np.float32).reshape(-1)
        if self.mean.size != self.std.size and 1 not in (self.mean.size, self.std.size):
            raise ValueError(f"Normalize: mean and std need the same number of channels, got "
                             f"{self.mean.size} and {self.std.size}")
        if np.any(self.std == 0):
            raise ValueError(f"Normalize: std must be non-zero, got {self.std.tolist()}")

    def __call__(self, x):
        arr = x.data if isinstance(x, Tensor) else np.asarray(x)
        if arr.ndim < 3 or arr.dtype.kind != "f":
            raise ValueError(f"Normalize: expected a float image (..., C, H, W), got "
                             f"{arr.dtype} {arr.shape} (apply ToTensor first)")
        c = arr.shape[-3]
        if max(self.mean.size, self.std.size) not in (1, c):
            raise ValueError(f"Normalize: {self.mean.size} means for an image of {c} channels")
        shape = (-1, 1, 1)
        out = (arr - self.mean.reshape(shape)) / self.std.reshape(shape)
        return _tensor(out.astype(arr.dtype, copy=False))

    def __repr__(self):
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class Flatten:
    """A sample (C, H, W) -> (C*H*W,), e.g. (1, 28, 28) -> (784,) for an MLP."""

    def __call__(self, x):
        arr = x.data if isinstance(x, Tensor) else np.asarray(x)
        return _tensor(arr.reshape(-1))

    def __repr__(self):
        return "Flatten()"


class Lambda:
    """Wrap a function as a transform."""

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError(f"Lambda: expected a callable, got {type(fn).__name__}")
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)

    def __repr__(self):
        return f"Lambda({getattr(self.fn, '__name__', 'fn')})"
