r"""Learning-rate schedules eta_t (notes 1.3), with PyTorch's names, arguments and values.

Notes 1.3: SGD theta_{t+1} = theta_t - eta_t g_t converges (Robbins-Monro) when
sum_t eta_t = inf and sum_t eta_t^2 < inf, e.g. eta_t = c/t (``InverseTimeLR``); "in practice ...
reducing eta_t after a certain number of steps" (``StepLR``, ``MultiStepLR``, ``ExponentialLR``,
``CosineAnnealingLR``, ``LambdaLR``), "or reducing eta_t if the training error stops decreasing"
(``ReduceLROnPlateau``).

A scheduler writes ``group['lr']`` of each of its optimizer's parameter groups. It is built after
the optimizer, which sets ``group['initial_lr']`` (eta_0, the base learning rate) and applies the
value for t = 0; then call ``scheduler.step()`` once per epoch (or per iteration), after
``optimizer.step()``. ``last_epoch`` is t, the number of ``step()`` calls so far.

    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(model, opt)
        sched.step()

Like PyTorch's, StepLR, MultiStepLR, ExponentialLR and CosineAnnealingLR update the current lr
recursively (eta_t from eta_{t-1}), so several of them can be stacked on one optimizer; LambdaLR
and InverseTimeLR compute eta_t from eta_0 in closed form.
"""
from __future__ import annotations

import math
import numbers
import types
import warnings
from collections import Counter

from .optimizer import Optimizer


class LRScheduler:
    """Base class: sets ``group['lr']`` to ``get_lr()`` at each ``step()``.

    Args:
        optimizer: the Optimizer whose learning rates are scheduled.
        last_epoch: index of the last step taken; -1 (default) starts a new schedule. Give a
            larger value only when resuming, with ``'initial_lr'`` already in the groups.

    Attributes:
        base_lrs: eta_0 of each parameter group (its ``'initial_lr'``).
        last_epoch: t, the number of ``step()`` calls since the schedule started.

    Subclasses implement ``get_lr()``: the list of learning rates for step ``self.last_epoch``.
    """

    def __init__(self, optimizer, last_epoch=-1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{type(self).__name__}: param_groups[{i}] has no "
                                   f"'initial_lr', which resuming with last_epoch={last_epoch} "
                                   f"needs; load the optimizer's state_dict first or start with "
                                   f"last_epoch=-1")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._initial = True   # the first step() below, done by the constructor, sets eta_0
        self.step()
        self._initial = False

    def get_lr(self):
        """The learning rate of each group at step ``self.last_epoch``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement get_lr")

    def get_last_lr(self):
        """The learning rates set by the last ``step()`` (one per parameter group)."""
        return list(self._last_lr)

    def step(self):
        """Advance t by one and set each group's lr to eta_t. Call it after ``optimizer.step()``."""
        self._step_count += 1
        opt = self.optimizer
        if (self._step_count == 2 and type(opt).step is Optimizer.step
                and getattr(opt, "_step_calls", 1) == 0):
            warnings.warn(f"{type(self).__name__}.step() was called before optimizer.step(): the "
                          f"first learning rate of the schedule is skipped. Call "
                          f"optimizer.step() first, then scheduler.step().", UserWarning,
                          stacklevel=2)
        self.last_epoch += 1
        lrs = self.get_lr()
        groups = opt.param_groups
        if len(lrs) != len(groups):
            raise RuntimeError(f"{type(self).__name__}: the optimizer has {len(groups)} parameter "
                               f"groups but the scheduler knows {len(lrs)} (a group added after "
                               f"the scheduler was made?)")
        for group, lr in zip(groups, lrs):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in groups]

    def _current_lrs(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self):
        """Everything but the optimizer, as plain Python values."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items()
                if k != "optimizer"}

    def load_state_dict(self, state_dict):
        """Restore a ``state_dict()`` (load the optimizer's own state_dict as well).

        Raises ValueError, naming the keys, for the state of another kind of scheduler.
        """
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{name}: expected a dict, got {type(state_dict).__name__}")
        own = [k for k in self.state_dict() if k != "lr_lambdas"]  # LambdaLR restores those
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own and k != "lr_lambdas"]
        if missing or unexpected:
            raise ValueError(f"{name}: the state dict is not one of a {type(self).__name__} "
                             f"(the state of another scheduler?): missing keys {missing}, "
                             f"unexpected keys {unexpected}")
        self.__dict__.update({k: (list(v) if isinstance(v, list) else v)
                              for k, v in state_dict.items()})

    def __repr__(self):
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, last_lr={self._last_lr})"


def _check_positive_int(value, what, owner):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}: expected {what} to be a positive int, got {value!r}")


def _check_number(value, what, owner, low=0.0, strict=False, integer=False):
    """``value`` if it is a number (an int if ``integer``) >= low (> low if ``strict``); else a
    TypeError or ValueError naming the scheduler, the argument and the value."""
    kind = numbers.Integral if integer else numbers.Real
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"{owner}: expected {what} to be {'an int' if integer else 'a number'}, "
                        f"got {value!r}")
    if value < low or (strict and value == low):
        raise ValueError(f"{owner}: expected {what} {'>' if strict else '>='} {low:g}, got "
                         f"{value!r}")
    return value


class LambdaLR(LRScheduler):
    """eta_t = eta_0 * lr_lambda(t): any schedule given as a function of the step t.

    Args:
        optimizer: the Optimizer.
        lr_lambda: a function of t (an int) returning a factor, or a list of them, one per group.
        last_epoch: see LRScheduler.

    Example (a linear warm-up over 10 steps):
        >>> sched = LambdaLR(opt, lambda t: min(1.0, (t + 1) / 10))

    ``state_dict()`` saves a callable object's attributes but not plain functions or lambdas
    (they cannot be pickled): give the same functions when rebuilding the scheduler.
    """

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"LambdaLR: expected {n} lr_lambdas (one per parameter group), "
                                 f"got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        for f in self.lr_lambdas:
            if not callable(f):
                raise TypeError(f"LambdaLR: lr_lambda must be callable, got {type(f).__name__}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * f(self.last_epoch) for f, base in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self):
        sd = {k: v for k, v in super().state_dict().items() if k != "lr_lambdas"}
        sd["lr_lambdas"] = [None if isinstance(f, types.FunctionType) else dict(f.__dict__)
                            for f in self.lr_lambdas]
        return sd

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        saved = state_dict.pop("lr_lambdas", [None] * len(self.lr_lambdas))
        super().load_state_dict(state_dict)
        for f, attrs in zip(self.lr_lambdas, saved):
            if attrs is not None:
                f.__dict__.update(attrs)


class StepLR(LRScheduler):
    """eta_t = eta_0 * gamma^(t // step_size): divide the rate by 1/gamma every step_size steps.

    Computed recursively as PyTorch does: eta_t = gamma * eta_{t-1} when t is a positive multiple
    of step_size, eta_{t-1} otherwise.

    Args:
        optimizer: the Optimizer.
        step_size: the period (in steps) of the decay.
        gamma: the factor (default 0.1).
        last_epoch: see LRScheduler.
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        _check_positive_int(step_size, "step_size", "StepLR")
        self.step_size = step_size
        self.gamma = _check_number(gamma, "gamma", "StepLR", strict=True)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t = self.last_epoch
        if t == 0 or t % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class MultiStepLR(LRScheduler):
    """eta_t = eta_0 * gamma^(number of milestones <= t): decay by gamma at each milestone step.

    A milestone listed k times decays by gamma^k. Recursive as PyTorch: eta_t = eta_{t-1} *
    gamma^(count of t among the milestones).

    Args:
        optimizer: the Optimizer.
        milestones: step indices at which to decay.
        gamma: the factor (default 0.1).
        last_epoch: see LRScheduler.
    """

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        given = milestones
        iterable = hasattr(given, "__iter__") and not isinstance(given, (str, bytes))
        milestones = list(given) if iterable else None
        if not iterable or any(not isinstance(m, numbers.Integral) or isinstance(m, bool)
                               for m in milestones):
            raise TypeError(f"MultiStepLR: expected milestones to be a list of step indices "
                            f"(ints), got {given!r}")
        if any(m < 0 for m in milestones):
            raise ValueError(f"MultiStepLR: expected milestones >= 0, got {milestones}")
        self.milestones = Counter(milestones)
        self.gamma = _check_number(gamma, "gamma", "MultiStepLR", strict=True)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        k = self.milestones.get(self.last_epoch, 0)
        if k == 0:
            return self._current_lrs()
        return [lr * self.gamma ** k for lr in self._current_lrs()]

    def state_dict(self):
        sd = super().state_dict()
        sd["milestones"] = Counter(self.milestones)
        return sd


class ExponentialLR(LRScheduler):
    """eta_t = eta_0 * gamma^t, computed as eta_t = gamma * eta_{t-1}.

    Args:
        optimizer: the Optimizer.
        gamma: the factor per step.
        last_epoch: see LRScheduler.
    """

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = _check_number(gamma, "gamma", "ExponentialLR", strict=True)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing from eta_0 down to eta_min over T_max steps (SGDR without restarts).

        eta_t = eta_min + (eta_0 - eta_min) (1 + cos(pi t / T_max)) / 2

    Past T_max the cosine keeps going: the rate climbs back to eta_0 at t = 2 T_max, and so on.
    As PyTorch, the value is computed from the previous one, which gives the closed form above
    when nothing else changes the lr, and lets the schedule follow outside changes (T = T_max):

        eta_t = eta_min + (eta_{t-1} - eta_min) (1 + cos(pi t / T)) / (1 + cos(pi (t-1) / T))

    At the steps t = T_max + 1 (mod 2 T_max), where the denominator is 0, it adds the closed
    form's increment (eta_0 - eta_min)(1 - cos(pi / T_max)) / 2 instead.

    Args:
        optimizer: the Optimizer.
        T_max: half-period, in steps.
        eta_min: the lowest rate (default 0).
        last_epoch: see LRScheduler.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        _check_positive_int(T_max, "T_max", "CosineAnnealingLR")
        self.T_max = T_max
        self.eta_min = _check_number(eta_min, "eta_min", "CosineAnnealingLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t, T, lo = self.last_epoch, self.T_max, self.eta_min
        if self._initial:
            return self._current_lrs()
        if (t - 1 - T) % (2 * T) == 0:        # leaving the minimum: 0/0 in the ratio below
            return [lr + (base - lo) * (1 - math.cos(math.pi / T)) / 2
                    for base, lr in zip(self.base_lrs, self._current_lrs())]
        ratio = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        return [ratio * (lr - lo) + lo for lr in self._current_lrs()]


class InverseTimeLR(LRScheduler):
    r"""The Robbins-Monro schedule of notes 1.3: eta_t = eta_0 * t0 / (t0 + t), i.e. c / (t0 + t).

    For t = 0, 1, 2, ... (``last_epoch``); with t0 = 1 this is the notes' eta_t = c/t counted from
    t = 1. It satisfies the Robbins-Monro conditions for SGD to converge to a local minimum:

        sum_t eta_t = inf     (a harmonic series: the iterates can travel any distance), and
        sum_t eta_t^2 < inf   (sum of c^2/(t0+t)^2: the noise of g_t stops moving them).

    With ``power`` p: eta_t = eta_0 (t0 / (t0 + t))^p, which meets both conditions exactly when
    0.5 < p <= 1. PyTorch has no such scheduler (LambdaLR with lambda t: t0 / (t0 + t) gives
    the same values).

    Args:
        optimizer: the Optimizer.
        c: the constant c (a number, or a list with one per group); then eta_0 = c / t0^p. By
            default eta_0 is each group's initial lr and c = eta_0 t0^p.
        t0: the offset t0 > 0 (default 1.0): a larger t0 keeps the rate near eta_0 for longer.
        power: p > 0 (default 1.0).
        last_epoch: see LRScheduler.

    Example:
        >>> sched = InverseTimeLR(opt, t0=100)   # halves the lr after 100 steps, thirds after 200
    """

    def __init__(self, optimizer, c=None, t0=1.0, power=1.0, last_epoch=-1):
        if not t0 > 0:
            raise ValueError(f"InverseTimeLR: expected t0 > 0, got {t0}")
        if not power > 0:
            raise ValueError(f"InverseTimeLR: expected power > 0, got {power}")
        n = len(optimizer.param_groups)
        if c is not None:
            cs = list(c) if isinstance(c, (list, tuple)) else [c] * n
            if len(cs) != n:
                raise ValueError(f"InverseTimeLR: expected {n} values of c (one per parameter "
                                 f"group), got {len(cs)}")
            for v in cs:
                if not v > 0:
                    raise ValueError(f"InverseTimeLR: expected c > 0, got {v}")
            self.c = cs
        else:
            self.c = None
        self.t0 = float(t0)
        self.power = float(power)
        super().__init__(optimizer, last_epoch)

    def eta0(self):
        """eta_0 of each group: c / t0^power when c was given, else the group's initial lr."""
        if self.c is None:
            return list(self.base_lrs)
        return [ci / self.t0 ** self.power for ci in self.c]

    def get_lr(self):
        factor = (self.t0 / (self.t0 + self.last_epoch)) ** self.power   # (t0 / (t0 + t))^p
        return [e0 * factor for e0 in self.eta0()]


class ReduceLROnPlateau(LRScheduler):
    """Divide the lr when a metric stops improving (notes 1.3: "if the training error stops
    decrease").

    Call ``step(metric)`` once per epoch with the monitored value (e.g. validation loss). A value
    is an improvement when it beats the best so far by the threshold: in 'min' mode
    ``metric < best * (1 - threshold)`` ('rel') or ``metric < best - threshold`` ('abs'), and the
    mirror images in 'max' mode. After more than ``patience`` steps in a row without improvement,
    each group's lr becomes ``max(lr * factor, min_lr)`` (skipped if it would change by less than
    ``eps``), the count restarts, and the next ``cooldown`` steps are not counted.

    Args:
        optimizer: the Optimizer.
        mode: 'min' (the metric should fall) or 'max' (it should rise).
        factor: new_lr = lr * factor, factor < 1 (default 0.1).
        patience: steps without improvement tolerated before reducing (default 10).
        threshold: the least relative or absolute change that counts (default 1e-4).
        threshold_mode: 'rel' or 'abs' (default 'rel').
        cooldown: steps to wait after a reduction before counting again (default 0).
        min_lr: lower bound on the lr, a number or a list with one per group (default 0).
        eps: smallest change of lr that is applied (default 1e-8).
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"ReduceLROnPlateau: expected an Optimizer, got "
                            f"{type(optimizer).__name__}")
        who = "ReduceLROnPlateau"
        if _check_number(factor, "factor", who) >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor should be < 1.0, got {factor}")
        _check_number(patience, "patience", who, integer=True)
        _check_number(threshold, "threshold", who)
        _check_number(cooldown, "cooldown", who, integer=True)
        _check_number(eps, "eps", who)
        for v in (min_lr if isinstance(min_lr, (list, tuple)) else [min_lr]):
            _check_number(v, "min_lr", who)
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode should be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold_mode should be 'rel' or 'abs', got "
                             f"{threshold_mode!r}")
        self.optimizer = optimizer
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ValueError(f"ReduceLROnPlateau: expected {n} min_lrs (one per parameter "
                                 f"group), got {len(min_lr)}")
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * n
        self.mode = mode
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self._last_lr = self._current_lrs()

    @property
    def in_cooldown(self):
        return self.cooldown_counter > 0

    def is_better(self, a, best):
        """Whether metric value ``a`` improves on ``best`` by more than the threshold."""
        rel = self.threshold_mode == "rel"
        if self.mode == "min":
            return a < (best * (1.0 - self.threshold) if rel else best - self.threshold)
        return a > (best * (1.0 + self.threshold) if rel else best + self.threshold)

    def step(self, metrics):
        """Record this epoch's metric; reduce the lr after more than ``patience`` bad epochs."""
        try:
            current = float(metrics)
        except (TypeError, ValueError):
            raise TypeError(f"ReduceLROnPlateau.step: expected the monitored metric as a number "
                            f"(e.g. the validation loss), got {metrics!r}") from None
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0            # bad epochs in the cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    def _reduce_lr(self):
        groups = self.optimizer.param_groups
        if len(self.min_lrs) != len(groups):
            if self.default_min_lr is None:
                raise RuntimeError(f"ReduceLROnPlateau: the optimizer has {len(groups)} parameter "
                                   f"groups but min_lr has {len(self.min_lrs)} values (a group "
                                   f"added after the scheduler was made?); set .min_lrs")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new
