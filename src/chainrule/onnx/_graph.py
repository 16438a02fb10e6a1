"""The ONNX graph under construction: nodes, initializers, unique names and opset-aware helpers.

Converters (the ``_convert_*`` files) turn one traced op into ONNX nodes through this builder:
``g.use(value)`` gives the ONNX name of a traced value (adding a parameter or constant as an
initializer the first time it is used), ``g.add(op_type, inputs, outputs, **attrs)`` appends a node,
``g.const``/``g.ints`` add constants, and ``squeeze``/``unsqueeze``/``reduce`` hide the differences
between opsets (axes as an attribute or as an input).
"""
from __future__ import annotations

import numpy as np

from ._trace import ExportError, Value

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


class GraphBuilder:
    def __init__(self, onnx, opset, reserved):
        self.onnx = onnx
        self.opset = opset
        self.nodes = []
        self.initializers = []
        self._init_names = set()
        self.initializer_bytes = 0
        self.names = set(reserved)
        self._counter = 0
        self.node = None  # the traced op being converted (for error messages)

    # ---- names and errors ----------------------------------------------------------------------
    def tmp(self, hint="t"):
        """A fresh value name."""
        while True:
            self._counter += 1
            name = f"{hint}__{self._counter}"
            if name not in self.names:
                self.names.add(name)
                return name

    def fail(self, msg, node=None):
        node = node or self.node
        where = node.describe() if node is not None else "the model"
        raise ExportError(f"chainrule.onnx.export: {where}: {msg}")

    # ---- values, constants ---------------------------------------------------------------------
    def use(self, v):
        """The ONNX name of a traced Value; parameters and constants become initializers."""
        if not isinstance(v, Value):
            raise TypeError(f"GraphBuilder.use: expected a Value, got {type(v).__name__}")
        if v.is_constant and v.name not in self._init_names:
            self.check_constant(v)
            self._initializer(v.name, v.array)
        return v.name

    def check_constant(self, v, what=None):
        """Raise the exporter's error when a constant's shape or values follow the input."""
        what = what or f"a tensor of shape {v.shape} ({v.name})"
        if v.kind == "const" and v.batch_axes:
            self.fail(f"{what} was made inside forward without an op the exporter sees and its "
                      f"shape follows the batch size (dims {list(v.batch_axes)}): made with the "
                      f"batch size (e.g. zeros(x.shape[0], ...)), export with "
                      f"dynamic_batch=False or build it with chainrule ops from the input; "
                      f"computed from the input's values (a comparison, argmax, sign, floor, "
                      f".data or .numpy() arithmetic), it can't be exported")
        if v.kind == "const" and v.data_dependent:
            self.fail(f"{what} depends on the input's values but was computed outside the "
                      f"differentiable ops of chainrule (a comparison, argmax, sign, floor, "
                      f".data or .numpy() arithmetic?); the exporter can't follow such a "
                      f"computation")

    def array_of(self, v, what):
        """The array of a parameter or constant Value (checked), or the exporter's error."""
        if not v.is_constant:
            self.fail(f"{what} must be a parameter or a constant, but it is computed in the graph "
                      f"({v.name})")
        self.check_constant(v, what)
        return v.array

    def _initializer(self, name, arr):
        arr = np.asarray(arr)
        if not arr.flags.c_contiguous:  # (ascontiguousarray would make a 0-d array 1-d)
            arr = arr.copy(order="C")
        self.initializer_bytes += arr.nbytes
        t = self.onnx.numpy_helper.from_array(arr, name)
        self.initializers.append(t)
        self._init_names.add(name)
        self.names.add(name)

    def const(self, arr, hint="const"):
        """A new initializer holding ``arr``; returns its name."""
        name = self.tmp(hint)
        self._initializer(name, np.asarray(arr))
        return name

    def ints(self, values, hint="ints"):
        return self.const(np.asarray(list(values), dtype=np.int64), hint)

    def scalar(self, x, dtype, hint="scalar"):
        return self.const(np.asarray(x, dtype=dtype), hint)

    def param_input(self, key):
        """An op param that is a tensor for the graph: a traced Value, or a constant array."""
        p = self.node.params[key]
        if isinstance(p, Value):
            return self.use(p)
        return self.const(np.asarray(p), key)

    # ---- nodes ---------------------------------------------------------------------------------
    def add(self, op_type, inputs, outputs=None, **attrs):
        """Append a node; ``outputs``: names/Values, an int (that many fresh names) or None (one).
        Returns the output name (one output) or the list of names."""
        if outputs is None:
            outputs = [self.tmp(op_type.lower())]
        elif isinstance(outputs, int):
            outputs = [self.tmp(op_type.lower()) for _ in range(outputs)]
        elif isinstance(outputs, (str, Value)):
            outputs = [outputs]
        outs = [o.name if isinstance(o, Value) else o for o in outputs]
        ins = [i.name if isinstance(i, Value) else i for i in inputs]
        while ins and ins[-1] == "":
            ins.pop()
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(self.onnx.helper.make_node(op_type, ins, outs,
                                                     name=f"{op_type}_{len(self.nodes)}", **attrs))
        return outs[0] if len(outs) == 1 else outs

    # ---- opset-dependent helpers ---------------------------------------------------------------
    def unsqueeze(self, x, axes, out=None):
        return self.add("Unsqueeze", [x, self.ints(axes, "axes")], out)

    def squeeze(self, x, axes, out=None):
        return self.add("Squeeze", [x, self.ints(axes, "axes")], out)

    def reduce(self, op_type, x, axes, keepdims, out=None):
        """ReduceSum/Mean/Max/Min/L2/LogSumExp over ``axes`` (axes an input from opset 18, and
        from opset 13 for ReduceSum)."""
        axes = [int(a) for a in axes]
        if not axes:
            return self.add("Identity", [x], out)
        if self.opset >= 18 or op_type == "ReduceSum":
            return self.add(op_type, [x, self.ints(axes, "axes")], out, keepdims=int(keepdims))
        return self.add(op_type, [x], out, axes=axes, keepdims=int(keepdims))
