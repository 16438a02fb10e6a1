"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019)."""
from __future__ import annotations

from .adam import Adam


class AdamW(Adam):
    r"""Adam with decoupled weight decay: shrink the weights, then take Adam's step (notes 1.3).

        theta_t <- (1 - eta weight_decay) theta_t
        m_t, v_t, m_hat, v_hat as in Adam (computed from the gradient without the decay term)
        theta_{t+1} = theta_t - eta m_hat / (sqrt(v_hat) + eps)

    With Adam's L2 term the decay is divided by sqrt(v_hat) like the gradient, so weights with
    large gradients are barely decayed; AdamW decays every weight at the same rate eta*weight_decay.

    Args:
        params: iterable of Parameters or of dicts (parameter groups).
        lr: learning rate eta (default 1e-3).
        betas: (beta1, beta2) (default (0.9, 0.999)).
        eps: added to the root (default 1e-8).
        weight_decay: decoupled decay coefficient (default 1e-2).
        amsgrad: use the running maximum of v_t (default False).
        maximize: ascend the objective instead of descending it.

    State per parameter: as Adam.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True  # an AdamW stays AdamW whatever was saved
