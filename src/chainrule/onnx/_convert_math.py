"""ONNX nodes for the elementwise ops and activations, softmax, reductions and matrix products.

Binary ops broadcast the same way in NumPy (chainrule) and ONNX, so each maps to one node.
"""
from __future__ import annotations

import numpy as np

from ..ops import elementwise as E
from ..ops import linalg as L
from ..ops import reduce as Rd
from ..ops.softmax import LogSoftmax, LogSumExp, Softmax
from ._registry import converts

_BINARY = {E.Add: "Add", E.Sub: "Sub", E.Mul: "Mul", E.Div: "Div", E.Pow: "Pow",
           E.Maximum: "Max", E.Minimum: "Min"}
_UNARY = {E.Neg: "Neg", E.Exp: "Exp", E.Log: "Log", E.Sqrt: "Sqrt", E.Abs: "Abs", E.Sin: "Sin",
          E.Cos: "Cos", E.Sigmoid: "Sigmoid", E.Tanh: "Tanh", E.ReLU: "Relu", E.Clone: "Identity"}


@converts(*_BINARY)
def binary(g, node):
    a, b = node.inputs
    g.add(_BINARY[node.fn], [g.use(a), g.use(b)], node.outputs)


@converts(*_UNARY)
def unary(g, node):
    g.add(_UNARY[node.fn], [g.use(node.inputs[0])], node.outputs)


@converts(E.Log1p)
def log1p(g, node):
    (x,) = node.inputs
    g.add("Log", [g.add("Add", [g.use(x), g.scalar(1, x.dtype, "one")])], node.outputs)


@converts(E.Rsqrt)
def rsqrt(g, node):
    g.add("Reciprocal", [g.add("Sqrt", [g.use(node.inputs[0])])], node.outputs)


@converts(E.Square)
def square(g, node):
    x = g.use(node.inputs[0])
    g.add("Mul", [x, x], node.outputs)


@converts(E.PowScalar)
def pow_scalar(g, node):
    (x,) = node.inputs
    p = node.params["p"]
    g.add("Pow", [g.use(x), g.scalar(p, x.dtype if x.dtype.kind == "f" else np.asarray(p).dtype,
                                     "exponent")], node.outputs)


@converts(E.LeakyReLU)
def leaky_relu(g, node):
    g.add("LeakyRelu", [g.use(node.inputs[0])], node.outputs, alpha=float(node.params["slope"]))


@converts(E.Softplus)
def softplus(g, node):
    """h = softplus(beta s) / beta, and h = s where beta s > threshold (exactly as chainrule)."""
    (x,) = node.inputs
    beta, threshold = node.params["beta"], node.params["threshold"]
    s = g.use(x)
    bs = g.add("Mul", [s, g.scalar(beta, x.dtype, "beta")])
    soft = g.add("Div", [g.add("Softplus", [bs]), g.scalar(beta, x.dtype, "beta")])
    big = g.add("Greater", [bs, g.scalar(threshold, x.dtype, "threshold")])
    g.add("Where", [big, s, soft], node.outputs)


@converts(E.Clamp)
def clamp(g, node):
    (x,) = node.inputs
    lo, hi = node.params["lo"], node.params["hi"]
    lo = "" if lo is None else g.scalar(lo, x.dtype, "min")
    hi = "" if hi is None else g.scalar(hi, x.dtype, "max")
    g.add("Clip", [g.use(x), lo, hi], node.outputs)


@converts(E.Where)
def where(g, node):
    a, b = node.inputs
    cond = g.param_input("cond")
    g.add("Where", [cond, g.use(a), g.use(b)], node.outputs)


@converts(E.Cast)
def cast(g, node):
    to = g.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(node.params["dtype"]))
    g.add("Cast", [g.use(node.inputs[0])], node.outputs, to=to)


# ---- softmax -------------------------------------------------------------------------------------
@converts(Softmax)
def softmax(g, node):
    g.add("Softmax", [g.use(node.inputs[0])], node.outputs, axis=int(node.params["dim"]))


@converts(LogSoftmax)
def log_softmax(g, node):
    g.add("LogSoftmax", [g.use(node.inputs[0])], node.outputs, axis=int(node.params["dim"]))


@converts(LogSumExp)
def logsumexp(g, node):
    g.reduce("ReduceLogSumExp", g.use(node.inputs[0]), [node.params["dim"]],
             node.params["keepdim"], node.outputs[0])


# ---- reductions ----------------------------------------------------------------------------------
@converts(Rd.Sum, Rd.Mean, Rd.Norm)
def reduce_plain(g, node):
    op = {Rd.Sum: "ReduceSum", Rd.Mean: "ReduceMean", Rd.Norm: "ReduceL2"}[node.fn]
    g.reduce(op, g.use(node.inputs[0]), node.params["dims"], node.params["keepdim"],
             node.outputs[0])


@converts(Rd.MaxMinAll)
def reduce_max_min(g, node):
    op = "ReduceMax" if node.params["is_max"] else "ReduceMin"
    g.reduce(op, g.use(node.inputs[0]), node.params["dims"], node.params["keepdim"],
             node.outputs[0])


@converts(Rd.MaxMinDim)
def reduce_max_min_dim(g, node):
    op = "ReduceMax" if node.params["is_max"] else "ReduceMin"
    g.reduce(op, g.use(node.inputs[0]), [node.params["dim"]], node.params["keepdim"],
             node.outputs[0])


@converts(Rd.Var, Rd.Std)
def var_std(g, node):
    """var = sum (a - mean)^2 / (n - correction) over dims; std = sqrt(var)."""
    (x,) = node.inputs
    dims = node.params["dims"]
    if any(d in x.batch_axes for d in dims):
        g.fail(f"var/std over the batch dim (dims {list(dims)} of shape {x.shape}) divides by the "
               f"batch size; export with dynamic_batch=False")
    n = int(np.prod([x.shape[d] for d in dims], dtype=np.int64))
    denom = max(n - node.params["correction"], 0)
    xs = g.use(x)
    c = g.add("Sub", [xs, g.reduce("ReduceMean", xs, dims, True)])
    s = g.reduce("ReduceSum", g.add("Mul", [c, c]), dims, node.params["keepdim"])
    if node.fn is Rd.Var:
        g.add("Div", [s, g.scalar(denom, x.dtype, "denom")], node.outputs)
    else:
        g.add("Sqrt", [g.add("Div", [s, g.scalar(denom, x.dtype, "denom")])], node.outputs)


# ---- matrix products -----------------------------------------------------------------------------
@converts(L.MatMul)
def matmul(g, node):
    a, b = node.inputs
    g.add("MatMul", [g.use(a), g.use(b)], node.outputs)


@converts(L.Linear)
def linear(g, node):
    """y = x W^T + b: one Gemm for a 2-D x, else MatMul with W^T and Add."""
    x, w = node.inputs[:2]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    if x.ndim == 2:
        ins = [g.use(x), g.use(w)] + ([g.use(b)] if b is not None else [])
        g.add("Gemm", ins, node.outputs, transB=1)
        return
    wt = g.add("Transpose", [g.use(w)], perm=[1, 0])
    if b is None:
        g.add("MatMul", [g.use(x), wt], node.outputs)
    else:
        g.add("Add", [g.add("MatMul", [g.use(x), wt]), g.use(b)], node.outputs)
