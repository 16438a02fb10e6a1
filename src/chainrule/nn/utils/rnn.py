"""Batches of sequences of different lengths: padding, and PyTorch's pack/unpack idiom.

The recurrent layers take the true length of every sequence (``lengths``) and never let the padding
leak: states stop at each sequence's last real step, outputs there are 0, and no gradient flows
from padded steps. ``PackedSequence`` carries that information so that code written with PyTorch's
idiom works unchanged::

    x = pad_sequence([a, b, c])                             # (T, 3, F), zeros after each end
    packed = pack_padded_sequence(x, [5, 3, 2])             # or enforce_sorted=False
    out, h_n = lstm(packed)                                 # a PackedSequence and (L*D, 3, H)
    y, lengths = pad_packed_sequence(out)                   # (T, 3, H) and tensor([5, 3, 2])

Unlike PyTorch's, this PackedSequence stores the PADDED time-major data (T, B, *) with the
lengths, not the packed rows: the layers read the lengths and skip the padding themselves.
"""
from __future__ import annotations

import numpy as np

from ... import backend, ops
from ...ops._util import OpError, OpTypeError
from ...tensor import Tensor


def _as_tensor(x, who):
    if not isinstance(x, Tensor):
        raise OpTypeError(f"{who}: expected a Tensor, got {type(x).__name__}")
    return x


def _lengths_array(lengths, who):
    # lengths live on the host (as PyTorch's), whatever the device of the sequences
    arr = backend.to_host(lengths.data) if isinstance(lengths, Tensor) else np.asarray(lengths)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise OpTypeError(f"{who}: expected a 1-D sequence of integer lengths, got "
                          f"{arr.dtype} of shape {arr.shape}")
    return arr.astype(np.int64)


def _valid_mask(lengths, T, dtype, ndim):
    """(T, B, 1, ...) with 1 at the real steps of each sequence and 0 at padding."""
    m = (np.arange(T)[:, None] < lengths[None, :]).astype(dtype)
    return m.reshape(m.shape + (1,) * (ndim - 2))


class PackedSequence:
    """A batch of padded sequences with their lengths (what pack_padded_sequence returns).

    Attributes:
        data: the padded sequences, time-major (T, B, *), T = the longest length.
        lengths: int64 Tensor (B,) of the true lengths, in the batch's order.
        sorted_indices: the batch order by decreasing length (None when the batch came sorted);
            unsorted_indices: its inverse.
        batch_sizes: int64 Tensor (T,): how many sequences are still running at each step.

    Recurrent layers given a PackedSequence return their output as one (same lengths and indices).
    """

    __slots__ = ("data", "lengths", "sorted_indices", "unsorted_indices")

    def __init__(self, data, lengths, sorted_indices=None, unsorted_indices=None):
        self.data = _as_tensor(data, "PackedSequence")
        self.lengths = Tensor(_lengths_array(lengths, "PackedSequence"))
        if self.data.ndim < 2 or self.lengths.shape[0] != self.data.shape[1]:
            raise OpError(f"PackedSequence: expected data (T, B, *) with B = "
                          f"{self.lengths.shape[0]} (one length per sequence), got "
                          f"{tuple(self.data.shape)}")
        self.sorted_indices = sorted_indices
        self.unsorted_indices = unsorted_indices

    @property
    def batch_sizes(self):
        lengths = self.lengths.data
        return Tensor((lengths[None, :] > np.arange(self.data.shape[0])[:, None]).sum(1)
                      .astype(np.int64))

    def to(self, *args, **kwargs):
        """A PackedSequence with ``data.to(...)`` (e.g. another dtype)."""
        return PackedSequence(self.data.to(*args, **kwargs), self.lengths, self.sorted_indices,
                              self.unsorted_indices)

    def __repr__(self):
        return (f"PackedSequence(data of shape {tuple(self.data.shape)}, "
                f"lengths={self.lengths.data.tolist()})")


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pair padded sequences with their lengths for a recurrent layer.

    Args:
        input: (T, B, *) padded sequences ((B, T, *) with ``batch_first``).
        lengths: B ints in [1, T] (a list, array or int64 Tensor).
        enforce_sorted: require lengths in decreasing order (as PyTorch); with False any order
            is taken and ``sorted_indices`` records the order by length.

    Returns a :class:`PackedSequence` whose data is time-major and T = max(lengths) long.
    """
    who = "pack_padded_sequence"
    x = _as_tensor(input, who)
    if x.ndim < 2:
        raise OpError(f"{who}: expected input ({'B, T' if batch_first else 'T, B'}, *), got "
                      f"{tuple(x.shape)}")
    if batch_first:
        x = x.transpose(0, 1)
    T, B = x.shape[0], x.shape[1]
    lens = _lengths_array(lengths, who)
    if lens.shape != (B,):
        raise OpError(f"{who}: expected {B} lengths (one per sequence), got {lens.shape[0]}")
    if B and (lens.min() < 1 or lens.max() > T):
        raise OpError(f"{who}: lengths must lie in [1, {T}] (T = {T} steps), got {lens.tolist()}")
    order = np.argsort(-lens, kind="stable")
    if enforce_sorted:
        if (np.diff(lens) > 0).any():
            raise OpError(f"{who}: lengths must be sorted in decreasing order when "
                          f"enforce_sorted=True, got {lens.tolist()}; pass enforce_sorted=False "
                          f"for any order")
        sorted_idx = unsorted_idx = None
    else:
        sorted_idx, unsorted_idx = Tensor(order), Tensor(np.argsort(order))
    longest = int(lens.max()) if B else 0
    if longest < T:
        x = x[:longest]
    return PackedSequence(x, lens, sorted_idx, unsorted_idx)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The inverse of :func:`pack_padded_sequence`: (padded, lengths).

    padded is (T, B, *) ((B, T, *) with ``batch_first``), ``padding_value`` after each sequence's
    end; T = max(lengths), or ``total_length`` (which must be at least that); lengths is an int64
    Tensor (B,) in the batch's order.
    """
    who = "pad_packed_sequence"
    if not isinstance(sequence, PackedSequence):
        raise OpTypeError(f"{who}: expected a PackedSequence, got {type(sequence).__name__}")
    data, lengths = sequence.data, sequence.lengths.data
    T = data.shape[0]
    mask = backend.asarray_like(data.data, _valid_mask(lengths, T, data.dtype, data.ndim))
    out = data * Tensor(mask)
    if padding_value:
        out = out + Tensor((1 - mask) * data.dtype.type(padding_value))
    if total_length is not None:
        if total_length < T:
            raise OpError(f"{who}: total_length ({total_length}) must be at least the longest "
                          f"sequence's length ({T})")
        if total_length > T:
            out = ops.pad(out, (0, 0) * (data.ndim - 1) + (0, int(total_length) - T),
                          value=padding_value)
    if batch_first:
        out = out.transpose(0, 1)
    return out, Tensor(lengths.copy())


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack sequences of different lengths into one padded tensor.

    Args:
        sequences: list of Tensors (L_i, *) with the same trailing dims.
        padding_value: what fills the steps after each sequence's end.
        padding_side: 'right' (default) or 'left'.

    Returns (T, B, *) with T = max L_i ((B, T, *) with ``batch_first``); differentiable.

    Example::

        >>> pad_sequence([cr.ones(3, 2), cr.ones(1, 2)]).shape    # (3, 2, 2)
    """
    who = "pad_sequence"
    if isinstance(sequences, Tensor) or not len(sequences):
        raise OpError(f"{who}: expected a non-empty list of Tensors")
    if padding_side not in ("right", "left"):
        raise OpError(f"{who}: padding_side must be 'right' or 'left', got {padding_side!r}")
    seqs = [_as_tensor(s, who) for s in sequences]
    tail = tuple(seqs[0].shape[1:])
    for i, s in enumerate(seqs):
        if s.ndim < 1 or tuple(s.shape[1:]) != tail:
            raise OpError(f"{who}: every sequence must be (L, {', '.join(map(str, tail)) or ''})"
                          f"; sequence {i} is {tuple(s.shape)}")
    T = max(s.shape[0] for s in seqs)
    padded = []
    for s in seqs:
        extra = T - s.shape[0]
        if extra:
            lr = (0, extra) if padding_side == "right" else (extra, 0)
            s = ops.pad(s, (0, 0) * len(tail) + lr, value=padding_value)
        padded.append(s)
    return ops.stack(padded, 0 if batch_first else 1)


def pack_sequence(sequences, enforce_sorted=True):
    """pack_padded_sequence(pad_sequence(sequences), their lengths)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences (L_i, *) inside a padded batch: the inverse of :func:`pad_sequence`."""
    x = padded_sequences.transpose(0, 1) if batch_first else padded_sequences
    return [x[:int(n), i] for i, n in enumerate(_lengths_array(lengths, "unpad_sequence"))]


def unpack_sequence(packed_sequences):
    """The list of sequences inside a PackedSequence."""
    return unpad_sequence(packed_sequences.data, packed_sequences.lengths)
