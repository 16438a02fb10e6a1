"""Adagrad: per-coordinate step sizes from the sum of squared gradients (notes 1.3)."""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from .optimizer import Optimizer, check_nonnegative


class Adagrad(Optimizer):
    r"""Adagrad (notes 1.3, [5]): divide each coordinate's step by the root of its summed squares.

    With g_t the mini-batch gradient and t = 1, 2, ... the number of steps of this parameter:

        g_t <- -g_t                                   if maximize
        g_t <- g_t + weight_decay * theta_t           if weight_decay != 0
        eta_t = lr / (1 + (t - 1) * lr_decay)
        G_t = G_{t-1} + g_t^2                         (G_0 = initial_accumulator_value)
        theta_{t+1} = theta_t - eta_t g_t / (sqrt(G_t) + eps)

    Squares, roots and the division are component-wise. The notes write sqrt(G_t + eps); PyTorch,
    followed here, adds eps after the root, so eps = 1e-10 guards 0/0 at coordinates whose
    gradient has been zero so far.

    Args:
        params: iterable of Parameters or of dicts (parameter groups).
        lr: learning rate (default 1e-2).
        lr_decay: eta_t = lr / (1 + (t - 1) lr_decay) (default 0).
        weight_decay: L2 penalty coefficient (default 0).
        initial_accumulator_value: G_0 (default 0).
        eps: added to sqrt(G_t) (default 1e-10).
        maximize: ascend the objective instead of descending it.

    State per parameter (made with the optimizer, as PyTorch): ``'step'`` (t), ``'sum'`` (G_t).
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, *, maximize=False):
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group, where):
        super()._check_group(group, where)
        check_nonnegative(group["lr_decay"], "lr_decay value", where)
        check_nonnegative(group["weight_decay"], "weight_decay value", where)
        check_nonnegative(group["initial_accumulator_value"], "initial_accumulator_value value",
                          where)
        check_nonnegative(group["eps"], "epsilon value", where)

    def _init_group_state(self, group):
        for p in group["params"]:
            self._init_state(p, group)

    def _init_state(self, p, group):
        state = self.state[p]
        state["step"] = 0
        xp = get_array_module(p.data)  # the state lives on the parameter's device
        state["sum"] = xp.full_like(p.data, float(group["initial_accumulator_value"]))
        return state

    def _step_group(self, group):
        lr = float(group["lr"])
        lr_decay = float(group["lr_decay"])
        eps = float(group["eps"])
        wd = float(group["weight_decay"])
        maximize = group["maximize"]
        for p in group["params"]:
            g = self._grad(p)
            if g is None:
                continue
            w = p.data
            xp = np if type(w) is np.ndarray else get_array_module(w)  # the parameter's device
            state = self.state[p]
            if not state:
                state = self._init_state(p, group)
            state["step"] = t = state["step"] + 1
            d = self._effective_grad(w, g, wd, maximize)   # g_t
            clr = lr / (1 + (t - 1) * lr_decay)              # eta_t
            G = state["sum"]
            s = self._buf(w, 1)
            xp.multiply(d, d, out=s)
            G += s                                           # G_t = G_{t-1} + g_t^2
            xp.sqrt(G, out=s)
            s += eps                                         # sqrt(G_t) + eps
            xp.divide(d, s, out=s)                           # g_t / (sqrt(G_t) + eps)
            s *= -clr
            w += s                                           # theta_{t+1} = theta_t - eta_t (...)
