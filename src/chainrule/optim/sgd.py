"""Stochastic gradient descent, with momentum and Nesterov momentum (notes 1.3)."""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from .optimizer import Optimizer, check_nonnegative


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum (notes 1.3).

    With g_t the mini-batch gradient at theta_t (the average of L_i'(theta_t) over the batch):

        g_t <- -g_t                                   if maximize
        g_t <- g_t + weight_decay * theta_t           if weight_decay != 0  (L2 penalty)
        v_t = g_t                                     at the first step, then
        v_t = mu v_{t-1} + (1 - dampening) g_t        if momentum mu != 0
        g_t <- g_t + mu v_t  (Nesterov)  or  g_t <- v_t
        theta_{t+1} = theta_t - eta_t g_t

    Without momentum this is the notes' theta_{t+1} = theta_t - eta_t g_t. With momentum and no
    dampening it is the notes' v_t = gamma v_{t-1} + eta_t g_t, theta_t = theta_{t-1} - v_t, with
    the learning rate taken out of the velocity (PyTorch's convention): the notes' v_t equals
    eta * v_t here while eta is constant; when a scheduler changes eta, here the new eta also
    scales the velocity gathered so far. ``lr`` is eta_t; the Robbins-Monro conditions
    sum eta_t = inf, sum eta_t^2 < inf are met by ``lr_scheduler.InverseTimeLR``.

    Args:
        params: iterable of Parameters or of dicts (parameter groups).
        lr: learning rate eta (default 1e-3, as PyTorch 2.x).
        momentum: mu (default 0; the notes' gamma, usually 0.9).
        dampening: scales the new gradient in the velocity by (1 - dampening) (default 0).
        weight_decay: L2 penalty coefficient (default 0).
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening = 0).
        maximize: ascend the objective instead of descending it.

    State per parameter: ``'momentum_buffer'`` (v_t) when momentum != 0.

    Example:
        >>> opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                 *, maximize=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group, where):
        super()._check_group(group, where)
        check_nonnegative(group["momentum"], "momentum value", where)
        check_nonnegative(group["weight_decay"], "weight_decay value", where)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"Nesterov momentum requires a momentum and zero dampening "
                             f"(got momentum={group['momentum']}, "
                             f"dampening={group['dampening']}){where}")

    def _step_group(self, group):
        lr = float(group["lr"])
        mu = float(group["momentum"])
        damp = float(group["dampening"])
        wd = float(group["weight_decay"])
        nesterov = group["nesterov"]
        maximize = group["maximize"]
        for p in group["params"]:
            g = self._grad(p)
            if g is None:
                continue
            w = p.data
            xp = np if type(w) is np.ndarray else get_array_module(w)  # the parameter's device
            d = self._effective_grad(w, g, wd, maximize)      # g_t (scratch 0, or the grad itself)
            if mu != 0:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = d.astype(w.dtype)  # v_1 = g_1 (a copy)
                else:
                    buf *= mu                                   # mu v_{t-1}
                    if damp != 0:
                        s = self._buf(w, 0)
                        xp.multiply(d, 1.0 - damp, out=s)       # (1 - dampening) g_t
                        buf += s
                    else:
                        buf += d                                # + g_t
                if nesterov:
                    s = self._buf(w, 1)
                    xp.multiply(buf, mu, out=s)
                    xp.add(d, s, out=s)                         # g_t + mu v_t
                    d = s
                else:
                    d = buf
            s = self._buf(w, 1)
            xp.multiply(d, -lr, out=s)                          # -eta_t g_t
            w += s                                              # theta_{t+1} = theta_t - eta_t g_t
