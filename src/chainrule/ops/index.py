"""Indexing: ``a[idx]`` with ints, slices, None, Ellipsis, integer arrays and boolean masks;
index_select, gather, masked_fill.

The backward of picking elements puts each output gradient back at the place it was picked from;
an element picked twice (repeated integer indices) gets the sum.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from ..autograd.function import Function
from ..backend import get_array_module, is_array
from ._util import OpError, OpIndexError, normalize_dim


def _norm_one(i):
    from ..tensor import Tensor

    if isinstance(i, Tensor):
        i = i.data
    if i is None or i is Ellipsis or isinstance(i, slice):
        return i
    if isinstance(i, (bool, np.bool_)):
        return i
    if isinstance(i, (numbers.Integral,)):
        return int(i)
    if isinstance(i, (list, tuple)):
        i = np.asarray([x.item() if isinstance(x, Tensor) else x for x in i])
    if is_array(i):
        if i.dtype.kind in "iu" or i.dtype == np.bool_:
            return i
        if i.size == 0:
            return i.astype(np.int64)
        raise OpIndexError(f"index: tensors used as indices must be integer or bool, got dtype "
                           f"{i.dtype}")
    raise OpIndexError(f"index: expected ints, slices, None, Ellipsis, integer or bool tensors, "
                       f"got {type(i).__name__} ({i!r})")


def normalize_index(idx):
    """An index NumPy understands, from one that may hold Tensors and lists."""
    if isinstance(idx, tuple):
        return tuple(_norm_one(i) for i in idx)
    return _norm_one(idx)


def index_on_device(idx, like):
    """``idx`` (from :func:`normalize_index`) with its arrays on the device of array ``like``:
    integer and bool indices given on the CPU (lists, CPU tensors) move to a device tensor's."""
    if type(like) is np.ndarray:
        return idx
    dev = backend.device_of(like)

    def move(i):
        return backend.to_device(i, dev) if is_array(i) else i

    return tuple(move(i) for i in idx) if isinstance(idx, tuple) else move(idx)


def _is_advanced(idx):
    parts = idx if isinstance(idx, tuple) else (idx,)
    return any(is_array(p) for p in parts)


class GetItem(Function):
    """z = a[idx]."""

    def forward(self, a, idx):
        self.idx = idx
        self.meta = (a.shape, a.dtype)
        self.advanced = _is_advanced(idx)
        try:
            return a[idx]
        except IndexError as e:
            raise OpIndexError(f"index: {e} (indexing a tensor of shape {a.shape})") from None

    def backward(self, gz):
        xp = np if type(gz) is np.ndarray else get_array_module(gz)
        shape, dtype = self.meta
        ga = xp.zeros(shape, gz.dtype)
        idx = self.idx
        parts = idx if isinstance(idx, tuple) else (idx,)
        arrays = [p for p in parts if is_array(p)]
        if self.advanced and not (len(arrays) == 1 and arrays[0].dtype == np.bool_):
            backend.add_at(xp, ga, idx, gz)  # repeated indices: sum the gradients
        else:
            ga[idx] = gz  # each element picked at most once
        return ga


class Gather(Function):
    """z[i][j] = a[i][index[i][j]] along ``dim`` (for dim = 1 on 2-D; likewise for others).

    Along the other dims the index may be shorter than a: only a's leading part is read.
    """

    def forward(self, a, index, dim):
        xp = np if type(a) is np.ndarray else get_array_module(a)
        self.meta = (a.shape, index, dim)
        part = tuple(slice(None) if d == dim else slice(0, n) for d, n in enumerate(index.shape))
        return xp.take_along_axis(a[part], index, axis=dim)

    def backward(self, gz):
        xp = np if type(gz) is np.ndarray else get_array_module(gz)
        shape, index, dim = self.meta
        ga = xp.zeros(shape, gz.dtype)
        grids = backend.index_grids(xp, index.shape)
        grids[dim] = index
        backend.add_at(xp, ga, tuple(grids), gz)  # scatter-add back to the gathered places
        return ga


def getitem(a, idx):
    """a[idx] with NumPy's (and PyTorch's) indexing rules; differentiable."""
    if isinstance(idx, (float, np.floating)) or (
            isinstance(idx, tuple) and any(isinstance(i, (float, np.floating)) for i in idx)):
        raise OpIndexError(f"index: only integers, slices, None, Ellipsis and integer or bool "
                           f"tensors are valid indices, got a float ({idx!r}) for a tensor of "
                           f"shape {tuple(a.shape)}")
    try:
        idx = normalize_index(idx)
    except OpIndexError as e:
        raise OpIndexError(f"{e} (indexing a tensor of shape {tuple(a.shape)})") from None
    return GetItem.apply(a, idx=index_on_device(idx, a.data))


def index_select(a, dim, index):
    """The entries of ``index`` (1-D integer tensor) along ``dim``."""
    d = normalize_dim(dim, a.ndim, "index_select")
    ind = normalize_index(index)
    if not is_array(ind) or ind.ndim != 1 or ind.dtype.kind not in "iu":
        raise OpError(f"index_select: expected a 1-D integer index for an input of shape "
                      f"{tuple(a.shape)}, got {getattr(ind, 'shape', ind)!r} of dtype "
                      f"{getattr(ind, 'dtype', type(ind).__name__)}")
    return GetItem.apply(a, idx=(slice(None),) * d + (index_on_device(ind, a.data),))


def gather(a, dim, index):
    """Pick along ``dim`` with an integer tensor of the same number of dims (as torch.gather)."""
    d = normalize_dim(dim, a.ndim, "gather")
    ind = normalize_index(index)
    if not is_array(ind) or ind.dtype.kind not in "iu" or ind.ndim != a.ndim:
        raise OpError(f"gather: expected an integer index with {a.ndim} dims for an input of "
                      f"shape {tuple(a.shape)}, got "
                      f"{getattr(ind, 'shape', ind)} of dtype {getattr(ind, 'dtype', '?')}")
    if any(n > m for i, (n, m) in enumerate(zip(ind.shape, a.shape)) if i != d):
        raise OpError(f"gather: index of shape {ind.shape} is larger than the input "
                      f"{tuple(a.shape)} outside dim {d}")
    return Gather.apply(a, index=index_on_device(ind, a.data), dim=d)


def masked_fill(a, mask, value):
    """a with ``value`` where mask is true (the gradient there is 0)."""
    from ..tensor import Tensor
    from .elementwise import where

    m = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise OpError(f"masked_fill: expected a bool mask, got dtype {m.dtype} (shape "
                      f"{m.shape}) for an input of shape {tuple(a.shape)}")
    try:
        fits = np.broadcast_shapes(m.shape, a.shape) == a.shape
    except ValueError:
        fits = False
    if not fits:
        raise OpError(f"masked_fill: a mask of shape {m.shape} does not broadcast to the input's "
                      f"shape {tuple(a.shape)}")
    return where(m, value, a)
