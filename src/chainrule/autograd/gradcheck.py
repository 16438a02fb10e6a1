"""Numerical check of hand-derived gradients by central differences in float64.

For small problems the whole Jacobian is compared: column j of the numerical Jacobian is
(f(x + eps e_j) - f(x - eps e_j)) / (2 eps), and row k of the analytic one is the backward of the
one-hot output gradient e_k. For large problems random directional derivatives are compared:
v^T J u by backward (grad . u) and by differences (v . (f(x + eps u) - f(x - eps u)) / (2 eps)).
"""
from __future__ import annotations

import numpy as np

from .engine import grad as _grad
from .grad_mode import enable_grad, no_grad


class GradcheckError(AssertionError):
    """Raised by :func:`gradcheck` when analytic and numerical gradients disagree."""


def _outputs(fn, inputs):
    from ..tensor import Tensor

    out = fn(*inputs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.kind == "f"]


def _flat_out(fn, inputs):
    with no_grad():
        return np.concatenate([o.data.astype(np.float64).ravel() for o in _outputs(fn, inputs)])


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, full_jacobian_limit=4096, n_directions=3,
              raise_exception=True, seed=0):
    """Check the gradients of ``fn`` at ``inputs`` against central differences.

    Args:
        fn: callable taking the input Tensors and returning a Tensor or a tuple of Tensors.
        inputs: a Tensor or a sequence; the float64 ones with ``requires_grad`` are checked.
        eps, atol, rtol: step of the differences, and the tolerance |a - n| <= atol + rtol |n|.
        full_jacobian_limit: compare whole Jacobians when (inputs' size) x (outputs' size) is at
            most this; otherwise compare ``n_directions`` random directional derivatives.

    Returns True, or raises GradcheckError naming the input and showing both gradients.
    """
    from ..tensor import Tensor

    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise ValueError(f"gradcheck: input {i} has dtype {inputs[i].dtype}; use float64 "
                             f"inputs (central differences in float32 are too coarse)")
    with enable_grad():
        outs = _outputs(fn, inputs)
    if not outs:
        raise ValueError("gradcheck: fn returned no floating-point Tensor")
    n_out = sum(o.data.size for o in outs)
    n_in = sum(inputs[i].data.size for i in checked)
    rng = np.random.default_rng(seed)

    def fail(msg):
        if raise_exception:
            raise GradcheckError(msg)
        return False

    def vjp(vs):
        with enable_grad():
            outs = _outputs(fn, inputs)
            used = [(o, v) for o, v in zip(outs, vs) if o.requires_grad]
            if not used:
                return [np.zeros(inputs[i].shape) for i in checked]
            gs = _grad([o for o, _ in used], [inputs[i] for i in checked],
                       grad_outputs=[Tensor(v.reshape(o.shape)) for o, v in used],
                       allow_unused=True)
        return [np.zeros(inputs[i].shape) if g is None else g.data.astype(np.float64)
                for i, g in zip(checked, gs)]

    def split(flat):
        parts, k = [], 0
        for o in outs:
            parts.append(flat[k:k + o.data.size])
            k += o.data.size
        return parts

    def perturbed(i, direction):
        x = inputs[i].data
        orig = x.copy()
        x += eps * direction
        fp = _flat_out(fn, inputs)
        x[...] = orig - eps * direction
        fm = _flat_out(fn, inputs)
        x[...] = orig
        return (fp - fm) / (2 * eps)

    if n_in * n_out <= full_jacobian_limit:
        analytic = {i: np.zeros((n_out, inputs[i].data.size)) for i in checked}
        for k in range(n_out):
            e = np.zeros(n_out)
            e[k] = 1.0
            for i, g in zip(checked, vjp(split(e))):
                analytic[i][k] = g.ravel()
        for i in checked:
            x = inputs[i].data
            numeric = np.zeros((n_out, x.size))
            for j in range(x.size):
                d = np.zeros(x.size)
                d[j] = 1.0
                numeric[:, j] = perturbed(i, d.reshape(x.shape))
            a = analytic[i]
            if not np.allclose(a, numeric, atol=atol, rtol=rtol, equal_nan=False):
                bad = np.unravel_index(np.argmax(np.abs(a - numeric) - rtol * np.abs(numeric)),
                                       a.shape)
                return fail(f"gradcheck: Jacobian mismatch for input {i} (shape "
                            f"{tuple(x.shape)}), worst at output {bad[0]}, input element "
                            f"{bad[1]}: analytic {a[bad]:.8g} vs numeric {numeric[bad]:.8g}\n"
                            f"analytic:\n{a}\nnumeric:\n{numeric}")
        return True

    for _ in range(n_directions):
        v = rng.standard_normal(n_out)
        gs = vjp(split(v))
        for i, g in zip(checked, gs):
            u = rng.standard_normal(inputs[i].shape)
            a = float(np.sum(g * u))
            n = float(v @ perturbed(i, u))
            if not abs(a - n) <= atol + rtol * abs(n):
                return fail(f"gradcheck: directional derivative mismatch for input {i} (shape "
                            f"{tuple(inputs[i].shape)}): analytic v^T J u = {a:.10g}, numeric "
                            f"{n:.10g}\nanalytic gradient (J^T v):\n{g}")
    return True
