"""nn.init: fans and gains equal torch's; each initializer has the right bounds / std; seeded."""
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import init

SHAPES = [(3, 5), (64, 3, 3, 3), (16, 8, 5), (7, 2, 2, 3, 4), (1, 9)]


@pytest.mark.parametrize("shape", SHAPES)
def test_fans_equal_torch(shape):
    torch = pytest.importorskip("torch")
    assert init._calculate_fan_in_and_fan_out(cr.zeros(shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


def test_fan_needs_two_dims():
    with pytest.raises(ValueError, match="fewer than 2 dims"):
        init.xavier_uniform_(cr.zeros(5))


@pytest.mark.parametrize("nl,param", [("linear", None), ("conv2d", None), ("sigmoid", None),
                                      ("tanh", None), ("relu", None), ("leaky_relu", None),
                                      ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)),
                                      ("selu", None)])
def test_gain_equals_torch(nl, param):
    torch = pytest.importorskip("torch")
    assert init.calculate_gain(nl, param) == pytest.approx(torch.nn.init.calculate_gain(nl, param))


def test_gain_rejects_unknown():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def _big(shape=(256, 128, 3, 3)):
    return cr.empty(shape)


def test_uniform_normal_constant():
    cr.manual_seed(0)
    t = init.uniform_(_big((500, 400)), -2.0, 3.0)
    assert t.data.min() >= -2 and t.data.max() < 3 and abs(t.data.mean() - 0.5) < 0.01
    t = init.normal_(_big((500, 400)), 1.0, 2.0)
    assert abs(t.data.mean() - 1) < 0.02 and abs(t.data.std() / 2 - 1) < 0.01
    assert (init.constant_(cr.empty(3, 2), 0.3).data == np.float32(0.3)).all()
    assert (init.ones_(cr.empty(2)).data == 1).all() and not init.zeros_(cr.ones(2, 2)).data.any()
    np.testing.assert_array_equal(init.eye_(cr.empty(2, 3)).data, np.eye(2, 3))


def test_xavier():
    cr.manual_seed(0)
    t = _big()
    fan_in, fan_out = 128 * 9, 256 * 9
    bound = 1.5 * math.sqrt(6 / (fan_in + fan_out))
    assert init.xavier_uniform_(t, gain=1.5) is t
    assert np.abs(t.data).max() <= bound and np.abs(t.data).max() > 0.99 * bound
    assert abs(t.data.std() / (bound / math.sqrt(3)) - 1) < 0.01
    init.xavier_normal_(t)
    assert abs(t.data.std() / math.sqrt(2 / (fan_in + fan_out)) - 1) < 0.01


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nl,a", [("relu", 0), ("leaky_relu", 0.1), ("leaky_relu", math.sqrt(5)),
                                  ("linear", 0), ("tanh", 0), ("sigmoid", 0)])
def test_kaiming(mode, nl, a):
    cr.manual_seed(0)
    t = _big()
    fan = 128 * 9 if mode == "fan_in" else 256 * 9
    gain = init.calculate_gain(nl, a)
    init.kaiming_uniform_(t, a=a, mode=mode, nonlinearity=nl)
    bound = gain * math.sqrt(3 / fan)
    assert np.abs(t.data).max() <= bound * (1 + 1e-6)
    assert abs(t.data.std() / (bound / math.sqrt(3)) - 1) < 0.01
    init.kaiming_normal_(t, a=a, mode=mode, nonlinearity=nl)
    assert abs(t.data.std() / (gain / math.sqrt(fan)) - 1) < 0.01 and abs(t.data.mean()) < 1e-3


def test_kaiming_errors_and_empty():
    with pytest.raises(ValueError, match="mode 'fan_avg' not supported"):
        init.kaiming_uniform_(cr.empty(3, 3), mode="fan_avg")
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_uniform_(cr.empty(0, 3))
    with pytest.raises(TypeError, match="floating-point"):
        init.normal_(cr.zeros(3, dtype=cr.int64))


def test_trunc_normal_and_orthogonal():
    cr.manual_seed(0)
    t = init.trunc_normal_(_big((300, 300)), std=1.0, a=-1.0, b=1.5)
    assert t.data.min() >= -1 and t.data.max() <= 1.5
    # the mean of N(0, 1) restricted to [-1, 1.5]: (phi(-1) - phi(1.5)) / (Phi(1.5) - Phi(-1))
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    Phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))
    assert abs(t.data.mean() - (phi(-1) - phi(1.5)) / (Phi(1.5) - Phi(-1))) < 0.01
    for shape in [(6, 4), (4, 6), (5, 2, 3)]:
        w = init.orthogonal_(cr.empty(shape), gain=2.0).data.reshape(shape[0], -1) / 2
        small = min(w.shape)
        gram = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
        np.testing.assert_allclose(gram, np.eye(small), atol=1e-5)


def test_seeded_and_works_on_parameters():
    p = nn.Parameter(cr.empty(20, 10))
    cr.manual_seed(5)
    init.kaiming_normal_(p)
    first = p.data.copy()
    cr.manual_seed(5)
    init.kaiming_normal_(p)
    np.testing.assert_array_equal(p.data, first)
    assert p.requires_grad and p.grad is None and p.is_leaf
