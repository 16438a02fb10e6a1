"""Sharding the data: each rank reads its own part of every epoch.

:class:`DistributedSampler` (PyTorch's semantics) shuffles all ``N`` indices with a generator
seeded by ``seed + epoch`` -- the same permutation on every rank, without communication -- pads it
by repeating its first indices to ``P * ceil(N / P)`` (or cuts it to ``P * floor(N / P)`` with
``drop_last``), and gives rank ``r`` the indices at positions ``r, r + P, r + 2P, ...``. Every rank
then has the same number of samples, hence the same number of batches (the all-reduce of each
step needs every rank). Call ``sampler.set_epoch(epoch)`` before each epoch for a new order
(``chainrule.train.fit`` does).

With a sequential order (``shuffle=False``) and batches of ``B``, step ``k`` of rank ``r`` reads
positions ``r + P j`` for ``j`` in ``[kB, (k+1)B)``; over the ranks that is positions
``[kPB, (k+1)PB)``: exactly batch ``k`` of one process reading batches of ``PB``.

:class:`DistributedEvalSampler` is for evaluation: the same strided shards without padding, so
every example is scored exactly once (ranks may get one batch more or less; evaluation has no
collective call per batch), and the sums of loss and correct answers are reduced at the end.
"""
from __future__ import annotations

import numpy as np

from ..data.sampler import Sampler
from .process_group import get_rank, get_world_size


def _replicas_and_rank(who, num_replicas, rank):
    if num_replicas is None:
        num_replicas = get_world_size()
    if rank is None:
        rank = get_rank()
    if isinstance(num_replicas, bool) or not isinstance(num_replicas, (int, np.integer)) \
            or num_replicas < 1:
        raise ValueError(f"{who}: num_replicas must be a positive int, got {num_replicas!r}")
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) \
            or not 0 <= rank < num_replicas:
        raise ValueError(f"{who}: rank must be an int in [0, {num_replicas}), got {rank!r}")
    return int(num_replicas), int(rank)


class DistributedSampler(Sampler):
    """The indices of rank ``rank``'s shard of each epoch (see the module docstring).

    Args:
        dataset: the dataset (only its length is used).
        num_replicas: the number of ranks (default: the process group's world size).
        rank: this rank (default: the process group's).
        shuffle: a new permutation each epoch, drawn from ``default_rng(seed + epoch)``.
        seed: the same on every rank (default 0).
        drop_last: cut the tail to a multiple of ``num_replicas`` instead of padding it.

    ``len(sampler)`` is ``ceil(N / P)`` (``floor(N / P)`` with ``drop_last``), the same on every
    rank.

    Example:
        >>> sampler = DistributedSampler(train, shuffle=True, seed=0)
        >>> loader = DataLoader(train, batch_size=128, sampler=sampler)
        >>> for epoch in range(epochs):
        ...     sampler.set_epoch(epoch)
        ...     for xb, yb in loader: ...
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
        self.num_replicas, self.rank = _replicas_and_rank("DistributedSampler", num_replicas,
                                                          rank)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"DistributedSampler: seed must be an int, got {seed!r}")
        self.dataset = dataset
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        n, p = len(dataset), self.num_replicas
        self.num_samples = n // p if self.drop_last else -(-n // p)
        self.total_size = self.num_samples * p

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose order the next iteration gives (the same on every rank)."""
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"DistributedSampler.set_epoch: expected an int >= 0, got "
                             f"{epoch!r}")
        self.epoch = int(epoch)

    def _index_array(self):
        n = len(self.dataset)
        if self.shuffle:
            idx = np.random.default_rng(self.seed + self.epoch).permutation(n).astype(np.int64)
        else:
            idx = np.arange(n, dtype=np.int64)
        if self.total_size > n:  # pad by repeating the start (several times for tiny sets)
            idx = np.resize(idx, self.total_size) if n else idx
        else:
            idx = idx[:self.total_size]
        return idx[self.rank:self.total_size:self.num_replicas]

    def __len__(self):
        return self.num_samples


class DistributedEvalSampler(Sampler):
    """Rank ``rank``'s share of a dataset for evaluation: indices ``rank, rank + P, ...`` in
    order, unpadded, so the shards of all ranks hold every index exactly once (their lengths
    differ by at most one)."""

    def __init__(self, dataset, num_replicas=None, rank=None):
        self.num_replicas, self.rank = _replicas_and_rank("DistributedEvalSampler",
                                                          num_replicas, rank)
        self.dataset = dataset

    def _index_array(self):
        return np.arange(self.rank, len(self.dataset), self.num_replicas, dtype=np.int64)

    def __len__(self):
        return len(range(self.rank, len(self.dataset), self.num_replicas))


def shard_loader(loader, *, train, seed=0, num_replicas=None, rank=None):
    """A ``DataLoader`` like ``loader`` (dataset, batch size, collate_fn, drop_last, prefetch)
    reading only this rank's shard: through a :class:`DistributedSampler` (shuffled with
    ``seed``) when ``train``, else a :class:`DistributedEvalSampler`. ``None`` stays ``None``.

    The batch size stays the per-rank one, so the effective batch is ``world_size`` times it.
    """
    from ..data import DataLoader

    if loader is None:
        return None
    if not isinstance(loader, DataLoader):
        raise TypeError(f"shard_loader: expected a chainrule DataLoader, got "
                        f"{type(loader).__name__}")
    if loader.batch_size is None:
        raise ValueError("shard_loader: the loader has a custom batch_sampler (or batch_size "
                         "None); shard its dataset with a DistributedSampler yourself")
    sampler = (DistributedSampler(loader.dataset, num_replicas, rank, shuffle=True, seed=seed)
               if train else DistributedEvalSampler(loader.dataset, num_replicas, rank))
    return DataLoader(loader.dataset, batch_size=loader.batch_size, sampler=sampler,
                      collate_fn=None if loader._auto_collate else loader.collate_fn,
                      drop_last=loader.drop_last, prefetch=loader.prefetch)
