"""conv2d forward + backward against PyTorch CPU, side by side (PERF_NOTES: "Measuring honestly").

Configs: LeNet-5's two convolutions at batch 128 (1->6 5x5 pad 2 on 28x28, the input needing no
gradient; 6->16 5x5 on 14x14) and a ResNet basic-block convolution (16->16 3x3 pad 1 on 32x32,
batch 32). Each step is y = conv2d(x, W, b); y.backward(g) with fresh gradients.

    python benchmarks/conv_kernels.py [--n 20] [--rounds 3]
    OMP_NUM_THREADS=1 python benchmarks/conv_kernels.py --threads 1 --cpu-time

``--cpu-time`` times each step by the process's CPU time instead of the wall clock (meaningful with
one thread per library): on a machine shared with other jobs it is much steadier.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import machine_info, side_by_side  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.ops import conv2d  # noqa: E402

CONFIGS = [  # name, (N, C_in, H), (C_out, K), padding, input needs grad
    ("lenet conv1 1->6 5x5 p2 28x28 b128", (128, 1, 28), (6, 5), 2, False),
    ("lenet conv2 6->16 5x5 14x14 b128", (128, 6, 14), (16, 5), 0, True),
    ("resnet 16->16 3x3 p1 32x32 b32", (32, 16, 32), (16, 3), 1, True),
]


def steps(shape_in, kernel, padding, x_grad, seed=0):
    import torch

    n, c, h = shape_in
    co, k = kernel
    rng = np.random.default_rng(seed)
    xa = rng.standard_normal((n, c, h, h), dtype=np.float32)
    wa = rng.standard_normal((co, c, k, k), dtype=np.float32) * 0.1
    ba = rng.standard_normal(co, dtype=np.float32)
    x = cr.tensor(xa, requires_grad=x_grad)
    w = cr.tensor(wa, requires_grad=True)
    b = cr.tensor(ba, requires_grad=True)
    y = conv2d(x, w, b, padding=padding)
    ga = rng.standard_normal(y.shape, dtype=np.float32)
    g = cr.tensor(ga)
    tx = torch.tensor(xa, requires_grad=x_grad)
    tw = torch.tensor(wa, requires_grad=True)
    tb = torch.tensor(ba, requires_grad=True)
    tg = torch.from_numpy(ga)

    def ours():
        x.grad = w.grad = b.grad = None
        conv2d(x, w, b, padding=padding).backward(g)

    def theirs():
        tx.grad = tw.grad = tb.grad = None
        torch.nn.functional.conv2d(tx, tw, tb, padding=padding).backward(tg)

    return ours, theirs


def cpu_time_side_by_side(ours, theirs, n=20, rounds=3, warmup=5):
    """Median CPU seconds per step (ours, theirs), steps alternating between the libraries."""
    for step in (ours, theirs):
        for _ in range(warmup):
            step()
    times = ([], [])
    for _ in range(n * rounds):
        for k, step in enumerate((ours, theirs)):
            t0 = time.process_time()
            step()
            times[k].append(time.process_time() - t0)
    return statistics.median(times[0]), statistics.median(times[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="timed steps per block")
    ap.add_argument("--rounds", type=int, default=3, help="alternating blocks per library")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (numpy: OMP_NUM_THREADS)")
    ap.add_argument("--cpu-time", action="store_true", help="time by CPU time, not wall clock")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print(machine_info())
    print(f"timing: {'CPU time' if args.cpu_time else 'wall clock'}, medians")
    print(f"{'config':40s} {'chainrule ms':>12s} {'torch ms':>9s} {'ratio':>6s}")
    for name, shape_in, kernel, padding, x_grad in CONFIGS:
        ours, theirs = steps(shape_in, kernel, padding, x_grad)
        timer = cpu_time_side_by_side if args.cpu_time else side_by_side
        a, b = timer(ours, theirs, n=args.n, rounds=args.rounds, warmup=5)
        print(f"{name:40s} {1e3 * a:12.2f} {1e3 * b:9.2f} {a / b:6.2f}")


if __name__ == "__main__":
    main()
