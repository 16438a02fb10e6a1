"""RMSprop against torch.optim.RMSprop over 50 steps of the same gradients, and its errors."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.parameter import Parameter
from chainrule.optim import RMSprop

torch = pytest.importorskip("torch")

CONFIGS = [
    {},
    dict(lr=0.01, alpha=0.9),
    dict(lr=0.01, centered=True),
    dict(lr=0.01, momentum=0.9),
    dict(lr=0.01, momentum=0.9, centered=True),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, eps=1e-2, maximize=True),
    dict(lr=0.005, alpha=0.95, momentum=0.5, centered=True, weight_decay=0.05, maximize=True),
]


@pytest.mark.parametrize("kwargs", CONFIGS, ids=str)
def test_rmsprop_matches_torch(pair, kwargs):
    pair(RMSprop, torch.optim.RMSprop, kwargs)


def test_rmsprop_two_groups(pair):
    groups = [([0, 1], dict(lr=0.02, momentum=0.9)), ([2, 3], dict(lr=0.001, centered=True))]
    pair(RMSprop, torch.optim.RMSprop, dict(alpha=0.9), groups=groups)


def test_rmsprop_float64_exact(pair):
    pair(RMSprop, torch.optim.RMSprop, dict(lr=0.01, momentum=0.9, centered=True,
                                            weight_decay=0.1),
         dtype=np.float64, rtol=1e-12, atol=1e-14)


def test_rmsprop_closed_form():
    # one step from G_0 = 0: G_1 = (1-beta) g^2, theta_1 = -lr g / (sqrt(1-beta)|g| + eps)
    p = Parameter(np.array([0.0, 0.0], np.float64))
    p.grad = cr.tensor([2.0, -0.5])
    opt = RMSprop([p], lr=0.1, alpha=0.75, eps=0.0)
    opt.step()
    np.testing.assert_allclose(p.data, [-0.2, 0.2])
    np.testing.assert_allclose(opt.state[p]["square_avg"], [1.0, 0.0625])


@pytest.mark.parametrize("kwargs, msg", [
    (dict(lr=-0.1), "Invalid learning rate: -0.1"),
    (dict(eps=-1.0), "Invalid epsilon value: -1.0"),
    (dict(momentum=-0.9), "Invalid momentum value: -0.9"),
    (dict(weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    (dict(alpha=-0.5), "Invalid alpha value: -0.5"),
])
def test_rmsprop_bad_hyperparameters(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        RMSprop([Parameter(np.ones(2, np.float32))], **kwargs)
