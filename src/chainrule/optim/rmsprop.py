"""RMSprop: steps scaled by a moving average of squared gradients (notes 1.3)."""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from .optimizer import Optimizer, check_nonnegative


class RMSprop(Optimizer):
    r"""RMSprop (notes 1.3, [24]): Adagrad with a decaying average of g^2 in place of the sum.

    With g_t the mini-batch gradient and beta = ``alpha`` (the notes' beta):

        g_t <- -g_t                                   if maximize
        g_t <- g_t + weight_decay * theta_t           if weight_decay != 0
        G_t = beta G_{t-1} + (1 - beta) g_t^2         (G_0 = 0)
        d_t = sqrt(G_t) + eps, or, if centered, with the average gradient
              a_t = beta a_{t-1} + (1 - beta) g_t:  d_t = sqrt(G_t - a_t^2) + eps
        theta_{t+1} = theta_t - eta g_t / d_t                             if momentum = 0
        b_t = mu b_{t-1} + g_t / d_t,  theta_{t+1} = theta_t - eta b_t    if momentum mu > 0

    G_t = (1 - beta)(beta^{t-1} g_1^2 + ... + beta g_{t-1}^2 + g_t^2) is a sum over time with
    decaying weights, so the step adapts to the recent gradient scale. Centered RMSprop divides by
    an estimate of the gradient's standard deviation instead of its root mean square.

    Args:
        params: iterable of Parameters or of dicts (parameter groups).
        lr: learning rate eta (default 1e-2).
        alpha: the smoothing constant beta (default 0.99; the notes suggest 0.9).
        eps: added to the root (default 1e-8).
        weight_decay: L2 penalty coefficient (default 0).
        momentum: mu (default 0).
        centered: divide by the centered second moment (default False).
        maximize: ascend the objective instead of descending it.

    State per parameter: ``'step'``, ``'square_avg'`` (G_t), ``'momentum_buffer'`` (b_t) if
    momentum > 0, ``'grad_avg'`` (a_t) if centered.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, *, maximize=False):
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group, where):
        super()._check_group(group, where)
        check_nonnegative(group["eps"], "epsilon value", where)
        check_nonnegative(group["momentum"], "momentum value", where)
        check_nonnegative(group["weight_decay"], "weight_decay value", where)
        check_nonnegative(group["alpha"], "alpha value", where)
        if group["alpha"] > 1:  # v = alpha v + (1 - alpha) g^2 would turn negative
            raise ValueError(f"Invalid alpha value: {group['alpha']} (expected 0 <= alpha <= 1)"
                             f"{where}")

    def _step_group(self, group):
        lr = float(group["lr"])
        beta = float(group["alpha"])
        eps = float(group["eps"])
        wd = float(group["weight_decay"])
        mu = float(group["momentum"])
        centered = group["centered"]
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
            state["step"] += 1
            d = self._effective_grad(w, g, wd, maximize)   # g_t
            G = state["square_avg"]
            s = self._buf(w, 1)
            G *= beta
            xp.multiply(d, d, out=s)
            s *= 1.0 - beta
            G += s                                           # G_t = beta G_{t-1} + (1-beta) g_t^2
            if centered:
                a = state.get("grad_avg")
                if a is None:
                    a = state["grad_avg"] = xp.zeros_like(w)
                xp.subtract(d, a, out=s)
                s *= 1.0 - beta
                a += s                               # a_t = a_{t-1} + (1-beta)(g_t - a_{t-1})
                xp.multiply(a, a, out=s)
                xp.subtract(G, s, out=s)
                xp.sqrt(s, out=s)                            # sqrt(G_t - a_t^2)
            else:
                xp.sqrt(G, out=s)                            # sqrt(G_t)
            s += eps                                         # d_t
            xp.divide(d, s, out=s)                           # g_t / d_t
            if mu > 0:
                b = state.get("momentum_buffer")
                if b is None:
                    b = state["momentum_buffer"] = xp.zeros_like(w)
                b *= mu
                b += s                                       # b_t = mu b_{t-1} + g_t / d_t
                xp.multiply(b, -lr, out=s)
            else:
                s *= -lr
            w += s                                           # theta_{t+1} = theta_t - eta (...)
