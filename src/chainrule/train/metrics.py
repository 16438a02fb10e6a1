"""Metrics of a classifier's outputs, and a running average over mini-batches.

Two kinds of classifier outputs are understood:

- logits of shape (N, C) for C classes (softmax layer, notes 2.2): the prediction is
  argmax_c of row i, compared with an integer target y_i in {0, ..., C-1};
- one logit per example, shape (N,) or (N, 1) (the two-layer perceptron, notes 1.1:
  p_i = sigmoid(A_i)): the prediction is 1 when A_i > 0 (p_i > 1/2), compared with y_i in {0, 1}.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor


def _array(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def correct_count(output, target) -> int:
    """The number of examples whose predicted class equals the target.

    Args:
        output: logits (N, C), or binary logits (N,) / (N, 1).
        target: (N,) integer classes, or (N,) / (N, 1) labels in {0, 1} for binary logits.

    Example:
        >>> correct_count(cr.tensor([[2., 1.], [0., 3.]]), cr.tensor([0, 0]))
        1
    """
    out, tgt = _array(output), _array(target)
    n = out.shape[0] if out.ndim else 0
    if out.ndim == 2 and out.shape[1] > 1:
        if tgt.shape != (n,):
            raise ValueError(f"accuracy: logits (N, C) = {out.shape} need targets of shape "
                             f"({n},), got {tgt.shape}")
        return int(np.count_nonzero(out.argmax(axis=1) == tgt))
    if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
        out, tgt = out.reshape(-1), tgt.reshape(-1)
        if tgt.shape != out.shape:
            raise ValueError(f"accuracy: binary logits of shape {_array(output).shape} need "
                             f"{n} targets, got shape {_array(target).shape}")
        return int(np.count_nonzero((out > 0) == (tgt > 0.5)))
    raise ValueError(f"accuracy: expected logits of shape (N, C) or (N,), got {out.shape}")


def accuracy(output, target) -> float:
    """The fraction of correctly classified examples (see :func:`correct_count`)."""
    n = _array(output).shape[0]
    return correct_count(output, target) / n if n else float("nan")


class RunningMean:
    """The mean of per-batch values weighted by batch size: sum_b n_b v_b / sum_b n_b.

    Example:
        >>> m = RunningMean(); m.update(1.0, 3); m.update(3.0, 1); m.value
        1.5
    """

    def __init__(self):
        self.total = 0.0
        self.count = 0

    def update(self, value: float, n: int = 1) -> None:
        self.total += float(value) * n
        self.count += n

    @property
    def value(self) -> float:
        return self.total / self.count if self.count else float("nan")
