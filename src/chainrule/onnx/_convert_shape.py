"""ONNX nodes for the shape ops (reshape, permute, expand, repeat, cat, stack, pad, flip), indexing
and the embedding lookup.

A reshape's target shape holds the batch size; the dims that changed between the two traces are
written as -1 (ONNX infers them), so the exported graph takes any batch size.
"""
from __future__ import annotations

import numpy as np

from ..ops import embedding as Em
from ..ops import index as I
from ..ops import shape as Sh
from ._graph import INT64_MAX, INT64_MIN
from ._registry import converts


@converts(Sh.Reshape, varying=("shape",))
def reshape(g, node):
    (x,), (y,) = node.inputs, node.outputs
    target = list(y.shape)
    free = list(y.batch_axes)
    if len(free) > 1:  # dims kept in place from the input: 0 copies them in ONNX
        keep = [a for a in free if a < x.ndim and a in x.batch_axes and y.shape[a] == x.shape[a]
                and y.shape2[a] == x.shape2[a]]
        for a in keep:
            target[a] = 0
        free = [a for a in free if a not in keep]
    if len(free) > 1:
        g.fail(f"reshape from {x.shape} to {y.shape}: {len(free)} dims of the result follow the "
               f"batch size ({free}); export with dynamic_batch=False")
    for a in free:
        target[a] = -1
    if 0 in y.shape:
        g.fail(f"reshape to a shape with a zero dim {y.shape} is not supported")
    g.add("Reshape", [g.use(x), g.ints(target, "shape")], node.outputs)


@converts(Sh.Permute)
def permute(g, node):
    g.add("Transpose", [g.use(node.inputs[0])], node.outputs,
          perm=[int(d) for d in node.params["dims"]])


@converts(Sh.Expand, varying=("shape",))
def expand(g, node):
    (x,), (y,) = node.inputs, node.outputs
    target = list(y.shape)
    lead = y.ndim - x.ndim
    for a in y.batch_axes:
        if a - lead >= 0 and (a - lead) in x.batch_axes:
            target[a] = 1  # ONNX Expand broadcasts: 1 keeps the input's (batch) dim
        else:
            g.fail(f"expand from {x.shape} to {y.shape} creates a dim that follows the batch size "
                   f"(dim {a}); export with dynamic_batch=False")
    g.add("Expand", [g.use(x), g.ints(target, "shape")], node.outputs)


@converts(Sh.Repeat)
def repeat(g, node):
    (x,) = node.inputs
    reps = list(node.params["reps"])
    xs = g.use(x)
    if len(reps) > x.ndim:
        xs = g.unsqueeze(xs, list(range(len(reps) - x.ndim)))
    g.add("Tile", [xs, g.ints(reps, "repeats")], node.outputs)


@converts(Sh.Cat)
def cat(g, node):
    g.add("Concat", [g.use(v) for v in node.inputs], node.outputs, axis=int(node.params["dim"]))


@converts(Sh.Stack)
def stack(g, node):
    d = int(node.params["dim"])
    parts = [g.unsqueeze(g.use(v), [d]) for v in node.inputs]
    g.add("Concat", parts, node.outputs, axis=d)


@converts(Sh.Pad)
def pad(g, node):
    (x,) = node.inputs
    widths = node.params["widths"]
    pads = [int(lo) for lo, _ in widths] + [int(hi) for _, hi in widths]
    g.add("Pad", [g.use(x), g.ints(pads, "pads"), g.scalar(node.params["value"], x.dtype, "value")],
          node.outputs, mode="constant")


@converts(Sh.Flip)
def flip(g, node):
    dims = [int(d) for d in node.params["dims"]]
    k = len(dims)
    g.add("Slice", [g.use(node.inputs[0]), g.ints([-1] * k, "starts"),
                    g.ints([INT64_MIN] * k, "ends"), g.ints(dims, "axes"),
                    g.ints([-1] * k, "steps")], node.outputs)


# ---- indexing ------------------------------------------------------------------------------------
def _expand_index(idx, ndim):
    """The index as one entry per input dim plus the Nones, Ellipsis expanded; None when it uses
    boolean masks."""
    parts = list(idx) if isinstance(idx, tuple) else [idx]
    if any(isinstance(p, (bool, np.bool_)) or (isinstance(p, np.ndarray) and p.dtype == np.bool_)
           for p in parts):
        return None
    used = sum(1 for p in parts if p is not None and p is not Ellipsis)
    out, seen_ellipsis = [], False
    for p in parts:
        if p is Ellipsis:
            if not seen_ellipsis:
                out += [slice(None)] * (ndim - used)
            seen_ellipsis = True
        else:
            out.append(p)
    if not seen_ellipsis:
        out += [slice(None)] * (ndim - used)
    return out


def _is_full(p):
    return isinstance(p, slice) and p == slice(None)


@converts(I.GetItem)
def getitem(g, node):
    """a[idx] for ints, slices (any step), None and Ellipsis: Slice, Gather, Unsqueeze; one integer
    array along one dim (index_select): Gather."""
    (x,) = node.inputs
    parts = _expand_index(node.params["idx"], x.ndim)
    if parts is None:
        g.fail(f"indexing with a boolean mask (shape {x.shape}) has a result shape that depends "
               f"on the values; it has no ONNX mapping")
    arrays = [i for i, p in enumerate(parts) if isinstance(p, np.ndarray)]
    xs = g.use(x)
    if arrays:
        others = [p for i, p in enumerate(parts) if i not in arrays]
        if len(arrays) > 1 or not all(_is_full(p) for p in others):
            g.fail(f"advanced indexing of a tensor of shape {x.shape} with "
                   f"{len(arrays)} integer array(s) mixed with other indices has no ONNX mapping "
                   f"here; only one integer array along one dim (index_select) is supported")
        axis = sum(1 for p in parts[:arrays[0]] if p is not None)
        g.add("Gather", [xs, g.const(parts[arrays[0]].astype(np.int64), "indices")],
              node.outputs, axis=axis)
        return
    slices, ints, news = [], [], []
    axis = pos = 0
    for p in parts:
        if p is None:
            news.append(pos)
            pos += 1
        elif isinstance(p, slice):
            if not _is_full(p):
                slices.append((axis, p))
            axis += 1
            pos += 1
        else:
            ints.append((axis, int(p)))
            axis += 1
    cur = xs
    if slices:
        starts, ends, axes, steps = [], [], [], []
        for a, s in slices:
            step = 1 if s.step is None else int(s.step)
            if step > 0:
                starts.append(0 if s.start is None else int(s.start))
                ends.append(INT64_MAX if s.stop is None else int(s.stop))
            else:
                starts.append(INT64_MAX if s.start is None else int(s.start))
                ends.append(INT64_MIN if s.stop is None else int(s.stop))
            axes.append(a)
            steps.append(step)
        cur = g.add("Slice", [cur, g.ints(starts, "starts"), g.ints(ends, "ends"),
                              g.ints(axes, "axes"), g.ints(steps, "steps")])
    for a, i in sorted(ints, reverse=True):  # from the last dim: earlier axes keep their numbers
        cur = g.add("Gather", [cur, g.const(np.asarray(i, np.int64), "index")], axis=a)
    if news:
        cur = g.unsqueeze(cur, news)
    g.add("Identity", [cur], node.outputs)


@converts(I.Gather)
def gather(g, node):
    """torch.gather: GatherElements, after cutting a to the index's size outside ``dim``."""
    (a,), (y,) = node.inputs, node.outputs
    dim = int(node.params["dim"])
    shape = y.shape
    xs = g.use(a)
    cut = [d for d in range(a.ndim) if d != dim and shape[d] != a.shape[d]]
    if cut:
        xs = g.add("Slice", [xs, g.ints([0] * len(cut), "starts"),
                             g.ints([shape[d] for d in cut], "ends"), g.ints(cut, "axes")])
    g.add("GatherElements", [xs, g.param_input("index")], node.outputs, axis=dim)


@converts(Em.Embedding)
def embedding(g, node):
    """y = W[idx]: Gather along the rows of the weight."""
    (w,) = node.inputs
    g.add("Gather", [g.use(w), g.param_input("idx")], node.outputs, axis=0)
