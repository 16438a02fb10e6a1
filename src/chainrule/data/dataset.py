"""Datasets: an indexable collection of samples, and ways to combine and split them.

A map-style dataset answers ``len(ds)`` and ``ds[i]`` (one sample, e.g. an ``(x, y)`` tuple).
A dataset that can fetch many samples at once with one array operation also defines
``__getitems__(indices)``; the :class:`~chainrule.data.DataLoader` then asks it for whole batches
instead of calling ``ds[i]`` once per sample (see "The batch hook" below).

The batch hook
--------------
``__getitems__(indices)`` receives a list of int indices and returns either

- a **list** of samples (PyTorch's contract): the DataLoader passes it to ``collate_fn``; or
- anything else (a tuple or dict of Tensors, a Tensor): the **finished batch**, used as is.

:class:`TensorDataset`, :class:`Subset` (over a dataset with the hook) and the image datasets of
``chainrule.datasets`` return finished batches: one NumPy fancy index per batch, so an epoch of
Fashion-MNIST (60,000 x 784 float32) at batch 128 takes tens of milliseconds.
"""
from __future__ import annotations

import bisect
import math
import numbers

import numpy as np

from .. import backend
from ..tensor import Tensor


def _tensor(arr):
    return Tensor._make(arr, False, None, 0)


class Dataset:
    """Base class of map-style datasets: subclasses define ``__getitem__(i)`` and ``__len__()``.

    ``a + b`` concatenates two datasets (:class:`ConcatDataset`).
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index)")

    def __add__(self, other):
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are the rows of tensors that share their first dimension.

    ``ds[i] == (tensors[0][i], tensors[1][i], ...)``. NumPy arrays are accepted and wrapped
    (memory shared, dtype kept).

    Example:
        >>> ds = TensorDataset(cr.randn(100, 784), cr.randint(0, 10, (100,)))
        >>> x, y = ds[0]            # x: (784,) float32, y: () int64
        >>> xb, yb = ds.__getitems__([0, 5, 7])   # one fancy index: (3, 784), (3,)
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor, got none")
        ts = []
        for k, t in enumerate(tensors):
            if isinstance(t, np.ndarray):
                t = _tensor(t)
            if not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset: argument {k} is a {type(t).__name__}; expected a "
                                f"Tensor or a numpy.ndarray")
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: argument {k} is a 0-d tensor; every tensor needs "
                                 f"a first dimension that indexes the samples")
            ts.append(t)
        sizes = [t.shape[0] for t in ts]
        if any(s != sizes[0] for s in sizes):
            raise ValueError(f"TensorDataset: size mismatch between tensors: first dimensions are "
                             f"{sizes} (shapes {[tuple(t.shape) for t in ts]}); every tensor must "
                             f"have the same number of rows")
        self.tensors = tuple(ts)

    def __getitem__(self, index):
        return tuple(_tensor(np.asarray(t.data[index])) for t in self.tensors)

    def __getitems__(self, indices):
        """The batch ``(tensors[0][indices], ...)``: one fancy index per tensor."""
        idx = np.asarray(indices, dtype=np.intp)
        return tuple(_tensor(t.data[idx]) for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in order: ``Subset(ds, idx)[i] == ds[idx[i]]``."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices
        self._idx = np.asarray(indices, dtype=np.int64).reshape(-1)

    def __getitem__(self, index):
        return self.dataset[int(self._idx[index])]

    def __getitems__(self, indices):
        inner = self._idx[np.asarray(indices, dtype=np.intp)].tolist()
        getitems = getattr(self.dataset, "__getitems__", None)
        if getitems is not None:
            return getitems(inner)
        return [self.dataset[i] for i in inner]

    def __len__(self):
        return len(self._idx)


class ConcatDataset(Dataset):
    """The samples of several datasets one after another.

    Index ``i`` falls in the first dataset whose cumulative size exceeds it
    (``cumulative_sizes[k] = len(ds_0) + ... + len(ds_k)``).
    """

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: expected at least one dataset, got an empty list")
        self.cumulative_sizes = []
        total = 0
        for d in self.datasets:
            total += len(d)
            self.cumulative_sizes.append(total)

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        n = len(self)
        if index < 0:
            if -index > n:
                raise IndexError(f"ConcatDataset: index {index} out of range for length {n}")
            index += n
        if index >= n:
            raise IndexError(f"ConcatDataset: index {index} out of range for length {n}")
        k = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[k - 1] if k > 0 else 0
        return self.datasets[k][index - start]


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` into non-overlapping random :class:`Subset` s of the given lengths.

    Args:
        dataset: the dataset to split.
        lengths: ints summing to ``len(dataset)``, or fractions summing to 1 (each part gets
            ``floor(n * f)`` samples and the remainder is dealt one by one from the first part on).
        generator: a ``numpy.random.Generator``; by default the global one
            (``chainrule.backend.get_rng()``, seeded by ``manual_seed``).

    Example:
        >>> train, val = random_split(ds, [0.9, 0.1])
    """
    n = len(dataset)
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: expected at least one length, got an empty list")
    is_frac = (all(isinstance(x, numbers.Real) and not isinstance(x, numbers.Integral)
                   for x in lengths) and math.isclose(sum(lengths), 1.0, abs_tol=1e-6))
    if is_frac:
        if any(f < 0 or f > 1 for f in lengths):
            raise ValueError(f"random_split: fractions must lie in [0, 1], got {lengths}")
        counts = [int(math.floor(n * f)) for f in lengths]
        for k in range(n - sum(counts)):
            counts[k % len(counts)] += 1
    else:
        if not all(isinstance(x, numbers.Integral) and x >= 0 for x in lengths):
            raise ValueError(f"random_split: lengths must be non-negative ints summing to "
                             f"len(dataset) = {n}, or fractions summing to 1; got {lengths}")
        counts = [int(x) for x in lengths]
        if sum(counts) != n:
            raise ValueError(f"random_split: lengths {counts} sum to {sum(counts)}, but the "
                             f"dataset has {n} samples")
    rng = backend.get_rng() if generator is None else generator
    perm = rng.permutation(n)
    parts, start = [], 0
    for c in counts:
        parts.append(Subset(dataset, perm[start:start + c].tolist()))
        start += c
    return parts
