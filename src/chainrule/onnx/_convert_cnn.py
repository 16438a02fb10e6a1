"""ONNX nodes for the layers of convolutional networks: convolution and its transpose, pooling,
batch normalization (evaluation mode), local response normalization; dropout has no inference
meaning in training mode and is refused.

Pooling is written with ceil_mode=0 and explicit end pads: chainrule has already fixed the output
size (PyTorch's rule, ceil_mode included), and padding the bottom/right by exactly what the last
window reaches gives that size in every runtime.
"""
from __future__ import annotations

import numpy as np

from ..ops import conv as C
from ..ops import dropout as D
from ..ops import normalization as N
from ..ops import pool as P
from ._registry import converts


def _pair_list(v):
    return [int(v[0]), int(v[1])]


@converts(C.Conv2d)
def conv2d(g, node):
    """Conv: ONNX pads are (top, left, bottom, right); chainrule's (top, bottom, left, right)."""
    x, w = node.inputs[:2]
    pads = node.params["pads"]
    ins = [g.use(v) for v in node.inputs]
    g.add("Conv", ins, node.outputs, kernel_shape=list(w.shape[2:]),
          pads=[int(pads[0]), int(pads[2]), int(pads[1]), int(pads[3])],
          strides=_pair_list(node.params["stride"]), dilations=_pair_list(node.params["dilation"]),
          group=int(node.params["groups"]))


@converts(C.ConvTranspose2d)
def conv_transpose2d(g, node):
    """ConvTranspose, weight (C_in, C_out / groups, KH, KW) in both; the output size through
    output_padding."""
    x, w = node.inputs[:2]
    pads = [int(p) for p in node.params["pads"]]  # (top, bottom, left, right)
    s, d = _pair_list(node.params["stride"]), _pair_list(node.params["dilation"])
    out_hw = node.params["out_hw"]
    k = w.shape[2:]
    begin, end = (pads[0], pads[2]), (pads[1], pads[3])
    out_pad = [int(out_hw[i]) - (s[i] * (x.shape[2 + i] - 1) + d[i] * (k[i] - 1) + 1 - begin[i]
                                 - end[i]) for i in range(2)]
    g.add("ConvTranspose", [g.use(v) for v in node.inputs], node.outputs, kernel_shape=list(k),
          pads=[begin[0], begin[1], end[0], end[1]], strides=s, dilations=d,
          group=int(node.params["groups"]), output_padding=out_pad)


# ---- pooling -------------------------------------------------------------------------------------
def _as4d(g, x):
    """(name of x as (N, C, H, W), whether a batch axis was added for an unbatched (C, H, W))."""
    xs = g.use(x)
    if x.ndim == 3:
        return g.unsqueeze(xs, [0]), True
    return xs, False


def _finish(g, node, y, added):
    if added:
        g.squeeze(y, [0], node.outputs[0])
    else:
        g.add("Identity", [y], node.outputs[0])


def _end_pads(x, k, s, p, d, out):
    """The bottom/right padding that makes the windows of ``out`` outputs fit exactly."""
    H, W = x.shape[-2:]
    extent = [(out[a] - 1) * s[a] + d[a] * (k[a] - 1) + 1 for a in (0, 1)]
    return [max(0, extent[0] - H - p[0]), max(0, extent[1] - W - p[1])]


@converts(P.MaxPool2d)
def max_pool2d(g, node):
    (x,) = node.inputs
    prm = node.params
    if prm.get("with_indices"):
        g.fail("max pooling with return_indices=True has no ONNX mapping (ONNX's indices count "
               "over the whole tensor, chainrule's within each channel)")
    k, s, p, d, out = (_pair_list(prm[n]) for n in ("k", "s", "p", "d", "out"))
    end = _end_pads(x, k, s, p, d, out)
    xs, added = _as4d(g, x)
    pads = p + end
    if max(pads[0], pads[2]) >= k[0] or max(pads[1], pads[3]) >= k[1]:  # runtimes refuse these
        neg = g.scalar(-np.inf, x.dtype, "neg_inf")
        xs = g.add("Pad", [xs, g.ints([0, 0, p[0], p[1], 0, 0, end[0], end[1]], "pads"), neg],
                   mode="constant")
        pads = [0, 0, 0, 0]
    y = g.add("MaxPool", [xs], kernel_shape=k, strides=s, pads=pads, dilations=d)
    _finish(g, node, y, added)


@converts(P.AvgPool2d)
def avg_pool2d(g, node):
    """Mean over full windows of the zero-padded input, times k_h k_w inv where chainrule's divisor
    1/inv is not the window size (count_include_pad=False, divisor_override, ceil_mode)."""
    (x,) = node.inputs
    prm = node.params
    k, s, p, out = (_pair_list(prm[n]) for n in ("k", "s", "p", "out"))
    inv = np.asarray(prm["inv"], dtype=x.dtype)
    end = _end_pads(x, k, s, p, (1, 1), out)
    xs, added = _as4d(g, x)
    pads = p + end
    if max(pads[0], pads[2]) >= k[0] or max(pads[1], pads[3]) >= k[1]:
        xs = g.add("Pad", [xs, g.ints([0, 0, p[0], p[1], 0, 0, end[0], end[1]], "pads"),
                           g.scalar(0, x.dtype, "zero")], mode="constant")
        pads = [0, 0, 0, 0]
    y = g.add("AveragePool", [xs], kernel_shape=k, strides=s, pads=pads, count_include_pad=1)
    window = k[0] * k[1]
    scale = inv * x.dtype.type(window)
    if not np.allclose(scale, 1, rtol=0, atol=np.finfo(x.dtype).eps * 4):
        y = g.add("Mul", [y, g.const(scale.astype(x.dtype), "divisor_fix")])
    _finish(g, node, y, added)


def _averaging_matrix(size, out, dtype):
    """P (out, size), P[i, h] = 1 / |window i| on PyTorch's adaptive window i, else 0."""
    i = np.arange(out)
    start, end = (i * size) // out, -((-(i + 1) * size) // out)
    h = np.arange(size)
    inside = (h >= start[:, None]) & (h < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


@converts(P.AdaptiveAvgPool2d)
def adaptive_avg_pool2d(g, node):
    """Global average pooling for a 1x1 output; otherwise y = P_H x P_W^T with the averaging
    matrices of the adaptive windows (two MatMuls; any input and output sizes)."""
    (x,) = node.inputs
    out = node.params["out"]
    H, W = x.shape[-2:]
    if tuple(out) == (1, 1):
        xs, added = _as4d(g, x)
        _finish(g, node, g.add("GlobalAveragePool", [xs]), added)
        return
    pw_t = g.const(_averaging_matrix(W, out[1], x.dtype).T.copy(), "pool_w")  # (W, W_out)
    ph = g.const(_averaging_matrix(H, out[0], x.dtype), "pool_h")  # (H_out, H)
    t = g.add("MatMul", [g.use(x), pw_t])  # (..., H, W_out)
    g.add("MatMul", [ph, t], node.outputs)  # (..., H_out, W_out)


@converts(P.AdaptiveMaxPool2d)
def adaptive_max_pool2d(g, node):
    (x,) = node.inputs
    out = tuple(node.params["out"])
    if node.params.get("with_indices"):
        g.fail("adaptive max pooling with return_indices=True has no ONNX mapping")
    H, W = x.shape[-2:]
    xs, added = _as4d(g, x)
    if out == (1, 1):
        y = g.add("GlobalMaxPool", [xs])
    elif H % out[0] == 0 and W % out[1] == 0:
        k = [H // out[0], W // out[1]]
        y = g.add("MaxPool", [xs], kernel_shape=k, strides=k)
    else:
        g.fail(f"adaptive max pooling from ({H}, {W}) to {out} uses overlapping windows of "
               f"different sizes; only output sizes that divide the input are exported")
    _finish(g, node, y, added)


# ---- normalization -------------------------------------------------------------------------------
def _channel_vector(g, p, dtype, what):
    """A (C,) param (a traced Value or an array) as an input of x's dtype."""
    if not hasattr(p, "name"):  # a plain array
        return g.const(np.asarray(p, dtype=dtype), what)
    if p.dtype == dtype:
        return g.use(p)
    return g.add("Cast", [g.use(p)], to=g.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))


@converts(N.BatchNormEval)
def batch_norm_eval(g, node):
    """y = gamma (x - running_mean) / sqrt(running_var + eps) + beta: BatchNormalization."""
    x = node.inputs[0]
    prm = node.params
    C_ = x.shape[1]
    affine = list(node.inputs[1:])
    w = affine.pop(0) if prm["has_weight"] else None
    b = affine.pop(0) if prm["has_bias"] else None
    scale = (_channel_vector(g, w, x.dtype, "gamma") if w is not None
             else g.const(np.ones(C_, x.dtype), "gamma"))
    bias = (_channel_vector(g, b, x.dtype, "beta") if b is not None
            else g.const(np.zeros(C_, x.dtype), "beta"))
    mean = _channel_vector(g, prm["running_mean"], x.dtype, "running_mean")
    var = _channel_vector(g, prm["running_var"], x.dtype, "running_var")
    g.add("BatchNormalization", [g.use(x), scale, bias, mean, var], node.outputs,
          epsilon=float(prm["eps"]))


@converts(N.BatchNorm)
def batch_norm_train(g, node):
    g.fail("batch normalization used the batch's statistics (training mode), which ONNX "
           "inference has no use for; export calls model.eval(), so the cause is a BatchNorm "
           "without running statistics (track_running_stats=False) or a functional "
           "batch_norm(..., training=True)")


@converts(N.LocalResponseNorm)
def local_response_norm(g, node):
    """b_c = a_c / (k + alpha/n sum a^2)^beta over n channels: ONNX LRN (odd n: the same window)."""
    (x,) = node.inputs
    prm = node.params
    size = int(prm["size"])
    if size % 2 == 0:
        g.fail(f"local response normalization with an even size ({size}) centres its window "
               f"differently in ONNX's LRN; only odd sizes are exported")
    if x.ndim not in (3, 4):
        g.fail(f"local response normalization of a {x.ndim}-D input {x.shape}; only 3-D and 4-D "
               f"inputs are exported")
    xs = g.use(x)
    if x.ndim == 3:
        xs = g.unsqueeze(xs, [3])
    y = g.add("LRN", [xs], size=size, alpha=float(prm["alpha"]), beta=float(prm["beta"]),
              bias=float(prm["k"]))
    if x.ndim == 3:
        g.squeeze(y, [3], node.outputs[0])
    else:
        g.add("Identity", [y], node.outputs)


@converts(D.Dropout, D.FeatureDropout)
def dropout_train(g, node):
    g.fail("dropout ran in training mode (random masks); export calls model.eval(), so a "
           "functional dropout(..., training=True) is the likely cause")
