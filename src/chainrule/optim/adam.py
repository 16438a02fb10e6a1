"""Adam: momentum plus RMSprop, with bias-corrected moving averages (notes 1.3)."""
from __future__ import annotations

import math

import numpy as np

from ..backend import get_array_module
from .optimizer import Optimizer, check_betas, check_nonnegative


class Adam(Optimizer):
    r"""Adam (notes 1.3, [11]): a moving average of g (momentum) over the RMS of g (RMSprop).

    With g_t the mini-batch gradient, t = 1, 2, ... this parameter's step count and
    (beta1, beta2) = ``betas`` (the notes' gamma and beta):

        g_t <- -g_t                                   if maximize
        g_t <- g_t + weight_decay * theta_t           if weight_decay != 0 (L2, Adam)
        theta_t <- (1 - eta weight_decay) theta_t     if decoupled (AdamW) instead
        m_t = beta1 m_{t-1} + (1 - beta1) g_t         (the notes' v_t; m_0 = 0)
        v_t = beta2 v_{t-1} + (1 - beta2) g_t^2       (the notes' G_t; v_0 = 0)
        m_hat = m_t / (1 - beta1^t),   v_hat = v_t / (1 - beta2^t)      (bias corrections)
        v_hat <- max(v_hat_max, v_hat)                if amsgrad (running maximum, kept in state)
        theta_{t+1} = theta_t - eta m_hat / (sqrt(v_hat) + eps)

    Both averages start at 0, so early on they are biased toward 0 by the factors 1 - beta^t; the
    corrections undo that (the notes print them as 1/(1 - gamma), 1/(1 - beta): the power t is
    meant). As in PyTorch, eps is added after the root (the notes put it inside). The code
    computes the last line as theta_t - (eta sqrt(1 - beta2^t) / (1 - beta1^t)) m_t /
    (sqrt(v_t) + eps sqrt(1 - beta2^t)), the same number with one pass less over the arrays.

    Args:
        params: iterable of Parameters or of dicts (parameter groups).
        lr: learning rate eta (default 1e-3).
        betas: (beta1, beta2), decays of the two averages (default (0.9, 0.999)).
        eps: added to the root (default 1e-8).
        weight_decay: L2 penalty coefficient (default 0).
        amsgrad: divide by the running maximum of v_t (AMSGrad; default False).
        maximize: ascend the objective instead of descending it.
        decoupled_weight_decay: shrink theta directly instead of adding to the gradient (AdamW).

    State per parameter: ``'step'`` (t), ``'exp_avg'`` (m_t), ``'exp_avg_sq'`` (v_t) and
    ``'max_exp_avg_sq'`` if amsgrad.

    Example:
        >>> opt = Adam(model.parameters(), lr=1e-3)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False):
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _check_group(self, group, where):
        super()._check_group(group, where)
        check_nonnegative(group["eps"], "epsilon value", where)
        check_betas(group["betas"], where)
        check_nonnegative(group["weight_decay"], "weight_decay value", where)

    def _step_group(self, group):
        lr = float(group["lr"])
        b1, b2 = (float(b) for b in group["betas"])
        eps = float(group["eps"])
        wd = float(group["weight_decay"])
        amsgrad = group["amsgrad"]
        maximize = group["maximize"]
        decoupled = group["decoupled_weight_decay"]
        for p in group["params"]:
            g = self._grad(p)
            if g is None:
                continue
            w = p.data
            xp = np if type(w) is np.ndarray else get_array_module(w)  # the parameter's device
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["exp_avg"] = xp.zeros_like(w)
                state["exp_avg_sq"] = xp.zeros_like(w)
                if amsgrad:
                    state["max_exp_avg_sq"] = xp.zeros_like(w)
            state["step"] = t = state["step"] + 1
            if decoupled:
                if wd != 0:
                    w *= 1.0 - lr * wd                       # theta_t <- (1 - eta wd) theta_t
                d = self._effective_grad(w, g, 0.0, maximize)
            else:
                d = self._effective_grad(w, g, wd, maximize)   # g_t
            m, v = state["exp_avg"], state["exp_avg_sq"]
            s = self._buf(w, 1)
            xp.subtract(d, m, out=s)
            s *= 1.0 - b1
            m += s                                  # m_t = m_{t-1} + (1-beta1)(g_t - m_{t-1})
            v *= b2
            xp.multiply(d, d, out=s)
            s *= 1.0 - b2
            v += s                                  # v_t = beta2 v_{t-1} + (1-beta2) g_t^2
            if amsgrad:
                vmax = state.get("max_exp_avg_sq")
                if vmax is None:
                    vmax = state["max_exp_avg_sq"] = xp.zeros_like(w)
                xp.maximum(vmax, v, out=vmax)       # running max of v_t (AMSGrad)
                v = vmax
            bc1 = 1.0 - b1 ** t                     # 1 - beta1^t
            bc2_sqrt = math.sqrt(1.0 - b2 ** t)     # sqrt(1 - beta2^t)
            xp.sqrt(v, out=s)
            s += eps * bc2_sqrt                     # sqrt(1-beta2^t) (sqrt(v_hat) + eps)
            xp.divide(m, s, out=s)
            s *= -lr * bc2_sqrt / bc1               # -eta m_hat / (sqrt(v_hat) + eps)
            w += s                                  # theta_{t+1}
