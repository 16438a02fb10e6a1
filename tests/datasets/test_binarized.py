"""datasets.binarized: Bernoulli draws with the grey levels as probabilities, a fixed test set."""
import numpy as np
import pytest

from chainrule.data import DataLoader
from chainrule.datasets.binarized import (DynamicBinarized, binarize, fixed_binarized,
                                          grey_levels)


class _Images:
    def __init__(self, data, targets):
        self.data, self.targets = data, targets


def _toy(n=50):
    rng = np.random.default_rng(3)
    return _Images(rng.integers(0, 256, size=(n, 4, 4), dtype=np.uint8),
                   rng.integers(0, 10, size=n))


def test_grey_levels_scale_to_unit_interval():
    ds = _toy()
    g = grey_levels(ds)
    assert g.shape == (50, 16) and g.dtype == np.float32
    np.testing.assert_allclose(g, ds.data.reshape(50, 16) / 255.0, rtol=1e-6)
    with pytest.raises(ValueError, match=r"uint8 images data \(N, H, W\)"):
        grey_levels(_Images(np.zeros((3, 16)), None))


def test_binarize_is_bernoulli_with_the_given_probabilities():
    p = np.array([0.0, 0.1, 0.5, 0.9, 1.0], np.float32)
    draws = binarize(np.tile(p, (20000, 1)), np.random.default_rng(0))
    assert set(np.unique(draws)) <= {0.0, 1.0}
    np.testing.assert_allclose(draws.mean(0), p, atol=0.01)
    assert draws[:, 0].max() == 0 and draws[:, -1].min() == 1
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        binarize(np.array([1.5]), np.random.default_rng(0))


def test_fixed_binarized_is_the_same_for_the_same_seed():
    ds = _toy()
    a, b, c = fixed_binarized(ds), fixed_binarized(ds), fixed_binarized(ds, seed=1)
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_dynamic_binarized_draws_afresh_and_batches_through_the_loader():
    ds = DynamicBinarized(_toy(), seed=0)
    x1, y1 = ds[3]
    x2, _ = ds[3]
    assert x1.shape == (16,) and int(y1.item()) == int(ds.targets[3])
    probs = ds.probs[3]
    assert np.all(x1.numpy()[probs == 0] == 0) and np.all(x1.numpy()[probs == 1] == 1)
    many = np.stack([ds[3][0].numpy() for _ in range(2000)])
    np.testing.assert_allclose(many.mean(0), probs, atol=0.05)
    assert (x1.numpy() != x2.numpy()).any() or (probs % 1 == 0).all()
    xb, yb = next(iter(DataLoader(ds, batch_size=8, shuffle=False)))
    assert xb.shape == (8, 16) and yb.shape == (8,)
    np.testing.assert_array_equal(yb.numpy(), ds.targets[:8])
