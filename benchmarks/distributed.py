"""Scaling overhead of data-parallel training: 2 MPI ranks against 1 process, MLP and LeNet-5.

Each model takes training steps (forward, cross-entropy, backward, gradient all-reduce, SGD with
momentum) on a fixed synthetic batch of ``--batch`` examples *per process*, float32, one BLAS
thread per process (OMP_NUM_THREADS=1):

- MLP 784-512-512-10 (669,706 parameters, 2.7 MB of gradients: one 25 MB bucket);
- LeNet-5 on 1x28x28 images (61,706 parameters).

For each model and each world size P (1, then ``--np``) it reports the median time of a step on
the slowest rank, the part of it spent in ``allreduce_gradients`` (copies into the flat bucket,
MPI_Allreduce, copies back; it includes the wait for the slowest rank to arrive, so load
imbalance shows up there), the throughput per process (batch / step time) and the scaling
efficiency

    efficiency = (P x throughput per process with P ranks) / (P x throughput of 1 process),

i.e. the total throughput of P ranks over P times that of one process: 100% is perfect linear
scaling. CAUTION: on a small machine (the project's CI has 2 cores) the ranks share the cores
and the memory bandwidth with each other, so this measures the *overhead* of the all-reduce and
of the processes' contention, not the speed-up of a cluster of machines; run it on machines with
at least P free cores (or across hosts, ``--hostfile``) to measure scaling.

    python benchmarks/distributed.py                 # launches mpirun -np 1 and -np 2 itself
    python benchmarks/distributed.py --steps 3       # a quick check that it runs
    python benchmarks/distributed.py --np 4 --mpirun-args "--hostfile hosts"
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time

MODELS = ("mlp", "lenet5")


def worker(args):
    """One rank's measurements; rank 0 prints one JSON line per model."""
    import numpy as np

    import chainrule as cr
    import chainrule.distributed as dist
    from chainrule import nn, optim
    from chainrule.models import lenet5

    group = dist.init_process_group()
    rng = np.random.default_rng(group.rank)
    for name in args.models:
        cr.manual_seed(0)
        if name == "mlp":
            model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                                  nn.Linear(512, 10))
            shape = (args.batch, 784)
        else:
            model = lenet5(num_classes=10, in_channels=1)
            shape = (args.batch, 1, 28, 28)
        x = cr.from_numpy(rng.standard_normal(shape).astype(np.float32))
        y = cr.from_numpy(rng.integers(0, 10, args.batch))
        ddp = dist.DistributedDataParallel(model)
        opt = optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()

        def step():
            opt.zero_grad()
            loss_fn(ddp(x), y).backward()
            ddp.allreduce_gradients()
            opt.step()

        for _ in range(args.warmup):
            step()
        dist.barrier()
        times, comm = [], []
        for _ in range(args.steps):
            a0 = ddp.allreduce_seconds
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
            comm.append(ddp.allreduce_seconds - a0)
        mine = (statistics.median(times), statistics.median(comm))
        every = dist.all_gather_object(mine)
        if group.rank == 0:
            step_s = max(t for t, _ in every)  # the slowest rank sets the pace
            print(json.dumps({"model": name, "np": group.size, "step_s": step_s,
                              "allreduce_s": max(c for _, c in every),
                              "buckets": len(ddp.buckets),
                              "params": sum(p.numel() for p in model.parameters())}),
                  flush=True)


def launch(args, np_):
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        sys.exit("benchmarks/distributed.py: mpirun not found (apt-get install openmpi-bin "
                 "libopenmpi-dev; pip install mpi4py)")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # Open MPI refuses root unless told
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    extra = shlex.split(args.mpirun_args)
    if "Open MPI" in subprocess.run([mpirun, "--version"], capture_output=True,
                                    text=True).stdout and "--oversubscribe" not in extra:
        extra.append("--oversubscribe")
    cmd = [mpirun, "-np", str(np_), *extra, sys.executable, os.path.abspath(__file__),
           "--worker", "--batch", str(args.batch), "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--models", *args.models]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"benchmarks/distributed.py: {' '.join(cmd)} failed ({proc.returncode}):\n"
                 f"{proc.stdout}\n{proc.stderr}")
    return {r["model"]: r for r in map(json.loads, (line for line in proc.stdout.splitlines()
                                                     if line.startswith("{")))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--np", type=int, default=2, help="ranks to compare with 1 (default 2)")
    ap.add_argument("--batch", type=int, default=128, help="examples per rank (default 128)")
    ap.add_argument("--steps", type=int, default=50, help="timed steps (default 50)")
    ap.add_argument("--warmup", type=int, default=10, help="untimed steps first (default 10)")
    ap.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    ap.add_argument("--mpirun-args", default="", help="extra mpirun options, e.g. "
                                                      "'--hostfile hosts'")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if args.np < 2 or args.steps < 1 or args.batch < 1:
        sys.exit("benchmarks/distributed.py: need --np >= 2, --steps >= 1 and --batch >= 1")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _timing import machine_info

    one, many = launch(args, 1), launch(args, args.np)
    print(machine_info())
    print(f"data-parallel SGD step, batch {args.batch} per process, float32, 1 thread per "
          f"process; medians of {args.steps} steps (slowest rank); {os.cpu_count()} cores")
    print(f"{'model':<8} {'ranks':>5} {'step ms':>9} {'allreduce ms':>13} "
          f"{'ex/s per proc':>14} {'total ex/s':>11} {'efficiency':>11}")
    for name in args.models:
        base = args.batch / one[name]["step_s"]
        for r in (one[name], many[name]):
            per = args.batch / r["step_s"]
            eff = (r["np"] * per) / (r["np"] * base)
            print(f"{name:<8} {r['np']:>5} {r['step_s'] * 1e3:>9.2f} "
                  f"{r['allreduce_s'] * 1e3:>13.3f} {per:>14.0f} {r['np'] * per:>11.0f} "
                  f"{100 * eff:>10.1f}%")
    if (os.cpu_count() or 1) <= args.np:
        print(f"note: {os.cpu_count()} cores for {args.np} ranks: this measures the overhead of "
              f"the all-reduce and of sharing the cores, not a speed-up")


if __name__ == "__main__":
    main()
