"""chainrule on a CUDA GPU (through CuPy) against NumPy and PyTorch CUDA: one prepared run.

Needs a machine with an NVIDIA GPU, CuPy (``pip install cupy-cuda12x``) and PyTorch built with CUDA.
Run from the repository root:

    python benchmarks/gpu.py [--quick] [--out FILE.md]

1. Every sample of the op registry (tests/ops/registry.py) forward and backward on "cuda" and on
   the CPU (float32): outputs and gradients must be CuPy arrays equal to NumPy's (rtol 1e-4), and
   the per-call times of both.
2. A training step (forward, cross-entropy, backward, SGD momentum) of LeNet-5 (batch 128, 28x28)
   and of a ResNet basic block (64 channels, batch 64, 32x32): chainrule on CuPy against the same
   network in PyTorch on the same GPU (median of timed steps, after warm-up, synchronised).

It prints markdown tables (and writes them to ``--out``). Without a GPU it exits with status 2 and
says what is missing.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # tests.ops.registry
sys.path.insert(0, os.path.join(ROOT, "src"))


def _need_gpu():
    """CuPy, a GPU and CUDA PyTorch, or exit 2 with the reason."""
    missing = []
    try:
        import cupy
        n = cupy.cuda.runtime.getDeviceCount()
        if n < 1:
            missing.append("CuPy sees no GPU")
    except Exception as e:  # noqa: BLE001 - any failure means no usable GPU
        missing.append(f"CuPy is not usable ({type(e).__name__}: {e}); pip install cupy-cuda12x")
    try:
        import torch
        if not torch.cuda.is_available():
            missing.append("PyTorch has no CUDA (torch.cuda.is_available() is False)")
    except ImportError:
        missing.append("PyTorch is not installed")
    import chainrule as cr
    if not missing and not cr.cuda.is_available():
        missing.append("chainrule.cuda.is_available() is False")
    if missing:
        print("benchmarks/gpu.py needs an NVIDIA GPU with CuPy and CUDA PyTorch: "
              + "; ".join(missing), file=sys.stderr)
        sys.exit(2)


def _sync():
    import cupy
    import torch

    cupy.cuda.Device().synchronize()
    torch.cuda.synchronize()


def _time(fn, reps, warm=2):
    for _ in range(warm):
        fn()
    _sync()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        _sync()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


# ---- 1. the op registry on CuPy ---------------------------------------------------------------

def registry_check(reps):
    import cupy
    import numpy as np

    import chainrule as cr
    from tests.ops import registry as R

    def run(op, sample, device):
        arrays = R.sample_arrays(op, sample)
        xs = [cr.tensor(a.astype(np.float32) if a.dtype.kind == "f" else a,
                        requires_grad=a.dtype.kind == "f", device=device) for a in arrays]
        kw = R._map_arrays(sample.kwargs, lambda a: cr.tensor(a, device=device))
        outs = R._as_list(op.call(*xs, **kw))
        rng = np.random.default_rng(1)
        pairs = [(o, cr.tensor(rng.standard_normal(o.shape).astype(o.dtype), device=device))
                 for o in outs if o.requires_grad]
        if pairs:
            cr.autograd.backward([o for o, _ in pairs], [w for _, w in pairs])
        return outs, [x.grad for x in xs if x.requires_grad]

    rows, bad = [], []
    for op in R.REGISTRY:
        for sample in op.samples:
            try:
                outs, grads = run(op, sample, None)
                douts, dgrads = run(op, sample, "cuda")
                for k, (d, h) in enumerate(list(zip(douts, outs)) + list(zip(dgrads, grads))):
                    if h is None:
                        continue
                    if not isinstance(d.data, cupy.ndarray):
                        raise AssertionError(f"result {k} is a {type(d.data).__name__}")
                    np.testing.assert_allclose(cupy.asnumpy(d.data), h.data, rtol=1e-4,
                                               atol=1e-5)
                t_cpu = _time(lambda: run(op, sample, None), reps)
                t_gpu = _time(lambda: run(op, sample, "cuda"), reps)
                rows.append((sample.name, t_cpu, t_gpu))
            except Exception as e:  # noqa: BLE001 - reported in the table
                bad.append((sample.name, f"{type(e).__name__}: {str(e)[:120]}"))
    return rows, bad


# ---- 2. training steps against PyTorch CUDA -----------------------------------------------------

def _torch_lenet(torch):
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(),
                         nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, 10))


class _TorchBlock:
    @staticmethod
    def make(torch, c):
        nn = torch.nn

        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
                self.bn1 = nn.BatchNorm2d(c)
                self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
                self.bn2 = nn.BatchNorm2d(c)
                self.head = nn.Linear(c, 10)

            def forward(self, x):
                out = torch.relu(self.bn1(self.conv1(x)))
                out = torch.relu(self.bn2(self.conv2(out)) + x)
                return self.head(out.mean(dim=(2, 3)))

        return Block()


def _cr_block(cr, c):
    from chainrule.models.resnet import BasicBlock

    class Net(cr.nn.Module):
        def __init__(self):
            super().__init__()
            self.block = BasicBlock(c, c)
            self.head = cr.nn.Linear(c, 10)

        def forward(self, x):
            return self.head(self.block(x).mean(dim=(2, 3)))

    return Net()


def training_steps(reps):
    import numpy as np
    import torch

    import chainrule as cr
    from chainrule.models.lenet import LeNet5

    cases = [("LeNet-5, batch 128, 1x28x28", lambda: LeNet5(), lambda: _torch_lenet(torch),
              (128, 1, 28, 28)),
             ("ResNet basic block, 64 ch, batch 64, 32x32", lambda: _cr_block(cr, 64),
              lambda: _TorchBlock.make(torch, 64), (64, 64, 32, 32))]
    rows = []
    rng = np.random.default_rng(0)
    for name, make_cr, make_torch, shape in cases:
        x = rng.standard_normal(shape).astype(np.float32)
        y = rng.integers(0, 10, shape[0])
        m = make_cr().to("cuda")
        opt = cr.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
        xc, yc = cr.tensor(x, device="cuda"), cr.tensor(y, device="cuda")

        def cr_step():
            opt.zero_grad()
            cr.nn.functional.cross_entropy(m(xc), yc).backward()
            opt.step()

        tm = make_torch().cuda()
        topt = torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9)
        xt, yt = torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()

        def torch_step():
            topt.zero_grad()
            torch.nn.functional.cross_entropy(tm(xt), yt).backward()
            topt.step()

        t_cr = _time(cr_step, reps, warm=3)
        t_torch = _time(torch_step, reps, warm=3)
        rows.append((name, t_cr, t_torch))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer timed repetitions")
    ap.add_argument("--out", help="also write the markdown tables to this file")
    args = ap.parse_args()
    _need_gpu()
    import cupy
    import torch

    reps_op, reps_step = (3, 5) if args.quick else (10, 20)
    lines = [f"GPU: {cupy.cuda.runtime.getDeviceProperties(0)['name'].decode()}, "
             f"CuPy {cupy.__version__}, torch {torch.__version__}", ""]
    rows, bad = registry_check(reps_op)
    lines += ["## Op registry, forward + backward, float32 (median per call)", "",
              "| sample | NumPy (ms) | CuPy (ms) |", "|---|---:|---:|"]
    lines += [f"| {n} | {c * 1e3:.3f} | {g * 1e3:.3f} |" for n, c, g in rows]
    lines += ["", f"{len(rows)} samples equal on CuPy and NumPy; {len(bad)} failed."]
    lines += [f"- FAILED {n}: {e}" for n, e in bad]
    steps = training_steps(reps_step)
    lines += ["", "## Training step (forward, cross-entropy, backward, SGD momentum)", "",
              "| network | chainrule on CuPy (ms) | PyTorch CUDA (ms) | ratio |",
              "|---|---:|---:|---:|"]
    lines += [f"| {n} | {a * 1e3:.2f} | {b * 1e3:.2f} | {a / b:.1f}x |" for n, a, b in steps]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
