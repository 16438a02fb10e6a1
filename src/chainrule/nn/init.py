"""Weight initialization, in place, with PyTorch's names: ``init.kaiming_uniform_(w, a=5 ** 0.5)``.

Each function overwrites ``tensor.data`` (no gradient is recorded, as under ``no_grad``) with values
drawn from ``chainrule.backend.get_rng()``, and returns the tensor.

Scaled initializations keep the variance of activations (forward) or of gradients (backward) about
constant from layer to layer. For a weight of shape (out, in, *kernel), with receptive field
r = prod(kernel):  fan_in = in * r,  fan_out = out * r.

- Xavier/Glorot: Var(w) = gain^2 * 2 / (fan_in + fan_out).
- Kaiming/He: Var(w) = gain^2 / fan, fan = fan_in (keeps forward variance) or fan_out (backward).
  The uniform versions use U(-bound, bound) with bound = sqrt(3 Var(w)).
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .. import backend
from ..tensor import Tensor


def _check(tensor, who):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"init.{who}: expected a Tensor, got {type(tensor).__name__}")
    if tensor.data.dtype.kind != "f":
        raise TypeError(f"init.{who}: expected a floating-point tensor, got dtype "
                        f"{tensor.data.dtype}")


def _fill(tensor, values):
    """Write ``values`` (drawn on the host) into the tensor, in place: on a device they are moved
    there, so a seeded init gives the same weights on every device."""
    if type(tensor.data) is not np.ndarray and backend.is_array(values):
        values = backend.asarray_like(tensor.data, values)
    tensor.data[...] = values  # cast to the tensor's dtype, in place
    return tensor


def _draw_dtype(tensor):
    """Draw float32 tensors in float32 (half the memory and time of drawing float64 and casting)."""
    return tensor.data.dtype if tensor.data.dtype in (np.float32, np.float64) else np.float64


def _uniform(tensor, low, high):
    """Samples of U(low, high) shaped like ``tensor``, from the backend generator."""
    u = backend.get_rng().random(tensor.shape, dtype=_draw_dtype(tensor))
    u *= high - low
    u += low
    return u


def _normal(tensor, mean, std):
    """Samples of N(mean, std^2) shaped like ``tensor``, from the backend generator."""
    z = backend.get_rng().standard_normal(tensor.shape, dtype=_draw_dtype(tensor))
    z *= std
    z += mean
    return z


def calculate_gain(nonlinearity, param=None):
    """The gain that keeps the activation variance for a nonlinearity.

    linear, conv*, sigmoid: 1;  tanh: 5/3;  relu: sqrt(2);
    leaky_relu: sqrt(2 / (1 + slope^2)) (slope = ``param``, 0.01 by default);  selu: 3/4.
    """
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                        "conv_transpose2d", "conv_transpose3d", "sigmoid"):
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, numbers.Real) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r} (expected one of "
                     f"linear, conv1d/2d/3d, conv_transpose1d/2d/3d, sigmoid, tanh, relu, "
                     f"leaky_relu, selu)")


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) = (shape[1] * r, shape[0] * r) with r = prod(shape[2:])."""
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(f"init: fan in and fan out can not be computed for a tensor with fewer "
                         f"than 2 dims, got shape {tuple(shape)}")
    r = int(np.prod(shape[2:], dtype=np.int64)) if len(shape) > 2 else 1
    return shape[1] * r, shape[0] * r


def _fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init: mode {mode!r} not supported, use 'fan_in' or 'fan_out'")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _empty(tensor, who):
    if tensor.data.size == 0:
        warnings.warn(f"init.{who}: initializing a zero-element tensor is a no-op", stacklevel=3)
        return True
    return False


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with U(a, b)."""
    _check(tensor, "uniform_")
    return _fill(tensor, _uniform(tensor, a, b))


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with N(mean, std^2)."""
    _check(tensor, "normal_")
    return _fill(tensor, _normal(tensor, mean, std))


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """Fill with N(mean, std^2) restricted to [a, b] (values outside are redrawn)."""
    _check(tensor, "trunc_normal_")
    if not a < b:
        raise ValueError(f"init.trunc_normal_: expected a < b, got a={a}, b={b}")
    rng = backend.get_rng()
    out = rng.normal(mean, std, tensor.shape)
    bad = (out < a) | (out > b)
    for _ in range(1000):
        n = int(bad.sum())
        if n == 0:
            break
        out[bad] = rng.normal(mean, std, n)
        bad = (out < a) | (out > b)
    else:  # [a, b] holds almost no mass: fall back to clipping what is left
        np.clip(out, a, b, out=out)
    return _fill(tensor, out)


def constant_(tensor, val):
    """Fill with ``val``."""
    _check(tensor, "constant_")
    return _fill(tensor, val)


def ones_(tensor):
    return constant_(tensor, 1.0)


def zeros_(tensor):
    return constant_(tensor, 0.0)


def eye_(tensor):
    """The identity matrix (2-D tensors)."""
    _check(tensor, "eye_")
    if tensor.ndim != 2:
        raise ValueError(f"init.eye_: expected a 2-D tensor, got shape {tuple(tensor.shape)}")
    return _fill(tensor, np.eye(*tensor.shape))


def xavier_uniform_(tensor, gain=1.0):
    """Fill with U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio)."""
    _check(tensor, "xavier_uniform_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return _fill(tensor, _uniform(tensor, -bound, bound))


def xavier_normal_(tensor, gain=1.0):
    """Fill with N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    _check(tensor, "xavier_normal_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return _fill(tensor, _normal(tensor, 0.0, std))


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """Fill with U(-bound, bound), bound = gain * sqrt(3 / fan) (He et al.); ``a`` is the negative
    slope of leaky_relu (gain sqrt(2 / (1 + a^2)))."""
    _check(tensor, "kaiming_uniform_")
    if _empty(tensor, "kaiming_uniform_"):
        return tensor
    fan = _fan(tensor, mode)
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return _fill(tensor, _uniform(tensor, -bound, bound))


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """Fill with N(0, std^2), std = gain / sqrt(fan)."""
    _check(tensor, "kaiming_normal_")
    if _empty(tensor, "kaiming_normal_"):
        return tensor
    fan = _fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return _fill(tensor, _normal(tensor, 0.0, std))


def orthogonal_(tensor, gain=1.0):
    """Fill with a (semi-)orthogonal matrix times ``gain`` (the tensor seen as (shape[0], -1)):
    the Q of the QR decomposition of a Gaussian matrix, its columns' signs fixed by diag(R)."""
    _check(tensor, "orthogonal_")
    if tensor.ndim < 2:
        raise ValueError(f"init.orthogonal_: expected a tensor with at least 2 dims, got shape "
                         f"{tuple(tensor.shape)}")
    if _empty(tensor, "orthogonal_"):
        return tensor
    rows = tensor.shape[0]
    cols = tensor.data.size // rows
    flat = backend.get_rng().standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))  # make the decomposition unique (uniform over orthogonal matrices)
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(tensor.shape))
