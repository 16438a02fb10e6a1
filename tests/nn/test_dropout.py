"""The Dropout module: active in training mode only, p checked, repr as torch."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def test_training_drops_and_eval_is_identity():
    cr.manual_seed(0)
    drop = nn.Dropout(0.25)
    x = cr.ones(100, 100)
    y = drop(x)
    assert abs((y.data == 0).mean() - 0.25) < 0.015
    assert set(np.unique(y.data)) <= {0.0, np.float32(1 / 0.75)}
    drop.eval()
    assert drop(x) is x
    drop.train()
    assert (drop(x).data == 0).any()


def test_inside_a_model_follows_train_eval():
    cr.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 10), nn.Dropout(0.5))
    x = cr.randn(4, 10)
    net.eval()
    np.testing.assert_array_equal(net(x).data, net(x).data)
    net.train()
    assert not np.array_equal(net(x).data, net(x).data)


def test_p_is_checked_and_repr_matches_torch():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match=r"Dropout: dropout probability has to be between 0 and 1"):
        nn.Dropout(1.2)
    assert repr(nn.Dropout()) == repr(torch.nn.Dropout())
    assert repr(nn.Dropout(0.1)) == repr(torch.nn.Dropout(0.1))


def test_dropout2d_layer_drops_channels_in_training_only_and_repr_matches_torch():
    torch = pytest.importorskip("torch")
    cr.manual_seed(0)
    drop = nn.Dropout2d(0.25)
    x = cr.ones(20, 30, 4, 4)
    y = drop(x)
    maps = y.data.reshape(600, 16)
    assert ((maps == 0).all(axis=1) | (maps == np.float32(1 / 0.75)).all(axis=1)).all()
    assert abs((maps[:, 0] == 0).mean() - 0.25) < 0.06
    drop.eval()
    assert drop(x) is x
    assert repr(nn.Dropout2d()) == repr(torch.nn.Dropout2d())
    assert repr(nn.Dropout2d(0.1)) == repr(torch.nn.Dropout2d(0.1))
    with pytest.raises(ValueError, match=r"Dropout2d: dropout probability has to be between 0"):
        nn.Dropout2d(-0.5)
