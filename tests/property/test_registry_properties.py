"""Property-based tests over the op registry (tests/ops/registry.py), with hypothesis.

The registry's fixed samples check each op on a few hand-picked shapes; here hypothesis draws the
cases: random shapes (broadcasting pairs and triples, size-1 and zero-size dims, 0-d), random
reduction dims (None, one, several, negative, keepdim), float32 and float64, and values from
the op's domain scaled by 10^k, from tiny (1e-30: subnormal float32 products) to huge (1e30:
overflow to inf). For every case:

- forward values, shapes and dtypes equal PyTorch's (infs and NaNs at the same places);
- the gradients of sum <w, out> for random w equal PyTorch's, and have the inputs' shapes and
  dtypes;
- at moderate magnitudes, where the op is smooth and its forward finite, every gradient is
  finite (this one needs no torch).

Every op of the elementwise, reduce and softmax families is covered, and matmul for linalg.
The settings profile (tests/property/support.py) keeps the run short and reproducible.
"""
import numpy as np
import pytest

from .support import DTYPES, PROFILE, SEEDS, SMALL_EXPONENTS, WIDE_EXPONENTS, assert_close

from hypothesis import given  # noqa: E402  (support skips the module without hypothesis)
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import chainrule as cr  # noqa: E402

from ..ops.registry import (BY_NAME, _as_list, _map_arrays, cr_inputs, import_torch,  # noqa: E402
                            ops_of, torch_inputs)

# empty means and var/std with n <= correction are drawn on purpose: both libraries warn
pytestmark = [pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:(std|var).*degrees of freedom:UserWarning")]

ELEMENTWISE = ops_of("elementwise")
REDUCE = ops_of("reduce")
SOFTMAX = ops_of("softmax")
MATMUL = [BY_NAME["matmul"], BY_NAME["matmul_operator"]]
ALL = ELEMENTWISE + REDUCE + SOFTMAX + MATMUL

# ops whose values must come from a moderate range even in the torch comparison: sin/cos of 1e30
# are rounding noise (their argument reduction differs between libraries); matmul sums overflow
# in a summation order that differs between BLAS libraries
MODERATE_ONLY = {"sin", "cos", "matmul", "matmul_operator"}
# sums of squares leave float32's range at |x| ~ 1e+-30: chainrule's float32 std overflows to inf
# at 1e30 where PyTorch's stays finite, and the norm of one element of 1e-31 underflows to 0 where
# PyTorch gives |x| (precision gaps, not wrong formulas); float64 still gets the wide range
FLOAT32_MODERATE = {"var", "std", "norm"}
# no zero-size dims: max/min/amax/amin raise on an empty reduced dim (as PyTorch); clamp with
# tensor bounds (PyTorch's backward fails on zero-size bounds)
NEEDS_ELEMENTS = {"max", "min", "amax", "amin", "clamp_tensor_bounds"}
# gradients computed as differences of O(1) numbers: 1 - h^2, h (1 - h) from the output of a
# saturating op, p (w - sum_j w_j p_j) for softmax (|w| ~ 1 here). Their rounding error is
# absolute, about eps, so small gradients (saturation, cancellation) are judged against 1
BOUNDED_GRADIENT = {"tanh", "sigmoid", "softplus", "softmax", "log_softmax", "logsumexp"}


def _ids(ops):
    return [op.name for op in ops]


# ---- drawing a case ----------------------------------------------------------------------------

def _dims(data, ndim, allow_many=True):
    """None, one dim (maybe negative), or a non-empty tuple of distinct dims."""
    n = max(ndim, 1)
    one = st.integers(-n, n - 1)
    choices = [st.none(), one]
    if allow_many and ndim >= 2:
        choices.append(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim,
                                unique=True).map(lambda ds: tuple(d - ndim if d % 2 else d
                                                                  for d in ds)))
    return data.draw(st.one_of(*choices), label="dim")


def draw_case(data, op, exponents):
    """(float64 input arrays, kwargs, dtype) for ``op``; float inputs are op.domain scaled by
    10^k, other arrays (masks) are random bools."""
    dtype = data.draw(DTYPES, label="dtype")
    rng = np.random.default_rng(data.draw(SEEDS, label="seed"))
    if dtype == "float32" and op.name in FLOAT32_MODERATE:
        exponents = st.sampled_from([-12, -4, 0, 4, 12])
    scale = 10.0 ** data.draw(exponents, label="log10(scale)")
    min_side = 1 if op.name in NEEDS_ELEMENTS else 0
    kwargs = {}
    if op.family == "elementwise":
        template = data.draw(st.sampled_from(op.samples), label="template")
        n = sum(isinstance(x, tuple) for x in template.inputs)
        masks = [k for k, v in template.kwargs.items() if isinstance(v, np.ndarray)]
        bs = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=n + len(masks), min_dims=0,
                                                         max_dims=4, min_side=min_side,
                                                         max_side=4), label="shapes")
        shapes = list(bs.input_shapes)
        if op.name == "clamp_tensor_bounds":  # PyTorch's backward fails unless x has the result
            shapes[0] = bs.result_shape        # shape (e.g. x (), min (1,), max ())
        kwargs = dict(template.kwargs)
        for k in masks:
            kwargs[k] = np.asarray(rng.random(shapes.pop()) < 0.5)
    elif op.family == "linalg":
        bs = data.draw(hnp.mutually_broadcastable_shapes(
            signature="(m?,n),(n,p?)->(m?,p?)", max_dims=3, min_side=0, max_side=4),
            label="shapes")
        shapes = list(bs.input_shapes)
    else:
        min_dims = 0 if op.family == "reduce" else 1
        shape = data.draw(hnp.array_shapes(min_dims=min_dims, max_dims=4, min_side=min_side,
                                           max_side=4), label="shape")
        shapes = [shape]
        if op.family == "softmax":
            kwargs["dim"] = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
            if op.name == "logsumexp":
                kwargs["keepdim"] = data.draw(st.booleans(), label="keepdim")
        elif op.name in ("max", "min"):
            dim = _dims(data, len(shape), allow_many=False)
            if dim is not None:
                kwargs = {"dim": dim, "keepdim": data.draw(st.booleans(), label="keepdim")}
        else:
            kwargs = {"dim": _dims(data, len(shape)),
                      "keepdim": data.draw(st.booleans(), label="keepdim")}
            if op.name in ("var", "std"):
                kwargs["correction"] = data.draw(st.sampled_from([0, 1]), label="correction")
            if op.name == "norm":
                kwargs["p"] = data.draw(st.sampled_from([2, 1]), label="p")
    arrays = [np.asarray(op.domain(rng, s), np.float64) * scale for s in shapes]
    return arrays, kwargs, dtype


def run(lib, op, arrays, kwargs, dtype):
    """Outputs (a list) and inputs (with their gradients filled) of op on ``arrays`` in
    ``lib``, after backward of sum_k <w_k, out_k> for a fixed random w."""
    if lib is cr:
        xs = cr_inputs(arrays, dtype)
        outs = _as_list(op.call(*xs, **_map_arrays(kwargs, cr.tensor)))
    else:
        xs = torch_inputs(lib, arrays, dtype)
        outs = _as_list(op.call_torch(lib, *xs, **_map_arrays(kwargs, lib.from_numpy)))
    rng = np.random.default_rng(7)
    pairs = [(o, rng.standard_normal(tuple(o.shape)).astype(dtype)) for o in outs
             if o.requires_grad]
    wrap = cr.tensor if lib is cr else lib.from_numpy
    if pairs:
        lib.autograd.backward([o for o, _ in pairs], [wrap(w) for _, w in pairs])
    return outs, xs


def _np(t):
    return t.data if isinstance(t, cr.Tensor) else t.detach().numpy()


def _case(op, arrays, kwargs, dtype):
    return (f"{op.name}{tuple(a.shape for a in arrays)} {dtype} kwargs="
            f"{ {k: (v.shape if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()} }")


# ---- the properties ----------------------------------------------------------------------------

def check_against_torch(op, arrays, kwargs, dtype):
    torch = import_torch()
    case = _case(op, arrays, kwargs, dtype)
    with np.errstate(all="ignore"):
        outs, xs = run(cr, op, arrays, kwargs, dtype)
    touts, txs = run(torch, op, arrays, kwargs, dtype)
    assert len(outs) == len(touts), case
    for k, (o, t) in enumerate(zip(outs, touts)):
        assert o.shape == tuple(t.shape), f"{case}: output {k} shape {o.shape} vs {tuple(t.shape)}"
        assert str(o.dtype) == str(t.dtype).replace("torch.", ""), f"{case}: output {k} dtype"
        assert_close(_np(o), _np(t), dtype if o.dtype.kind == "f" else "float64",
                     f"{case}: output {k}")
    for i, (x, tx) in enumerate(zip(xs, txs)):
        if not x.requires_grad or tx.grad is None:
            continue
        assert x.grad is not None, f"{case}: no gradient for input {i} (torch has one)"
        assert x.grad.shape == x.shape and x.grad.dtype == x.dtype, f"{case}: gradient {i}"
        assert_close(x.grad.data, tx.grad.numpy(), dtype, f"{case}: gradient of input {i}",
                     floor=1.0 if op.name in BOUNDED_GRADIENT else 0.0)


@pytest.mark.parametrize("op", ALL, ids=_ids(ALL))
@PROFILE
@given(data=st.data())
def test_matches_torch_on_random_cases(op, data):
    """Forward and gradients equal PyTorch's over random shapes, dtypes and magnitudes."""
    exps = st.sampled_from([-3, 0, 3]) if op.name in MODERATE_ONLY else WIDE_EXPONENTS
    check_against_torch(op, *draw_case(data, op, exps))


@pytest.mark.parametrize("op", ALL, ids=_ids(ALL))
@PROFILE
@given(data=st.data())
def test_gradients_finite_where_forward_finite(op, data):
    """At moderate magnitudes, in the op's domain (away from kinks and poles), a finite forward
    (well inside the dtype's range) gives finite gradients of the inputs' shapes and dtypes.
    Needs no torch."""
    arrays, kwargs, dtype = draw_case(data, op, SMALL_EXPONENTS)
    with np.errstate(all="ignore"):
        outs, xs = run(cr, op, arrays, kwargs, dtype)
    big = np.finfo(dtype).max / 1e6  # a gradient may exceed the value by a factor (pow: log a)
    if not all(np.all(np.abs(o.data) <= big) for o in outs if o.dtype.kind == "f"):
        return  # NaN or (near) overflow: the mean of an empty tensor, var with n <= correction
    for i, x in enumerate(xs):
        if not x.requires_grad:
            continue
        case = _case(op, arrays, kwargs, dtype)
        if x.grad is None:  # no path to the output: only when the output is empty
            assert all(o.numel() == 0 for o in outs), f"{case}: no gradient for input {i}"
            continue
        assert x.grad.shape == x.shape, f"{case}: gradient {i} shape {x.grad.shape} vs {x.shape}"
        assert x.grad.dtype == x.dtype, f"{case}: gradient {i} dtype {x.grad.dtype} vs {x.dtype}"
        assert np.all(np.isfinite(x.grad.data)), f"{case}: non-finite gradient of input {i}"
