"""AdamW against torch.optim.AdamW over 50 steps of the same gradients; decoupled decay."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.parameter import Parameter
from chainrule.optim import Adam, AdamW

torch = pytest.importorskip("torch")

CONFIGS = [
    {},
    dict(lr=0.01),
    dict(lr=0.01, weight_decay=0.5),
    dict(lr=0.01, weight_decay=0.0),
    dict(lr=0.01, amsgrad=True),
    dict(lr=0.01, betas=(0.7, 0.95), eps=1e-4, maximize=True),
    dict(lr=0.02, weight_decay=0.2, amsgrad=True, maximize=True),
]


@pytest.mark.parametrize("kwargs", CONFIGS, ids=str)
def test_adamw_matches_torch(pair, kwargs):
    pair(AdamW, torch.optim.AdamW, kwargs)


def test_adamw_two_groups(pair):
    groups = [([0, 1], dict(lr=0.03, weight_decay=0.0)), ([2, 3], dict(lr=0.003, amsgrad=True))]
    pair(AdamW, torch.optim.AdamW, dict(weight_decay=0.1), groups=groups)


def test_adamw_float64_exact(pair):
    pair(AdamW, torch.optim.AdamW, dict(lr=0.01, weight_decay=0.3, amsgrad=True),
         dtype=np.float64, rtol=1e-11, atol=1e-13)


def test_adamw_decay_is_decoupled():
    # a zero gradient leaves Adam's step at 0: only the decay theta <- (1 - lr wd) theta acts
    p = Parameter(np.array([2.0], np.float64))
    opt = AdamW([p], lr=0.1, weight_decay=0.5)
    for _ in range(3):
        p.grad = cr.tensor([0.0])
        opt.step()
    np.testing.assert_allclose(p.data, [2.0 * 0.95 ** 3])
    # Adam's L2 decay goes through the normalisation instead: the first step is lr-sized
    q = Parameter(np.array([2.0], np.float64))
    q.grad = cr.tensor([0.0])
    Adam([q], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(q.data, [1.9], rtol=1e-6)


def test_adamw_defaults_and_state_dict_stays_decoupled():
    p = Parameter(np.ones(2, np.float32))
    opt = AdamW([p])
    g = opt.param_groups[0]
    assert g["weight_decay"] == 1e-2 and g["decoupled_weight_decay"] is True
    sd = Adam([Parameter(np.ones(2, np.float32))]).state_dict()
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["decoupled_weight_decay"] is True


def test_adamw_bad_hyperparameters():
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1: 2"):
        AdamW([Parameter(np.ones(2, np.float32))], betas=(0.9, 2))
    with pytest.raises(ValueError, match="Invalid weight_decay value: -0.01"):
        AdamW([Parameter(np.ones(2, np.float32))], weight_decay=-0.01)
