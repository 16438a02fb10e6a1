"""Shape ops: reshape, permute, squeeze/unsqueeze, expand, repeat, cat, stack, split, pad, flip.

They move or copy elements without changing them, so each backward moves the gradient back:
reshape back, permute by the inverse permutation, sum over copies (expand, repeat), slice (cat, pad).
"""
from __future__ import annotations

import builtins

import numpy as np

from ..autograd.function import Function
from ..backend import get_array_module
from ._util import OpError, normalize_dim, unbroadcast


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


class Reshape(Function):
    def forward(self, a, shape):
        self.in_shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise OpError(f"reshape: shape {shape} is invalid for an input of shape {a.shape} "
                          f"({a.size} elements)") from None

    def backward(self, gz):
        return gz.reshape(self.in_shape)  # same elements, old shape


class Permute(Function):
    def forward(self, a, dims):
        xp = np if type(a) is np.ndarray else get_array_module(a)
        self.inv = tuple(int(i) for i in np.argsort(dims))
        return xp.transpose(a, dims)

    def backward(self, gz):
        xp = np if type(gz) is np.ndarray else get_array_module(gz)
        return xp.transpose(gz, self.inv)  # inverse permutation


class Expand(Function):
    def forward(self, a, shape):
        xp = np if type(a) is np.ndarray else get_array_module(a)
        self.in_shape = a.shape
        return xp.broadcast_to(a, shape)

    def backward(self, gz):
        return unbroadcast(gz, self.in_shape)  # sum over the copies


class Repeat(Function):
    def forward(self, a, reps):
        xp = np if type(a) is np.ndarray else get_array_module(a)
        self.a_shape = a.shape
        self.in_shape = (1,) * (len(reps) - a.ndim) + a.shape  # new leading dims of size 1
        self.reps = reps
        return xp.tile(a.reshape(self.in_shape), reps)

    def backward(self, gz):
        inter = []
        for r, s in zip(self.reps, self.in_shape):
            inter += [r, s]
        g = gz.reshape(inter).sum(axis=tuple(range(0, len(inter), 2)))  # sum over the tiles
        return g.reshape(self.a_shape)


class Cat(Function):
    def forward(self, *arrays, dim):
        xp = get_array_module(*arrays)
        self.dim = dim
        self.sizes = [a.shape[dim] for a in arrays]
        return xp.concatenate(arrays, axis=dim)

    def backward(self, gz):
        xp = np if type(gz) is np.ndarray else get_array_module(gz)
        bounds = np.cumsum(self.sizes)[:-1].tolist()
        parts = xp.split(gz, bounds, axis=self.dim)  # each input gets its slice
        return tuple(p if need else None for p, need in zip(parts, self.needs_input_grad))


class Stack(Function):
    def forward(self, *arrays, dim):
        xp = get_array_module(*arrays)
        self.dim = dim
        return xp.stack(arrays, axis=dim)

    def backward(self, gz):
        xp = np if type(gz) is np.ndarray else get_array_module(gz)
        return tuple(xp.take(gz, i, axis=self.dim) if need else None
                     for i, need in enumerate(self.needs_input_grad))


class Pad(Function):
    def forward(self, a, widths, value):
        xp = np if type(a) is np.ndarray else get_array_module(a)
        self.slices = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, a.shape))
        return xp.pad(a, widths, mode="constant", constant_values=value)

    def backward(self, gz):
        return gz[self.slices]  # the padding had no input behind it


class Flip(Function):
    def forward(self, a, dims):
        xp = np if type(a) is np.ndarray else get_array_module(a)
        self.dims = dims
        return xp.flip(a, dims)

    def backward(self, gz):
        xp = np if type(gz) is np.ndarray else get_array_module(gz)
        return xp.flip(gz, self.dims)


# ---- public functions --------------------------------------------------------------------------
def reshape(a, *shape):
    """The same elements in a new shape (one dim may be -1)."""
    shape = _shape_arg(shape)
    if shape == a.shape:
        return a
    return Reshape.apply(a, shape=shape)


view = reshape


def view_as(a, other):
    return reshape(a, other.shape)


reshape_as = view_as


def permute(a, *dims):
    """Reorder the dims: out.shape[i] = a.shape[dims[i]]."""
    dims = _shape_arg(dims)
    if (builtins.any(not -a.ndim <= d < a.ndim for d in dims)
            or sorted(d % a.ndim for d in dims) != list(range(a.ndim))):
        raise OpError(f"permute: dims {dims} are not a permutation of the {a.ndim} dims of a "
                      f"tensor of shape {tuple(a.shape)}")
    dims = tuple(d % a.ndim for d in dims)
    return Permute.apply(a, dims=dims)


def transpose(a, dim0, dim1):
    """Swap two dims."""
    d0 = normalize_dim(dim0, a.ndim, "transpose")
    d1 = normalize_dim(dim1, a.ndim, "transpose")
    if a.ndim < 2 or d0 == d1:
        return a
    dims = list(range(a.ndim))
    dims[d0], dims[d1] = d1, d0
    return Permute.apply(a, dims=tuple(dims))


def t(a):
    if a.ndim > 2:
        raise OpError(f"t: expects a tensor with at most 2 dims, got shape {tuple(a.shape)}")
    return transpose(a, 0, 1) if a.ndim == 2 else a


def flatten(a, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim into one."""
    if a.ndim == 0:
        return reshape(a, (1,))
    s = normalize_dim(start_dim, a.ndim, "flatten")
    e = normalize_dim(end_dim, a.ndim, "flatten")
    if s > e:
        raise OpError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = a.shape[:s] + (int(np.prod(a.shape[s:e + 1], dtype=np.int64)),) + a.shape[e + 1:]
    return reshape(a, shape)


def squeeze(a, dim=None):
    """Drop dims of size 1 (all of them, or only ``dim`` if it has size 1)."""
    if dim is None:
        shape = tuple(s for s in a.shape if s != 1)
    else:
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        ds = {normalize_dim(d, a.ndim, "squeeze") for d in dims}
        shape = tuple(s for i, s in enumerate(a.shape) if not (i in ds and s == 1))
    return reshape(a, shape)


def unsqueeze(a, dim):
    """Insert a dim of size 1 at position ``dim``."""
    d = normalize_dim(dim, a.ndim + 1, "unsqueeze")
    return reshape(a, a.shape[:d] + (1,) + a.shape[d:])


def expand(a, *sizes):
    """Broadcast to ``sizes`` without copying (-1 keeps a dim)."""
    sizes = _shape_arg(sizes)
    lead = len(sizes) - a.ndim
    if lead < 0:
        raise OpError(f"expand: the number of sizes ({len(sizes)}) must be at least the number "
                      f"of dims ({a.ndim})")
    if -1 in sizes[:lead]:
        raise OpError(f"expand: -1 (keep the size) is not allowed for a new leading dim; got "
                      f"sizes {sizes} for a tensor of shape {tuple(a.shape)}")
    shape = tuple(a.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    for i in range(a.ndim):
        if a.shape[i] != 1 and a.shape[i] != shape[i + lead]:
            raise OpError(f"expand: a tensor of shape {tuple(a.shape)} can't expand to {shape}: "
                          f"dim {i} has size {a.shape[i]} (only size-1 dims expand)")
    if shape == a.shape:
        return a
    return Expand.apply(a, shape=shape)


def expand_as(a, other):
    return expand(a, other.shape)


broadcast_to = expand


def repeat(a, *reps):
    """Tile: repeat the tensor reps[i] times along dim i."""
    reps = _shape_arg(reps)
    if len(reps) < a.ndim:
        raise OpError(f"repeat: expected at least {a.ndim} repeats for shape {tuple(a.shape)}, "
                      f"got {reps}")
    return Repeat.apply(a, reps=reps)


def _seq_check(tensors, name):
    from ..tensor import Tensor

    if isinstance(tensors, Tensor) or not len(tensors):
        raise OpError(f"{name}: expected a non-empty list of tensors")
    return [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]


def cat(tensors, dim=0):
    """Join tensors along an existing dim."""
    tensors = _seq_check(tensors, "cat")
    d = normalize_dim(dim, tensors[0].ndim, "cat")
    ref = tensors[0].shape
    for i, t in enumerate(tensors):
        if t.ndim != len(ref) or t.shape[:d] + t.shape[d + 1:] != ref[:d] + ref[d + 1:]:
            raise OpError(f"cat: tensor {i} has shape {tuple(t.shape)}, which doesn't match "
                          f"{tuple(ref)} outside dim {d}")
    return Cat.apply(*tensors, dim=d)


concat = concatenate = cat


def stack(tensors, dim=0):
    """Join tensors of the same shape along a new dim."""
    tensors = _seq_check(tensors, "stack")
    d = normalize_dim(dim, tensors[0].ndim + 1, "stack")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise OpError(f"stack: expects tensors of equal shape, got {tuple(tensors[0].shape)} "
                          f"and {tuple(t.shape)} (tensor {i})")
    return Stack.apply(*tensors, dim=d)


def split(a, split_size_or_sections, dim=0):
    """Pieces of size ``split_size`` (the last may be smaller) or of the given sizes."""
    from .index import getitem

    d = normalize_dim(dim, a.ndim, "split")
    n = a.shape[d]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != n:
            raise OpError(f"split: sections {sizes} sum to {builtins.sum(sizes)}, but dim {d} "
                          f"has size {n}")
    else:
        k = int(split_size_or_sections)
        if k <= 0:
            raise OpError(f"split: split_size must be positive, got {k}")
        sizes = [k] * (n // k) + ([n % k] if n % k else [])
    out, start = [], 0
    for s in sizes:
        idx = (slice(None),) * d + (slice(start, start + s),)
        out.append(getitem(a, idx))
        start += s
    return tuple(out)


def chunk(a, chunks, dim=0):
    """``chunks`` pieces of (nearly) equal size along dim."""
    d = normalize_dim(dim, a.ndim, "chunk")
    if chunks <= 0:
        raise OpError(f"chunk: the number of chunks must be positive, got {chunks}")
    n = a.shape[d]
    size = -(-n // chunks)
    return split(a, size, d)


def unbind(a, dim=0):
    """The slices along dim, with that dim removed."""
    from .index import getitem

    d = normalize_dim(dim, a.ndim, "unbind")
    return tuple(getitem(a, (slice(None),) * d + (i,)) for i in range(a.shape[d]))


def pad(a, pad, mode="constant", value=0.0):
    """Pad with a constant; ``pad`` = (left, right) for the last dim, then the dim before, ...

    As torch.nn.functional.pad: (1, 1, 2, 0) pads the last dim by 1 on each side and the one
    before by 2 at the start.
    """
    if mode != "constant":
        raise OpError(f"pad: only mode='constant' is implemented, got {mode!r}")
    if len(pad) % 2 or len(pad) // 2 > a.ndim:
        raise OpError(f"pad: expected an even number of pads for at most {a.ndim} dims, got "
                      f"{tuple(pad)}")
    widths = [(0, 0)] * a.ndim
    for i in range(len(pad) // 2):
        lo, hi = int(pad[2 * i]), int(pad[2 * i + 1])
        if lo < 0 or hi < 0:
            raise OpError(f"pad: negative padding is not supported, got {tuple(pad)}")
        widths[a.ndim - 1 - i] = (lo, hi)
    return Pad.apply(a, widths=tuple(widths), value=value)


def flip(a, dims):
    dims = dims if isinstance(dims, (list, tuple)) else (dims,)
    return Flip.apply(a, dims=tuple(normalize_dim(d, a.ndim, "flip") for d in dims))
