"""Loss functions, each one fused Function with a hand-derived backward, stable for large inputs.

The classification losses are negative log-likelihoods (notes 1.1 and 2.2), so their gradient with
respect to the scores is minus the notes' error e = Y - p ("learn from errors"):

- softmax cross-entropy (notes 2.2): L = -log p_y with p = softmax(s), so dL/ds = p - Y = -e;
- logistic loss (notes 1.1): L = log(1 + exp(A)) - y A, so dL/dA = sigmoid(A) - y = -(y - p);
- least squares (notes 2.2): L = ||y - h||^2, so dL/dh = -2 (y - h) = -2 e.

Every function takes ``reduction`` in {'mean', 'sum', 'none'} as in PyTorch: 'none' returns the
per-element losses l_i, 'sum' returns sum_i l_i, 'mean' returns sum_i l_i / n (for weighted
cross-entropy and nll_loss n is the sum of the weights of the counted targets, as in PyTorch).
Weights (``weight``, ``pos_weight``) are constants that get no gradient: PyTorch's fused losses
refuse a weight that requires grad, and here every loss does (cross-entropy with probability
targets included, where PyTorch's composite would differentiate it). Targets get gradients where
PyTorch gives them (probability targets, bce, mse, l1, smooth_l1, huber, kl_div).
"""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..backend import get_array_module
from ..autograd.grad_mode import _State
from ._util import OpError, OpIndexError, OpTypeError

_REDUCTIONS = ("mean", "sum", "none")


# ---- argument checks ---------------------------------------------------------------------------
def _check_reduction(fn, reduction, allowed=_REDUCTIONS):
    if not isinstance(reduction, str) or reduction not in allowed:
        raise OpError(f"{fn}: reduction must be one of {', '.join(map(repr, allowed))}, got "
                      f"{reduction!r}")


def _check_tensor(fn, name, t, floating=True):
    from ..tensor import Tensor

    if not isinstance(t, Tensor):
        raise OpTypeError(f"{fn}: expected {name} to be a Tensor, got {type(t).__name__}")
    if floating and t.dtype.kind != "f":
        raise OpTypeError(f"{fn}: expected {name} of a floating-point dtype, got {t.dtype}")


def _check_same_shape(fn, input, target):
    if input.shape != target.shape:
        raise OpError(f"{fn}: expected target of the input's shape {tuple(input.shape)}, got "
                      f"{tuple(target.shape)} (no broadcasting: PyTorch warns and broadcasts, "
                      f"chainrule asks for equal shapes)")


def _constant(fn, name, t, input):
    """The raw array of a weight tensor (a constant of the loss), in the input's dtype."""
    if t is None:
        return None
    _check_tensor(fn, name, t)
    if t.requires_grad and _State.enabled:
        raise OpError(f"{fn}: {name} requires grad, but the loss is not differentiable with "
                      f"respect to {name} (as in PyTorch); pass {name}.detach()")
    return t.data.astype(input.dtype, copy=False)


def _check_broadcasts_to(fn, name, arr, shape):
    try:
        ok = np.broadcast_shapes(arr.shape, shape) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise OpError(f"{fn}: {name} of shape {arr.shape} does not broadcast to the input's shape "
                      f"{tuple(shape)}")


def _check_in_unit_interval(fn, name, t):
    a = t.data
    if a.size and (a.min() < 0 or a.max() > 1):
        raise OpError(f"{fn}: all elements of {name} should be between 0 and 1, got values in "
                      f"[{float(a.min()):.6g}, {float(a.max()):.6g}]")


def _check_class_targets(fn, input, target, ignore_index):
    """Check class indices: integers of shape (N, d1, ...) for input (N, C, d1, ...), in [0, C)."""
    if target.dtype.kind not in "iu":
        raise OpTypeError(f"{fn}: expected class indices of an integer dtype (int64), got "
                          f"{target.dtype}")
    expected = (input.shape[0],) + tuple(input.shape[2:]) if input.ndim >= 2 else ()
    if tuple(target.shape) != expected:
        raise OpError(f"{fn}: expected target of shape {expected} (class indices) for input of "
                      f"shape {tuple(input.shape)}, got {tuple(target.shape)}")
    C = input.shape[1] if input.ndim >= 2 else input.shape[0]
    y = target.data
    if y.size and (y.min() < 0 or y.max() >= C):
        bad = (y != ignore_index) & ((y < 0) | (y >= C))
        if bad.any():
            raise OpIndexError(f"{fn}: target class index {int(y[bad].ravel()[0])} is out of range "
                               f"[0, {C}) for {C} classes (ignore_index={ignore_index})")
    return C


def _check_class_input(fn, input):
    _check_tensor(fn, "input", input)
    if input.ndim < 1:
        raise OpError(f"{fn}: expected input of shape (C,), (N, C) or (N, C, d1, ...), got a 0-d "
                      f"tensor of shape {tuple(input.shape)}")


def _check_class_weight(fn, weight, input, C):
    w = _constant(fn, "weight", weight, input)
    if w is not None and w.shape != (C,):
        raise OpError(f"{fn}: expected weight of shape ({C},) (one per class), got {w.shape}")
    return w


# ---- reduction ---------------------------------------------------------------------------------
def _reduce(l, reduction, norm):
    """'none': the per-element losses l; 'sum': sum l; 'mean' (and 'batchmean'): sum l / norm."""
    if reduction == "none":
        return l
    total = l.sum(dtype=l.dtype)
    if reduction != "sum":
        total = total / norm if norm else total * np.nan  # a mean over nothing is nan (PyTorch)
    xp = np if type(l) is np.ndarray else get_array_module(l)
    return xp.asarray(total, dtype=l.dtype)


def _scale(g, reduction, norm):
    """dL/dl_i: the incoming gradient g, divided by the normalizer for a mean (0 over nothing,
    as PyTorch)."""
    if reduction in ("none", "sum"):
        return g
    return g / norm if norm else g * 0


def _col(v):
    """v as a column (M, 1) for a per-row array, unchanged for a scalar."""
    return v[:, None] if getattr(v, "ndim", 0) else v


def _rows(a):
    """(N, C, d1, ...) -> (N * d1 * ..., C): one row per classified item, classes last."""
    xp = np if type(a) is np.ndarray else get_array_module(a)
    if a.ndim == 2:
        return a
    if a.ndim == 1:
        return a[None]
    return xp.moveaxis(a, 1, -1).reshape(-1, a.shape[1])


def _unrows(g, shape):
    """The inverse of :func:`_rows`: (M, C) back to ``shape`` (classes in dim 1)."""
    xp = np if type(g) is np.ndarray else get_array_module(g)
    if len(shape) == 2:
        return g
    if len(shape) == 1:
        return g[0]
    return xp.moveaxis(g.reshape((shape[0],) + tuple(shape[2:]) + (shape[1],)), -1, 1)


def _pick_targets(target, ignore_index):
    """Flat class indices y (M,), with ignored ones set to 0, and the mask of counted rows
    (None when every row counts)."""
    xp = np if type(target) is np.ndarray else get_array_module(target)
    y = target.reshape(-1)
    valid = y != ignore_index
    if valid.all():
        return y, None
    return xp.where(valid, y, 0), valid


# ---- softmax cross-entropy (notes 2.2) ---------------------------------------------------------
class CrossEntropy(Function):
    """Fused log_softmax + negative log-likelihood along the class dim 1 of s (N, C, d1, ...).

    log p = s - m - log sum_c exp(s_c - m) with m = max_c s_c, so no exp overflows.
    With per-class target weights q_c (see :func:`cross_entropy`), l = -sum_c q_c log p_c and
    dl/ds = p sum_c q_c - q. For a class index y without smoothing or weights q = Y (one-hot) and
    dl/ds = p - Y = -e: the notes' error e_i = Y_i - p_i (the gradient of the log-likelihood) with
    the sign of a loss to minimize. Works on rows (M, C), M = N * d1 * ...
    """

    def forward(self, s, target, weight=None, ignore_index=-100, reduction="mean",
                label_smoothing=0.0, probs=False):
        xp = np if type(s) is np.ndarray else get_array_module(s)
        self.shape = s.shape
        out_shape = s.shape[:1] + s.shape[2:] if s.ndim > 1 else ()  # shape of the 'none' loss
        s2 = _rows(s)
        M, C = s2.shape
        eps = float(label_smoothing)
        sh = s2 - s2.max(axis=1, keepdims=True)  # shift by the max: exp(sh) <= 1
        e = xp.exp(sh)
        se = e.sum(axis=1, keepdims=True)
        logp = sh - xp.log(se)  # log p = s - logsumexp(s)
        need_s, need_t = self.needs_input_grad[:2]
        if probs:
            t = _rows(target).astype(s.dtype, copy=False)
            q = t * (1 - eps) + eps / C if eps else t  # mix with the uniform distribution
            if weight is not None:
                q = q * weight
            l = -(q * logp).sum(axis=1)  # l = -sum_c q_c log p_c
            norm = float(M)  # 'mean' divides by the number of rows
            self.save(e / se if need_s else None, q if need_s else None,
                      logp if need_t else None, weight)
        else:
            y, valid = _pick_targets(target, ignore_index)
            rows = xp.arange(M)
            lp_y = logp[rows, y]  # log p_y
            wy = None if weight is None else weight[y]  # w_y
            l = -(1 - eps) * lp_y if wy is None else -(1 - eps) * wy * lp_y
            if eps:  # smoothing term: -(eps / C) sum_c w_c log p_c
                l = l - (eps / C) * (logp.sum(axis=1) if weight is None else logp @ weight)
            if valid is not None:
                l = xp.where(valid, l, 0).astype(s.dtype, copy=False)  # ignored rows add 0
                norm = float(valid.sum() if wy is None else wy @ valid)  # sum of counted w_y
            else:
                norm = float(M if wy is None else wy.sum())
            self.save(e / se if need_s else None, y, valid, wy, weight)
        self.meta = (reduction, norm, eps, probs, out_shape)
        if reduction == "none":
            return l.reshape(out_shape)
        return _reduce(l, reduction, norm)

    def backward(self, g):
        xp = np if type(g) is np.ndarray else get_array_module(g)
        reduction, norm, eps, probs, out_shape = self.meta
        r = _scale(g, reduction, norm)  # dL/dl_i: a scalar, or one per row for 'none'
        if reduction == "none":
            r = r.reshape(-1)
        gs = gt = None
        if probs:
            p, q, logp, w = self.saved
            rr = r[:, None] if r.ndim else r
            if p is not None:
                gs = rr * (p * q.sum(axis=1, keepdims=True) - q)  # dl/ds = p sum_c q_c - q
            if logp is not None:
                wlogp = logp if w is None else logp * w
                gt = _unrows(-(1 - eps) * rr * wlogp, self.shape)  # dl/dt_c = -(1-eps) w_c log p_c
        else:
            p, y, valid, wy, w = self.saved
            M, C = p.shape
            if valid is not None:
                r = r * valid  # ignored rows get no gradient
            rw = r if wy is None else r * wy  # r w_y (a scalar or one per row)
            # dl/ds = p sum_c q_c - q with q = (1 - eps) w_y Y + (eps / C) w, so
            # sum_c q_c = (1 - eps) w_y + (eps / C) sum_c w_c
            if eps:
                wsum = C if w is None else float(w.sum())
                gs = p * _col((1 - eps) * rw + (eps * wsum / C) * r)
                gs -= (eps / C) * (_col(r) if w is None else _col(r) * w)
            else:
                gs = p * _col(rw)
            # the one-hot part at the target: dl/ds_y -= (1 - eps) w_y   (p - Y = -e)
            gs[xp.arange(M), y] -= (1 - eps) * rw
        if gs is not None:
            gs = _unrows(gs, self.shape)
        return gs, gt


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Softmax cross-entropy between scores ``input`` and targets (notes 2.2), as one fused op.

    p = softmax(s) along the class dim 1; for a class index y the loss of one row is the negative
    log-likelihood l = -log p_y. Its gradient is dl/ds = p - Y (Y the one-hot of y): the notes'
    error e = Y - p is the gradient of the log-likelihood log p_y, and a loss to minimize takes
    its negative.

    Targets are either class indices (an integer tensor) or class probabilities (a floating
    tensor of the input's shape). With weights w_c, smoothing eps and C classes a row's loss is

    - indices: l = -(1 - eps) w_y log p_y - (eps / C) sum_c w_c log p_c (0 where y = ignore_index);
      'mean' divides the sum by sum_i w_{y_i} over the targets not ignored (their count without
      weights), as PyTorch;
    - probabilities t: l = -sum_c w_c t'_c log p_c with t' = (1 - eps) t + eps / C; 'mean'
      divides by the number of rows N * d1 * ... ; ignore_index does not apply.

    Args:
        input: scores s of shape (C,), (N, C) or (N, C, d1, ...) (floating).
        target: class indices of shape (), (N,) or (N, d1, ...) in [0, C), or probabilities of
            the input's shape.
        weight: optional (C,) class weights (a constant: no gradient, as in PyTorch).
        ignore_index: index target value whose rows add 0 and are left out of the mean.
        reduction: 'mean' | 'sum' | 'none' (per-row losses, of the target's shape for indices).
        label_smoothing: eps in [0, 1]: mixes the target with the uniform distribution.

    Example:
        >>> s = chainrule.tensor([[2.0, 0.0, -1.0]], requires_grad=True)
        >>> cross_entropy(s, chainrule.tensor([0])).backward()   # s.grad = softmax(s) - [1, 0, 0]
    """
    fn = "cross_entropy"
    _check_class_input(fn, input)
    _check_tensor(fn, "target", target, floating=False)
    _check_reduction(fn, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise OpError(f"{fn}: label_smoothing must be in [0, 1], got {label_smoothing}")
    C = input.shape[1] if input.ndim >= 2 else input.shape[0]
    kind = target.dtype.kind
    if kind == "f":
        if target.shape != input.shape:
            raise OpError(f"{fn}: a floating-point target is read as class probabilities and must "
                          f"have the input's shape {tuple(input.shape)}, got "
                          f"{tuple(target.shape)}; for class indices pass an integer (int64) "
                          f"tensor")
    elif kind in "iu":
        _check_class_targets(fn, input, target, ignore_index)
    else:
        raise OpTypeError(f"{fn}: expected target of class indices (int64) or class "
                          f"probabilities (floating), got dtype {target.dtype}")
    w = _check_class_weight(fn, weight, input, C)
    return CrossEntropy.apply(input, target, weight=w, ignore_index=ignore_index,
                              reduction=reduction, label_smoothing=float(label_smoothing),
                              probs=kind == "f")


# ---- negative log-likelihood on log-probabilities ----------------------------------------------
class NLL(Function):
    """l = -w_y x_y for log-probabilities x (N, C, d1, ...) and class indices y (N, d1, ...).

    dl/dx = -w_y Y (Y the one-hot of y): the gradient is scattered to the target index.
    """

    def forward(self, x, target, weight=None, ignore_index=-100, reduction="mean"):
        xp = np if type(x) is np.ndarray else get_array_module(x)
        self.shape, self.dtype = x.shape, x.dtype
        x2 = _rows(x)
        M = x2.shape[0]
        y, valid = _pick_targets(target, ignore_index)
        x_y = x2[xp.arange(M), y]
        wy = None if weight is None else weight[y]
        l = -x_y if wy is None else -wy * x_y
        if valid is not None:
            l = xp.where(valid, l, 0).astype(x.dtype, copy=False)  # ignored rows add 0
            norm = float(valid.sum() if wy is None else wy @ valid)
        else:
            norm = float(M if wy is None else wy.sum())
        self.save(y, valid, wy)
        self.meta = (reduction, norm)
        if reduction == "none":
            return l.reshape(target.shape)
        return _reduce(l, reduction, norm)

    def backward(self, g):
        xp = np if type(g) is np.ndarray else get_array_module(g)
        y, valid, wy = self.saved
        reduction, norm = self.meta
        r = _scale(g, reduction, norm)
        M = y.shape[0]
        if r.ndim:
            r = r.reshape(-1)
        if valid is not None:
            r = r * valid
        if wy is not None:
            r = r * wy
        gx = xp.zeros((M, self.shape[1] if len(self.shape) > 1 else self.shape[0]), self.dtype)
        gx[xp.arange(M), y] = -r  # dl/dx_y = -w_y (divided by the normalizer for a mean)
        return _unrows(gx, self.shape), None


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood -sum_i w_{y_i} log p(y_i | X_i) of log-probabilities (notes 2.2).

    ``input`` holds log-probabilities (e.g. from log_softmax) of shape (C,), (N, C) or
    (N, C, d1, ...); ``target`` class indices of shape (), (N,) or (N, d1, ...). A row's loss is
    l = -w_y input_y (0 where y = ignore_index); 'mean' divides the sum by the sum of w_{y_i} over
    the targets not ignored, as PyTorch. cross_entropy(s, y) == nll_loss(log_softmax(s, 1), y).

    Example:
        >>> nll_loss(chainrule.tensor([[-0.1, -2.3]]), chainrule.tensor([0]))   # tensor(0.1000)
    """
    fn = "nll_loss"
    _check_class_input(fn, input)
    _check_tensor(fn, "target", target, floating=False)
    _check_reduction(fn, reduction)
    C = _check_class_targets(fn, input, target, ignore_index)
    w = _check_class_weight(fn, weight, input, C)
    return NLL.apply(input, target, weight=w, ignore_index=ignore_index, reduction=reduction)


# ---- binary cross-entropy (notes 1.1) ----------------------------------------------------------
class BCE(Function):
    """l = -w [y log x + (1 - y) log(1 - x)] on probabilities x, each log clamped at -100.

    dl/dx = w (x - y) / (x (1 - x)) (denominator clamped at 1e-12, as PyTorch);
    dl/dy = w (log(1 - x) - log x).
    """

    def forward(self, x, y, weight=None, reduction="mean"):
        xp = np if type(x) is np.ndarray else get_array_module(x)
        with np.errstate(divide="ignore"):
            lx = xp.maximum(xp.log(x), -100)  # log x, clamped so x = 0 gives a finite loss
            l1x = xp.maximum(xp.log1p(-x), -100)  # log(1 - x), clamped
        l = -(y * lx + (1 - y) * l1x)
        if weight is not None:
            l = l * weight
        need_x, need_y = self.needs_input_grad
        self.save(x if need_x else None, y if need_x else None,
                  (l1x - lx) if need_y else None, weight)
        self.meta = (reduction, float(l.size))
        return _reduce(l, reduction, l.size)

    def backward(self, g):
        xp = np if type(g) is np.ndarray else get_array_module(g)
        x, y, dly, w = self.saved
        reduction, n = self.meta
        r = _scale(g, reduction, n)
        if w is not None:
            r = r * w
        gx = gy = None
        if x is not None:  # dl/dx = (x - y) / (x (1 - x))
            gx = r * (x - y) / xp.maximum(x * (1 - x), 1e-12)
        if dly is not None:  # dl/dy = log(1 - x) - log x
            gy = r * dly
        return gx, gy


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """Binary cross-entropy of probabilities (notes 1.1, Bernoulli log-likelihood with p = input).

    l_i = -w_i [y_i log p_i + (1 - y_i) log(1 - p_i)], each log clamped at -100 as PyTorch so
    p = 0 or 1 gives a finite loss. ``input`` and ``target`` have the same shape with values in
    [0, 1]; ``weight`` broadcasts to the input's shape. For scores prefer
    :func:`binary_cross_entropy_with_logits`, which is stable for any score.

    Example:
        >>> binary_cross_entropy(chainrule.tensor([0.9]), chainrule.tensor([1.0]))  # -log 0.9
    """
    fn = "binary_cross_entropy"
    _check_tensor(fn, "input", input)
    _check_tensor(fn, "target", target)
    _check_reduction(fn, reduction)
    _check_same_shape(fn, input, target)
    _check_in_unit_interval(fn, "input", input)
    _check_in_unit_interval(fn, "target", target)
    w = _constant(fn, "weight", weight, input)
    if w is not None:
        _check_broadcasts_to(fn, "weight", w, input.shape)
    return BCE.apply(input, target, weight=w, reduction=reduction)


class BCEWithLogits(Function):
    """Logistic loss on scores A: l = w [(1 - y) A + (1 + (pw - 1) y) softplus(-A)].

    Without pos_weight this is the notes' (1.1) negative log-likelihood log(1 + exp(A)) - y A,
    computed as max(A, 0) - A y + log1p(exp(-|A|)) so that no exp overflows for large |A|.
    dl/dA = w [(1 - y) - (1 + (pw - 1) y) sigmoid(-A)], which is w (sigmoid(A) - y) = -w (y - p)
    when pw = 1 (the notes' error y_i - p_i with the sign of a loss).
    dl/dy = w [-A + (pw - 1) softplus(-A)].
    """

    def forward(self, x, y, weight=None, pos_weight=None, reduction="mean"):
        xp = np if type(x) is np.ndarray else get_array_module(x)
        e = xp.exp(-xp.abs(x))  # in (0, 1]: never overflows
        log1pe = np.log1p(e)
        need_x, need_y = self.needs_input_grad
        if pos_weight is None:
            l = xp.maximum(x, 0) - x * y + log1pe  # log(1 + exp(A)) - y A
            spn = None
        else:
            spn = xp.maximum(-x, 0) + log1pe  # softplus(-A) = -log sigmoid(A)
            l = (1 - y) * x + (1 + (pos_weight - 1) * y) * spn
        if weight is not None:
            l = l * weight
        sig_neg = None
        if need_x:  # sigmoid(-A) = 1 - p, from e = exp(-|A|) without overflow
            sig_neg = xp.where(x >= 0, e, 1) / (1 + e)
        self.save(x if need_y else None, y if need_x else None, sig_neg,
                  spn if need_y else None, weight, pos_weight)
        self.meta = (reduction, float(l.size))
        return _reduce(l, reduction, l.size)

    def backward(self, g):
        x, y, sig_neg, spn, w, pw = self.saved
        reduction, n = self.meta
        r = _scale(g, reduction, n)
        if w is not None:
            r = r * w
        gx = gy = None
        if sig_neg is not None:
            if pw is None:
                gx = r * ((1 - sig_neg) - y)  # dl/dA = sigmoid(A) - y = -(y - p)
            else:
                gx = r * ((1 - y) - (1 + (pw - 1) * y) * sig_neg)  # (1-y) - (1+(pw-1)y) sig(-A)
        if x is not None:
            gy = -r * x if pw is None else r * ((pw - 1) * spn - x)  # dl/dy = -A + (pw-1) sp(-A)
        return gx, gy


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """Logistic loss on scores (notes 1.1), stable for scores of any size.

    With p = sigmoid(A) the notes' log-likelihood of y in {0, 1} is
    log P = sum_i [y_i A_i - log(1 + exp(A_i))]; the loss is its negative, per element
    l_i = w_i [max(A_i, 0) - A_i y_i + log1p(exp(-|A_i|))], whose gradient is
    dl/dA_i = w_i (p_i - y_i) (the notes' error y_i - p_i, negated for a loss to minimize).
    ``pos_weight`` (broadcast to the input's shape, usually (C,)) multiplies the positive term:
    l = -w [pw y log p + (1 - y) log(1 - p)]. Targets may be soft (in [0, 1]).

    Args:
        input: scores A, any shape; target: the same shape (floating).
        weight, pos_weight: optional constants broadcasting to the input's shape.
        reduction: 'mean' | 'sum' | 'none'.

    Example:
        >>> binary_cross_entropy_with_logits(chainrule.tensor([1e4]), chainrule.tensor([0.0]))
        tensor(10000.)
    """
    fn = "binary_cross_entropy_with_logits"
    _check_tensor(fn, "input", input)
    _check_tensor(fn, "target", target)
    _check_reduction(fn, reduction)
    _check_same_shape(fn, input, target)
    w = _constant(fn, "weight", weight, input)
    pw = _constant(fn, "pos_weight", pos_weight, input)
    if w is not None:
        _check_broadcasts_to(fn, "weight", w, input.shape)
    if pw is not None:
        _check_broadcasts_to(fn, "pos_weight", pw, input.shape)
    return BCEWithLogits.apply(input, target, weight=w, pos_weight=pw, reduction=reduction)


# ---- regression losses: functions of the residual d = x - y ------------------------------------
class _ResidualLoss(Function):
    """l = f(d) with d = x - y elementwise; dl/dx = f'(d) and dl/dy = -f'(d).

    A subclass defines ``kernel(d, **params)`` returning (f(d), f'(d)).
    """

    def forward(self, x, y, reduction="mean", **params):
        l, df = self.kernel(x - y, **params)
        self.save(df if any(self.needs_input_grad) else None)
        self.meta = (reduction, float(l.size))
        return _reduce(l, reduction, l.size)

    def backward(self, g):
        (df,) = self.saved
        reduction, n = self.meta
        gx = _scale(g, reduction, n) * df  # dl/dx = f'(x - y)
        need_x, need_y = self.needs_input_grad
        return (gx if need_x else None), (-gx if need_y else None)  # dl/dy = -f'(x - y)


class MSE(_ResidualLoss):
    """Least squares (notes 2.2): l = (x - y)^2, dl/dx = 2 (x - y) = -2 e."""

    @staticmethod
    def kernel(d):
        return d * d, 2 * d


class L1(_ResidualLoss):
    """l = |x - y|, dl/dx = sign(x - y) (0 at 0)."""

    @staticmethod
    def kernel(d):
        xp = np if type(d) is np.ndarray else get_array_module(d)
        return xp.abs(d), xp.sign(d)


class SmoothL1(_ResidualLoss):
    """l = 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta; dl/dd = d / beta or sign(d)."""

    @staticmethod
    def kernel(d, beta):
        xp = np if type(d) is np.ndarray else get_array_module(d)
        ad = xp.abs(d)
        if beta == 0:  # the quadratic part vanishes: plain L1
            return ad, xp.sign(d)
        small = ad < beta
        l = xp.where(small, (0.5 / beta) * d * d, ad - 0.5 * beta)
        return l, xp.where(small, d / beta, xp.sign(d))


class Huber(_ResidualLoss):
    """l = 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta); dl/dd = clip(d, +-delta)."""

    @staticmethod
    def kernel(d, delta):
        xp = np if type(d) is np.ndarray else get_array_module(d)
        ad = xp.abs(d)
        l = xp.where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta))
        return l, xp.clip(d, -delta, delta)


def _residual_checks(fn, input, target, reduction):
    _check_tensor(fn, "input", input)
    _check_tensor(fn, "target", target)
    _check_reduction(fn, reduction)
    _check_same_shape(fn, input, target)


def mse_loss(input, target, reduction="mean"):
    """Mean squared error, the least-squares loss of notes 2.2: l_i = (x_i - y_i)^2.

    dl/dx_i = 2 (x_i - y_i) = -2 e_i (e = y - x, the notes' error). Shapes must be equal.

    Example:
        >>> mse_loss(chainrule.tensor([1.0, 2.0]), chainrule.tensor([0.0, 0.0]))   # tensor(2.5)
    """
    _residual_checks("mse_loss", input, target, reduction)
    return MSE.apply(input, target, reduction=reduction)


def l1_loss(input, target, reduction="mean"):
    """Mean absolute error l_i = |x_i - y_i|; dl/dx_i = sign(x_i - y_i). Shapes must be equal."""
    _residual_checks("l1_loss", input, target, reduction)
    return L1.apply(input, target, reduction=reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """Smooth L1: l = 0.5 d^2 / beta for |d| < beta, else |d| - 0.5 beta (d = x - y).

    Quadratic near 0, linear (gradient +-1) far away; beta = 0 is the L1 loss.
    """
    _residual_checks("smooth_l1_loss", input, target, reduction)
    if beta < 0:
        raise OpError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    return SmoothL1.apply(input, target, reduction=reduction, beta=float(beta))


def huber_loss(input, target, reduction="mean", delta=1.0):
    """Huber loss: l = 0.5 d^2 for |d| < delta, else delta (|d| - 0.5 delta) (d = x - y).

    Equals delta * smooth_l1_loss(beta=delta); its gradient is d clipped to [-delta, delta].
    """
    _residual_checks("huber_loss", input, target, reduction)
    if delta <= 0:
        raise OpError(f"huber_loss: delta must be > 0, got {delta}")
    return Huber.apply(input, target, reduction=reduction, delta=float(delta))


# ---- Kullback-Leibler divergence ---------------------------------------------------------------
class KLDiv(Function):
    """l = t (log t - x) (0 where t = 0), or with log_target l = exp(t) (t - x); x = log q.

    dl/dx = -t (or -exp(t)); dl/dt = log t + 1 - x (or exp(t) (t - x + 1)).
    """

    def forward(self, x, t, reduction="mean", log_target=False):
        xp = np if type(x) is np.ndarray else get_array_module(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            if log_target:
                et = xp.exp(t)
                l = et * (t - x)
                dt = et * (t - x + 1)
                dx = -et
            else:
                logt = xp.log(t)
                l = xp.where(t == 0, 0, t * logt) - t * x  # t log t is 0 at t = 0
                dt = logt + 1 - x
                dx = -t
        need_x, need_t = self.needs_input_grad
        self.save(dx if need_x else None, dt if need_t else None)
        n = x.shape[0] if reduction == "batchmean" and x.ndim else l.size
        self.meta = (reduction, float(n))
        return _reduce(l.astype(np.result_type(x.dtype, t.dtype), copy=False), reduction, n)

    def backward(self, g):
        dx, dt = self.saved
        reduction, n = self.meta
        r = _scale(g, reduction, n)
        return (None if dx is None else r * dx), (None if dt is None else r * dt)


def kl_div(input, target, reduction="mean", log_target=False):
    """Kullback-Leibler divergence KL(t || q) with ``input`` = log q (log-probabilities).

    Per element l = t (log t - input) (or exp(t) (t - input) when ``log_target``); summed over a
    distribution's classes it is sum_c t_c log(t_c / q_c). ``reduction``: 'mean' (over all
    elements, as PyTorch), 'batchmean' (sum / N: the KL divergence per example), 'sum', 'none'.
    Shapes must be equal.
    """
    fn = "kl_div"
    _check_tensor(fn, "input", input)
    _check_tensor(fn, "target", target)
    _check_reduction(fn, reduction, _REDUCTIONS + ("batchmean",))
    _check_same_shape(fn, input, target)
    return KLDiv.apply(input, target, reduction=reduction, log_target=bool(log_target))
