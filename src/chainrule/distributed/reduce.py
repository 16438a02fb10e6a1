"""Collective operations for metrics and small objects: sums, means, broadcasts and gathers.

Every process of the group must make the same calls in the same order (they are collective);
a call that only some processes make waits forever.

    all_reduce_sum(x)   = sum_r x_r          (the same result on every rank r)
    all_reduce_mean(x)  = (1/P) sum_r x_r    (P the world size)

Example (2 processes; rank r holds its shard's loss sum and count)::

    >>> loss_sum, n = all_reduce_sum(np.array([loss_sum, n]))
    >>> mean_loss = loss_sum / n       # the mean over the whole validation set, on every rank
"""
from __future__ import annotations

import numbers

import numpy as np

from ..tensor import Tensor
from .process_group import _require


def _allreduce_inplace(group, buf: np.ndarray) -> None:
    """buf <- sum over the ranks of buf (buf contiguous; MPI_SUM in place)."""
    if group.size == 1:
        return
    from mpi4py import MPI

    group.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)


def _reduce(value, who, mean):
    group = _require(who)
    if isinstance(value, Tensor):
        out = _reduce(value.data, who, mean)
        return Tensor._make(np.asarray(out), False, None, 0)
    if isinstance(value, bool) or not isinstance(value, (numbers.Number, np.ndarray, np.generic,
                                                          list, tuple)):
        raise TypeError(f"{who}: expected a number, a numpy array or a Tensor, got "
                        f"{type(value).__name__}")
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{who}: expected numbers (int or float), got dtype {arr.dtype}")
    scalar = isinstance(value, (numbers.Number, np.generic))
    if arr.dtype.kind in "iu":
        buf = np.ascontiguousarray(arr, dtype=np.float64 if mean else np.int64).copy()
    else:  # float16 has no MPI sum: add in float32 at least
        buf = np.ascontiguousarray(arr, dtype=np.promote_types(arr.dtype, np.float32)).copy()
    _allreduce_inplace(group, buf)
    if mean:
        buf = buf / group.size
    if buf.dtype != arr.dtype and arr.dtype.kind == "f":
        buf = buf.astype(arr.dtype)
    if scalar:
        return buf.item()
    return buf


def all_reduce_sum(value):
    """The sum over all ranks of ``value`` (a number, numpy array or Tensor; the same shape on
    every rank), returned on every rank as the same kind (a Python number for a number).
    Integers stay integers."""
    return _reduce(value, "all_reduce_sum", mean=False)


def all_reduce_mean(value):
    """The mean over all ranks of ``value``: ``all_reduce_sum(value) / world_size`` (floats)."""
    return _reduce(value, "all_reduce_mean", mean=True)


def broadcast_object(obj, src: int = 0):
    """``obj`` of rank ``src``, returned on every rank (pickled; for small objects: settings,
    a checkpoint's bytes)."""
    group = _require("broadcast_object")
    if not 0 <= src < group.size:
        raise ValueError(f"broadcast_object: src must be a rank in [0, {group.size}), got {src}")
    return group.comm.bcast(obj, root=src)


def all_gather_object(obj) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank (pickled; small objects)."""
    return list(_require("all_gather_object").comm.allgather(obj))
