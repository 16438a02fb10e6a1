"""One training step of the 784-512-512-10 ReLU MLP at batch 128: chainrule against PyTorch (CPU).

A step is forward, cross-entropy loss, backward and an SGD update with momentum, all through the
public API (nn.Linear, nn.ReLU, nn.CrossEntropyLoss, optim.SGD), float32, same initial weights.

    python benchmarks/mlp.py            # prints the machine, both medians and the ratio
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import machine_info, side_by_side  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule import nn, optim  # noqa: E402


def build(sizes, batch, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return x, y, nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=30, help="timed steps per block")
    ap.add_argument("--rounds", type=int, default=5, help="alternating blocks per library")
    ap.add_argument("--warmup", type=int, default=200,
                    help="untimed steps of each library first: training runs are long, and the "
                         "first hundred steps still pay for page faults and thread start-up")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    sizes = (784, 512, 512, 10)
    x, y, model = build(sizes, args.batch)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    xc, yc = cr.from_numpy(x), cr.from_numpy(y)

    tmodel = torch.nn.Sequential(*[
        m for i in range(len(sizes) - 1) for m in (
            [torch.nn.Linear(sizes[i], sizes[i + 1])] + ([torch.nn.ReLU()] if i < len(sizes) - 2 else []))])
    with torch.no_grad():
        for tp, p in zip(tmodel.parameters(), model.parameters()):
            tp.copy_(torch.from_numpy(p.data))
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.01, momentum=0.9)
    tloss = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def ours():
        opt.zero_grad()
        loss = loss_fn(model(xc), yc)
        loss.backward()
        opt.step()

    def theirs():
        topt.zero_grad()
        loss = tloss(tmodel(xt), yt)
        loss.backward()
        topt.step()

    a, b = side_by_side(ours, theirs, n=args.steps, rounds=args.rounds, warmup=args.warmup)
    print(machine_info())
    print(f"MLP {'-'.join(map(str, sizes))}, batch {args.batch}, float32, SGD momentum 0.9")
    print(f"  chainrule step: {a * 1e3:8.3f} ms (median)")
    print(f"  torch step:     {b * 1e3:8.3f} ms (median)")
    print(f"  ratio chainrule/torch: {a / b:.2f}")


if __name__ == "__main__":
    main()
