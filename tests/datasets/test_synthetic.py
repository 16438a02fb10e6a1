import numpy as np

from chainrule.datasets.synthetic import make_rings, make_xor


def test_rings_are_seeded_balanced_and_concentric():
    X, y = make_rings(200, noise=0.05, seed=4)
    X2, y2 = make_rings(200, noise=0.05, seed=4)
    np.testing.assert_array_equal(X, X2)
    assert X.shape == (200, 2) and X.dtype == np.float32 and y.dtype == np.float32
    assert y.sum() == 100
    r = np.linalg.norm(X, axis=1)
    assert r[y == 1].max() < r[y == 0].min()  # inner disc inside the ring


def test_xor_labels():
    X, y = make_xor(100, noise=0.0, seed=1)
    np.testing.assert_array_equal(y, (np.sign(X[:, 0]) == np.sign(X[:, 1])).astype(np.float32))
