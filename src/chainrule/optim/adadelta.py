"""Adadelta: RMSprop whose step size is a running RMS of the past updates (notes 1.3)."""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from .optimizer import Optimizer, check_nonnegative, check_number


class Adadelta(Optimizer):
    r"""Adadelta (notes 1.3; Zeiler 2012): RMSprop with the units fixed by the past updates' RMS.

    With g_t the mini-batch gradient and rho the decay (the notes' beta):

        g_t <- -g_t                                   if maximize
        g_t <- g_t + weight_decay * theta_t           if weight_decay != 0
        G_t = rho G_{t-1} + (1 - rho) g_t^2           (moving average of g^2, as RMSprop; G_0 = 0)
        Delta_t = sqrt(D_{t-1} + eps) / sqrt(G_t + eps) * g_t
        D_t = rho D_{t-1} + (1 - rho) Delta_t^2       (moving average of the squared updates)
        theta_{t+1} = theta_t - lr * Delta_t

    The ratio of the two RMS values gives each coordinate a step with the units of theta, so no
    learning rate needs tuning: ``lr`` (default 1.0) only scales the update.

    Args:
        params: iterable of Parameters or of dicts (parameter groups).
        lr: scale of the update (default 1.0).
        rho: decay of both moving averages (default 0.9).
        eps: added inside both roots (default 1e-6).
        weight_decay: L2 penalty coefficient (default 0).
        maximize: ascend the objective instead of descending it.

    State per parameter: ``'step'``, ``'square_avg'`` (G_t), ``'acc_delta'`` (D_t).
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, *, maximize=False):
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group, where):
        super()._check_group(group, where)
        check_number(group["rho"], "rho value", where)
        if not 0.0 <= group["rho"] <= 1.0:
            raise ValueError(f"Invalid rho value: {group['rho']}{where}")
        check_nonnegative(group["eps"], "epsilon value", where)
        check_nonnegative(group["weight_decay"], "weight_decay value", where)

    def _step_group(self, group):
        lr = float(group["lr"])
        rho = float(group["rho"])
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
                state["step"] = 0
                state["square_avg"] = xp.zeros_like(w)
                state["acc_delta"] = xp.zeros_like(w)
            state["step"] += 1
            d = self._effective_grad(w, g, wd, maximize)   # g_t
            G, D = state["square_avg"], state["acc_delta"]
            s, delta = self._buf(w, 1), self._buf(w, 2)
            G *= rho
            xp.multiply(d, d, out=s)
            s *= 1.0 - rho
            G += s                                           # G_t = rho G_{t-1} + (1-rho) g_t^2
            xp.add(G, eps, out=s)
            xp.sqrt(s, out=s)                                # sqrt(G_t + eps)
            xp.add(D, eps, out=delta)
            xp.sqrt(delta, out=delta)                        # sqrt(D_{t-1} + eps)
            delta /= s
            delta *= d                                       # Delta_t
            D *= rho
            xp.multiply(delta, delta, out=s)
            s *= 1.0 - rho
            D += s                                           # D_t = rho D_{t-1} + (1-rho) Delta_t^2
            delta *= -lr
            w += delta                                       # theta_{t+1} = theta_t - lr Delta_t
