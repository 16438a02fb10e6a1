"""Engine overhead of chainrule against PyTorch (CPU), measured side by side in one run.

Two workloads, each forward + backward, each timed in both libraries on the same inputs:

1. per-node overhead: a chain of 1,000 small elementwise ops (alternating y * c and y + c on a
   vector of 16 floats) with grad, then y.sum().backward(); time / 1000 = cost of one node;
2. an MLP 784-512-512-10 at batch 128, float32, in raw ops: relu(x @ W.T + b) twice, logits,
   loss = -mean of log_softmax(logits) at the labels (picked by integer indexing, i.e. gather),
   then loss.backward(); once more with the fused ``chainrule.ops.linear`` for comparison.

Timing follows shared/PERF_NOTES.md "Measuring honestly": threads fixed (2, or the cores), a 0.25 s
sleep and one untimed step before each timed block (BLAS/OpenMP workers of the other library stop
spinning), the median of at least 20 steps after warm-up, and the machine printed with the results.
Quote the ratios (chainrule time / torch time): absolute times drift about 30% on shared machines.

    python benchmarks/engine.py           # about half a minute
    python benchmarks/engine.py --quick   # a smoke run of a few seconds
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

import chainrule as cr

CHAIN = 1000
SIZES = (784, 512, 512, 10)
BATCH = 128


def machine_info(torch):
    print(f"machine: {platform.machine()} {platform.processor() or ''}".rstrip()
          + f", {os.cpu_count()} cores, Python {platform.python_version()}")
    blas = "unknown"
    try:
        import threadpoolctl

        pools = threadpoolctl.threadpool_info()
        blas = "; ".join(f"{p.get('internal_api')} {p.get('version')} "
                         f"({p.get('num_threads')} threads, {p.get('architecture')})" for p in pools)
    except ImportError:
        try:
            deps = np.show_config(mode="dicts").get("Build Dependencies", {})
            b = deps.get("blas", {})
            blas = f"{b.get('name')} {b.get('version')}"
        except (TypeError, AttributeError):  # numpy < 1.25 only prints its config
            blas = "see numpy.show_config()"
    print(f"numpy {np.__version__}, BLAS: {blas}")
    if torch is not None:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
              f"MKL {torch.backends.mkl.is_available()}, "
              f"oneDNN {torch.backends.mkldnn.is_available()}")
    print(f"chainrule {cr.__version__}")


def timed(step, steps, warmup):
    """Median seconds of ``steps`` calls of step(), after a pause, one untimed call and warm-up."""
    time.sleep(0.25)  # let the other library's worker threads go idle
    step()
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


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
    steps, warmup = (3, 1) if args.quick else (25, 5)

    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(args.threads)
    machine_info(torch)
    print(f"median of {steps} steps after {warmup} warm-up steps"
          + (" (--quick: not a measurement)" if args.quick else ""))

    rows = []  # (workload, chainrule seconds, torch seconds, per-node divisor)

    xv = np.random.default_rng(1).standard_normal(16).astype(np.float32)
    t_cr = timed(chain_step(cr.tensor(xv, requires_grad=True)), steps, warmup)
    t_th = (timed(chain_step(torch.tensor(xv, requires_grad=True)), steps, warmup)
            if torch is not None else None)
    rows.append((f"chain of {CHAIN} ops, fwd+bwd", t_cr, t_th, CHAIN))

    x, labels, params = mlp_data()
    cr_params = [cr.tensor(p, requires_grad=True) for p in params]
    cr_x, cr_labels = cr.tensor(x), cr.tensor(labels)
    t_cr = timed(mlp_step(cr, cr.log_softmax, None, cr_x, cr_labels, cr_params), steps, warmup)
    t_cr_fused = timed(mlp_step(cr, cr.log_softmax, cr.ops.linear, cr_x, cr_labels, cr_params),
                       steps, warmup)
    t_th = None
    if torch is not None:
        th_params = [torch.tensor(p, requires_grad=True) for p in params]
        t_th = timed(mlp_step(torch, torch.log_softmax, None, torch.from_numpy(x),
                              torch.from_numpy(labels), th_params), steps, warmup)
    name = "MLP " + "-".join(map(str, SIZES)) + f" b{BATCH}"
    rows.append((f"{name}, x @ W.T + b", t_cr, t_th, None))
    rows.append((f"{name}, ops.linear", t_cr_fused, t_th, None))

    print()
    print(f"{'workload':<40} {'chainrule':>11} {'torch':>11} {'ratio':>7}")
    for label, a, b, per in rows:
        ratio = f"{a / b:6.2f}x" if b else "    n/a"
        tb = f"{b * 1e3:8.3f} ms" if b else "        n/a"
        print(f"{label:<40} {a * 1e3:8.3f} ms {tb} {ratio}")
        if per:
            tb = f"{b / per * 1e6:8.3f} us" if b else "        n/a"
            print(f"{'  per node':<40} {a / per * 1e6:8.3f} us {tb} {ratio}")
    print("\nratio = chainrule time / torch time (lower is better; < 1 means chainrule is faster)")


if __name__ == "__main__":
    main()
