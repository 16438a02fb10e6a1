"""Samplers: the order in which a DataLoader visits a dataset's indices, and how it groups them.

Random samplers draw a fresh order each time they are iterated (one epoch), from their own
``numpy.random.Generator`` when given one, otherwise from ``chainrule.backend.get_rng()`` looked up
at that moment, so ``chainrule.manual_seed(s)`` makes the order reproducible and restoring a
checkpoint's RNG state reproduces the order of the epochs after it.
"""
from __future__ import annotations

import numpy as np

from .. import backend


class Sampler:
    """Base class: an iterable of dataset indices with a ``__len__``."""

    def __iter__(self):
        return iter(self._index_array().tolist())

    def _index_array(self):
        """The epoch's indices as one int64 array (drawn now); BatchSampler slices it."""
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


def _rng(generator):
    if generator is None:
        return backend.get_rng()
    if not isinstance(generator, np.random.Generator):
        raise TypeError(f"expected generator to be a numpy.random.Generator or None, got "
                        f"{type(generator).__name__}")
    return generator


class SequentialSampler(Sampler):
    """Indices 0, 1, ..., len(data_source) - 1, in order."""

    def __init__(self, data_source):
        self.data_source = data_source

    def _index_array(self):
        return np.arange(len(self.data_source), dtype=np.int64)

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random order of the indices, new at each iteration.

    Args:
        data_source: the dataset (only its length is used).
        replacement: draw ``num_samples`` indices uniformly with replacement.
        num_samples: how many indices per epoch (default ``len(data_source)``); without
            replacement, more than ``len`` chains several permutations.
        generator: a ``numpy.random.Generator``; None uses ``chainrule.backend.get_rng()``.
    """

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = bool(replacement)
        self._num_samples = num_samples
        self.generator = generator
        if num_samples is not None and (not isinstance(num_samples, (int, np.integer))
                                        or num_samples <= 0):
            raise ValueError(f"RandomSampler: num_samples must be a positive int, got "
                             f"{num_samples!r}")
        _rng(generator)

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def _index_array(self):
        n, m, rng = len(self.data_source), self.num_samples, _rng(self.generator)
        if self.replacement:
            return rng.integers(0, n, m, dtype=np.int64)
        if m == n:
            return rng.permutation(n).astype(np.int64, copy=False)
        perms = [rng.permutation(n) for _ in range(-(-m // n))]
        return np.concatenate(perms)[:m].astype(np.int64, copy=False)

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order, new at each iteration."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self._idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        self.generator = generator
        _rng(generator)

    def _index_array(self):
        return self._idx[_rng(self.generator).permutation(len(self._idx))]

    def __len__(self):
        return len(self._idx)


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size``.

    The last list is shorter when ``len(sampler)`` is not a multiple of ``batch_size``, unless
    ``drop_last`` drops it. ``len`` is ``ceil(n / batch_size)`` (``floor`` with ``drop_last``).

    Example:
        >>> list(BatchSampler(SequentialSampler(range(5)), 2, drop_last=False))
        [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler, batch_size, drop_last):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size <= 0:
            raise ValueError(f"BatchSampler: batch_size must be a positive int, got "
                             f"{batch_size!r}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"BatchSampler: drop_last must be a bool, got {drop_last!r}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def __iter__(self):
        bs = self.batch_size
        if isinstance(self.sampler, Sampler) and type(self.sampler).__iter__ is Sampler.__iter__:
            idx = self.sampler._index_array()
            stop = len(idx) - len(idx) % bs if self.drop_last else len(idx)
            for start in range(0, stop, bs):
                yield idx[start:start + bs].tolist()
            return
        batch = []
        for i in self.sampler:
            batch.append(int(i))
            if len(batch) == bs:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
