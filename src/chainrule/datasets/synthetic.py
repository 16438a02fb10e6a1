"""Small synthetic problems for the notes' examples, generated from a seed.

``make_rings``: the situation of the notes' Figure 1 — positive examples inside a disc, negative
examples on a ring around it. No hyperplane separates them in the input space; a hidden layer of
logistic units maps them to features h_i where one does.
"""
from __future__ import annotations

import numpy as np


def make_rings(n=400, noise=0.1, seed=0, inner_radius=0.5, outer_radius=1.5):
    """Two concentric classes in 2-D.

    Args:
        n: number of points (half of each class, the odd one negative).
        noise: standard deviation of the Gaussian jitter added to the radius.
        seed: seed of the generator (the same seed gives the same points).

    Returns:
        X: float32 array (n, 2); y: float32 array (n,) with 1 for the inner class, 0 for the ring.
    """
    if n < 2:
        raise ValueError(f"make_rings: expected n >= 2 points, got {n}")
    rng = np.random.default_rng(seed)
    n_pos = n // 2
    radius = np.concatenate([rng.uniform(0, inner_radius, n_pos),
                             np.full(n - n_pos, outer_radius)])
    radius = radius + noise * rng.standard_normal(n)
    angle = rng.uniform(0, 2 * np.pi, n)
    X = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1).astype(np.float32)
    y = np.concatenate([np.ones(n_pos), np.zeros(n - n_pos)]).astype(np.float32)
    order = rng.permutation(n)
    return X[order], y[order]


def make_xor(n=400, noise=0.1, seed=0):
    """The XOR problem: label 1 where x1 and x2 have the same sign (quadrants), float32 (n, 2), (n,)."""
    rng = np.random.default_rng(seed)
    centers = rng.choice(np.array([[1, 1], [-1, -1], [1, -1], [-1, 1]], np.float32), n)
    X = (centers + noise * rng.standard_normal((n, 2))).astype(np.float32)
    y = (centers[:, 0] == centers[:, 1]).astype(np.float32)
    return X, y
