"""Tracing a chainrule model into the list of op applications that made its outputs.

Every differentiable op of chainrule is a ``Function`` subclass run through ``Function.apply``
(src/chainrule/autograd/function.py). While the model runs once on the example input, ``apply`` is
replaced (and restored in ``finally``) by a wrapper that records, for each application: the
Function class, its input tensors, its keyword params, its output tensors and the module whose
``forward`` was running (kept by forward hooks on every submodule). Tensors become named values:

- ``input``: a graph input (the example tensors, in order);
- ``param``: a parameter or buffer of the model, by its dotted name (``layer1.0.bn1.weight``);
- ``op``: an output of a recorded op;
- ``const``: any other tensor an op read (a Python scalar operand, a zero initial state, ...).

A param of an op that is an array held by a known tensor (the token ids of an Embedding, the running
statistics of a BatchNorm) is replaced by that tensor's value, so the graph follows it.

The exporter traces twice and merges the traces with :func:`merge`: the second run gets one more
example in the batch (when the batch size is dynamic) and different input values, so that every dim
that follows the batch size, and every constant or op param that depends on the input's values
(computed outside the ops the tracer sees), shows up as a difference.
"""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..autograd.grad_mode import enable_grad
from ..tensor import Tensor


class ExportError(RuntimeError):
    """The model can't be exported to ONNX; the message names the op, the module and why."""


class Value:
    """A named tensor of the traced graph; ``shape``/``dtype`` are those of the first trace.

    After :func:`merge`: ``batch_axes`` are the dims whose size changed with the batch size, and
    ``data_dependent`` marks a constant whose values changed with the input's values.
    """

    __slots__ = ("name", "kind", "shape", "dtype", "array", "batch_axes", "data_dependent",
                 "shape2")

    def __init__(self, name, kind, arr):
        self.name = name
        self.kind = kind
        self.shape = tuple(arr.shape)
        self.dtype = arr.dtype
        self.array = arr if kind in ("param", "const") else None
        self.batch_axes = ()
        self.data_dependent = False
        self.shape2 = self.shape

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def is_constant(self):
        return self.kind in ("param", "const")

    def __repr__(self):
        return f"Value({self.name!r}, {self.kind}, shape={self.shape}, dtype={self.dtype})"


class Record:
    """One op application: Function class, input Values, params, output Values, module."""

    __slots__ = ("fn", "inputs", "params", "outputs", "module", "varying", "index")

    def __init__(self, fn, inputs, params, outputs, module, index):
        self.fn = fn
        self.inputs = inputs
        self.params = params
        self.outputs = outputs
        self.module = module  # (dotted path, class name)
        self.varying = {}  # param name -> (first trace's value, second trace's value)
        self.index = index

    def describe(self):
        """'op Conv2d (chainrule.ops.conv) in module 'features.0' (Conv2d)'."""
        path, cls = self.module
        where = f"in module '{path}' ({cls})" if path else f"in the forward of {cls}"
        return f"op {self.fn.__name__} ({self.fn.__module__}) {where}"


class _Table:
    """Tensors and arrays seen so far -> their Values (strong references keep ids unique)."""

    def __init__(self):
        self.by_tensor = {}  # id(tensor) -> (tensor, Value)
        self.by_array = {}  # id(array) -> (array, Value)
        self.inputs = []
        self.n_const = 0
        self.taken = set()  # names of inputs and parameters: generated names avoid them

    def fresh(self, base):
        name = base
        while name in self.taken:
            name += "_"
        return name

    def add(self, t, v):
        self.by_tensor[id(t)] = (t, v)
        self.by_array[id(t.data)] = (t.data, v)
        return v

    def value_of(self, t):
        hit = self.by_tensor.get(id(t))
        if hit is not None and hit[0] is t:
            return hit[1]
        v = Value(self.fresh(f"const_{self.n_const}"), "const", np.array(t.data, copy=True))
        self.n_const += 1
        return self.add(t, v)

    def param(self, p):
        """An op param: a known tensor's array becomes its Value; anything else stays as is."""
        if isinstance(p, Tensor):
            return self.value_of(p)
        if isinstance(p, np.ndarray):
            hit = self.by_array.get(id(p))
            if hit is not None and hit[0] is p:
                return hit[1]
            for v, t in self.inputs:  # a graph input converted to another integer dtype
                a = t.data
                if (a.dtype != p.dtype and a.shape == p.shape and a.dtype.kind in "iu"
                        and p.dtype.kind in "iu" and np.array_equal(a, p)):
                    return v
        return p


def _flatten_outputs(out, who):
    """The tensors of a forward's result (nested tuples, lists, dicts; None skipped), in order."""
    if isinstance(out, Tensor):
        return [out]
    if out is None:
        return []
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flatten_outputs(o, who)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _flatten_outputs(o, who)]
    raise ExportError(f"chainrule.onnx.export: {who} returned a {type(out).__name__}; expected "
                      f"Tensors (or tuples, lists or dicts of Tensors)")


def run(model, inputs, input_names, named_tensors, modules, who):
    """Run ``model(*inputs)`` once, recording every op application.

    Args:
        model: the callable (a Module or a function of Tensors).
        inputs: the input Tensors (fresh copies: the run may not change the caller's tensors).
        input_names: one graph name per input.
        named_tensors: (dotted name, Tensor) of the parameters and buffers.
        modules: (dotted path, Module) of every module, for the module of each op.
        who: the model's name for messages.

    Returns (records, output Values).
    """
    tab = _Table()
    tab.taken.update(input_names)
    tab.taken.update(name for name, _ in named_tensors)
    for name, t in zip(input_names, inputs):
        v = tab.add(t, Value(name, "input", t.data))
        tab.inputs.append((v, t))
    for name, t in named_tensors:
        if id(t) not in tab.by_tensor:
            tab.add(t, Value(name, "param", t.data))
    stack = [("", who)]
    records = []
    original = Function.__dict__["apply"]
    run_op = original.__func__

    def traced_apply(cls, *args, **params):
        out = run_op(cls, *args, **params)
        outs = out if isinstance(out, tuple) else (out,)
        ins = [tab.value_of(t) for t in args]
        ps = {k: tab.param(p) for k, p in params.items()}
        i = len(records)
        base = f"{cls.__name__}_{i}"
        vals = [tab.add(o, Value(tab.fresh(base if len(outs) == 1 else f"{base}_{k}"), "op",
                                 o.data))
                for k, o in enumerate(outs)]
        records.append(Record(cls, ins, ps, vals, stack[-1], i))
        return out

    handles = []

    def pre_hook(path):
        def hook(module, args):
            stack.append((path, type(module).__name__))
        return hook

    def post_hook(module, args, out):
        stack.pop()

    saved = [np.array(t.data, copy=True) for t in inputs]
    try:
        for path, m in modules:
            if path:
                handles.append(m.register_forward_pre_hook(pre_hook(path)))
                handles.append(m.register_forward_hook(post_hook))
        Function.apply = classmethod(traced_apply)
        with enable_grad():  # in-place updates of values that need grad become recorded ops
            out = model(*inputs)
    finally:
        Function.apply = original
        for h in handles:
            h.remove()
    for name, t, before in zip(input_names, inputs, saved):
        if t.data.shape != before.shape or not np.array_equal(t.data, before, equal_nan=True):
            raise ExportError(f"chainrule.onnx.export: the forward of {who} changed its input "
                              f"'{name}' in place; the exporter sees only the ops of "
                              f"chainrule.ops, not in-place updates (use out-of-place ops)")
    outs = _flatten_outputs(out, f"the forward of {who}")
    if not outs:
        raise ExportError(f"chainrule.onnx.export: the forward of {who} returned no Tensor")
    return records, [tab.value_of(t) for t in outs]


# ---- comparing two traces ------------------------------------------------------------------------


def _same(a, b):
    """Deep equality of op params (arrays by shape and values, Values by name)."""
    if isinstance(a, Value) or isinstance(b, Value):
        return isinstance(a, Value) and isinstance(b, Value) and a.name == b.name
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.generic) or isinstance(b, np.generic):
        return _same(np.asarray(a), np.asarray(b))
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - incomparable params count as different
        return False


def merge(first, second, who):
    """Merge two traces of the same model: fill ``batch_axes``, ``data_dependent`` and
    ``varying`` from their differences. Raises ExportError when they ran different ops."""
    recs1, outs1 = first
    recs2, outs2 = second
    hint = ("the exporter runs the forward twice (a second time on a batch one larger, with "
            "other input values) and needs the same ops both times: a forward whose ops depend "
            "on the batch size or on the input's values can't be exported")
    if len(recs1) != len(recs2) or len(outs1) != len(outs2):
        raise ExportError(f"chainrule.onnx.export: {who} ran {len(recs1)} ops the first time and "
                          f"{len(recs2)} the second; {hint}")
    values2 = {}
    for r in recs2:
        for v in r.inputs + r.outputs:
            values2[v.name] = v
    for v in outs2:
        values2[v.name] = v
    seen = set()

    def compare(v, r):
        if v.name in seen:
            return
        seen.add(v.name)
        w = values2.get(v.name)
        if w is None or len(w.shape) != len(v.shape):
            where = r.describe() if r is not None else "an output"
            raise ExportError(f"chainrule.onnx.export: {where}: value {v.name} has shape "
                              f"{v.shape} the first time and "
                              f"{None if w is None else w.shape} the second; {hint}")
        v.shape2 = w.shape
        v.batch_axes = tuple(i for i, (a, b) in enumerate(zip(v.shape, w.shape)) if a != b)
        if v.kind == "const" and not v.batch_axes:
            v.data_dependent = not _same(v.array, w.array)

    for r1, r2 in zip(recs1, recs2):
        if r1.fn is not r2.fn or [v.name for v in r1.inputs] != [v.name for v in r2.inputs]:
            raise ExportError(f"chainrule.onnx.export: op #{r1.index} was {r1.fn.__name__} the "
                              f"first time and {r2.fn.__name__} the second ({r1.describe()}); "
                              f"{hint}")
        for v in r1.inputs + r1.outputs:
            compare(v, r1)
        for k in set(r1.params) | set(r2.params):
            a, b = r1.params.get(k), r2.params.get(k)
            if not _same(a, b):
                r1.varying[k] = (a, b)
    for v1, v2 in zip(outs1, outs2):
        if v1.name != v2.name:
            raise ExportError(f"chainrule.onnx.export: {who} returned {v1.name} the first time "
                              f"and {v2.name} the second; {hint}")
        compare(v1, None)
    return recs1, outs1
