"""Loss modules: CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss, MSELoss, L1Loss,
SmoothL1Loss, HuberLoss, KLDivLoss.

Each holds its settings (and class weights as buffers) and its ``forward`` is one call to the
fused functional loss of ``chainrule.ops.loss`` (hand-derived backward there). Constructor
arguments follow PyTorch, including the deprecated ``size_average`` / ``reduce`` pair, which is
translated to ``reduction`` with a warning.

Example::

    >>> criterion = CrossEntropyLoss()
    >>> loss = criterion(model(x), y)      # scores (N, C), class indices (N,) -> scalar
    >>> loss.backward()                    # d loss / d scores = (softmax - onehot) / N
"""
from __future__ import annotations

import numbers
import warnings

from ..ops import loss as F
from .module import Module

_REDUCTIONS = ("mean", "sum", "none")


def _number(loss, name, v):
    """``v`` if it is a real number, else a TypeError naming the loss and the argument."""
    if not isinstance(v, numbers.Real) or isinstance(v, bool):
        raise TypeError(f"{loss}: {name} must be a number, got {v!r}")
    return v


def _legacy_reduction(size_average, reduce):
    """PyTorch's rule for the deprecated flags: reduce=False -> 'none'; else size_average=False
    -> 'sum'; else 'mean' (None counts as True)."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


class _Loss(Module):
    """Base of the loss modules: keeps and checks ``reduction``."""

    _allowed = _REDUCTIONS

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        name = type(self).__name__
        if size_average is not None or reduce is not None:
            reduction = _legacy_reduction(size_average, reduce)
            warnings.warn(f"{name}: size_average and reduce are deprecated; use "
                          f"reduction={reduction!r} instead", DeprecationWarning, stacklevel=3)
        if not isinstance(reduction, str) or reduction not in self._allowed:
            raise ValueError(f"{name}: reduction must be one of "
                             f"{', '.join(map(repr, self._allowed))}, got {reduction!r}")
        self.reduction = reduction

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    """A loss with optional class weights, kept as the buffer ``weight`` (saved in state_dict,
    converted by ``to(dtype)``)."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)

    def extra_repr(self):
        s = super().extra_repr()
        if self.weight is not None:
            s += f", weight=<{tuple(self.weight.shape)}>"
        return s


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy (notes 2.2): -log p_y with p = softmax(scores) along dim 1.

    One fused op; its gradient with respect to the scores is (p - Y) w_y / normalizer, minus the
    notes' error e = Y - p. See :func:`chainrule.ops.loss.cross_entropy` for the weighted,
    smoothed and probability-target forms.

    Args:
        weight: optional (C,) class weights (a buffer; no gradient).
        ignore_index: class-index target value that adds nothing and is left out of the mean.
        reduction: 'mean' (weighted mean over counted targets) | 'sum' | 'none'.
        label_smoothing: eps in [0, 1], mixing the target with the uniform distribution.

    Shape:
        input (C,), (N, C) or (N, C, d1, ...); target class indices (), (N,) or (N, d1, ...)
        (int64), or class probabilities of the input's shape; output a scalar, or the
        target's shape (N, d1, ...) for 'none'.

    Example::

        >>> CrossEntropyLoss()(cr.randn(8, 10), cr.randint(0, 10, (8,)))
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean", label_smoothing=0.0):
        super().__init__(weight, size_average, reduce, reduction)
        _number("CrossEntropyLoss", "label_smoothing", label_smoothing)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got "
                             f"{label_smoothing}")
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)

    def extra_repr(self):
        s = super().extra_repr()
        if self.ignore_index != -100:
            s += f", ignore_index={self.ignore_index}"
        if self.label_smoothing:
            s += f", label_smoothing={self.label_smoothing}"
        return s


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities: -w_y input_y (notes 2.2).

    Use after LogSoftmax(dim=1); LogSoftmax + NLLLoss equals CrossEntropyLoss.

    Args:
        weight: optional (C,) class weights; ignore_index, reduction as CrossEntropyLoss.

    Shape:
        input (C,), (N, C) or (N, C, d1, ...) log-probabilities; target (), (N,) or (N, d1, ...)
        class indices; output a scalar, or the target's shape for 'none'.
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)

    def extra_repr(self):
        s = super().extra_repr()
        return s + (f", ignore_index={self.ignore_index}" if self.ignore_index != -100 else "")


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities: -w [y log p + (1 - y) log(1 - p)] (notes 1.1),
    logs clamped at -100.

    Args:
        weight: optional weights broadcasting to the input's shape (a buffer).

    Shape: input (*) probabilities in [0, 1], target (*) the same shape; output a scalar, or (*)
    for 'none'. For scores use BCEWithLogitsLoss, which is stable for any score.
    """

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Logistic loss on scores A (notes 1.1): log(1 + exp(A)) - y A, computed stably as
    max(A, 0) - A y + log1p(exp(-|A|)); gradient sigmoid(A) - y (minus the notes' error y - p).

    Args:
        weight: optional weights broadcasting to the input's shape (a buffer).
        pos_weight: optional weight of the positive term, broadcasting to the input's shape,
            usually (C,) (a buffer): l = -w [pw y log p + (1 - y) log(1 - p)].

    Shape: input (*) scores, target (*) the same shape; output a scalar, or (*) for 'none'.

    Example::

        >>> BCEWithLogitsLoss(pos_weight=cr.ones(3) * 2)(cr.randn(4, 3), cr.rand(4, 3))
    """

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean",
                 pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)

    def extra_repr(self):
        s = super().extra_repr()
        if self.weight is not None:
            s += f", weight=<{tuple(self.weight.shape)}>"
        if self.pos_weight is not None:
            s += f", pos_weight=<{tuple(self.pos_weight.shape)}>"
        return s


class MSELoss(_Loss):
    """Squared error (x - y)^2, the least-squares loss of notes 2.2 (gradient -2 e, e = y - x).

    Shape: input (*), target (*) the same shape (no broadcasting); output a scalar, or (*) for
    'none'.
    """

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Absolute error |x - y| (gradient sign(x - y)). Shapes as MSELoss."""

    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """0.5 d^2 / beta for |d| < beta, else |d| - 0.5 beta, with d = x - y. Shapes as MSELoss.

    Args:
        beta: where the quadratic part turns linear (>= 0; 0 gives L1Loss).
    """

    def __init__(self, size_average=None, reduce=None, reduction="mean", beta=1.0):
        super().__init__(size_average, reduce, reduction)
        if _number("SmoothL1Loss", "beta", beta) < 0:
            raise ValueError(f"SmoothL1Loss: beta must be >= 0, got {beta}")
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)

    def extra_repr(self):
        return super().extra_repr() + f", beta={self.beta}"


class HuberLoss(_Loss):
    """0.5 d^2 for |d| < delta, else delta (|d| - 0.5 delta), with d = x - y. Shapes as MSELoss.

    Args:
        delta: where the quadratic part turns linear (> 0).
    """

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction=reduction)
        if _number("HuberLoss", "delta", delta) <= 0:
            raise ValueError(f"HuberLoss: delta must be > 0, got {delta}")
        self.delta = delta

    def forward(self, input, target):
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)

    def extra_repr(self):
        return super().extra_repr() + f", delta={self.delta}"


class KLDivLoss(_Loss):
    """Kullback-Leibler divergence t (log t - input) with input = log q (log-probabilities).

    Args:
        reduction: 'mean' (over all elements, as PyTorch) | 'batchmean' (sum / N, the KL
            divergence per example) | 'sum' | 'none'.
        log_target: the target holds log t instead of t.

    Shape: input (*), target (*) the same shape; output a scalar, or (*) for 'none'.
    """

    _allowed = _REDUCTIONS + ("batchmean",)

    def __init__(self, size_average=None, reduce=None, reduction="mean", log_target=False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input, target):
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)

    def extra_repr(self):
        s = super().extra_repr()
        return s + (", log_target=True" if self.log_target else "")
