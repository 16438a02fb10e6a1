"""Memory passes saved in three ops, each against the form it replaced, in one process.

- batch_norm (training) forward: sigma^2 = mean(x^2) - mu^2 and y = x scale + (beta - mu scale),
  against the two-pass mean((x - mu)^2) with an x - mu array, on (32, 16, 32, 32) (the ResNet
  stage of benchmarks/cnn.py);
- ReLU backward: a float mask written by greater() and overwritten by the product, against
  gh * (h > 0).astype(float), on the same shape;
- embedding backward for the char LM of benchmarks/rnn.py (V = 65, D = 64, 2048 indices): a one-hot
  GEMM against one bincount over the (row, column) pairs; and at V = 300, D = 128 and V = 5000,
  D = 64, where the op keeps bincount.

Alternating blocks of the two forms, medians of the block medians, in ms; NumPy only.

    python benchmarks/passes.py
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import alternate  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.ops import normalization as norm  # noqa: E402
from chainrule.ops.elementwise import ReLU  # noqa: E402
from chainrule.ops.embedding import Embedding  # noqa: E402


def batch_norm_forward(rng):
    x = rng.standard_normal((32, 16, 32, 32)).astype(np.float32)
    N, C, M = 32, 16, 1024
    dt = x.dtype
    gamma, beta = np.ones(C, dt), np.zeros(C, dt)

    def two_pass():  # the form before: x - mu kept, its squares summed
        xw = x.reshape(N, C * M)
        mu = norm._channel_sum(xw, C, M) / dt.type(N * M)
        d = xw - norm._plane(mu, M, dt)
        var = norm._channel_dot(d, d, C, M) / dt.type(N * M)
        scale = gamma / np.sqrt(var + 1e-5)
        y = d * norm._plane(scale, M, dt)
        y += norm._plane(beta, M, dt)
        return y.reshape(x.shape)

    xt, wt, bt = cr.tensor(x), cr.tensor(gamma, requires_grad=True), cr.tensor(beta)

    def op():  # chainrule's batch_norm now (one node, training)
        return norm.batch_norm(xt, None, None, wt, bt, training=True)

    err = float(np.abs(op().data - two_pass()).max())
    a, b = alternate(two_pass, op, n=30, rounds=7)
    print(f"batch_norm forward (32, 16, 32, 32): two-pass {a:.3f} ms, now {b:.3f} ms "
          f"(max difference {err:.1e})")


def relu_backward(rng):
    h = np.maximum(rng.standard_normal((32, 16, 32, 32)).astype(np.float32), 0)
    gh = rng.standard_normal(h.shape).astype(np.float32)
    node = ReLU()
    node.saved = (h,)

    def cast_mask():
        return gh * (h > 0).astype(gh.dtype)

    assert np.array_equal(cast_mask(), node.backward(gh))
    a, b = alternate(cast_mask, lambda: node.backward(gh), n=30, rounds=7)
    print(f"ReLU backward (32, 16, 32, 32): cast bool mask {a:.3f} ms, now {b:.3f} ms")


def embedding_backward(rng):
    for V, D in ((65, 64), (300, 128), (5000, 64)):  # one-hot where V <= 2 D, bincount beyond
        n = 2048
        idx = rng.integers(0, V, n)
        g = rng.standard_normal((n, D)).astype(np.float32)

        def bincount():
            cells = (idx[:, None] * D + np.arange(D)).reshape(-1)
            return np.bincount(cells, weights=g.reshape(-1), minlength=V * D).reshape(V, D)

        def onehot():
            m = np.zeros((V, n), np.float32)
            m[idx, np.arange(n)] = 1
            return m @ g

        node = Embedding()
        node.meta = (idx, (V, D), None)
        taken = "one-hot" if V <= 2 * D else "bincount"
        err = float(np.abs(onehot() - bincount()).max())
        a, b = alternate(bincount, onehot, n=30, rounds=7)
        c = alternate(lambda: node.backward(g), lambda: node.backward(g), n=30, rounds=3)[0]
        print(f"embedding backward V={V}, D={D}, {n} indices: bincount {a:.3f} ms, one-hot GEMM "
              f"{b:.3f} ms (max difference {err:.1e}); the op takes {taken}: {c:.3f} ms")


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    batch_norm_forward(rng)
    relu_backward(rng)
    embedding_backward(rng)
