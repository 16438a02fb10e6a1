"""Adagrad against torch.optim.Adagrad over 50 steps of the same gradients, and its errors."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.parameter import Parameter
from chainrule.optim import Adagrad

torch = pytest.importorskip("torch")

CONFIGS = [
    {},
    dict(lr=0.1),
    dict(lr=0.1, lr_decay=0.05),
    dict(lr=0.1, weight_decay=0.1),
    dict(lr=0.1, initial_accumulator_value=0.5),
    dict(lr=0.1, eps=1e-3, maximize=True),
    dict(lr=0.05, lr_decay=0.01, weight_decay=0.05, initial_accumulator_value=0.1,
         maximize=True),
]


@pytest.mark.parametrize("kwargs", CONFIGS, ids=str)
def test_adagrad_matches_torch(pair, kwargs):
    pair(Adagrad, torch.optim.Adagrad, kwargs)


def test_adagrad_two_groups(pair):
    groups = [([0, 3], dict(lr=0.2, lr_decay=0.1)), ([1, 2], dict(lr=0.01))]
    pair(Adagrad, torch.optim.Adagrad, dict(weight_decay=0.01), groups=groups)


def test_adagrad_float64_exact(pair):
    pair(Adagrad, torch.optim.Adagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=0.1),
         dtype=np.float64, rtol=1e-12, atol=1e-14)


def test_adagrad_closed_form():
    # G_2 = g1^2 + g2^2; theta_2 = theta_0 - lr g1/|g1| - lr/(1+lr_decay) g2/sqrt(G_2)
    p = Parameter(np.array([0.0], np.float64))
    opt = Adagrad([p], lr=0.5, lr_decay=1.0, eps=0.0)
    for g in (3.0, 4.0):
        p.grad = cr.tensor([g])
        opt.step()
    np.testing.assert_allclose(p.data, [-0.5 - 0.25 * 4.0 / 5.0])
    np.testing.assert_allclose(opt.state[p]["sum"], [25.0])
    assert opt.state[p]["step"] == 2


def test_adagrad_state_made_with_the_optimizer():
    p = Parameter(np.ones((2, 2), np.float32))
    opt = Adagrad([p], initial_accumulator_value=0.3)
    assert opt.state[p]["step"] == 0
    assert opt.state[p]["sum"].dtype == np.float32
    np.testing.assert_allclose(opt.state[p]["sum"], 0.3)


@pytest.mark.parametrize("kwargs, msg", [
    (dict(lr=-0.1), "Invalid learning rate: -0.1"),
    (dict(lr_decay=-1.0), "Invalid lr_decay value: -1.0"),
    (dict(weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    (dict(initial_accumulator_value=-0.1), "Invalid initial_accumulator_value value: -0.1"),
    (dict(eps=-1e-10), "Invalid epsilon value: -1e-10"),
])
def test_adagrad_bad_hyperparameters(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        Adagrad([Parameter(np.ones(2, np.float32))], **kwargs)
