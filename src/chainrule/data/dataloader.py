"""DataLoader: iterate over a dataset in (shuffled) mini-batches, optionally prefetched by a thread.

An epoch is ``for xb, yb in loader: ...``. At the start of each epoch (when ``iter(loader)`` is
called, in the calling thread) the batch sampler draws the whole epoch's index lists; each batch is
then fetched and collated:

- with the default ``collate_fn`` and a dataset that has ``__getitems__`` (TensorDataset, Subset,
  MNIST, CIFAR10, ...), one call per batch returns the finished batch (one NumPy fancy index);
- otherwise ``collate_fn([dataset[i] for i in indices])``.

Shuffling draws from ``generator`` when one is given, otherwise from
``chainrule.backend.get_rng()``, so ``chainrule.manual_seed`` fixes the order and a checkpoint's
saved RNG state reproduces the order of the epochs after it.
"""
from __future__ import annotations

import collections.abc
import numbers
import queue
import threading

import numpy as np

from .. import backend
from ..tensor import Tensor
from .sampler import BatchSampler, RandomSampler, SequentialSampler


def _tensor(arr):
    return Tensor._make(arr, False, None, 0)


def _stack(arrays, what):
    try:
        return np.stack(arrays)
    except ValueError:
        shapes = sorted({tuple(np.shape(a)) for a in arrays})
        raise ValueError(f"default_collate: {what} in a batch have different shapes {shapes}; "
                         f"give the DataLoader a collate_fn that pads or groups them") from None


def default_collate(batch):
    """Merge a list of samples into one batch, recursively, adding a leading batch dimension.

    =========================  ==============================================================
    each sample is             the batch is
    =========================  ==============================================================
    Tensor (shape S)           Tensor (B, *S) (``np.stack``)
    numpy array / scalar       Tensor (B, *S), its dtype kept
    Python int / float / bool  Tensor (B,) of int64 / the default float dtype (float32) / bool
    str or bytes               the list as is
    dict                       dict with the same keys, each value collated
    tuple / list / namedtuple  the same type, collated position by position
    =========================  ==============================================================

    Differences from PyTorch: tuples stay tuples (PyTorch turns them into lists), and Python
    floats become float32 (the default dtype), not float64.

    Example:
        >>> b = default_collate([(cr.zeros(3), 1), (cr.ones(3), 0)])
        >>> b[0].shape, b[1].tolist()
        ((2, 3), [1, 0])
    """
    if not isinstance(batch, collections.abc.Sequence) or isinstance(batch, (str, bytes)):
        raise TypeError(f"default_collate: expected a list of samples, got "
                        f"{type(batch).__name__}")
    if len(batch) == 0:
        raise ValueError("default_collate: got an empty list of samples")
    elem = batch[0]
    kind = type(elem)
    if isinstance(elem, Tensor):
        return _tensor(_stack([t.data for t in batch], "tensors"))
    if isinstance(elem, (np.ndarray, np.generic)):
        return _tensor(_stack([np.asarray(a) for a in batch], "arrays"))
    if isinstance(elem, bool):
        return _tensor(np.array(batch, dtype=np.bool_))
    if isinstance(elem, numbers.Integral):
        return _tensor(np.array(batch, dtype=np.int64))
    if isinstance(elem, numbers.Real):
        return _tensor(np.array(batch, dtype=backend.get_default_dtype()))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, collections.abc.Sequence):
        n = len(elem)
        if any(len(s) != n for s in batch):
            raise ValueError(f"default_collate: the {kind.__name__} samples of a batch have "
                             f"different lengths {sorted({len(s) for s in batch})}")
        columns = [default_collate(list(col)) for col in zip(*batch)]
        if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
            return kind(*columns)
        return tuple(columns) if isinstance(elem, tuple) else columns
    raise TypeError(f"default_collate: samples must be Tensors, numpy arrays, numbers, strings, "
                    f"dicts, tuples or lists; got {kind.__name__}")


def _convert(sample):
    """Without batching (``batch_size=None``): numpy arrays become Tensors, containers recursed."""
    if isinstance(sample, np.ndarray):
        return _tensor(sample)
    if isinstance(sample, collections.abc.Mapping):
        return {k: _convert(v) for k, v in sample.items()}
    if isinstance(sample, tuple) and hasattr(sample, "_fields"):
        return type(sample)(*(_convert(v) for v in sample))
    if isinstance(sample, (tuple, list)):
        return type(sample)(_convert(v) for v in sample)
    return sample


_END = object()


class _Failure:
    def __init__(self, exc):
        self.exc = exc


class _Prefetcher:
    """A daemon thread that fetches batches ahead into a bounded queue.

    Exceptions raised while fetching travel through the queue and are re-raised by ``get`` in
    the consuming thread; ``close`` stops the thread (it unblocks a ``put`` waiting on a full
    queue) and joins it.
    """

    def __init__(self, fetch, batches, depth):
        self._queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(fetch, batches), daemon=True,
                                        name="chainrule-DataLoader-prefetch")
        self._thread.start()

    def _put(self, item):
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, fetch, batches):
        try:
            for indices in batches:
                if self._stop.is_set() or not self._put(fetch(indices)):
                    return
            self._put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            self._put(_Failure(exc))

    def get(self):
        item = self._queue.get()
        if isinstance(item, _Failure):
            self.close()
            raise item.exc
        return item

    def close(self):
        self._stop.set()
        while self._thread.is_alive():
            try:
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=0.05)


class DataLoader:
    """Mini-batches of a dataset.

    Args:
        dataset: a map-style dataset (``len`` and ``ds[i]``; ``__getitems__`` for the fast path).
        batch_size: samples per batch; None turns batching off (each sample is yielded alone,
            numpy arrays converted to Tensors).
        shuffle: a new random order each epoch (:class:`RandomSampler`).
        sampler: an iterable of indices (with ``len``) to use instead of shuffle/sequential.
        batch_sampler: an iterable of index lists; excludes batch_size, shuffle, sampler and
            drop_last.
        num_workers: accepted for PyTorch compatibility; there are no worker processes, and any
            value > 0 turns on the background prefetch thread (as ``prefetch=True``).
        collate_fn: merges a list of samples into a batch (default :func:`default_collate`). A
            custom one always receives samples fetched one by one with ``dataset[i]``.
        pin_memory: accepted for compatibility; no effect on the CPU.
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        generator: a ``numpy.random.Generator`` for shuffling (default: the global generator of
            ``chainrule.backend``, looked up at each epoch).
        prefetch: False, True (a thread keeps up to 2 batches ready) or an int queue depth. The
            thread overlaps fetching with the training step; the batches and their order are
            exactly those without it. A transform that draws random numbers from the global
            generator would draw them in the thread, in an order that varies from run to run.

    ``len(loader)`` is the number of batches per epoch: ``ceil(N / batch_size)``, or
    ``floor(N / batch_size)`` with ``drop_last``.

    Example:
        >>> loader = DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True)
        >>> for xb, yb in loader:      # xb: (128, 784) float32, yb: (128,) int64
        ...     loss = F.cross_entropy(model(xb), yb)
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False,
                 generator=None, *, prefetch=False):
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(
                batch_size, (int, np.integer)) or batch_size <= 0):
            raise ValueError(f"DataLoader: batch_size must be a positive int or None, got "
                             f"{batch_size!r}")
        if not isinstance(num_workers, (int, np.integer)) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be a non-negative int, got "
                             f"{num_workers!r}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler and shuffle=True are mutually exclusive (the "
                             "sampler decides the order)")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler is mutually exclusive with "
                                 "batch_size, shuffle, sampler and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("DataLoader: drop_last=True needs a batch_size (got None)")
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError(f"DataLoader: generator must be a numpy.random.Generator or None, got "
                            f"{type(generator).__name__}")
        if sampler is None:
            sampler = (RandomSampler(dataset, generator=generator) if shuffle
                       else SequentialSampler(dataset))
        if batch_sampler is None and batch_size is not None:
            batch_sampler = BatchSampler(sampler, int(batch_size), bool(drop_last))
        if isinstance(prefetch, bool):
            depth = 2 if prefetch or num_workers > 0 else 0
        else:
            depth = prefetch
        if not isinstance(depth, (int, np.integer)) or depth < 0:
            raise ValueError(f"DataLoader: prefetch must be a bool or a non-negative int queue "
                             f"depth, got {prefetch!r}")
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.drop_last = bool(drop_last)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = int(num_workers)
        self.pin_memory = pin_memory
        self.generator = generator
        self.prefetch = int(depth)
        self._auto_collate = collate_fn is None
        self.collate_fn = default_collate if collate_fn is None else collate_fn

    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)

    def _fetch(self, indices):
        ds = self.dataset
        if self._auto_collate:
            getitems = getattr(ds, "__getitems__", None)
            if getitems is not None:
                out = getitems(indices)
                return self.collate_fn(out) if isinstance(out, list) else out
        return self.collate_fn([ds[i] for i in indices])

    def _fetch_one(self, index):
        return _convert(self.dataset[index])

    def __iter__(self):
        # The epoch's order is drawn here, in the calling thread, before any prefetching starts,
        # so the global generator is consumed at the same point with or without the thread.
        if self.batch_sampler is not None:
            work, fetch = list(self.batch_sampler), self._fetch
        else:
            work, fetch = list(self.sampler), self._fetch_one
        if self.prefetch > 0 and work:
            return self._prefetched(fetch, work)
        return map(fetch, work)

    def _prefetched(self, fetch, work):
        prefetcher = _Prefetcher(fetch, work, self.prefetch)
        try:
            while True:
                item = prefetcher.get()
                if item is _END:
                    return
                yield item
        finally:  # also runs when the loop stops early (break, exception, garbage collection)
            prefetcher.close()

    def __repr__(self):
        return (f"DataLoader(dataset={type(self.dataset).__name__}, batch_size={self.batch_size}, "
                f"sampler={type(self.sampler).__name__}, drop_last={self.drop_last}, "
                f"prefetch={self.prefetch})")
