"""Matrix products: matmul (1-D, 2-D, batched with broadcasting) and the fused linear layer.

notes 1.2: for h_l = W_l h_{l-1}, dL/dh_{l-1} = W_l^T dL/dh_l and dL/dW_l = dL/dh_l h_{l-1}^T.
In row-major batches (x of shape (N, in), y = x W^T + b) these read dL/dx = dL/dy W,
dL/dW = dL/dy^T x and dL/db = sum over rows of dL/dy.
"""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..backend import get_array_module
from ..parallel import blas_for
from ._util import OpError, binary_operands, unbroadcast


def _swap(m):
    xp = np if type(m) is np.ndarray else get_array_module(m)
    return xp.swapaxes(m, -1, -2)


def _rows(m):
    """m as a matrix (rows, last dim); unlike reshape(-1, k) also right for zero-size m."""
    return m.reshape(int(np.prod(m.shape[:-1], dtype=np.int64)), m.shape[-1])


def _macs(sa, sb):
    """Multiply-adds of a @ b for shapes sa, sb (an upper bound where batch dims broadcast)."""
    k = sa[-1]
    m = 1
    for d in sa[:-1]:
        m *= d
    n = sb[-1] if len(sb) > 1 else 1
    for d in sb[:-2]:
        n *= d
    return m * k * n


class MatMul(Function):
    """z = a @ b with NumPy's matmul rules (1-D operands promoted, batch dims broadcast)."""

    def forward(self, a, b):
        xp = np if type(a) is np.ndarray else get_array_module(a)
        if a.ndim == 0 or b.ndim == 0:
            raise OpError(f"matmul: both operands need at least 1 dim, got shapes {a.shape} and "
                          f"{b.shape}")
        ka = a.shape[-1]
        kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if ka != kb:
            raise OpError(f"matmul: the last dim of a ({ka}) must equal the "
                          f"{'only' if b.ndim == 1 else 'second-to-last'} dim of b ({kb}); "
                          f"got shapes {a.shape} and {b.shape}")
        self.shapes = (a.shape, b.shape)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        na, nb = self.needs_input_grad
        self.save(a2 if nb else None, b2 if na else None)
        try:
            with blas_for(_macs(a.shape, b.shape)):  # all threads for big GEMMs
                return xp.matmul(a, b)
        except ValueError:
            raise OpError(f"matmul: the batch dims of shapes {a.shape} and {b.shape} do not "
                          f"broadcast ({a.shape[:-2]} vs {b.shape[:-2]})") from None

    def backward(self, gz):
        with blas_for(_macs(*self.shapes)):
            return self._grads(gz)

    def _grads(self, gz):
        xp = np if type(gz) is np.ndarray else get_array_module(gz)
        a2, b2 = self.saved
        sa, sb = self.shapes
        # restore the dims that 1-D operands dropped from the output
        if len(sa) == 1:
            gz = xp.expand_dims(gz, -2 if len(sb) > 1 else 0)
        if len(sb) == 1:
            gz = xp.expand_dims(gz, -1)
        ga = gb = None
        if b2 is not None:  # dz/da: gz b^T
            ga = xp.matmul(gz, _swap(b2))
            ga = unbroadcast(ga, (1,) + sa if len(sa) == 1 else sa).reshape(sa)
        if a2 is not None:  # dz/db: a^T gz
            if b2 is None or len(sb) <= 2:
                if len(sb) == 2 and gz.ndim > 2:  # batch @ matrix: one big GEMM
                    gb = _rows(a2).T @ _rows(gz)
                else:
                    gb = xp.matmul(_swap(a2), gz)
            else:
                gb = xp.matmul(_swap(a2), gz)
            gb = unbroadcast(gb, sb + (1,) if len(sb) == 1 else sb).reshape(sb)
        return ga, gb


class Linear(Function):
    """y = x W^T + b, x of shape (*, in), W (out, in), b (out,): one node for the affine map."""

    fresh_grads = True  # every gradient below is a new GEMM/GEMV result

    def forward(self, x, w, b=None):
        if x.shape[-1] != w.shape[1]:
            raise OpError(f"linear: expected input (*, {w.shape[1]}) for a weight of shape "
                          f"{w.shape}, got {x.shape}")
        nx, nw = self.needs_input_grad[:2]
        self.save(x if nw else None, w if nx else None)
        self.xshape = x.shape
        with blas_for(x.size * w.shape[0]):  # all threads for big GEMMs (chainrule.parallel)
            y = x @ w.T
        if b is not None:
            y += b
        return y

    def backward(self, gy):
        xp = np if type(gy) is np.ndarray else get_array_module(gy)
        x, w = self.saved
        needs = self.needs_input_grad
        g2 = _rows(gy)
        with blas_for(g2.size * self.xshape[-1]):
            # dL/dx = dL/dy W (for one output an outer product: a broadcast multiply is 3x faster
            # than NumPy's GEMM with an inner dimension of 1)
            gx = ((g2 * w if w.shape[0] == 1 else g2 @ w).reshape(self.xshape)
                  if needs[0] else None)
            gw = g2.T @ _rows(x) if needs[1] else None  # dL/dW = dL/dy^T x
        if len(needs) == 2:
            return gx, gw
        gb = xp.ones(g2.shape[0], g2.dtype) @ g2 if needs[2] else None  # dL/db = sum_rows dL/dy
        return gx, gw, gb


def matmul(a, b):
    """Matrix product with NumPy/PyTorch broadcasting rules."""
    a, b = binary_operands(a, b)
    return MatMul.apply(a, b)


def mm(a, b):
    """2-D matrix product."""
    if a.ndim != 2 or b.ndim != 2:
        raise OpError(f"mm: expected two 2-D tensors, got shapes {tuple(a.shape)} and "
                      f"{tuple(b.shape)}")
    return MatMul.apply(a, b)


def bmm(a, b):
    """Batched product of (B, n, k) and (B, k, m)."""
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise OpError(f"bmm: expected (B, n, k) and (B, k, m), got {tuple(a.shape)} and "
                      f"{tuple(b.shape)}")
    return MatMul.apply(a, b)


def dot(a, b):
    """Inner product of two 1-D tensors."""
    if a.ndim != 1 or b.ndim != 1:
        raise OpError(f"dot: expected two 1-D tensors, got shapes {tuple(a.shape)} and "
                      f"{tuple(b.shape)}")
    return MatMul.apply(a, b)


def linear(x, weight, bias=None):
    """y = x W^T + b (notes 1.2: h_l = W_l h_{l-1} + b_l for a batch of row vectors).

    Shapes: x (*, in), weight (out, in), bias (out,) or None -> y (*, out). Integer inputs take
    the weight's float dtype (a float beats an integer, as PyTorch's promotion).
    """
    from ..tensor import Tensor

    if (isinstance(x, Tensor) and isinstance(weight, Tensor) and x.data.dtype.kind in "biu"
            and weight.data.dtype.kind == "f"):
        from .elementwise import cast

        x = cast(x, weight.data.dtype)
    if bias is None:
        return Linear.apply(x, weight)
    return Linear.apply(x, weight, bias)
