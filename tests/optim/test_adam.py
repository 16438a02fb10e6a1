"""Adam (with AMSGrad) against torch.optim.Adam over 50 steps of the same gradients; errors."""
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.parameter import Parameter
from chainrule.optim import Adam

torch = pytest.importorskip("torch")

CONFIGS = [
    {},
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.5, 0.9)),
    dict(lr=0.01, amsgrad=True),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, eps=1e-3, maximize=True),
    dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    dict(lr=0.005, betas=(0.8, 0.99), amsgrad=True, weight_decay=0.05, maximize=True),
]


@pytest.mark.parametrize("kwargs", CONFIGS, ids=str)
def test_adam_matches_torch(pair, kwargs):
    pair(Adam, torch.optim.Adam, kwargs)


def test_adam_two_groups(pair):
    groups = [([0, 3], dict(lr=0.02, amsgrad=True)), ([1, 2], dict(lr=0.001, betas=(0.5, 0.6)))]
    pair(Adam, torch.optim.Adam, dict(weight_decay=0.01), groups=groups)


@pytest.mark.parametrize("kwargs", [dict(lr=0.01), dict(lr=0.01, amsgrad=True, weight_decay=0.1)],
                         ids=str)
def test_adam_float64_exact(pair, kwargs):
    pair(Adam, torch.optim.Adam, kwargs, dtype=np.float64, rtol=1e-11, atol=1e-13)


def test_adam_bias_correction_closed_form():
    # after t steps of a constant gradient g: m_hat = g and v_hat = g^2 exactly, so each step
    # moves theta by lr * g / (|g| + eps)
    p = Parameter(np.array([0.0, 0.0], np.float64))
    opt = Adam([p], lr=0.1, eps=0.0)
    for _ in range(4):
        p.grad = cr.tensor([2.0, -0.25])
        opt.step()
    np.testing.assert_allclose(p.data, [-0.4, 0.4], rtol=1e-12)
    st = opt.state[p]
    assert st["step"] == 4
    np.testing.assert_allclose(st["exp_avg"], np.array([2.0, -0.25]) * (1 - 0.9 ** 4))
    np.testing.assert_allclose(st["exp_avg_sq"], np.array([4.0, 0.0625]) * (1 - 0.999 ** 4))


def test_adam_amsgrad_keeps_max():
    p = Parameter(np.array([0.0], np.float64))
    opt = Adam([p], lr=0.1, amsgrad=True)
    for g in (10.0, 0.0, 0.0):
        p.grad = cr.tensor([g])
        opt.step()
    st = opt.state[p]
    np.testing.assert_allclose(st["max_exp_avg_sq"], [100 * 0.001])
    assert st["exp_avg_sq"][0] < st["max_exp_avg_sq"][0]
    assert math.isclose(st["exp_avg_sq"][0], 100 * 0.001 * 0.999 ** 2)


@pytest.mark.parametrize("kwargs, msg", [
    (dict(lr=-0.1), "Invalid learning rate: -0.1"),
    (dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    (dict(betas=(1.5, 0.999)), "Invalid beta parameter at index 0: 1.5"),
    (dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    (dict(betas=(-0.1, 0.9)), "Invalid beta parameter at index 0: -0.1"),
    (dict(betas=0.9), "Invalid betas: expected a pair"),
    (dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
])
def test_adam_bad_hyperparameters(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        Adam([Parameter(np.ones(2, np.float32))], **kwargs)
