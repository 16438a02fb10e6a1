"""Per-sample image transforms, torchvision's names: ToTensor, Normalize, Flatten, Compose, Lambda.

They work on one sample at a time (a DataLoader then fetches samples one by one). For whole
datasets in memory, ``ds.as_tensor_dataset(flatten=..., normalize=...)`` does the same at once
and keeps the DataLoader's batch fast path.

Example:
    >>> t = Compose([ToTensor(), Normalize((0.2860,), (0.3530,)), Flatten()])
    >>> ds = FashionMNIST("data", transform=t)      # ds[i][0]: float32 (784,)

Data augmentation (``RandomCrop``, ``RandomHorizontalFlip``) works on one image (C, H, W) or on a
whole batch (N, C, H, W) at once, with an independent draw per image from
``chainrule.backend.get_rng()`` (so ``chainrule.manual_seed`` and a checkpoint's RNG state make
runs reproducible and resumable). ``TransformDataset`` applies such a transform to each fetched
batch and keeps the DataLoader's batch fast path:

    >>> aug = Compose([RandomCrop(28, padding=2), RandomHorizontalFlip()])
    >>> train = TransformDataset(FashionMNIST("data").as_tensor_dataset(normalize=True), aug)
    >>> xb, yb = next(iter(DataLoader(train, batch_size=128, shuffle=True)))  # (128, 1, 28, 28)
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..data.dataset import Dataset
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


# ---- data augmentation on images and whole batches ----------------------------------------------

def _image_array(x, who):
    """(array, was_tensor) for an image (H, W), (C, H, W) or a batch (N, C, H, W)."""
    arr = x.data if isinstance(x, Tensor) else np.asarray(x)
    if arr.ndim not in (2, 3, 4):
        raise ValueError(f"{who}: expected an image (H, W) or (C, H, W), or a batch (N, C, H, W); "
                         f"got shape {arr.shape}")
    return arr, isinstance(x, Tensor)


def _like_input(arr, was_tensor):
    return _tensor(arr) if was_tensor else arr


class RandomCrop:
    """Pad each image with ``padding`` pixels of value ``fill`` on every side, then cut out a
    ``size`` window at a uniformly random position, drawn independently for each image.

    For an image of H x W with padding p, the top-left corner (i, j) of the window is uniform on
    {0, ..., H + 2p - h} x {0, ..., W + 2p - w}; with size = (H, W) that is a random shift of the
    image by up to p pixels in each direction, the gaps filled with ``fill``.

    Args:
        size: the output (h, w), or one int for a square.
        padding: pixels added on each side before cropping (default 0).
        fill: the value of the padding (default 0). For images normalized as (x - mean) / std,
            ``fill = -mean / std`` pads with black, the background of (Fashion-)MNIST.

    Shape: (H, W), (C, H, W) or a batch (N, C, H, W) -> the same with the last two sizes (h, w).
    The input's type is kept (a Tensor in gives a Tensor out, an array an array) and it is not
    modified. Unlike torchvision, which draws one window for a whole batched tensor, every image
    of a batch gets its own window.

    Example:
        >>> x = np.zeros((128, 1, 28, 28), np.float32)
        >>> RandomCrop(28, padding=2)(x).shape
        (128, 1, 28, 28)
    """

    def __init__(self, size, padding=0, fill=0.0):
        size = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
        if len(size) != 2 or any(not isinstance(s, (int, np.integer)) or s < 1 for s in size):
            raise ValueError(f"RandomCrop: size must be a positive int or a pair (h, w) of them, "
                             f"got {size!r}")
        if not isinstance(padding, (int, np.integer)) or padding < 0:
            raise ValueError(f"RandomCrop: padding must be a non-negative int, got {padding!r}")
        self.size = (int(size[0]), int(size[1]))
        self.padding = int(padding)
        self.fill = float(fill)

    def __call__(self, x):
        arr, was_tensor = _image_array(x, "RandomCrop")
        batch = arr.reshape((-1,) + arr.shape[-3:]) if arr.ndim >= 3 else arr[None, None]
        n, c, H, W = batch.shape
        p, (h, w) = self.padding, self.size
        if h > H + 2 * p or w > W + 2 * p:
            raise ValueError(f"RandomCrop(size={self.size}, padding={p}): the crop is larger than "
                             f"the padded image {H + 2 * p}x{W + 2 * p} (input {arr.shape})")
        if p:
            padded = np.full((n, c, H + 2 * p, W + 2 * p), self.fill, dtype=arr.dtype)
            padded[:, :, p:p + H, p:p + W] = batch
        else:
            padded = batch
        rng = backend.get_rng()
        i = rng.integers(0, H + 2 * p - h + 1, size=n)  # top rows of the windows
        j = rng.integers(0, W + 2 * p - w + 1, size=n)  # left columns
        # windows[k, c, a, b] is the (h, w) view with top-left (a, b); one gather picks (i_k, j_k)
        windows = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(2, 3))
        out = windows[np.arange(n), :, i, j]  # (n, c, h, w), a new array
        return _like_input(out.reshape(arr.shape[:-2] + (h, w)), was_tensor)

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding}, fill={self.fill:g})"


class RandomHorizontalFlip:
    """Mirror each image left-right (x[..., ::-1]) with probability ``p``, independently.

    Shape: (H, W), (C, H, W) or a batch (N, C, H, W), unchanged; the input's type is kept and it
    is not modified.

    Example:
        >>> RandomHorizontalFlip(p=1.0)(np.array([[1, 2, 3]]))
        array([[3, 2, 1]])
    """

    def __init__(self, p=0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p!r}")
        self.p = float(p)

    def __call__(self, x):
        arr, was_tensor = _image_array(x, "RandomHorizontalFlip")
        if arr.ndim < 4:  # one image: one draw
            flip = backend.get_rng().random() < self.p
            out = arr[..., ::-1].copy() if flip else arr.copy()
            return _like_input(out, was_tensor)
        flip = backend.get_rng().random(len(arr)) < self.p  # (N,) which images to mirror
        out = arr.copy()
        out[flip] = arr[flip, ..., ::-1]
        return _like_input(out, was_tensor)

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p:g})"


class TransformDataset(Dataset):
    """A dataset whose inputs pass through ``transform`` each time they are fetched.

    Wraps a dataset of ``(x, y)`` samples. ``ds[i]`` is ``(transform(x), y)``; a batch fetched
    with the DataLoader's fast path (``__getitems__``) is transformed as a whole, once, so batch
    transforms (``RandomCrop``, ``RandomHorizontalFlip``, ``Normalize``) cost one array operation
    per batch and draw one random value per image. ``target_transform``, when given, is applied
    to the labels (each label, or the batch of them) the same way.

    Args:
        dataset: a map-style dataset of pairs, e.g. a ``TensorDataset(X, y)`` with X (N, C, H, W).
        transform: a callable on an image (C, H, W) or a batch (B, C, H, W).
        target_transform: a callable on the labels (optional).

    Example:
        >>> aug = Compose([RandomCrop(28, padding=2), RandomHorizontalFlip()])
        >>> train = TransformDataset(TensorDataset(X, y), aug)
        >>> xb, yb = train.__getitems__([0, 1, 2])      # (3, 1, 28, 28): each image shifted and
        ...                                              # mirrored with its own random draw
    """

    def __init__(self, dataset, transform=None, target_transform=None):
        for name, f in (("transform", transform), ("target_transform", target_transform)):
            if f is not None and not callable(f):
                raise TypeError(f"TransformDataset: {name} must be callable, got "
                                f"{type(f).__name__}")
        self.dataset = dataset
        self.transform = transform
        self.target_transform = target_transform

    def _apply(self, x, y):
        if self.transform is not None:
            x = self.transform(x)
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y

    def __getitem__(self, index):
        sample = self.dataset[index]
        if not isinstance(sample, (tuple, list)) or len(sample) != 2:
            raise TypeError(f"TransformDataset: expected the dataset to give (input, target) "
                            f"pairs, got {type(sample).__name__}")
        return self._apply(*sample)

    def __getitems__(self, indices):
        """The batch ``(transform(X[indices]), y[indices])``; a base dataset that returns a list
        of samples gets each sample transformed instead."""
        getitems = getattr(self.dataset, "__getitems__", None)
        if getitems is None:
            return [self[i] for i in indices]
        batch = getitems(indices)
        if isinstance(batch, list):
            return [self._apply(*s) for s in batch]
        if not isinstance(batch, tuple) or len(batch) != 2:
            raise TypeError(f"TransformDataset: expected the dataset's batches to be (inputs, "
                            f"targets) pairs, got {type(batch).__name__}")
        return self._apply(*batch)

    def __len__(self):
        return len(self.dataset)

    def __repr__(self):
        return f"TransformDataset({type(self.dataset).__name__}, transform={self.transform!r})"
