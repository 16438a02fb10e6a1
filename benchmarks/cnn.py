"""CNN training steps: chainrule against PyTorch (CPU), time side by side and peak memory.

Two workloads, float32, the same initial weights in both libraries, each step being forward,
cross-entropy loss, backward and an SGD update with momentum 0.9:

- LeNet-5 (``chainrule.models.lenet5``) at batch 128 on 1x28x28 images;
- a ResNet basic-block stage: x (32, 16, 32, 32) -> conv3x3 -> BN -> ReLU -> conv3x3 -> BN, + x,
  ReLU (``chainrule.models.resnet.BasicBlock(16, 16)``, identity shortcut) -> global average
  pool -> FC 16-10, in training mode (batch statistics).

Time: both libraries in one process, alternating blocks of steps with a pause between them
(benchmarks/_timing.py); medians, and the ratio chainrule / torch against the issue's targets
(LeNet-5 <= 1.5x, ResNet stage <= 2.0x).

Peak memory: each (workload, library) pair runs again in a fresh subprocess that imports only
that library and builds the net and the batch. There the resident set size (RSS) is read, the
kernel's high-water mark of it is reset (``echo 5 > /proc/self/clear_refs``), a few training
steps run, and the high-water mark is read again (``VmHWM`` in ``/proc/self/status``). The
difference is the memory the steps add at their peak: activations kept for backward, gradients,
optimizer state, im2col and workspace buffers, BLAS buffers; anything the OS counts as resident,
which tracemalloc (numpy allocations only) would miss. Library code, the weights and the batch
are in the "set-up" figure, also printed. (``ru_maxrss`` is no good here: Linux carries it over
from the parent process across fork and exec.) Where /proc is missing (not Linux), the child
falls back to ``ru_maxrss`` and says so.

    python benchmarks/cnn.py            # the full run (a minute or two)
    python benchmarks/cnn.py --quick    # a smoke run: few steps, noisy numbers
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

WORKLOADS = {
    "lenet5": {"title": "LeNet-5, batch 128, 1x28x28", "target": 1.5},
    "resnet_stage": {"title": "ResNet basic-block stage, 16 ch, 32x32, batch 32, BN, identity "
                              "skip, GAP + FC", "target": 2.0},
}
LR, MOMENTUM = 0.01, 0.9


def batch(name, seed=0):
    """The fixed input batch and labels of a workload (numpy)."""
    rng = np.random.default_rng(seed)
    shape = (128, 1, 28, 28) if name == "lenet5" else (32, 16, 32, 32)
    return rng.standard_normal(shape).astype(np.float32), rng.integers(0, 10, shape[0])


# ---- the nets ------------------------------------------------------------------------------

def chainrule_net(name):
    from chainrule import models, nn

    if name == "lenet5":
        return models.lenet5()
    return nn.Sequential(models.resnet.BasicBlock(16, 16), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(16, 10))


def torch_net(name):
    """The same architecture from torch.nn, with state_dict keys equal to chainrule's."""
    import torch
    from torch import nn

    if name == "lenet5":
        class LeNet5(nn.Module):
            def __init__(self):
                super().__init__()
                self.features = nn.Sequential(
                    nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
                    nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2, 2))
                self.classifier = nn.Sequential(
                    nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                    nn.Linear(84, 10))

            def forward(self, x):
                return self.classifier(torch.flatten(self.features(x), 1))

        return LeNet5()

    class Block(nn.Module):
        def __init__(self, c=16):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + x)

    return nn.Sequential(Block(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))


def copy_weights(ours, theirs):
    """Load chainrule's parameters and buffers into the torch net (same keys and shapes)."""
    import torch

    src = {k: v.numpy() for k, v in ours.state_dict().items()}
    dst = theirs.state_dict()
    missing = sorted(set(dst) ^ set(src))
    if missing:
        raise RuntimeError(f"copy_weights: the two nets' keys differ: {missing}")
    theirs.load_state_dict({k: torch.from_numpy(np.array(src[k])).to(dst[k].dtype)
                            for k in dst})


def chainrule_step(name, net=None):
    """A closure running one training step of chainrule, and the net."""
    import chainrule as cr
    from chainrule import nn, optim

    net = net or chainrule_net(name)
    opt = optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = nn.CrossEntropyLoss()
    x, y = batch(name)
    xc, yc = cr.from_numpy(x), cr.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = loss_fn(net(xc), yc)
        loss.backward()
        opt.step()
        return loss

    return step, net


def torch_step(name, net=None):
    import torch

    net = net or torch_net(name)
    opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = torch.nn.CrossEntropyLoss()
    x, y = batch(name)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = loss_fn(net(xt), yt)
        loss.backward()
        opt.step()
        return loss

    return step, net


# ---- peak memory, in a subprocess per (workload, library) ---------------------------------------

def _status_mib(field):
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM), in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise KeyError(field)


def _reset_peak():
    """Reset the kernel's high-water mark of the RSS to the current RSS; False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_child(name, library, steps):
    """Run in the subprocess: print {"before": MiB, "after": MiB, "method": ...} around
    ``steps`` training steps."""
    import gc

    if library == "torch":
        import torch

        torch.set_num_threads(int(os.environ.get("CNN_BENCH_TORCH_THREADS", os.cpu_count() or 1)))
        step, _ = torch_step(name)
    else:
        step, _ = chainrule_step(name)
    gc.collect()
    if _reset_peak():
        before, method = _status_mib("VmRSS"), "VmHWM"
        for _ in range(steps):
            step()
        after = _status_mib("VmHWM")
    else:  # pragma: no cover - not Linux
        before, method = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "ru_maxrss"
        for _ in range(steps):
            step()
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"before": before, "after": after, "method": method}))


def peak_memory(name, library, steps):
    out = subprocess.run([sys.executable, __file__, "--memory-child", name, library,
                          "--steps", str(steps)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---- the report ----------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20, help="timed steps per block (default 20)")
    ap.add_argument("--rounds", type=int, default=5,
                    help="alternating blocks per library (default 5)")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 3 steps per block, 1 round, 3 warm-up steps")
    ap.add_argument("--only", choices=list(WORKLOADS), help="run one workload only")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="torch threads (default: all cores); give NumPy the same with "
                         "OMP_NUM_THREADS, e.g. OMP_NUM_THREADS=1 python benchmarks/cnn.py --threads 1")
    ap.add_argument("--memory-child", nargs=2, metavar=("WORKLOAD", "LIBRARY"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child, args.steps)
        return
    steps, rounds, warmup = (3, 1, 3) if args.quick else (args.steps, args.rounds, 30)

    import torch
    from _timing import machine_info, side_by_side

    import chainrule as cr

    torch.set_num_threads(args.threads)
    os.environ["CNN_BENCH_TORCH_THREADS"] = str(args.threads)  # for the memory subprocesses
    print(machine_info())
    print(f"float32; a step = forward, cross-entropy, backward, SGD momentum {MOMENTUM}"
          + ("  [--quick: few steps, noisy]" if args.quick else ""))
    for name, spec in WORKLOADS.items():
        if args.only and name != args.only:
            continue
        cr.manual_seed(0)
        ours, net = chainrule_step(name)
        tnet = torch_net(name)
        copy_weights(net, tnet)
        theirs, _ = torch_step(name, tnet)
        l1, l2 = ours().item(), theirs().item()  # the same first step in both
        a, b = side_by_side(ours, theirs, n=steps, rounds=rounds, warmup=warmup)
        ratio, target = a / b, spec["target"]
        print(f"\n{spec['title']}")
        print(f"  first-step loss: chainrule {l1:.6f}, torch {l2:.6f}")
        print(f"  chainrule step: {a * 1e3:8.2f} ms (median)")
        print(f"  torch step:     {b * 1e3:8.2f} ms (median)")
        print(f"  ratio chainrule/torch: {ratio:.2f}  (target <= {target}: "
              f"{'met' if ratio <= target else 'not met'})")
        mem_steps = 3 if args.quick else 10
        for library in ("chainrule", "torch"):
            m = peak_memory(name, library, mem_steps)
            print(f"  peak memory {library:<9}: +{m['after'] - m['before']:6.1f} MiB over "
                  f"{m['before']:6.1f} MiB after set-up ({m['method']}, {mem_steps} steps, "
                  f"own process)")


if __name__ == "__main__":
    main()
