"""The graph walk of reverse-mode autodiff.

Nodes are the Functions that made non-leaf tensors. ``run_backward`` orders them with an iterative
depth-first search (no recursion, so a chain of any length is fine), then visits them from the
outputs back to the leaves, handing each node the sum of the gradients that reached its outputs
(a tensor used twice gets both contributions: the multivariate chain rule) and passing what it
returns on to its inputs.
"""
from __future__ import annotations

import numpy as np

from . import anomaly
from ..backend import asarray_like, get_array_module

_FREED = ("Trying to backward through the graph a second time (or to use saved tensors after they "
          "were freed). Its saved arrays were released by the first backward; call "
          "backward(retain_graph=True) the first time if you need to go through it again.")


def _topo_order(roots):
    """Nodes reachable from ``roots``, each after every node that consumes its outputs."""
    order, seen = [], set()
    stack = [(r, False) for r in roots]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for t in node.inputs:
            c = t._ctx
            if c is not None and id(c) not in seen:
                stack.append((c, False))
    order.reverse()  # consumers first
    return order


def run_backward(outputs, grad_outputs, retain_graph=False, inputs=None, accumulate=True):
    """Back-propagate ``grad_outputs`` from ``outputs``.

    With ``accumulate`` the gradients of leaves that require grad are added into ``leaf.grad``;
    otherwise the gradients of ``inputs`` (leaves or not) are returned as a list of arrays.
    """
    from ..tensor import Tensor

    pending = {}  # id(node) -> list of per-output gradient arrays
    want = {id(t): i for i, t in enumerate(inputs)} if inputs is not None else None
    results = [None] * len(inputs) if inputs is not None else None

    def deliver(t, g, fresh=False):
        """Route gradient g to tensor t: into its node's pending list, a leaf's .grad, or a result.

        ``fresh``: g is a new array nobody else holds, so a leaf may keep it without a copy."""
        if want is not None and id(t) in want:
            k = want[id(t)]
            results[k] = g if results[k] is None else results[k] + g
            if t._ctx is None:
                return
        c = t._ctx
        if c is not None:
            lst = pending.get(id(c))
            if lst is None:
                lst = pending[id(c)] = [None] * c.n_outputs
            i = t._out_idx
            lst[i] = g if lst[i] is None else lst[i] + g
        elif accumulate and t.requires_grad:
            t._accumulate_grad(g, fresh)

    roots = []
    for k, (t, g) in enumerate(zip(outputs, grad_outputs)):
        if t._ctx is None:
            if not t.requires_grad:
                raise RuntimeError(f"element {k} of tensors (shape {tuple(t.shape)}) does not "
                                   f"require grad and does not have a grad_fn: the output was "
                                   f"computed without any input that requires grad (or inside "
                                   f"no_grad)")
            deliver(t, g)
            continue
        if t._ctx.freed:
            raise RuntimeError(_FREED)
        roots.append(t._ctx)
        deliver(t, g)

    for node in _topo_order(roots):
        grads = pending.pop(id(node), None)
        if grads is None:
            continue  # not on a path from the outputs that carries gradient
        if node.freed:
            raise RuntimeError(_FREED)
        for i, g in enumerate(grads):
            if g is None:  # an output no gradient reached: zeros on the device of the others
                shape, dtype = node.out_meta[i]
                xp = get_array_module(*[h for h in grads if h is not None])
                grads[i] = xp.zeros(shape, dtype)
        if node.retained:
            for i, ref in node.retained.items():
                out = ref()
                if out is not None:
                    out._accumulate_grad(grads[i])
        in_grads = node.backward(*grads)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        if anomaly._enabled:
            anomaly.check_gradients(node, in_grads)
        if len(in_grads) != len(node.inputs):
            raise RuntimeError(f"{node.name}.backward returned {len(in_grads)} gradients for "
                               f"{len(node.inputs)} inputs")
        fresh = node.fresh_grads
        for t, need, g in zip(node.inputs, node.needs_input_grad, in_grads):
            if not need or g is None:
                continue
            if g.shape != t.data.shape:
                raise RuntimeError(f"{node.name}.backward returned a gradient of shape {g.shape} "
                                   f"for an input of shape {t.data.shape}")
            if g.dtype != t.data.dtype:
                deliver(t, g.astype(t.data.dtype), True)
            else:
                deliver(t, g, fresh)
        if not retain_graph:
            node.saved = None
            node.freed = True
    return results


def _seed_grads(outputs, grad_outputs, caller):
    from ..tensor import Tensor

    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    seeds = []
    for t, g in zip(outputs, grad_outputs):
        if g is None:
            if t.data.size != 1:
                made_by = f" (made by {t._ctx.name})" if t._ctx is not None else ""
                raise RuntimeError(f"{caller}: grad can be implicitly created only for scalar "
                                   f"outputs, got an output of shape {tuple(t.shape)}{made_by}; "
                                   f"pass a gradient of that shape or reduce it to a scalar first")
            d = t.data
            xp = np if type(d) is np.ndarray else get_array_module(d)
            seeds.append(xp.ones(d.shape, d.dtype))
        else:
            ga = g.data if isinstance(g, Tensor) else asarray_like(t.data, g, t.data.dtype)
            if ga.shape != t.data.shape:
                made_by = f" (made by {t._ctx.name})" if t._ctx is not None else ""
                raise RuntimeError(f"{caller}: gradient has shape {tuple(ga.shape)} but the output "
                                   f"has shape {tuple(t.shape)}{made_by}")
            seeds.append(ga.astype(t.data.dtype, copy=False))
    return seeds


def backward(tensors, grad_tensors=None, retain_graph=False):
    """Accumulate d(sum_k <grad_k, tensor_k>)/d(leaf) into every leaf that requires grad."""
    from ..tensor import Tensor

    if isinstance(tensors, Tensor):
        tensors = [tensors]
        grad_tensors = None if grad_tensors is None else [grad_tensors]
    tensors = list(tensors)
    seeds = _seed_grads(tensors, grad_tensors, "backward")
    run_backward(tensors, seeds, retain_graph=retain_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=False, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned (not accumulated into .grad).

    ``outputs`` and ``inputs`` are Tensors or sequences of Tensors; ``grad_outputs`` gives the
    vector of the vector-Jacobian product for non-scalar outputs.
    """
    from ..tensor import Tensor

    single_out = isinstance(outputs, Tensor)
    outputs = [outputs] if single_out else list(outputs)
    if grad_outputs is not None and isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    inputs_t = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    for i, t in enumerate(inputs_t):
        if not t.requires_grad:
            raise RuntimeError(f"grad: input {i} (shape {tuple(t.shape)}) does not require grad")
    seeds = _seed_grads(outputs, grad_outputs, "grad")
    res = run_backward(outputs, seeds, retain_graph=retain_graph, inputs=inputs_t, accumulate=False)
    out = []
    for i, (t, g) in enumerate(zip(inputs_t, res)):
        if g is None:
            if not allow_unused:
                raise RuntimeError(f"grad: input {i} (shape {tuple(t.shape)}) was not used in "
                                   f"computing the outputs; pass allow_unused=True to get None")
            out.append(None)
        else:
            out.append(Tensor._make(g, False, None, 0))
    return tuple(out)
