"""chainrule.onnx.export: write a model as an ONNX file, for onnxruntime and other frameworks.

The model runs on the example input in evaluation mode while every op application is recorded
(``_trace.py``); each recorded op becomes ONNX nodes (the ``_convert_*`` files, looked up in
``_registry.CONVERTERS``); parameters and buffers become initializers named after their dotted
names. The model is traced a second time on a batch one larger and on other input values, and the
two traces are compared: dims that changed follow the batch size (they become the symbolic dim
'batch', and reshapes write them as -1), and a constant or op param that changed depends on the
input in a way the graph can't follow, which is an error rather than a silently wrong file.

Needs the optional ``onnx`` package (``pip install onnx``, or ``pip install chainrule[onnx]``).
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

from ..tensor import Tensor
from . import _convert_cnn, _convert_math, _convert_rnn, _convert_shape
from ._graph import GraphBuilder
from ._registry import CONVERTERS
from ._trace import ExportError, merge, run

MIN_OPSET = 13
MAX_BYTES = 2**31 - 2**24  # protobuf's 2 GiB limit, less room for the graph itself
_FAMILIES = (_convert_cnn, _convert_math, _convert_rnn, _convert_shape)  # imported to register


def _import_onnx():
    try:
        import onnx
        import onnx.checker
        import onnx.helper
        import onnx.numpy_helper
    except ImportError as e:
        raise ImportError("chainrule.onnx.export needs the onnx package, which is not installed: "
                          "pip install onnx (or pip install chainrule[onnx])") from e
    return onnx


def _as_inputs(example_input):
    items = list(example_input) if isinstance(example_input, (tuple, list)) else [example_input]
    if not items:
        raise ExportError("chainrule.onnx.export: example_input is empty; expected a Tensor or a "
                          "tuple of Tensors (the model's positional arguments)")
    out = []
    for i, x in enumerate(items):
        if isinstance(x, Tensor):
            out.append(x.data)
        elif isinstance(x, np.ndarray):
            out.append(x)
        else:
            raise ExportError(f"chainrule.onnx.export: example_input[{i}] is a "
                              f"{type(x).__name__}; expected a Tensor or a NumPy array")
    return out


def _batch_axes(dynamic_batch, arrays, names):
    """The batch dim of each input (None: fixed size) from export's ``dynamic_batch``."""
    n = len(arrays)
    if dynamic_batch is True:
        axes = [0] * n
    elif dynamic_batch is False or dynamic_batch is None:
        return [None] * n
    elif isinstance(dynamic_batch, int):
        axes = [dynamic_batch] * n
    elif isinstance(dynamic_batch, (tuple, list)) and len(dynamic_batch) == n and all(
            a is None or (isinstance(a, int) and not isinstance(a, bool)) for a in dynamic_batch):
        axes = list(dynamic_batch)
    else:
        raise ExportError(f"chainrule.onnx.export: dynamic_batch must be True, False, the batch "
                          f"dim (an int) or one dim (or None) per input ({n}), got "
                          f"{dynamic_batch!r}")
    out = []
    for a, axis, name in zip(arrays, axes, names):
        if axis is not None and not -a.ndim <= axis < a.ndim:
            if dynamic_batch is True and a.ndim == 0:
                out.append(None)
                continue
            raise ExportError(f"chainrule.onnx.export: the batch dim {axis} is out of range for "
                              f"input '{name}' of shape {a.shape}")
        out.append(None if axis is None else axis % a.ndim)
    return out


def _second_input(a, axis):
    """The second trace's input: one more example (the first again) and other values."""
    if axis is not None:
        a = np.concatenate([a, np.take(a, [0], axis=axis)], axis=axis)
    if a.dtype.kind == "f":
        return (a * a.dtype.type(1.5) + a.dtype.type(0.25)).astype(a.dtype)
    if a.dtype.kind in "iu" and a.size:
        return np.ascontiguousarray(a.reshape(-1)[::-1].reshape(a.shape))  # the same ids, moved
    return a.copy()


def _names(given, n, default, what):
    if given is None:
        return [default] if n == 1 else [f"{default}_{i}" for i in range(n)]
    given = [given] if isinstance(given, str) else list(given)
    if len(given) != n or not all(isinstance(s, str) and s for s in given):
        raise ExportError(f"chainrule.onnx.export: expected {n} {what} (non-empty strings), got "
                          f"{given!r}")
    if len(set(given)) != n:
        raise ExportError(f"chainrule.onnx.export: {what} must be unique, got {given!r}")
    return given


def _needed(records, outputs):
    """The records the outputs depend on, in order (ops whose results are unused are dropped)."""
    producer = {}
    for r in records:
        for v in r.outputs:
            producer[v.name] = r
    keep, todo = set(), [v.name for v in outputs]
    while todo:
        r = producer.get(todo.pop())
        if r is None or r.index in keep:
            continue
        keep.add(r.index)
        todo.extend(v.name for v in r.inputs)
        todo.extend(p.name for p in r.params.values() if hasattr(p, "kind"))
    return [r for r in records if r.index in keep]


def _value_info(onnx, name, v, batch):
    """A graph output's type: dims that follow the batch are 'batch' (or free when scaled)."""
    dims = []
    for a, n in enumerate(v.shape):
        if a not in v.batch_axes:
            dims.append(int(n))
        elif batch is not None and n == batch and v.shape2[a] == batch + 1:
            dims.append("batch")
        else:
            dims.append(None)
    return onnx.helper.make_tensor_value_info(
        name, onnx.helper.np_dtype_to_tensor_dtype(np.dtype(v.dtype)), dims)


def _write_atomic(data, path):
    """Write to a temporary file in the same folder, then rename it over ``path``: readers see
    the old file or the new one, never a part."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.",
                                   suffix=".tmp")
    except OSError as e:
        raise OSError(e.errno, f"chainrule.onnx.export: can't write {path!r} "
                               f"({e.strerror})") from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def export(model, example_input, path, *, opset=17, input_names=None, output_names=None,
           dynamic_batch=True):
    """Write ``model`` as an ONNX file at ``path`` (atomically) and return the ``onnx.ModelProto``.

    The model runs on ``example_input`` in evaluation mode (its training flags are restored after);
    every op it applies becomes ONNX nodes. Supported: Linear, Conv2d (stride, padding, dilation,
    groups), ConvTranspose2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d (output
    sizes that divide the input), BatchNorm1d/2d (eval), LocalResponseNorm (odd size), ReLU,
    LeakyReLU, Sigmoid, Tanh, Softplus, Softmax, LogSoftmax, Dropout (the identity in eval),
    Flatten/reshape/view, elementwise arithmetic with broadcasting, cat/stack (Inception), basic
    indexing, pad, Embedding, RNN/LSTM/GRU and their cells (one ONNX node per layer and direction),
    matmul, transpose/permute, reductions. Any other op raises ExportError naming it and the module
    it ran in.

    Args:
        model: a chainrule Module (or a function of Tensors).
        example_input: a Tensor, or a tuple of Tensors (the positional arguments of forward).
        path: the file to write.
        opset: the ONNX opset (at least 13).
        input_names, output_names: names of the graph's inputs and outputs (default 'input',
            'output', or 'input_0', ... when there are several). Outputs are the Tensors of the
            forward's result, nested tuples flattened in order (CharRNN: logits, h_n, c_n).
        dynamic_batch: True: dim 0 of every input is the symbolic 'batch', and every dim that
            follows it stays free, so the file runs on any batch size. An int names the batch dim
            instead (1 for time-major (T, B, ...) sequences), a tuple one dim (or None) per input;
            False fixes every size.

    Raises:
        ImportError: the onnx package is missing.
        ExportError: an op has no ONNX mapping, or the forward depends on the input in a way an
            ONNX graph can't express (see the module docstring).

    Example::

        >>> model = chainrule.models.lenet5()
        >>> chainrule.onnx.export(model, cr.randn(1, 1, 28, 28), "lenet5.onnx")
        >>> # onnxruntime.InferenceSession("lenet5.onnx").run(None, {"input": x})
    """
    onnx = _import_onnx()
    max_opset = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= max_opset:
        raise ExportError(f"chainrule.onnx.export: opset must be an int in [{MIN_OPSET}, "
                          f"{max_opset}] (the installed onnx's newest), got {opset!r}")
    arrays = _as_inputs(example_input)
    in_names = _names(input_names, len(arrays), "input", "input_names")
    axes = _batch_axes(dynamic_batch, arrays, in_names)
    dynamic = any(a is not None for a in axes)
    who = type(model).__name__ if hasattr(model, "named_modules") else \
        getattr(model, "__name__", type(model).__name__)
    modules = list(model.named_modules()) if hasattr(model, "named_modules") else []
    named = []
    if hasattr(model, "named_parameters"):
        named = list(model.named_parameters()) + [(n, b) for n, b in model.named_buffers()
                                                  if b is not None]
    clash = sorted(set(in_names) & {n for n, _ in named})
    if clash:
        raise ExportError(f"chainrule.onnx.export: input name {clash[0]!r} is also the name of a "
                          f"parameter or buffer of {who}; pass other input_names")
    flags = [(m, m.training) for _, m in modules]
    try:
        for m, _ in flags:
            m.training = False
        first = run(model, [Tensor._make(a.copy(), False, None, 0) for a in arrays], in_names,
                    named, modules, who)
        try:
            second = run(model, [Tensor._make(_second_input(a, ax), False, None, 0)
                                 for a, ax in zip(arrays, axes)], in_names, named, modules,
                         who)
        except ExportError:
            raise
        except Exception as e:
            what = "a batch one larger and other input values" if dynamic else \
                "other input values"
            raise ExportError(f"chainrule.onnx.export: the exporter runs {who} a second time, on "
                              f"{what}, to find the dims that follow the batch size and the "
                              f"values that depend on the input; that run failed with "
                              f"{type(e).__name__}: {e}" +
                              ("; try dynamic_batch=False" if dynamic else "")) from e
    finally:
        for m, training in flags:
            m.training = training
    records, outputs = merge(first, second, who)
    out_names = _names(output_names, len(outputs), "output", "output_names")
    records = _needed(records, outputs)

    reserved = set(in_names) | {n for n, _ in named}
    for r in records:
        reserved.update(v.name for v in r.inputs + r.outputs)
    clash = sorted(set(out_names) & reserved)
    if clash:
        raise ExportError(f"chainrule.onnx.export: output name {clash[0]!r} is already the name "
                          f"of an input, a parameter or a value of the graph; pass other "
                          f"output_names")
    g = GraphBuilder(onnx, opset, reserved | set(out_names))
    for r in records:
        entry = CONVERTERS.get(r.fn)
        if entry is None:
            raise ExportError(f"chainrule.onnx.export: {r.describe()} has no ONNX mapping; the "
                              f"exporter supports {_supported()}")
        convert, may_vary = entry
        bad = sorted(set(r.varying) - may_vary)
        if bad:
            k = bad[0]
            raise ExportError(f"chainrule.onnx.export: {r.describe()}: its parameter '{k}' "
                              f"changed when the batch size or the input's values changed "
                              f"({_short(r.varying[k][0])} vs {_short(r.varying[k][1])}); "
                              f"it was computed from the input outside the ops the exporter "
                              f"sees" + ("; try dynamic_batch=False" if dynamic else ""))
        g.node = r
        convert(g, r)
    g.node = None
    for v, name in zip(outputs, out_names):
        g.add("Identity", [g.use(v)], name)
    if g.initializer_bytes >= MAX_BYTES:
        raise ExportError(f"chainrule.onnx.export: the weights of {who} take "
                          f"{g.initializer_bytes / 2**30:.2f} GiB; a single ONNX file holds less "
                          f"than 2 GiB (protobuf's limit), and external weight files are not "
                          f"written by this exporter")

    sizes = [a.shape[ax] for a, ax in zip(arrays, axes) if ax is not None]
    batch = sizes[0] if sizes else None
    graph_inputs = []
    for name, a, ax in zip(in_names, arrays, axes):
        dims = [int(n) for n in a.shape]
        if ax is not None:
            dims[ax] = "batch" if a.shape[ax] == batch else f"{name}_dim{ax}"
        graph_inputs.append(onnx.helper.make_tensor_value_info(
            name, onnx.helper.np_dtype_to_tensor_dtype(a.dtype), dims))
    graph_outputs = [_value_info(onnx, name, v, batch) for v, name in zip(outputs, out_names)]
    graph = onnx.helper.make_graph(g.nodes, who, graph_inputs, graph_outputs,
                                   initializer=g.initializers)
    from .. import __version__

    opset_id = onnx.helper.make_opsetid("", opset)
    proto = onnx.helper.make_model(graph, opset_imports=[opset_id], producer_name="chainrule",
                                   producer_version=__version__)
    proto.ir_version = onnx.helper.find_min_ir_version_for([opset_id])
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as e:  # a converter wrote an invalid graph: a bug of the exporter
        raise ExportError(f"chainrule.onnx.export: the ONNX checker rejected the graph written for "
                          f"{who}: {e}") from e
    _write_atomic(proto.SerializeToString(), path)
    return proto


def _short(p):
    if isinstance(p, np.ndarray):
        return f"array of shape {p.shape}"
    s = repr(p)
    return s if len(s) <= 60 else s[:57] + "..."


def _supported():
    names = sorted({fn.__name__ for fn in CONVERTERS})
    return ", ".join(names)
