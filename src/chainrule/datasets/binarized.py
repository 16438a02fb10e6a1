"""Binarized images for likelihood models (VAE, Helmholtz machine): X in {0, 1}^784.

Dynamic binarization (the usual protocol for binarized MNIST-like data): every time a training
image is drawn, each pixel becomes 1 with probability equal to its grey level,
X_i ~ Bernoulli(x_i / 255), so the model never sees the same binary image twice. The test set is
binarized once, with a fixed seed, so that every model (the VAE, wake-sleep, a PyTorch peer) is
scored on the very same binary images.

- :func:`grey_levels`: the split's images as float32 (N, 784) in [0, 1].
- :func:`binarize`: one Bernoulli draw per pixel from a NumPy generator.
- :class:`DynamicBinarized`: a dataset whose items are fresh binary draws (train split).
- :func:`fixed_binarized`: the split binarized once with ``seed`` (default 0), float32 (N, 784).
"""
from __future__ import annotations

import numpy as np

from ..data import Dataset


def grey_levels(dataset):
    """An MNIST-style dataset's ``data`` (uint8 (N, 28, 28)) as float32 (N, 784) in [0, 1]."""
    data = getattr(dataset, "data", None)
    if data is None or np.asarray(data).ndim != 3:
        raise ValueError(f"grey_levels: expected a dataset with uint8 images data (N, H, W), got "
                         f"{type(dataset).__name__} with data of shape "
                         f"{None if data is None else np.shape(data)}")
    arr = np.asarray(data)
    return (arr.reshape(arr.shape[0], -1).astype(np.float32) / 255.0)


def binarize(probs, rng):
    """X = 1[u < probs] with u ~ U(0, 1) from ``rng`` (so X_i ~ Bernoulli(probs_i)), float32."""
    probs = np.asarray(probs)
    if probs.size and (probs.min() < 0 or probs.max() > 1):
        raise ValueError(f"binarize: expected probabilities in [0, 1], got values in "
                         f"[{probs.min()}, {probs.max()}]")
    return (rng.random(probs.shape, dtype=np.float32) < probs).astype(np.float32)


def fixed_binarized(dataset, seed=0):
    """The dataset's images binarized once with ``np.random.default_rng(seed)``: float32 (N, 784).

    The same seed gives the same binary images on every machine (NumPy's PCG64 stream is fixed),
    which is what lets two models' test log-likelihoods be compared.
    """
    return binarize(grey_levels(dataset), np.random.default_rng(seed))


class DynamicBinarized(Dataset):
    """Items ``(X, label)`` with X ~ Bernoulli(grey levels) drawn anew on every access.

    X is a float32 Tensor (784,), the label an int64 Tensor. The draws come from the dataset's
    own generator, ``np.random.default_rng(seed)``, not the global one, so that a DataLoader's
    prefetch thread and the training loop's own draws (the reparameterization noise) never
    interleave differently from run to run.
    """

    def __init__(self, dataset, seed=0):
        self.probs = grey_levels(dataset)
        self.targets = np.asarray(getattr(dataset, "targets", np.zeros(len(self.probs))),
                                  dtype=np.int64)
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.probs)

    def __getitem__(self, i):
        from ..tensor import Tensor

        return Tensor(binarize(self.probs[i], self.rng)), Tensor(self.targets[i])

    def __getitems__(self, indices):
        """A finished batch ``(X (B, 784), labels (B,))`` in one draw (the DataLoader's fast path)."""
        from ..tensor import Tensor

        idx = np.asarray(indices, dtype=np.intp)
        return Tensor(binarize(self.probs[idx], self.rng)), Tensor(self.targets[idx])
