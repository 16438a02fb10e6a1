"""Engine overhead of chainrule against PyTorch (CPU), measured side by side in one run.

Two workloads, each forward + backward, each timed in both libraries on the same inputs:

1. per-node overhead: a chain of 1,000 small elementwise ops (alternating y * c and y + c on a
   vector of 16 floats) with grad, then y.sum().backward(); time / 1000 = cost of one node;
2. an MLP 784-512-512-10 at batch 128, float32, in raw ops: relu(x @ W.T + b) twice, logits,
   loss = -mean of log_softmax(logits) at the labels (picked by integer indexing, i.e. gather),
   then loss.backward(); once more with the fused ``chainrule.ops.linear`` for comparison.

Timing follows shared/PERF_NOTES.md "Measuring honestly" (helpers in benchmarks/_timing.py): torch
on 2 threads (or --threads), a 0.25 s pause and one untimed step before each timed block so the other
library's BLAS/OpenMP workers stop spinning, the median of 20 steps, blocks alternating between the
libraries, and the machine printed with the results. Quote the ratios (chainrule time / torch
time): absolute times drift about 30% on shared machines.

    python benchmarks/engine.py           # about ten seconds
    python benchmarks/engine.py --quick   # a smoke run of a few seconds
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import machine_info, side_by_side, time_block  # noqa: E402

import chainrule as cr  # noqa: E402

CHAIN = 1000
SIZES = (784, 512, 512, 10)
BATCH = 128


# ---- workload 1: a chain of small ops -------------------------------------------------------

def chain_step(x):
    def step():
        x.grad = None
        y = x
        for i in range(CHAIN // 2):
            y = y * 1.0001
            y = y + 0.001
        y.sum().backward()

    return step


# ---- workload 2: the MLP ---------------------------------------------------------------------

def mlp_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    labels = rng.integers(0, SIZES[-1], BATCH)
    params = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
        bound = 1 / np.sqrt(n_in)
        params.append(rng.uniform(-bound, bound, (n_out, n_in)).astype(np.float32))
        params.append(rng.uniform(-bound, bound, n_out).astype(np.float32))
    return x, labels, params


def mlp_step(lib, log_softmax, linear, x, labels, params):
    """One forward + backward of the MLP; ``linear`` None means the raw x @ W.T + b."""
    rows = lib.arange(BATCH)

    def step():
        for p in params:
            p.grad = None
        h = x
        for k in range(0, len(params), 2):
            w, b = params[k], params[k + 1]
            h = h @ w.T + b if linear is None else linear(h, w, b)
            if k + 2 < len(params):
                h = h.relu()
        loss = -log_softmax(h, dim=1)[rows, labels].mean()
        loss.backward()

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few steps only (smoke test)")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1),
                        help="threads for torch (numpy's BLAS follows OMP_NUM_THREADS)")
    args = parser.parse_args()
    steps, rounds = (3, 1) if args.quick else (20, 3)

    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(args.threads)
    print(machine_info())
    print(f"chainrule {cr.__version__}; per library: median of {rounds} alternating blocks of "
          f"{steps} steps, each after a 0.25 s pause and an untimed step"
          + (" (--quick: a smoke run, not a measurement)" if args.quick else ""))

    def measure(ours, theirs):
        if theirs is None:
            return time_block(ours, steps), None
        return side_by_side(ours, theirs, n=steps, rounds=rounds)

    rows = []  # (workload, chainrule seconds, torch seconds or None, nodes to divide by)
    xv = np.random.default_rng(1).standard_normal(16).astype(np.float32)
    t_cr, t_th = measure(chain_step(cr.tensor(xv, requires_grad=True)),
                         torch and chain_step(torch.tensor(xv, requires_grad=True)))
    rows.append((f"chain of {CHAIN} ops, fwd+bwd", t_cr, t_th, CHAIN))

    x, labels, params = mlp_data()
    cr_params = [cr.tensor(p, requires_grad=True) for p in params]
    cr_x, cr_labels = cr.tensor(x), cr.tensor(labels)
    th_step = None
    if torch is not None:
        th_params = [torch.tensor(p, requires_grad=True) for p in params]
        th_step = mlp_step(torch, torch.log_softmax, None, torch.from_numpy(x),
                           torch.from_numpy(labels), th_params)
    name = "MLP " + "-".join(map(str, SIZES)) + f" b{BATCH}"
    for label, linear in [("x @ W.T + b", None), ("ops.linear", cr.ops.linear)]:
        t_cr, t_th = measure(mlp_step(cr, cr.log_softmax, linear, cr_x, cr_labels, cr_params),
                             th_step)
        rows.append((f"{name}, {label}", t_cr, t_th, None))

    print()
    print(f"{'workload':<40} {'chainrule':>11} {'torch':>11} {'ratio':>7}")
    for label, a, b, per in rows:
        ratio = f"{a / b:6.2f}x" if b else "    n/a"
        tb = f"{b * 1e3:8.3f} ms" if b else "        n/a"
        print(f"{label:<40} {a * 1e3:8.3f} ms {tb} {ratio}")
        if per:
            tb = f"{b / per * 1e6:8.3f} us" if b else "        n/a"
            print(f"{'  per node':<40} {a / per * 1e6:8.3f} us {tb} {ratio}")
    print("\nratio = chainrule time / torch time (lower is better; below 1 chainrule is faster)")


if __name__ == "__main__":
    main()
