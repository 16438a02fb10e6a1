"""Adadelta against torch.optim.Adadelta over 50 steps of the same gradients, and its errors."""
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.parameter import Parameter
from chainrule.optim import Adadelta

torch = pytest.importorskip("torch")

CONFIGS = [
    {},
    dict(lr=0.5, rho=0.5),
    dict(lr=1.0, eps=1e-3),
    dict(lr=1.0, weight_decay=0.1),
    dict(lr=2.0, maximize=True),
    dict(lr=0.5, rho=0.95, weight_decay=0.05, maximize=True),
]


@pytest.mark.parametrize("kwargs", CONFIGS, ids=str)
def test_adadelta_matches_torch(pair, kwargs):
    pair(Adadelta, torch.optim.Adadelta, kwargs)


def test_adadelta_two_groups(pair):
    groups = [([0, 2], dict(lr=0.5)), ([1, 3], dict(lr=2.0, rho=0.8))]
    pair(Adadelta, torch.optim.Adadelta, {}, groups=groups)


def test_adadelta_float64_exact(pair):
    pair(Adadelta, torch.optim.Adadelta, dict(lr=1.0, rho=0.8, weight_decay=0.1),
         dtype=np.float64, rtol=1e-12, atol=1e-14)


def test_adadelta_first_step_closed_form():
    # Delta_1 = sqrt(eps) / sqrt((1-rho) g^2 + eps) * g
    rho, eps, g = 0.9, 1e-6, 3.0
    p = Parameter(np.array([0.0], np.float64))
    p.grad = cr.tensor([g])
    Adadelta([p], rho=rho, eps=eps).step()
    np.testing.assert_allclose(p.data, [-math.sqrt(eps) / math.sqrt((1 - rho) * g * g + eps) * g])


@pytest.mark.parametrize("kwargs, msg", [
    (dict(lr=-0.1), "Invalid learning rate: -0.1"),
    (dict(rho=1.5), "Invalid rho value: 1.5"),
    (dict(rho=-0.1), "Invalid rho value: -0.1"),
    (dict(eps=-1.0), "Invalid epsilon value: -1.0"),
    (dict(weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
])
def test_adadelta_bad_hyperparameters(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        Adadelta([Parameter(np.ones(2, np.float32))], **kwargs)
