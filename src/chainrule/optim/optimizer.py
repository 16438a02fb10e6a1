"""Optimizer: the base class of the update rules of notes 1.3 (SGD, momentum, Adagrad, RMSprop,
Adam).

An optimizer holds ``param_groups`` (a list of dicts: ``'params'`` plus every hyperparameter, so a
learning-rate scheduler can change ``group['lr']`` between steps) and ``state`` (a dict keyed by
parameter holding its running averages). ``step()`` applies the update rule once to every parameter
whose ``.grad`` is set, in place on the raw arrays, with PyTorch's algorithms, names and defaults.

Subclasses implement ``_step_group(group)`` (one pass over one group's parameters) and, for their
hyperparameter checks, ``_check_group(group)``.
"""
from __future__ import annotations

import copy
import numbers
from collections import defaultdict

import numpy as np

from ..autograd.grad_mode import enable_grad
from .. import backend
from ..backend import get_array_module
from ..tensor import Tensor


def check_number(value, what, where=""):
    """Raise ``TypeError('Invalid <what>: expected a number, got <value>')`` unless ``value`` is
    a real number (a string, None, a bool or a list would fail later with a bare message)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"Invalid {what}: expected a number, got {value!r}{where}")


def check_nonnegative(value, what, where=""):
    """Raise ``ValueError('Invalid <what>: <value>')`` unless ``0 <= value`` (NaN fails too)."""
    check_number(value, what, where)
    if not 0.0 <= value:
        raise ValueError(f"Invalid {what}: {value}{where}")


def check_betas(betas, where=""):
    """Adam's ``betas``: a pair with each ``0 <= beta < 1``."""
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"Invalid betas: expected a pair (beta1, beta2), got {betas!r}{where}")
    for i, b in enumerate((b1, b2)):
        check_number(b, f"beta parameter at index {i}", where)
        if not 0.0 <= b < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {b}{where}")


class Optimizer:
    """Base class of the optimizers: parameter groups, per-parameter state, and checkpointing.

    Args:
        params: an iterable of Parameters (one group), of ``(name, Parameter)`` pairs, or of dicts
            (parameter groups): each dict holds ``'params'`` and any hyperparameters that override
            ``defaults`` for that group, e.g. ``[{'params': body}, {'params': head, 'lr': 1e-2}]``.
        defaults: the hyperparameters a group gets when it does not set them.

    Attributes:
        param_groups: list of dicts, each with ``'params'`` (a list of Parameters) and every
            hyperparameter; change ``group['lr']`` to change the step size (schedulers do).
        state: dict keyed by Parameter; the optimizer's running quantities for that parameter
            (``'momentum_buffer'``, ``'exp_avg'``, ``'step'``, ...).

    Updates work on ``p.data`` and ``p.grad.data`` in place with NumPy ufuncs (``out=``), keep the
    parameter's dtype, and write temporaries into a few scratch arrays kept by the optimizer (the
    size of the largest parameter), so a step allocates nothing after the first.
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self._validate(self.defaults, "")
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params should be an iterable of Tensors or "
                            f"dicts, got a single {type(params).__name__} (wrap it in a list)")
        if isinstance(params, dict):
            raise TypeError(f"{type(self).__name__}: params should be an iterable of Tensors or "
                            f"dicts, got a dict (wrap the parameter group in a list)")
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{type(self).__name__}: parameters must come in an ordered "
                            f"collection (list, generator), not a set, whose order changes "
                            f"between runs")
        self.state = defaultdict(dict)
        self.param_groups = []
        self._scratch = {}
        self._step_calls = 0
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def _validate(self, group, where):
        try:
            self._check_group(group, where)
        except (ValueError, TypeError) as e:
            raise type(e)(f"{type(self).__name__}: {e}") from None

    # ---- hooks for subclasses --------------------------------------------------------------
    def _check_group(self, group, where):
        """Raise ValueError for an invalid hyperparameter of ``group`` (subclasses extend)."""
        if "lr" in group:
            lr = group["lr"]
            if isinstance(lr, Tensor):
                if lr.numel() != 1:
                    raise ValueError(f"Tensor lr must be 1-element, got shape {tuple(lr.shape)}")
                lr = lr.item()
            check_nonnegative(lr, "learning rate", where)

    def _step_group(self, group):
        raise NotImplementedError(f"{type(self).__name__} does not implement _step_group")

    # ---- groups ----------------------------------------------------------------------------
    def add_param_group(self, param_group):
        """Add a group of parameters with its own hyperparameters (the missing ones from defaults).

        Useful when fine-tuning: unfreeze a layer and add its parameters, e.g. with a smaller lr.
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}.add_param_group: expected a dict, got "
                            f"{type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}.add_param_group: the dict has no 'params' entry")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: parameters must come in an ordered collection (list, "
                            f"generator), not a set, whose order changes between runs")
        params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        if names:
            if len(names) != len(params):
                raise ValueError(f"{name}: give every parameter a name or none of them")
            params = [p[1] for p in params]
            group["param_names"] = names
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, but parameter {i} of the "
                                f"group is a {type(p).__name__}")
            if p._ctx is not None:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor (parameter {i} of the "
                                 f"group was made by {p._ctx.name}); use a leaf such as a "
                                 f"Parameter or x.detach().requires_grad_()")
            if p.data.dtype.kind not in "fc":
                raise TypeError(f"{name}: can only optimize floating-point tensors, parameter {i} "
                                f"of the group has dtype {p.data.dtype}")
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        g_index = len(self.param_groups)
        self._validate(group, f" (param group {g_index})")
        ids = set()
        for p in params:
            if id(p) in ids:
                raise ValueError(f"{name}: a parameter appears twice in param group {g_index}")
            ids.add(id(p))
        for gi, other in enumerate(self.param_groups):
            if ("param_names" in other) != ("param_names" in group):
                raise ValueError(f"{name}: all param groups must be given with names or all "
                                 f"without; group {gi} differs from the new one")
            if any(id(q) in ids for q in other["params"]):
                raise ValueError(f"{name}: some parameters appear in more than one parameter "
                                 f"group (groups {gi} and {g_index})")
        self.param_groups.append(group)
        self._init_group_state(group)

    def _init_group_state(self, group):
        """State made when a group is added (most optimizers make it lazily, at the first step)."""

    # ---- the step --------------------------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Forget the gradients: ``p.grad = None`` (default), or fill them with zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif isinstance(g, Tensor):
                    if g._ctx is not None:
                        g.detach_()
                    g.data.fill(0)
                else:
                    g.fill(0)

    def step(self, closure=None):
        """Apply the update rule once to every parameter whose ``.grad`` is not None.

        Args:
            closure: optional callable that re-evaluates the model (zero_grad, forward, backward)
                and returns the loss; it runs with the graph recorded, before the update.

        Returns:
            the closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._step_group(group)
        self._step_calls += 1
        return loss

    def _grad(self, p):
        """The raw gradient array of ``p`` (None when it has none), with its shape checked."""
        g = p.grad
        if g is None:
            return None
        g = g.data if isinstance(g, Tensor) else g
        if g.shape != p.data.shape:
            raise RuntimeError(f"{type(self).__name__}.step: the gradient has shape {g.shape} but "
                               f"the parameter has shape {p.data.shape}")
        return g

    def _buf(self, like, k):
        """Scratch array ``k`` shaped like ``like`` (reused across parameters and steps), on
        ``like``'s device."""
        if type(like) is np.ndarray:
            key = (like.dtype, k)
        else:
            key = (like.dtype, k, backend.device_of(like))
        buf = self._scratch.get(key)
        n = like.size
        if buf is None or buf.size < n:
            buf = get_array_module(like).empty(n, like.dtype)
            self._scratch[key] = buf
        return buf[:n].reshape(like.shape)

    def _effective_grad(self, w, g, weight_decay, maximize):
        """g_t = (-g if maximize else g) + weight_decay * theta_t, in scratch 0 if it is not g.

        The L2 penalty (weight_decay/2) ||theta||^2 adds weight_decay * theta to the gradient.
        Returns ``g`` itself (never to be written) when neither option is on.
        """
        xp = np if type(w) is np.ndarray else get_array_module(w)
        if weight_decay != 0:
            s = self._buf(w, 0)
            xp.multiply(w, weight_decay, out=s)
            if maximize:
                xp.subtract(s, g, out=s)
            else:
                xp.add(s, g, out=s)
            return s
        if maximize:
            s = self._buf(w, 0)
            xp.negative(g, out=s)
            return s
        return g

    # ---- checkpoints -----------------------------------------------------------------------
    def state_dict(self):
        """The optimizer's state as plain Python/NumPy, ready for pickle or ``chainrule.save``.

        Returns ``{'state': {index: {name: value}}, 'param_groups': [...]}``: parameters are
        numbered 0, 1, ... in group order; ``state`` holds copies of the arrays for the parameters
        that have state; each group holds its hyperparameters and ``'params'`` as a list of indices.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for p, st in self.state.items():
            if id(p) in index and st:
                state[index[id(p)]] = {k: (v.copy() if backend.is_array(v) else
                                           copy.deepcopy(v)) for k, v in st.items()}
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a ``state_dict()``: the groups must hold the same numbers of parameters in order.

        Arrays are copied and cast to their parameter's dtype; hyperparameters (lr included) come
        from the state dict. Raises ValueError naming the group or parameter that does not match.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "state" not in state_dict \
                or "param_groups" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and "
                             f"'param_groups', got {type(state_dict).__name__}"
                             + (f" with keys {sorted(state_dict)}" if isinstance(state_dict, dict)
                                else ""))
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state dict has {len(saved)} parameter "
                             f"groups, the optimizer has {len(self.param_groups)}")
        id_map = {}
        for gi, (sg, g) in enumerate(zip(saved, self.param_groups)):
            if len(sg["params"]) != len(g["params"]):
                raise ValueError(f"{name}.load_state_dict: parameter group {gi} has "
                                 f"{len(sg['params'])} parameters in the state dict but "
                                 f"{len(g['params'])} in the optimizer")
            missing = [k for k in self.defaults if k not in sg]
            if missing:
                raise ValueError(f"{name}.load_state_dict: parameter group {gi} of the state dict "
                                 f"lacks {missing} (is it the state of another optimizer?)")
            for idx, p in zip(sg["params"], g["params"]):
                id_map[idx] = p
        new_state = defaultdict(dict)
        for idx, st in state_dict["state"].items():
            if idx not in id_map:
                raise ValueError(f"{name}.load_state_dict: the state dict has state for parameter "
                                 f"{idx}, which no parameter group lists")
            p = id_map[idx]
            entry = {}
            for key, v in st.items():
                if isinstance(v, Tensor):
                    v = v.data
                if key == "step":
                    v = int(v.item()) if backend.is_array(v) else v
                elif backend.is_array(v):
                    if v.shape != p.data.shape:
                        raise ValueError(f"{name}.load_state_dict: state '{key}' of parameter "
                                         f"{idx} has shape {v.shape}, the parameter has shape "
                                         f"{p.data.shape}")
                    # a copy, cast to the parameter's dtype, on the parameter's device
                    v = backend.asarray_like(p.data, v).astype(
                        p.data.dtype if v.dtype.kind in "fc" else v.dtype, copy=True)
                else:
                    v = copy.deepcopy(v)
                entry[key] = v
            new_state[p] = entry
        groups = []
        for sg, g in zip(saved, self.param_groups):
            ng = {k: copy.deepcopy(v) for k, v in sg.items() if k != "params"}
            ng["params"] = g["params"]
            if "param_names" in g and "param_names" not in ng:
                ng["param_names"] = g["param_names"]
            groups.append(ng)
        self.state = new_state
        self.param_groups = groups

    # ---- misc ------------------------------------------------------------------------------
    def __getstate__(self):
        d = dict(self.__dict__)
        d["_scratch"] = {}
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)
        self.__dict__.setdefault("_scratch", {})
        self.__dict__.setdefault("_step_calls", 0)

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key not in ("params", "param_names"):
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)
