"""train/metrics.py: accuracy of (N, C) logits and of binary logits, and the running mean."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.train.metrics import RunningMean, accuracy, correct_count


def test_multiclass_logits():
    logits = cr.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.1, 0.2, 0.3], [5.0, 0.0, 0.0]])
    assert correct_count(logits, cr.tensor([0, 1, 0, 0])) == 3
    assert accuracy(logits, cr.tensor([0, 1, 2, 1])) == 0.75


def test_binary_logits_threshold_at_zero():
    # p = sigmoid(A) > 1/2 exactly when A > 0
    A = cr.tensor([2.0, -1.0, 0.5, -3.0, 0.0])
    y = cr.tensor([1.0, 0.0, 0.0, 1.0, 0.0])
    assert correct_count(A, y) == 3
    assert correct_count(A.reshape(5, 1), y.reshape(5, 1)) == 3
    assert accuracy(np.array([1.0, -1.0]), np.array([1, 0])) == 1.0


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match=r"logits \(N, C\) = \(2, 3\) need targets of shape "
                                         r"\(2,\)"):
        correct_count(cr.zeros(2, 3), cr.zeros(3))
    with pytest.raises(ValueError, match="binary logits"):
        correct_count(cr.zeros(4), cr.zeros(3))
    with pytest.raises(ValueError, match=r"\(N, C\) or \(N,\)"):
        correct_count(cr.zeros(2, 3, 4), cr.zeros(2))


def test_running_mean_weights_by_batch_size():
    m = RunningMean()
    assert np.isnan(m.value)
    m.update(1.0, 3)
    m.update(3.0, 1)
    assert m.value == 1.5
