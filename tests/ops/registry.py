"""One table of ops drives the generic op tests (the idea of PyTorch's OpInfo, in small).

Each ``OpInfo`` names an op, says how to call it (``fn(lib, *inputs, **kwargs)``, where ``lib`` is the
``chainrule`` or the ``torch`` module, so one lambda often serves both; ``ref`` when torch spells it
differently) and lists sample inputs over several shapes: equal shapes, broadcasting, size-1 dims, 0-d.

In a sample, a shape tuple is a float input drawn from the op's ``domain`` (positive for log, away
from the kinks for relu and abs, ...); an ndarray is an input used as given (float arrays are
differentiable, integer and bool arrays are constants). ``kwargs`` go to both libraries, and the
ndarrays inside them (indices, masks) become each library's tensors.

The generic checks, one function per kind, run over every entry of a family from
tests/ops/test_<family>.py:

- ``check_gradcheck``: ``chainrule.autograd.gradcheck`` in float64 (backward vs central differences);
- ``check_against_torch``: forward values, shapes and dtypes, and the gradients of sum_k <w_k, out_k>
  for random w, equal to PyTorch's on the same inputs (float64 rtol 1e-6, float32 rtol 1e-4);
- ``check_error``: a bad call raises the expected error, whose message names the op and the shapes;
- ``check_nonscalar_backward``: ``backward()`` without a gradient on a non-scalar output raises,
  naming the node that made it and its shape.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import gradcheck

# ---- the pieces of an entry -------------------------------------------------------------------


@dataclass
class Sample:
    inputs: tuple
    kwargs: dict
    name: str = ""

    def __repr__(self):
        return self.name


def S(*inputs, **kwargs):
    """A sample: positional inputs (shape tuples or ndarrays) and keyword params."""
    return Sample(inputs, kwargs)


@dataclass
class ErrorCase:
    """A bad call (``call()`` builds its own inputs), the error it must raise and the pieces of
    text (compared without case) its message must hold: the op's name, what it expected, what came."""

    call: Callable
    exc: type
    needles: tuple
    name: str = ""

    def __repr__(self):
        return self.name


def E(call, exc, *needles):
    return ErrorCase(call, exc, needles)


def normal(rng, shape):
    return rng.standard_normal(shape)


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def away_from_zero(rng, shape):
    """Values in +-[0.2, 2]: finite differences never cross the kink of relu, abs, ..."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.2, 2.0, shape)


def away_from_one(rng, shape):
    """Values in +-[0.2, 0.8] U +-[1.2, 2]: never near the bounds +-1 of the clamp samples."""
    mag = np.where(rng.random(shape) < 0.5, rng.uniform(0.2, 0.8, shape), rng.uniform(1.2, 2, shape))
    return rng.choice([-1.0, 1.0], shape) * mag


@dataclass
class OpInfo:
    name: str
    family: str
    samples: list
    fn: Callable | None = None  # fn(lib, *inputs, **kwargs), lib = chainrule or torch
    ref: Callable | None = None  # torch's call when it differs: ref(torch, *inputs, **kwargs)
    domain: Callable = normal
    errors: list = field(default_factory=list)
    full_jacobian_limit: int = 1024  # above it gradcheck compares random directional derivatives
    scalar_output: bool = False  # every sample gives a scalar (no non-scalar backward to check)

    def __post_init__(self):
        if self.fn is None:
            name = self.name
            self.fn = lambda lib, *a, **k: getattr(lib, name)(*a, **k)
        if self.ref is None:
            self.ref = self.fn
        for i, s in enumerate(self.samples):
            s.name = f"{self.name}-{i}-{_describe(s)}"
        for i, e in enumerate(self.errors):
            e.name = f"{self.name}-err{i}"

    def call(self, *inputs, **kwargs):
        return self.fn(cr, *inputs, **kwargs)

    def call_torch(self, torch, *inputs, **kwargs):
        return self.ref(torch, *inputs, **kwargs)


def _describe(sample):
    def one(x):
        if isinstance(x, tuple):
            return "x".join(map(str, x)) or "0d"
        if isinstance(x, np.ndarray):
            return ("arr" if x.dtype.kind == "f" else x.dtype.name) + "x".join(map(str, x.shape))
        if isinstance(x, slice):
            return f"{'' if x.start is None else x.start}:{'' if x.stop is None else x.stop}" + (
                f":{x.step}" if x.step is not None else "")
        if x is Ellipsis:
            return "..."
        if isinstance(x, list):
            return "[" + ",".join(one(v) for v in x) + "]"
        return str(x)

    parts = [one(x) for x in sample.inputs]
    for k, v in sample.kwargs.items():
        parts.append(f"{k}=" + ("(" + ",".join(one(i) for i in v) + ")" if isinstance(v, tuple)
                                else one(v)))
    return "_".join(parts).replace(" ", "")


# ---- the registry -----------------------------------------------------------------------------

def _bin(name, **kw):
    """A broadcasting binary op: samples over equal shapes, trailing and size-1 broadcasting, 0-d."""
    samples = [S((3, 4), (3, 4)), S((3, 4), (4,)), S((2, 1, 4), (3, 1)), S((1, 4), (3, 1)),
               S((), (2, 3)), S((2, 3), ())]
    errors = [E(lambda: getattr(cr, name)(cr.randn(3, 4), cr.randn(5)), ValueError,
                name, "(3, 4)", "(5,)")]
    return OpInfo(name, "elementwise", samples, errors=errors, **kw)


def _un(name, fn=None, ref=None, errors=None, **kw):
    """A unary elementwise op over a matrix, a tensor with a size-1 dim and a 0-d tensor."""
    if errors is None:  # a list instead of a Tensor: a TypeError naming the op
        errors = [E(lambda: getattr(cr, name)([1.0, 2.0]), TypeError, name, "list")]
    return OpInfo(name, "elementwise", [S((3, 4)), S((2, 1, 3)), S(())], fn=fn, ref=ref,
                  errors=errors, **kw)


def _F(torch):
    return torch.nn.functional


ELEMENTWISE = [
    _bin("add"),
    OpInfo("add_alpha", "elementwise", [S((3, 4), (4,), alpha=2.5)],
           fn=lambda lib, a, b, alpha: lib.add(a, b, alpha=alpha)),
    _bin("sub"),
    _bin("mul"),
    _bin("div", domain=away_from_zero),
    _bin("pow", domain=positive),
    _bin("maximum"),
    _bin("minimum"),
    # scalar operands on either side
    OpInfo("scalar_ops", "elementwise",
           [S((3, 4), op=o) for o in ("x+s", "s+x", "x-s", "s-x", "x*s", "s*x", "x/s", "s/x")],
           fn=lambda lib, x, op: {"x+s": lambda: x + 2.5, "s+x": lambda: 2.5 + x,
                                  "x-s": lambda: x - 2, "s-x": lambda: 2 - x,
                                  "x*s": lambda: x * 3, "s*x": lambda: 1.5 * x,
                                  "x/s": lambda: x / 4, "s/x": lambda: 2 / x}[op](),
           domain=away_from_zero),
    OpInfo("pow_scalar", "elementwise",
           [S((3, 4), p=2), S((3, 4), p=3), S((2, 1, 3), p=0.5), S((3, 4), p=-1.5), S((3,), p=0),
            S((), p=2.5)],
           fn=lambda lib, x, p: x ** p, domain=positive),
    OpInfo("rpow", "elementwise", [S((3, 4), base=2), S((), base=0.5), S((3,), base=3.0)],
           fn=lambda lib, x, base: base ** x),
    _un("neg"),
    _un("exp"),
    _un("log", domain=positive),
    _un("log1p", domain=positive),
    _un("sqrt", domain=positive),
    _un("rsqrt", domain=positive),
    _un("abs", domain=away_from_zero),
    _un("sin"),
    _un("cos"),
    _un("square"),
    _un("reciprocal", fn=lambda lib, a: a.reciprocal(), domain=away_from_zero, errors=[]),
    _un("sigmoid"),
    _un("tanh"),
    _un("relu", domain=away_from_zero),
    OpInfo("leaky_relu", "elementwise",
           [S((3, 4)), S((2, 1, 3), negative_slope=0.2), S((), negative_slope=0.3)],
           fn=lambda lib, a, **k: cr.ops.leaky_relu(a, **k),
           ref=lambda torch, a, **k: _F(torch).leaky_relu(a, **k), domain=away_from_zero,
           errors=[E(lambda: cr.ops.leaky_relu([1.0]), TypeError, "leakyrelu", "list")]),
    OpInfo("softplus", "elementwise",
           [S((3, 4)), S((2, 1, 3), beta=2.0), S((3, 4), beta=2.0, threshold=1.5), S(())],
           fn=lambda lib, a, **k: cr.ops.softplus(a, **k),
           ref=lambda torch, a, **k: _F(torch).softplus(a, **k), domain=away_from_zero,
           errors=[E(lambda: cr.ops.softplus([1.0]), TypeError, "softplus", "list")]),
    OpInfo("clamp", "elementwise",
           [S((3, 4), min=-1.0, max=1.0), S((3, 4), min=-1.0), S((2, 1, 3), max=1.0),
            S((), min=-1.0, max=1.0)],
           fn=lambda lib, a, **k: lib.clamp(a, **k), domain=away_from_one,
           errors=[E(lambda: cr.clamp(cr.randn(3)), ValueError, "clamp", "min", "max")]),
    OpInfo("clamp_tensor_bounds", "elementwise", [S((3, 4), (4,), (3, 1))],
           fn=lambda lib, a, lo, hi: lib.clamp(a, min=lo - 1, max=hi + 1)),
    OpInfo("where", "elementwise",
           [S((3, 4), (3, 4), cond=np.array([[1, 0, 1, 1], [0, 0, 1, 0], [1, 1, 1, 0]], bool)),
            S((3, 1), (1, 4), cond=np.array([[1, 0, 1, 1], [0, 0, 1, 0], [1, 1, 1, 0]], bool)),
            S((4,), (3, 4), cond=np.array([[True], [False], [True]])),
            S((3, 4), (), cond=np.array([True, False, False, True]))],
           fn=lambda lib, a, b, cond: lib.where(cond, a, b),
           errors=[E(lambda: cr.where(cr.randn(3) > 0, cr.randn(3), cr.randn(2)), ValueError,
                     "where", "(3,)", "(2,)"),
                   E(lambda: cr.where(cr.randn(3), cr.randn(3), cr.randn(3)), ValueError,
                     "where", "bool", "float32")]),
    OpInfo("cast", "elementwise", [S((3, 4)), S(())], fn=lambda lib, a: a.to(lib.float64)),
    OpInfo("clone", "elementwise", [S((3, 4))], fn=lambda lib, a: a.clone()),
]

_M = np.array([[1, 0, 1, 1], [0, 0, 1, 0], [1, 1, 1, 0]], bool)


def _red(name, extra=(), errors=(), size1_dim=0):
    """A reduction over all dims, one dim, a negative dim with keepdim, two dims, and along or
    across a size-1 dim."""
    samples = [S((3, 4)), S((3, 4), dim=0), S((2, 3, 4), dim=-1, keepdim=True),
               S((2, 3, 4), dim=(0, 2)), S((1, 4), dim=size1_dim), *extra]
    errors = [E(lambda: getattr(cr, name)(cr.randn(3, 4), dim=2), IndexError, name, "dim 2",
                "2 dims"), *errors]
    return OpInfo(name, "reduce", samples, errors=errors)


def _maxmin(name):
    samples = [S((3, 4)), S((3, 4), dim=1), S((2, 3, 4), dim=0, keepdim=True), S((5,), dim=0),
               S((1, 4), dim=-1), S(())]
    errors = [E(lambda: getattr(cr, name)(cr.randn(3, 4), dim=-3), IndexError, name, "dim -3",
                "2 dims"),
              E(lambda: getattr(cr, name)(cr.zeros(0, 3)), ValueError, name, "empty", "(0, 3)")]
    return OpInfo(name, "reduce", samples, errors=errors)


REDUCE = [
    _red("sum", extra=[S(()), S((), dim=0)]),
    _red("mean", extra=[S(())],
         errors=[E(lambda: cr.mean(cr.arange(4)), ValueError, "mean", "int64")]),
    _red("var", extra=[S((3, 4), dim=0, unbiased=False), S((3, 4), dim=1, correction=0),
                       S((2, 3), dim=1, keepdim=True, correction=2)], size1_dim=1),
    _red("std", extra=[S((3, 4), dim=0, unbiased=False), S((3, 4), dim=1, correction=0)],
         size1_dim=1),
    _maxmin("max"),
    _maxmin("min"),
    OpInfo("amax", "reduce", [S((3, 4)), S((2, 3, 4), dim=(0, 2)), S((3, 4), dim=1, keepdim=True)]),
    OpInfo("amin", "reduce", [S((3, 4)), S((2, 3, 4), dim=(0, 2)), S((3, 4), dim=1, keepdim=True)]),
    OpInfo("norm", "reduce", [S((3, 4)), S((3, 4), dim=1), S((2, 3, 4), dim=(1, 2), keepdim=True),
                              S((3, 4), p=1, dim=0)],
           errors=[E(lambda: cr.norm(cr.randn(3), p=3), ValueError, "norm", "p", "3")]),
]

_LARGE = np.array([[1e4, 0.0, -1e4], [1e4, 1e4 - 1, 0.0]])  # exp would overflow without the max


def _soft(name):
    samples = [S((3, 4), dim=-1), S((2, 3, 4), dim=0), S((2, 3, 4), dim=1), S((5,), dim=0),
               S((3, 1), dim=1), S(_LARGE, dim=1), S(_LARGE, dim=0)]
    errors = [E(lambda: getattr(cr, name)(cr.randn(3, 4), dim=2), IndexError, name, "dim 2",
                "2 dims")]
    return OpInfo(name, "softmax", samples, errors=errors)


SOFTMAX = [
    _soft("softmax"),
    _soft("log_softmax"),
    OpInfo("logsumexp", "softmax",
           # logits of 1e4 are checked against a float64 reference in tests/property/test_stability.py
           # (torch's float32 gradient there is the less accurate one)
           [S((3, 4), dim=1), S((2, 3, 4), dim=0, keepdim=True), S((5,), dim=0), S((3, 1), dim=1)],
           errors=[E(lambda: cr.logsumexp(cr.randn(3, 4), dim=-3), IndexError, "logsumexp",
                     "dim -3")]),
]

LINALG = [
    OpInfo("matmul", "linalg",
           [S((4,), (4,)), S((3, 4), (4,)), S((4,), (4, 5)), S((3, 4), (4, 5)),
            S((2, 3, 4), (4, 5)), S((3, 4), (2, 4, 5)), S((2, 1, 3, 4), (5, 4, 2)),
            S((4,), (2, 4, 5)), S((2, 3, 4), (4,)), S((1, 3, 4), (2, 4, 1))],
           errors=[E(lambda: cr.matmul(cr.randn(3, 4), cr.randn(5, 6)), ValueError, "matmul",
                     "(3, 4)", "(5, 6)"),
                   E(lambda: cr.matmul(cr.randn(2, 3, 4), cr.randn(3, 4, 5)), ValueError,
                     "matmul", "(2, 3, 4)", "(3, 4, 5)"),
                   E(lambda: cr.matmul(cr.randn(4), cr.randn(5)), ValueError, "matmul", "(4,)",
                     "(5,)"),
                   E(lambda: cr.matmul(cr.randn(()), cr.randn(3)), ValueError, "matmul", "()")]),
    OpInfo("matmul_operator", "linalg", [S((3, 4), (4, 2)), S((2, 3, 4), (4,))],
           fn=lambda lib, a, b: a @ b),
    OpInfo("mm", "linalg", [S((3, 4), (4, 5)), S((1, 4), (4, 1))],
           errors=[E(lambda: cr.mm(cr.randn(3), cr.randn(3, 2)), ValueError, "mm", "(3,)",
                     "(3, 2)")]),
    OpInfo("bmm", "linalg", [S((2, 3, 4), (2, 4, 5))],
           errors=[E(lambda: cr.bmm(cr.randn(2, 3, 4), cr.randn(3, 4, 5)), ValueError, "bmm",
                     "(2, 3, 4)", "(3, 4, 5)")]),
    OpInfo("dot", "linalg", [S((4,), (4,))], scalar_output=True,
           errors=[E(lambda: cr.dot(cr.randn(2, 2), cr.randn(4)), ValueError, "dot", "(2, 2)")]),
    OpInfo("linear", "linalg",
           [S((3, 4), (5, 4), (5,)), S((2, 3, 4), (5, 4), (5,)), S((3, 4), (5, 4)),
            S((4,), (5, 4), (5,))],
           fn=lambda lib, *a: cr.ops.linear(*a),
           ref=lambda torch, *a: _F(torch).linear(*a),
           errors=[E(lambda: cr.ops.linear(cr.randn(8, 100), cr.randn(5, 4)), ValueError,
                     "linear", "(*, 4)", "(8, 100)")]),
]

SHAPE = [
    OpInfo("reshape", "shape",
           [S((3, 4), shape=(2, 6)), S((3, 4), shape=(-1,)), S((2, 3, 4), shape=(4, -1, 2)),
            S((3, 1), shape=(3,)), S((), shape=(1, 1))],
           fn=lambda lib, a, shape: a.reshape(shape),
           errors=[E(lambda: cr.randn(3, 4).reshape(5, 2), ValueError, "reshape", "(5, 2)",
                     "(3, 4)")]),
    OpInfo("view", "shape", [S((3, 4), shape=(4, 3)), S((2, 3, 4), shape=(6, -1))],
           fn=lambda lib, a, shape: a.view(*shape),
           errors=[E(lambda: cr.randn(3, 4).view(7, -1), ValueError, "reshape", "(7, -1)",
                     "(3, 4)")]),
    OpInfo("transpose", "shape",
           [S((3, 4), dims=(0, 1)), S((2, 3, 4), dims=(-1, 0)), S((2, 3, 4), dims=(1, 1))],
           fn=lambda lib, a, dims: lib.transpose(a, *dims),
           errors=[E(lambda: cr.transpose(cr.randn(3, 4), 0, 2), IndexError, "transpose",
                     "dim 2", "2 dims")]),
    OpInfo("permute", "shape",
           [S((2, 3, 4), dims=(2, 0, 1)), S((3, 4), dims=(1, 0)), S((2, 3, 4), dims=(-1, -3, -2))],
           fn=lambda lib, a, dims: a.permute(*dims),
           errors=[E(lambda: cr.randn(2, 3).permute(0, 0), ValueError, "permute", "(0, 0)",
                     "(2, 3)"),
                   E(lambda: cr.randn(2, 3).permute(0, 5), ValueError, "permute", "(0, 5)")]),
    OpInfo("mT", "shape", [S((3, 4)), S((2, 3, 4))], fn=lambda lib, a: a.mT),
    OpInfo("flatten", "shape",
           [S((2, 3, 4)), S((2, 3, 4), start_dim=1), S((2, 3, 4, 1), start_dim=1, end_dim=2),
            S(())],
           errors=[E(lambda: cr.flatten(cr.randn(2, 3, 4), 2, 1), ValueError, "flatten",
                     "start_dim 2", "end_dim 1")]),
    OpInfo("squeeze", "shape",
           [S((3, 1, 4)), S((3, 1, 4), dim=1), S((3, 1, 4), dim=0), S((1, 1)),
            S((1, 3, 1), dim=(0, 2))],
           errors=[E(lambda: cr.squeeze(cr.randn(3, 1), 2), IndexError, "squeeze", "dim 2")]),
    OpInfo("unsqueeze", "shape",
           [S((3, 4), dim=0), S((3, 4), dim=-1), S((3, 4), dim=1), S((), dim=0)],
           errors=[E(lambda: cr.unsqueeze(cr.randn(3, 4), 3), IndexError, "unsqueeze",
                     "dim 3")]),
    OpInfo("expand", "shape",
           [S((3, 1), sizes=(3, 4)), S((4,), sizes=(2, 3, 4)), S((1, 4), sizes=(3, -1)),
            S((), sizes=(2, 2))],
           fn=lambda lib, a, sizes: a.expand(*sizes),
           errors=[E(lambda: cr.randn(3, 2).expand(3, 4), ValueError, "expand", "(3, 2)",
                     "(3, 4)"),
                   E(lambda: cr.randn(3, 2).expand(6), ValueError, "expand", "1", "2"),
                   E(lambda: cr.randn(3).expand(-1, 3), ValueError, "expand", "(-1, 3)")]),
    OpInfo("repeat", "shape",
           [S((2, 3), reps=(2, 1)), S((2, 3), reps=(2, 2, 1)), S((3,), reps=(3,)),
            S((1, 2), reps=(3, 2))],
           fn=lambda lib, a, reps: a.repeat(*reps),
           errors=[E(lambda: cr.randn(2, 3).repeat(2), ValueError, "repeat", "(2, 3)", "(2,)")]),
    OpInfo("cat", "shape",
           [S((2, 3), (4, 3), dim=0), S((2, 3), (2, 1), (2, 2), dim=1),
            S((2, 3, 4), (2, 3, 1), dim=-1), S((3,), dim=0)],
           fn=lambda lib, *xs, dim: lib.cat(xs, dim=dim),
           errors=[E(lambda: cr.cat([cr.randn(2, 3), cr.randn(2, 4)], dim=0), ValueError, "cat",
                     "(2, 4)", "(2, 3)"),
                   E(lambda: cr.cat([], dim=0), ValueError, "cat", "non-empty")]),
    OpInfo("stack", "shape",
           [S((2, 3), (2, 3), dim=0), S((2, 3), (2, 3), (2, 3), dim=-1), S((3,), (3,), dim=1),
            S((), (), dim=0)],
           fn=lambda lib, *xs, dim: lib.stack(xs, dim=dim),
           errors=[E(lambda: cr.stack([cr.randn(2, 3), cr.randn(3, 2)]), ValueError, "stack",
                     "(2, 3)", "(3, 2)")]),
    OpInfo("split", "shape",
           [S((5, 4), size=2, dim=0), S((3, 6), size=[1, 2, 3], dim=1), S((3, 4), size=4, dim=1)],
           fn=lambda lib, a, size, dim: lib.split(a, size, dim),
           errors=[E(lambda: cr.split(cr.randn(3, 6), [1, 2], dim=1), ValueError, "split",
                     "[1, 2]", "6")]),
    OpInfo("chunk", "shape",
           [S((5, 4), chunks=3, dim=0), S((3, 6), chunks=2, dim=1), S((3, 4), chunks=4, dim=1)],
           fn=lambda lib, a, chunks, dim: lib.chunk(a, chunks, dim),
           errors=[E(lambda: cr.chunk(cr.randn(3), 0), ValueError, "chunk", "0")]),
    OpInfo("unbind", "shape", [S((3, 4), dim=0), S((2, 3, 4), dim=1)],
           errors=[E(lambda: cr.unbind(cr.randn(3, 4), 2), IndexError, "unbind", "dim 2")]),
    OpInfo("pad", "shape",
           [S((3, 4), pad=(1, 1)), S((2, 3, 4), pad=(1, 2, 0, 1), value=0.5), S((3,), pad=(0, 2))],
           fn=lambda lib, a, pad, value=0.0: cr.ops.pad(a, pad, value=value),
           ref=lambda torch, a, pad, value=0.0: _F(torch).pad(a, pad, mode="constant",
                                                              value=value),
           errors=[E(lambda: cr.ops.pad(cr.randn(3), (1, 1, 1, 1)), ValueError, "pad",
                     "(1, 1, 1, 1)", "1 dims"),
                   E(lambda: cr.ops.pad(cr.randn(3), (1,)), ValueError, "pad", "(1,)")]),
    OpInfo("flip", "shape", [S((3, 4), dims=(0,)), S((2, 3, 4), dims=(0, 2)), S((3, 4), dims=(-1,))],
           errors=[E(lambda: cr.flip(cr.randn(3), (1,)), IndexError, "flip", "dim 1")]),
]

_IDX_SAMPLES = [
    S((3, 4), idx=1), S((3, 4), idx=-1), S((5, 4), idx=slice(1, 3)),
    S((5, 4), idx=(slice(None, None, 2), slice(-2, None))),
    S((3, 4), idx=(None, slice(None), 1)), S((2, 3, 4), idx=(Ellipsis, 1)),
    S((2, 3, 4), idx=(1, Ellipsis, None)),
    S((3, 4), idx=np.array([0, 2, 0])),  # repeated rows: their gradients add up
    S((3, 4), idx=(np.array([0, 1, 0]), np.array([2, 0, 2]))),  # (0, 2) picked twice
    S((3, 4), idx=(slice(None), np.array([1, 1, 3]))),
    S((3, 4), idx=np.array([[0, 1], [2, 2]])),
    S((3, 4), idx=(slice(1, None), None, np.array([0, 2]))),
    S((3, 4), idx=np.array(2)),
    S((3, 4), idx=_M),
    S((3, 4), idx=np.array([True, False, True])),
    S((2, 3, 4), idx=(slice(None), np.array([True, False, True]))),
]

INDEX = [
    OpInfo("getitem", "index", _IDX_SAMPLES, fn=lambda lib, a, idx: a[idx],
           errors=[E(lambda: cr.randn(3, 4)[1.5], IndexError, "index", "float", "(3, 4)"),
                   E(lambda: cr.randn(3, 4)[cr.tensor([0.0, 1.0])], IndexError, "index",
                     "float32", "(3, 4)"),
                   E(lambda: cr.randn(3, 4)[0, 1.0], IndexError, "index", "float", "(3, 4)"),
                   E(lambda: cr.randn(3, 4)[5], IndexError, "index", "5", "(3, 4)"),
                   E(lambda: cr.randn(3, 4)[cr.tensor([True, False])], IndexError, "index",
                     "(3, 4)"),
                   E(lambda: cr.randn(3, 4)[0, 0, 0], IndexError, "index", "(3, 4)")]),
    OpInfo("index_select", "index",
           [S((4, 3), dim=0, index=np.array([0, 2, 2])), S((3, 4), dim=1, index=np.array([3, 0])),
            S((3, 4), dim=-1, index=np.array([1]))],
           errors=[E(lambda: cr.index_select(cr.randn(3, 4), 0, cr.tensor([[0, 1]])), ValueError,
                     "index_select", "(1, 2)", "(3, 4)")]),
    OpInfo("gather", "index",
           [S((3, 4), dim=1, index=np.array([[0, 0], [1, 3], [2, 2]])),
            S((3, 4), dim=0, index=np.array([[0, 1, 2, 0], [2, 2, 1, 0]])),
            S((3, 4), dim=1, index=np.array([[0, 1], [3, 3]])),
            S((2, 3, 4), dim=-1, index=np.zeros((2, 3, 1), np.int64))],
           errors=[E(lambda: cr.gather(cr.randn(3, 4), 1, cr.tensor([0, 1])), ValueError,
                     "gather", "2 dims", "(3, 4)", "(2,)"),
                   E(lambda: cr.gather(cr.randn(3, 4), 1, cr.zeros(5, 1, dtype=cr.int64)),
                     ValueError, "gather", "(5, 1)", "(3, 4)")]),
    OpInfo("masked_fill", "index",
           [S((3, 4), mask=_M, value=0.5), S((3, 4), mask=_M[:1], value=-1e4),
            S((2, 3, 4), mask=_M[:, :1], value=0.0)],
           fn=lambda lib, a, mask, value: a.masked_fill(mask, value),
           errors=[E(lambda: cr.randn(3, 4).masked_fill(cr.tensor([1, 0, 1, 0]), 0.0), ValueError,
                     "masked_fill", "bool", "int64"),
                   E(lambda: cr.randn(3, 4).masked_fill(cr.tensor([True, False]), 0.0),
                     ValueError, "masked_fill", "(2,)", "(3, 4)")]),
]

REGISTRY = ELEMENTWISE + REDUCE + SOFTMAX + LINALG + SHAPE + INDEX
BY_NAME = {op.name: op for op in REGISTRY}
assert len(BY_NAME) == len(REGISTRY), "duplicate op names in the registry"


def ops_of(family):
    return [op for op in REGISTRY if op.family == family]


def sample_params(family):
    """pytest params (op, sample) for every sample of every op of a family."""
    return [pytest.param(op, s, id=s.name) for op in ops_of(family) for s in op.samples]


def error_params(family):
    return [pytest.param(e, id=e.name) for op in ops_of(family) for e in op.errors]


def op_params(family, with_scalar_output=True):
    return [pytest.param(op, id=op.name) for op in ops_of(family)
            if with_scalar_output or not op.scalar_output]


# ---- turning a sample into inputs -------------------------------------------------------------

def sample_arrays(op, sample):
    """The sample's inputs as arrays (float ones in float64), the same on every call."""
    rng = np.random.default_rng(zlib.crc32(sample.name.encode()))
    out = []
    for x in sample.inputs:
        if isinstance(x, tuple):
            out.append(np.asarray(op.domain(rng, x), np.float64))
        else:
            out.append(np.asarray(x))
    return out


def _map_arrays(obj, to):
    if isinstance(obj, np.ndarray):
        return to(obj)
    if isinstance(obj, tuple):
        return tuple(_map_arrays(o, to) for o in obj)
    if isinstance(obj, dict):
        return {k: _map_arrays(v, to) for k, v in obj.items()}
    return obj


def cr_inputs(arrays, dtype):
    return [cr.tensor(a.astype(dtype), requires_grad=True) if a.dtype.kind == "f" else cr.tensor(a)
            for a in arrays]


def torch_inputs(torch, arrays, dtype):
    return [torch.tensor(a.astype(dtype), requires_grad=True) if a.dtype.kind == "f"
            else torch.from_numpy(a.copy()) for a in arrays]


def _as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


_TORCH = None


def import_torch():
    """torch (the test oracle) on one thread, or skip the test when it is not installed."""
    global _TORCH
    if _TORCH is None:
        _TORCH = pytest.importorskip("torch")
        _TORCH.set_num_threads(1)
    return _TORCH


# ---- the generic checks -----------------------------------------------------------------------

def check_gradcheck(op, sample):
    """Backward agrees with central differences in float64."""
    xs = cr_inputs(sample_arrays(op, sample), np.float64)
    kw = _map_arrays(sample.kwargs, cr.tensor)
    assert gradcheck(lambda *t: op.call(*t, **kw), xs,
                     full_jacobian_limit=op.full_jacobian_limit)


TOL = {"float64": dict(rtol=1e-6, atol=1e-9), "float32": dict(rtol=1e-4, atol=1e-5)}


def check_against_torch(op, sample, dtype):
    """Forward (values, shapes, dtypes, requires_grad) and the gradients of sum_k <w_k, out_k>
    equal torch's on the same inputs."""
    torch = import_torch()
    arrays = sample_arrays(op, sample)
    xs = cr_inputs(arrays, dtype)
    ts = torch_inputs(torch, arrays, dtype)
    out = _as_list(op.call(*xs, **_map_arrays(sample.kwargs, cr.tensor)))
    tout = _as_list(op.call_torch(torch, *ts, **_map_arrays(sample.kwargs, torch.from_numpy)))
    assert len(out) == len(tout), f"{sample}: {len(out)} outputs, torch has {len(tout)}"
    tol = TOL[dtype]
    for k, (o, t) in enumerate(zip(out, tout)):
        where = f"{sample} output {k}"
        assert o.shape == tuple(t.shape), f"{where}: shape {o.shape} vs torch {tuple(t.shape)}"
        assert o.dtype == np.dtype(str(t.dtype).replace("torch.", "")), \
            f"{where}: dtype {o.dtype} vs torch {t.dtype}"
        assert o.requires_grad == t.requires_grad, f"{where}: requires_grad differs from torch"
        np.testing.assert_allclose(o.data, t.detach().numpy(), **tol, err_msg=where)

    rng = np.random.default_rng(1)
    pairs = [(o, t, rng.standard_normal(o.shape).astype(dtype)) for o, t in zip(out, tout)
             if o.requires_grad]
    assert pairs, f"{sample}: no output requires grad"
    cr.autograd.backward([o for o, _, _ in pairs], [cr.tensor(w) for _, _, w in pairs])
    torch.autograd.backward([t for _, t, _ in pairs], [torch.from_numpy(w) for _, _, w in pairs])
    for i, (x, tx) in enumerate(zip(xs, ts)):
        if not x.requires_grad:
            continue
        where = f"{sample} gradient of input {i}"
        if tx.grad is None:
            assert x.grad is None or not np.any(x.grad.data), f"{where}: torch has none"
            continue
        assert x.grad is not None, f"{where}: missing (torch has one)"
        assert x.grad.dtype == x.dtype and x.grad.shape == x.shape, where
        np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), **tol, err_msg=where)


def check_error(case):
    """The bad call raises ``case.exc``; its message holds every needle (ignoring case)."""
    with pytest.raises(case.exc) as info:
        case.call()
    msg = str(info.value)
    for needle in case.needles:
        assert str(needle).lower() in msg.lower(), f"{needle!r} missing from the message: {msg}"


def check_nonscalar_backward(op):
    """``backward()`` on a non-scalar output, without a gradient, raises naming node and shape."""
    for sample in op.samples:
        xs = cr_inputs(sample_arrays(op, sample), np.float64)
        out = _as_list(op.call(*xs, **_map_arrays(sample.kwargs, cr.tensor)))[0]
        if out.numel() > 1:
            break
    else:
        raise AssertionError(f"{op.name}: every sample gives a scalar; mark it scalar_output")
    with pytest.raises(RuntimeError) as info:
        out.backward()
    msg = str(info.value)
    assert str(tuple(out.shape)) in msg and "scalar" in msg, msg
    if out.grad_fn is not None:
        assert out.grad_fn.name in msg, msg
