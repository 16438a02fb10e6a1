"""SGD against torch.optim.SGD over 50 steps of the same gradients, and its errors."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.parameter import Parameter
from chainrule.optim import SGD

torch = pytest.importorskip("torch")

CONFIGS = [
    {},
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.5),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.05, momentum=0.8, weight_decay=0.1, nesterov=True),
    dict(lr=0.05, maximize=True),
    dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.05, maximize=True),
    dict(lr=0.02, momentum=0.5, nesterov=True, maximize=True, weight_decay=0.01),
]


@pytest.mark.parametrize("kwargs", CONFIGS, ids=str)
def test_sgd_matches_torch(pair, kwargs):
    pair(SGD, torch.optim.SGD, kwargs)


def test_sgd_two_groups(pair):
    groups = [([0, 2], dict(lr=0.1, momentum=0.9)),
              ([1, 3], dict(lr=0.01, nesterov=True, momentum=0.5, weight_decay=0.1))]
    pair(SGD, torch.optim.SGD, dict(lr=0.03), groups=groups)


@pytest.mark.parametrize("kwargs", [dict(lr=0.1), dict(lr=0.1, momentum=0.9, nesterov=True,
                                                      weight_decay=0.1)], ids=str)
def test_sgd_float64_exact(pair, kwargs):
    pair(SGD, torch.optim.SGD, kwargs, dtype=np.float64, rtol=1e-12, atol=1e-14)


def test_sgd_plain_step_closed_form():
    p = Parameter(np.array([1.0, -2.0], np.float32))
    p.grad = cr.tensor([0.5, 4.0])
    SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.data, [1.0 - 0.05, -2.0 - 0.4], rtol=1e-7)


def test_sgd_momentum_closed_form():
    # constant gradient g: v_t = g (1 + mu + ... + mu^(t-1)), theta moves by -lr * sum of v_t
    p = Parameter(np.zeros(1, np.float64))
    opt = SGD([p], lr=0.1, momentum=0.5)
    for _ in range(3):
        p.grad = cr.tensor(np.ones(1))
        opt.step()
    np.testing.assert_allclose(p.data, [-0.1 * (1 + 1.5 + 1.75)])
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"], [1.75])


def test_sgd_no_momentum_keeps_no_state():
    p = Parameter(np.ones(3, np.float32))
    p.grad = cr.tensor(np.ones(3, np.float32))
    opt = SGD([p], lr=0.1)
    opt.step()
    assert len(opt.state) == 0 or not opt.state[p]
    assert opt.state_dict()["state"] == {}


@pytest.mark.parametrize("kwargs, msg", [
    (dict(lr=-0.1), "Invalid learning rate: -0.1"),
    (dict(momentum=-0.5), "Invalid momentum value: -0.5"),
    (dict(weight_decay=-1e-4), "Invalid weight_decay value: -0.0001"),
    (dict(nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    (dict(nesterov=True, momentum=0.9, dampening=0.1), "Nesterov momentum requires"),
])
def test_sgd_bad_hyperparameters(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        SGD([Parameter(np.ones(2, np.float32))], **kwargs)


def test_sgd_bad_group_hyperparameter_names_the_group():
    a, b = Parameter(np.ones(2, np.float32)), Parameter(np.ones(2, np.float32))
    with pytest.raises(ValueError, match=r"Invalid learning rate: -1.*param group 1"):
        SGD([{"params": [a]}, {"params": [b], "lr": -1}], lr=0.1)
