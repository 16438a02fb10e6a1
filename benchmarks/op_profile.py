"""Where a training step of the benchmarks spends its time: forward and backward wall time of every
autograd Function, by op and input shape.

Every Function subclass's forward and backward are wrapped with a timer for the run (nothing in
chainrule changes); the step is the one of benchmarks/cnn.py (lenet5, resnet_stage) or of
benchmarks/rnn.py (lstm, gru). Times are sums per step over the timed steps (an op used twice with
the same input shape is one line); "step" is the median wall time of a whole step, which also holds
the optimizer, zero_grad and the autograd engine. The timers add a few microseconds per op.

    python benchmarks/op_profile.py resnet_stage
    python benchmarks/op_profile.py lstm --steps 20
"""
from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

from chainrule.autograd.function import Function  # noqa: E402


def make_step(name):
    if name in ("lenet5", "resnet_stage"):
        import cnn

        return cnn.chainrule_step(name)[0]
    import chainrule as cr
    import rnn
    from chainrule import nn, optim

    rng = np.random.default_rng(0)
    tokens = rng.integers(0, rnn.VOCAB, (rnn.T, rnn.BATCH))
    targets = rng.integers(0, rnn.VOCAB, rnn.T * rnn.BATCH)
    cr.manual_seed(0)
    model = rnn.CharLM(name.upper())
    opt = optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    x, y = cr.from_numpy(tokens), cr.from_numpy(targets)

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    return step


def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)


def instrument(totals):
    """Wrap forward/backward of every Function subclass; totals[(op, shape)] = [fwd s, bwd s]."""
    for cls in set(subclasses(Function)):
        for kind, slot in (("forward", 0), ("backward", 1)):
            fn = cls.__dict__.get(kind)
            if fn is None:
                continue

            def timed(self, *args, _fn=fn, _slot=slot, _op=cls.__name__, **kwargs):
                if _slot == 0:
                    self._profile_key = (_op, tuple(getattr(args[0], "shape", ())) if args else ())
                t0 = time.perf_counter()
                out = _fn(self, *args, **kwargs)
                totals[getattr(self, "_profile_key", (_op, ()))][_slot] += time.perf_counter() - t0
                return out

            setattr(cls, kind, timed)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workload", choices=["lenet5", "resnet_stage", "lstm", "gru"])
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    step = make_step(args.workload)
    for _ in range(10):
        step()
    totals = collections.defaultdict(lambda: [0.0, 0.0])
    instrument(totals)
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    n = args.steps
    print(f"{args.workload}: step {1e3 * statistics.median(times):.2f} ms (median of {n})")
    print(f"{'op (first input shape)':44s} {'forward ms':>10s} {'backward ms':>11s}")
    rows = sorted(totals.items(), key=lambda kv: -sum(kv[1]))
    for (op, shape), (f, b) in rows:
        print(f"{op + str(shape):44s} {1e3 * f / n:10.2f} {1e3 * b / n:11.2f}")
    f_all = sum(v[0] for v in totals.values())
    b_all = sum(v[1] for v in totals.values())
    print(f"{'all ops':44s} {1e3 * f_all / n:10.2f} {1e3 * b_all / n:11.2f}")


if __name__ == "__main__":
    main()
