"""Elementwise ops: arithmetic, exp/log, the activations of the notes, clamp, maximum, where.

Each op's backward multiplies the incoming gradient by the op's derivative, elementwise (its
Jacobian is diagonal); binary ops then undo NumPy broadcasting with ``unbroadcast``.

NaN-safe edges: where an op's derivative is infinite (sqrt, rsqrt, log at 0; 1/b at b = 0; x^p at
0 for p < 1; exp overflow) an element whose incoming gradient is exactly 0 gets gradient 0, not
0 * inf = NaN (``zero_where_no_grad``), so ``where(x > 0, sqrt(x), 0)`` is differentiable at 0.
"""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from .. import backend
from ..backend import get_array_module, get_default_dtype
from ._util import OpError, binary_operands, no_grad_result, unbroadcast, zero_where_no_grad

_nd = np.ndarray  # kernels: xp = np if type(a) is _nd else get_array_module(a)  (NumPy fast path)


# ---- arithmetic --------------------------------------------------------------------------------
class Add(Function):
    """z = a + b (broadcasting)."""

    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a + b

    def backward(self, gz):
        sa, sb = self.shapes
        na, nb = self.needs_input_grad
        return (unbroadcast(gz, sa) if na else None,  # dz/da = 1
                unbroadcast(gz, sb) if nb else None)  # dz/db = 1


class Sub(Function):
    """z = a - b."""

    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a - b

    def backward(self, gz):
        sa, sb = self.shapes
        na, nb = self.needs_input_grad
        return (unbroadcast(gz, sa) if na else None,  # dz/da = 1
                unbroadcast(-gz, sb) if nb else None)  # dz/db = -1


class Mul(Function):
    """z = a * b."""

    def forward(self, a, b):
        na, nb = self.needs_input_grad
        self.save(b if na else None, a if nb else None)
        self.shapes = (a.shape, b.shape)
        return a * b

    def backward(self, gz):
        b, a = self.saved
        sa, sb = self.shapes
        return (unbroadcast(gz * b, sa) if b is not None else None,  # dz/da = b
                unbroadcast(gz * a, sb) if a is not None else None)  # dz/db = a


class Div(Function):
    """z = a / b."""

    def forward(self, a, b):
        z = a / b
        self.save(b, z)
        self.shapes = (a.shape, b.shape)
        return z

    def backward(self, gz):
        b, z = self.saved
        sa, sb = self.shapes
        na, nb = self.needs_input_grad
        with np.errstate(divide="ignore", invalid="ignore"):  # b = 0: inf/NaN, masked below
            ga = zero_where_no_grad(gz / b, gz)
            gb = zero_where_no_grad(-ga * z, gz) if nb else None
        return (unbroadcast(ga, sa) if na else None,  # dz/da = 1/b
                unbroadcast(gb, sb) if nb else None)  # dz/db = -a/b^2 = -z/b


class Neg(Function):
    """z = -a."""

    def forward(self, a):
        return -a

    def backward(self, gz):
        return -gz  # dz/da = -1


class Pow(Function):
    """z = a ** b for two tensors."""

    def forward(self, a, b):
        z = a ** b
        self.save(a, b, z)
        self.shapes = (a.shape, b.shape)
        return z

    def backward(self, gz):
        a, b, z = self.saved
        sa, sb = self.shapes
        na, nb = self.needs_input_grad
        ga = gb = None
        if na:
            with np.errstate(divide="ignore", invalid="ignore"):  # a = 0, b < 1: inf
                ga = unbroadcast(zero_where_no_grad(gz * b * a ** (b - 1), gz), sa)  # b a^(b-1)
        if nb:
            with np.errstate(divide="ignore", invalid="ignore"):
                xp = np if type(a) is _nd else get_array_module(a)
                dlog = z * xp.log(a)  # dz/db = a^b log a
                dlog = xp.where((a == 0) & (b >= 0), 0, dlog)  # limit 0 at a = 0 (PyTorch's)
                gb = unbroadcast(zero_where_no_grad(gz * dlog, gz), sb)
        return ga, gb


class PowScalar(Function):
    """z = a ** p for a Python number p."""

    def forward(self, a, p):
        self.p = p
        self.save(a)
        return a ** p

    def backward(self, gz):
        (a,) = self.saved
        p = self.p
        if p == 0:
            return (np if type(a) is _nd else get_array_module(a)).zeros_like(a)
        if p == 2:
            return gz * (2 * a)  # dz/da = 2a
        with np.errstate(divide="ignore", invalid="ignore"):  # a = 0, p < 1: inf
            return zero_where_no_grad(gz * (p * a ** (p - 1)), gz)  # dz/da = p a^(p-1)


# ---- unary math --------------------------------------------------------------------------------
class Exp(Function):
    """z = exp(a)."""

    def forward(self, a):
        z = (np if type(a) is _nd else get_array_module(a)).exp(a)
        self.save(z)
        return z

    def backward(self, gz):
        (z,) = self.saved
        with np.errstate(invalid="ignore"):  # overflowed z = inf
            return zero_where_no_grad(gz * z, gz)  # dz/da = exp(a) = z


class Log(Function):
    """z = log(a)."""

    def forward(self, a):
        self.save(a)
        return (np if type(a) is _nd else get_array_module(a)).log(a)

    def backward(self, gz):
        (a,) = self.saved
        with np.errstate(divide="ignore", invalid="ignore"):  # a = 0: inf (a < 0: NaN forward)
            return zero_where_no_grad(gz / a, gz)  # dz/da = 1/a


class Log1p(Function):
    """z = log(1 + a)."""

    def forward(self, a):
        self.save(a)
        return (np if type(a) is _nd else get_array_module(a)).log1p(a)

    def backward(self, gz):
        (a,) = self.saved
        with np.errstate(divide="ignore", invalid="ignore"):  # a = -1: inf
            return zero_where_no_grad(gz / (1 + a), gz)  # dz/da = 1/(1+a)


class Sqrt(Function):
    """z = sqrt(a)."""

    def forward(self, a):
        z = (np if type(a) is _nd else get_array_module(a)).sqrt(a)
        self.save(z)
        return z

    def backward(self, gz):
        (z,) = self.saved
        with np.errstate(divide="ignore", invalid="ignore"):  # a = 0: inf, as PyTorch
            return zero_where_no_grad(gz / (2 * z), gz)  # dz/da = 1/(2 sqrt a)


class Rsqrt(Function):
    """z = 1 / sqrt(a)."""

    def forward(self, a):
        z = 1 / (np if type(a) is _nd else get_array_module(a)).sqrt(a)
        self.save(z)
        return z

    def backward(self, gz):
        (z,) = self.saved
        with np.errstate(over="ignore", invalid="ignore"):  # a = 0: z = inf
            return zero_where_no_grad(gz * (-0.5 * z * z * z), gz)  # -a^(-3/2) / 2 = -z^3 / 2


class Square(Function):
    """z = a^2."""

    def forward(self, a):
        self.save(a)
        return a * a

    def backward(self, gz):
        (a,) = self.saved
        return gz * (2 * a)  # dz/da = 2a


class Abs(Function):
    """z = |a| (derivative sign(a), 0 at 0)."""

    def forward(self, a):
        self.save(a)
        return (np if type(a) is _nd else get_array_module(a)).abs(a)

    def backward(self, gz):
        (a,) = self.saved
        return gz * (np if type(a) is _nd else get_array_module(a)).sign(a)  # dz/da = sign(a)


class Sin(Function):
    """z = sin(a)."""

    def forward(self, a):
        self.save(a)
        return (np if type(a) is _nd else get_array_module(a)).sin(a)

    def backward(self, gz):
        (a,) = self.saved
        return gz * (np if type(a) is _nd else get_array_module(a)).cos(a)  # dz/da = cos(a)


class Cos(Function):
    """z = cos(a)."""

    def forward(self, a):
        self.save(a)
        return (np if type(a) is _nd else get_array_module(a)).cos(a)

    def backward(self, gz):
        (a,) = self.saved
        return gz * -(np if type(a) is _nd else get_array_module(a)).sin(a)  # dz/da = -sin(a)


# ---- activations (notes 1.1) -------------------------------------------------------------------
class Sigmoid(Function):
    """h = sigma(s) = 1 / (1 + exp(-s))  (notes 1.1), computed without overflow for large |s|."""

    def forward(self, s):
        xp = np if type(s) is _nd else get_array_module(s)
        e = xp.exp(-xp.abs(s))  # in (0, 1]: never overflows
        h = xp.where(s >= 0, 1 / (1 + e), e / (1 + e))
        self.save(h)
        return h

    def backward(self, gh):
        (h,) = self.saved
        return gh * h * (1 - h)  # dh/ds = h (1 - h)


class Tanh(Function):
    """h = tanh(s)."""

    def forward(self, s):
        h = (np if type(s) is _nd else get_array_module(s)).tanh(s)
        self.save(h)
        return h

    def backward(self, gh):
        (h,) = self.saved
        return gh * (1 - h * h)  # dh/ds = 1 - h^2


class ReLU(Function):
    """h = max(0, s)  (notes 1.1: the rectified linear unit; derivative 1(s > 0))."""

    def forward(self, s):
        h = (np if type(s) is _nd else get_array_module(s)).maximum(s, 0)
        self.save(h)
        return h

    def backward(self, gh):
        (h,) = self.saved
        xp = np if type(h) is _nd else get_array_module(h)
        # dh/ds = 1(s > 0), written straight into a float mask that the product then overwrites
        # (a bool mask cast to float takes one pass more: 0.38-0.44 against 0.34-0.40 ms for
        # (32, 16, 32, 32) in benchmarks/passes.py)
        mask = xp.greater(h, 0, out=xp.empty(h.shape, gh.dtype), casting="unsafe")
        return xp.multiply(gh, mask, out=mask)


class LeakyReLU(Function):
    """h = s for s > 0, slope * s otherwise."""

    def forward(self, s, slope):
        self.slope = slope
        self.save(s)
        xp = np if type(s) is _nd else get_array_module(s)
        return xp.where(s > 0, s, s * s.dtype.type(slope))

    def backward(self, gh):
        (s,) = self.saved
        xp = np if type(s) is _nd else get_array_module(s)
        return gh * xp.where(s > 0, 1, gh.dtype.type(self.slope)).astype(gh.dtype)  # 1 or slope


class Softplus(Function):
    """h = log(1 + exp(beta s)) / beta, linear (h = s) where beta s > threshold."""

    def forward(self, s, beta, threshold):
        bs = s * beta
        self.beta, self.threshold = beta, threshold
        self.save(bs)
        xp = np if type(s) is _nd else get_array_module(s)
        soft = (xp.maximum(bs, 0) + xp.log1p(xp.exp(-xp.abs(bs)))) / beta
        return xp.where(bs > threshold, s, soft).astype(s.dtype, copy=False)

    def backward(self, gh):
        (bs,) = self.saved
        xp = np if type(bs) is _nd else get_array_module(bs)
        e = xp.exp(-xp.abs(bs))
        sig = xp.where(bs >= 0, 1 / (1 + e), e / (1 + e))  # dh/ds = sigma(beta s)
        return gh * xp.where(bs > self.threshold, 1, sig).astype(gh.dtype, copy=False)


# ---- clamp, maximum, minimum, where ------------------------------------------------------------
class Clamp(Function):
    """z = min(max(a, lo), hi); the gradient passes where lo <= a <= hi."""

    def forward(self, a, lo, hi):
        self.save(a)
        self.lo, self.hi = lo, hi
        return (np if type(a) is _nd else get_array_module(a)).clip(a, lo, hi)

    def backward(self, gz):
        (a,) = self.saved
        mask = (np if type(a) is _nd else get_array_module(a)).ones(a.shape, bool)
        if self.lo is not None:
            mask &= a >= self.lo
        if self.hi is not None:
            mask &= a <= self.hi
        return gz * mask  # dz/da = 1 inside [lo, hi], 0 outside


class Maximum(Function):
    """z = max(a, b) elementwise; at ties each side gets half the gradient (as PyTorch)."""

    def forward(self, a, b):
        self.save(a, b)
        return (np if type(a) is _nd else get_array_module(a, b)).maximum(a, b)

    def backward(self, gz):
        a, b = self.saved
        wa = (a > b) + 0.5 * (a == b)  # dz/da: 1 where a wins, 1/2 at ties
        na, nb = self.needs_input_grad
        return (unbroadcast(gz * wa, a.shape) if na else None,
                unbroadcast(gz * (1 - wa), b.shape) if nb else None)


class Minimum(Function):
    """z = min(a, b) elementwise; ties split the gradient."""

    def forward(self, a, b):
        self.save(a, b)
        return (np if type(a) is _nd else get_array_module(a, b)).minimum(a, b)

    def backward(self, gz):
        a, b = self.saved
        wa = (a < b) + 0.5 * (a == b)  # dz/da: 1 where a wins, 1/2 at ties
        na, nb = self.needs_input_grad
        return (unbroadcast(gz * wa, a.shape) if na else None,
                unbroadcast(gz * (1 - wa), b.shape) if nb else None)


class Where(Function):
    """z = a where cond else b."""

    def forward(self, a, b, cond):
        self.cond = cond
        self.shapes = (a.shape, b.shape)
        return get_array_module(a, b, cond).where(cond, a, b)

    def backward(self, gz):
        c = self.cond
        na, nb = self.needs_input_grad
        xp = np if type(gz) is _nd else get_array_module(gz)
        zero = gz.dtype.type(0)
        return (unbroadcast(xp.where(c, gz, zero), self.shapes[0]) if na else None,  # 1 where cond
                unbroadcast(xp.where(c, zero, gz), self.shapes[1]) if nb else None)  # 1 elsewhere


class Cast(Function):
    """z = a converted to another dtype; the gradient is converted back."""

    def forward(self, a, dtype):
        return a.astype(dtype)

    def backward(self, gz):
        return gz  # the engine casts to the input's dtype


class ToDevice(Function):
    """z = a on another device; the gradient goes back to a's device."""

    def forward(self, a, device):
        self.src = backend.device_of(a)
        return backend.to_device(a, device)

    def backward(self, gz):
        return backend.to_device(gz, self.src)


class Clone(Function):
    """z = a copy of a."""

    def forward(self, a):
        return a.copy()

    def backward(self, gz):
        return gz


# ---- public functions --------------------------------------------------------------------------
def add(a, b, alpha=1):
    """a + alpha * b, broadcasting."""
    if alpha != 1:
        b = mul(b, alpha)
    return Add.apply(*binary_operands(a, b))


def sub(a, b, alpha=1):
    """a - alpha * b, broadcasting."""
    if alpha != 1:
        b = mul(b, alpha)
    return Sub.apply(*binary_operands(a, b))


def mul(a, b):
    """a * b, broadcasting."""
    return Mul.apply(*binary_operands(a, b))


def div(a, b):
    """a / b, broadcasting (true division: integer tensors give the default float dtype)."""
    a, b = binary_operands(a, b)
    if a.data.dtype.kind != "f" and b.data.dtype.kind != "f":
        a, b = cast(a, get_default_dtype()), cast(b, get_default_dtype())
    return Div.apply(a, b)


def neg(a):
    return Neg.apply(a)


def pow(a, b):
    """a ** b; b a Python number or a tensor; a may be a number when b is a tensor."""
    from ..tensor import Tensor

    if isinstance(a, Tensor) and not isinstance(b, Tensor) and np.ndim(b) == 0:
        if a.data.dtype.kind != "f" and isinstance(b, float):
            a = cast(a, get_default_dtype())
        return PowScalar.apply(a, p=b)
    return Pow.apply(*binary_operands(a, b))


def exp(a):
    return Exp.apply(_floating(a))


def log(a):
    return Log.apply(_floating(a))


def log1p(a):
    return Log1p.apply(_floating(a))


def sqrt(a):
    return Sqrt.apply(_floating(a))


def rsqrt(a):
    return Rsqrt.apply(_floating(a))


def square(a):
    return Square.apply(a)


def reciprocal(a):
    return div(1.0, a)


def abs(a):
    return Abs.apply(a)


def sin(a):
    return Sin.apply(_floating(a))


def cos(a):
    return Cos.apply(_floating(a))


def sigmoid(s):
    """sigma(s) = 1 / (1 + exp(-s)), elementwise (notes 1.1)."""
    return Sigmoid.apply(_floating(s))


def tanh(s):
    return Tanh.apply(_floating(s))


def relu(s):
    """max(0, s), elementwise (notes 1.1)."""
    return ReLU.apply(s)


def leaky_relu(s, negative_slope=0.01):
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float,
                                                                           np.number)):
        raise OpError(f"leaky_relu: expected negative_slope to be a number, got "
                      f"{type(negative_slope).__name__} {negative_slope!r}")
    return LeakyReLU.apply(s, slope=negative_slope)


def softplus(s, beta=1.0, threshold=20.0):
    """log(1 + exp(beta s)) / beta, stable for large |s|."""
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.number)) or beta == 0:
        raise OpError(f"softplus: expected beta to be a nonzero number, got {beta!r}")
    return Softplus.apply(_floating(s), beta=beta, threshold=threshold)


def _floating(a):
    """An integer or bool Tensor as the default float dtype (as PyTorch: exp, log, sigmoid, ...
    of integers are float32), anything else as it is."""
    from ..tensor import Tensor

    if isinstance(a, Tensor) and a.data.dtype.kind in "biu":
        return cast(a, get_default_dtype())
    return a


def clamp(a, min=None, max=None):
    """Limit a to [min, max] (either may be None)."""
    if min is None and max is None:
        raise OpError("clamp: at least one of min and max must be given")
    from ..tensor import Tensor

    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = a
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    return Clamp.apply(a, lo=min, hi=max)


clip = clamp


def maximum(a, b):
    return Maximum.apply(*binary_operands(a, b))


def minimum(a, b):
    return Minimum.apply(*binary_operands(a, b))


def where(condition, a, b):
    """a where condition else b (condition a bool tensor; a, b tensors or numbers)."""
    from ..tensor import Tensor

    cond = condition.data if isinstance(condition, Tensor) else (
        condition if backend.is_array(condition) else np.asarray(condition))
    if cond.dtype != np.bool_:
        raise OpError(f"where: expected a bool condition, got dtype {cond.dtype}")
    a, b = binary_operands(a, b)
    if type(cond) is not _nd or type(a.data) is not _nd or type(b.data) is not _nd:
        # a device somewhere: numbers and conditions given as lists follow the device arrays
        dev = next((backend.device_of(t.data) for t in (a, b) if not backend.is_host(t.data)),
                   None)
        if dev is None:  # numbers (or 0-d CPU tensors) picked by a device condition
            dev = backend.device_of(cond)
            if dev.type != "cpu" and a.data.ndim == 0 and b.data.ndim == 0:
                a, b = to_device(a, dev), to_device(b, dev)
        elif not isinstance(condition, Tensor):
            cond = backend.to_device(cond, dev)
    return Where.apply(a, b, cond=cond)


def cast(a, dtype):
    dtype = np.dtype(dtype)
    if a.data.dtype == dtype:
        return a
    if dtype.kind != "f":
        return no_grad_result(a.data.astype(dtype))
    return Cast.apply(a, dtype=dtype)


def clone(a):
    return Clone.apply(a)


def to_device(a, device):
    """a on ``device`` (differentiable: the gradient is moved back); a itself when it is there."""
    dev = backend.device(device)
    if backend.device_of(a.data) == dev:
        return a
    return ToDevice.apply(a, device=dev)


# ---- without gradient --------------------------------------------------------------------------
def sign(a):
    return no_grad_result(get_array_module(a.data).sign(a.data))


def floor(a):
    return no_grad_result(get_array_module(a.data).floor(a.data))


def ceil(a):
    return no_grad_result(get_array_module(a.data).ceil(a.data))


def round(a):
    return no_grad_result(get_array_module(a.data).round(a.data))


def floor_divide(a, b):
    a, b = binary_operands(a, b)
    return no_grad_result(get_array_module(a.data, b.data).floor_divide(a.data, b.data))


def remainder(a, b):
    a, b = binary_operands(a, b)
    return no_grad_result(get_array_module(a.data, b.data).remainder(a.data, b.data))


def isnan(a):
    return no_grad_result(get_array_module(a.data).isnan(a.data))


def isinf(a):
    return no_grad_result(get_array_module(a.data).isinf(a.data))


def isfinite(a):
    return no_grad_result(get_array_module(a.data).isfinite(a.data))
