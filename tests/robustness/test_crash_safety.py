"""Crash safety of `chainrule train`: a run SIGKILLed anywhere (in an optimizer step, halfway
through a checkpoint or log write, between the rename of best.ckpt and of last.ckpt, at random
times) and restarted with --resume until it finishes ends with exactly the files of a run that
was never interrupted; no *.ckpt in the run folder is ever half-written; a full disk gives a clear
error naming the file and keeps the previous checkpoint.

The runs are the `perceptron` recipe on 200 points for 8 epochs (7 steps an epoch), about half a
second each. The child process (crash_child.py) is the real `chainrule` command with a hook that
kills it at a chosen point. Weights are compared bit for bit: a resumed run restores the weights,
the optimizer's moments, the schedule and the random generator (next shuffles), so it repeats the
uninterrupted run's arithmetic exactly.
"""
import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import serialization
from chainrule.cli import main
from chainrule.train import load_checkpoint, read_csv

CHILD = Path(__file__).with_name("crash_child.py")
EPOCHS = 8
STEPS = EPOCHS * 7  # 200 points in batches of 32
ARGS = ["train", "perceptron", "--epochs", str(EPOCHS), "--n-train", "200", "--n-test", "100",
        "--no-progress", "--no-plot"]
KILLED = -signal.SIGKILL


def _env(plan=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": os.path.dirname(os.path.dirname(cr.__file__))}
    env.pop("CHAINRULE_TEST_KILL", None)
    if plan:
        env["CHAINRULE_TEST_KILL"] = plan
    return env


def _command(out, resume):
    return [sys.executable, str(CHILD), *ARGS, "--out", str(out)] + (["--resume"] if resume
                                                                      else [])


def _run(out, plan=None):
    """One attempt: --resume when a last.ckpt is there (a kill before the first one restarts)."""
    resume = (out / "last.ckpt").exists()
    return subprocess.run(_command(out, resume), env=_env(plan), capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("crash") / "reference"
    t0 = time.perf_counter()
    r = _run(out)
    assert r.returncode == 0, r.stderr.decode()
    return out, time.perf_counter() - t0


def _temps(out):
    return sorted(p.name for p in out.iterdir() if p.name.endswith(".tmp"))


def _check_folder(out):
    """What must hold after any kill: every *.ckpt loads in full, and best.ckpt is the model
    of the best epoch recorded in last.ckpt, or of the epoch after it (written just before the
    kill; the resumed run repeats that epoch and writes both again). Returns last.ckpt's epoch."""
    ckpts = {p.name: load_checkpoint(p) for p in out.glob("*.ckpt")}  # raises if half-written
    assert set(ckpts) <= {"last.ckpt", "best.ckpt"}, sorted(ckpts)
    last = ckpts.get("last.ckpt")
    epoch = last["epoch"] if last is not None else 0
    best_epoch = (last["best"] or {}).get("epoch") if last is not None else None
    if best_epoch is not None:
        assert "best.ckpt" in ckpts, "last.ckpt records a best epoch but best.ckpt is missing"
    if "best.ckpt" in ckpts:
        assert ckpts["best.ckpt"]["epoch"] in (best_epoch, epoch + 1), (
            f"best.ckpt is of epoch {ckpts['best.ckpt']['epoch']}, but last.ckpt (epoch "
            f"{epoch}) records the best at epoch {best_epoch}")
    if (out / "config.json").exists():
        json.loads((out / "config.json").read_text())
    return epoch


def _arrays(tree, prefix=""):
    """Flat {path: array} of every array in a checkpoint, and {path: value} of the rest."""
    if isinstance(tree, dict):
        out = {}
        for k, v in tree.items():
            if k not in ("seconds", "out"):  # wall time and run folder differ between runs
                out.update(_arrays(v, f"{prefix}/{k}"))
        return out
    if isinstance(tree, (list, tuple)):
        out = {}
        for i, v in enumerate(tree):
            out.update(_arrays(v, f"{prefix}/{i}"))
        return out
    return {prefix: tree.numpy() if isinstance(tree, cr.Tensor) else tree}


def _assert_same_run(out, ref):
    for name in ("last.ckpt", "best.ckpt"):
        a, b = _arrays(load_checkpoint(ref / name)), _arrays(load_checkpoint(out / name))
        assert a.keys() == b.keys(), name
        for k in a:  # weights, optimizer moments, RNG state, history, best: bit for bit
            if isinstance(a[k], np.ndarray):
                np.testing.assert_array_equal(a[k], b[k], err_msg=f"{name} {k}")
            else:
                assert a[k] == b[k], f"{name} {k}: {a[k]!r} != {b[k]!r}"
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in read_csv(ref / "log.csv")]
    assert [{k: v for k, v in r.items() if k != "seconds"}
            for r in read_csv(out / "log.csv")] == strip
    assert [r["epoch"] for r in strip] == list(range(1, EPOCHS + 1))
    assert json.loads((out / "results.json").read_text()) == \
        json.loads((ref / "results.json").read_text())
    assert _temps(out) == [], "temporary files were left behind"


def _finish(out, plans):
    """Run once per plan (each may kill the run), then without one until the run completes.
    Returns the number of kills and the temporary files found after them."""
    kills, epochs, temps = 0, [0], []
    for plan in list(plans) + [None]:
        r = _run(out, plan)
        if plan is None or r.returncode != KILLED:
            assert r.returncode == 0, (plan, r.returncode, r.stdout.decode(), r.stderr.decode())
            continue
        kills += 1
        temps += _temps(out)
        if plan.startswith("write:"):  # it died halfway through a file: the temp file is there
            assert _temps(out), f"{plan}: no partial temporary file after the kill"
        epochs.append(_check_folder(out))
        assert epochs[-1] >= epochs[-2], f"last.ckpt went back from epoch {epochs[-2]}"
    return kills, temps


# N counts in the attempt that carries the plan. A run writes config.json (write 1), log.csv
# (2: the header and the rows of a resumed run), then each epoch best.ckpt (if it improved) and
# last.ckpt (3 and 4 in epoch 1, which always improves), and results.json at the end.
SCHEDULES = {
    "first-checkpoint-half-written": ["write:3:0.5"],
    "checkpoints-cut-at-1-and-90-percent": ["write:4:0.01", "write:6:0.9"],
    "right-after-a-rename": ["replace:3:after", "replace:5:after"],
    "right-before-a-rename": ["replace:4:before"],
    "mid-epoch-optimizer-steps": ["step:10", "step:20"],
    "half-a-log-row": ["csv:2"],
}


@pytest.mark.parametrize("plans", SCHEDULES.values(), ids=SCHEDULES.keys())
def test_kills_at_chosen_points_then_resume_give_the_uninterrupted_run(tmp_path, reference,
                                                                       plans):
    kills, temps = _finish(tmp_path / "run", plans)
    assert kills == len(plans)
    if plans[0].startswith("write:"):  # the kills did land inside checkpoint writes
        assert any(t.startswith((".best.ckpt.", ".last.ckpt.")) for t in temps), temps
    _assert_same_run(tmp_path / "run", reference[0])


def _random_plan(rng):
    kind = rng.choice(["step", "write", "replace", "csv"])
    if kind == "step":
        return f"step:{rng.randint(1, STEPS)}"
    if kind == "write":
        return f"write:{rng.randint(1, 2 * EPOCHS + 3)}:{rng.random():.3f}"
    if kind == "replace":
        return f"replace:{rng.randint(1, 2 * EPOCHS + 3)}:{rng.choice(['before', 'after'])}"
    return f"csv:{rng.randint(1, EPOCHS)}"


@pytest.mark.parametrize("seed", range(2))
def test_random_kill_points_then_resume_give_the_uninterrupted_run(tmp_path, reference, seed):
    rng = random.Random(seed)
    _finish(tmp_path / "run", [_random_plan(rng) for _ in range(3)])
    _assert_same_run(tmp_path / "run", reference[0])


@pytest.mark.parametrize("seed", range(2))
def test_kills_at_random_times_then_resume_give_the_uninterrupted_run(tmp_path, reference, seed):
    """Plain SIGKILLs from outside at random moments (where they land is up to the scheduler)."""
    rng = random.Random(100 + seed)
    out, duration = tmp_path / "run", reference[1]
    epochs = [0]
    for _ in range(2):
        child = subprocess.Popen(_command(out, (out / "last.ckpt").exists()), env=_env(),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.3, 1.0) * duration)
        child.send_signal(signal.SIGKILL)
        rc = child.wait(timeout=60)
        assert rc in (0, KILLED), child.stderr.read().decode()
        child.stderr.close()
        epochs.append(_check_folder(out))
        assert epochs[-1] >= epochs[-2]
    r = _run(out)
    assert r.returncode == 0, r.stderr.decode()
    _assert_same_run(out, reference[0])


# ---- a full disk -----------------------------------------------------------------------------

def _fill_disk(monkeypatch, stage, names):
    """Make writes of files whose name starts with one of ``names`` fail with ENOSPC: halfway
    through the data ('write') or when it is flushed to the disk ('fsync')."""
    def target(fd):
        base = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        return any(base.startswith(f".{n}.") or base == n for n in names)

    def full():
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if stage == "fsync":
        real_fsync = os.fsync

        def fsync(fd):
            if target(fd):
                raise full()
            real_fsync(fd)

        monkeypatch.setattr(serialization.os, "fsync", fsync)
        return
    real_fdopen = os.fdopen

    class HalfFile:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[:len(data) // 2])
            raise full()

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.f.__exit__(*exc)

    def fdopen(fd, mode="r", *args, **kwargs):
        f = real_fdopen(fd, mode, *args, **kwargs)
        return HalfFile(f) if "w" in mode and target(fd) else f

    monkeypatch.setattr(serialization.os, "fdopen", fdopen)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
@pytest.mark.parametrize("stage", ["write", "fsync"])
@pytest.mark.parametrize("names", [("last.ckpt", "best.ckpt"), ("config.json",)],
                         ids=["checkpoint", "config"])
def test_full_disk_is_a_clear_error_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch,
                                                                      capsys, stage, names):
    out = tmp_path / "run"
    tiny = ["train", "perceptron", "--n-train", "200", "--n-test", "100", "--no-progress",
            "--no-plot", "--out", str(out)]
    assert main(tiny + ["--epochs", "2"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()

    _fill_disk(monkeypatch, stage, names)
    assert main(tiny + ["--epochs", "3", "--resume"]) == 2  # an error message, no traceback
    err = capsys.readouterr().err
    assert err.startswith("chainrule: error: ") and "no space left on device" in err, err
    assert any(f"{out / n}'" in err for n in names), err  # the file it could not write
    assert "the previous file was left as it was" in err
    monkeypatch.undo()

    kept = ("last.ckpt", "best.ckpt") + names  # (config.json gets the new --epochs otherwise)
    for name in kept:  # untouched, and loadable
        assert (out / name).read_bytes() == before[name], name
    assert load_checkpoint(out / "last.ckpt")["epoch"] == 2
    assert _temps(out) == []
    # once there is room again the run continues to the weights of an uninterrupted one
    assert main(tiny + ["--epochs", "3", "--resume"]) == 0
    assert main(tiny[:-1] + [str(tmp_path / "ref"), "--epochs", "3"]) == 0
    a = load_checkpoint(tmp_path / "ref" / "last.ckpt")["model"]
    b = load_checkpoint(out / "last.ckpt")["model"]
    for k in a:
        np.testing.assert_array_equal(a[k].numpy(), b[k].numpy(), err_msg=k)


def test_full_disk_while_logging_names_the_log(tmp_path, monkeypatch):
    from chainrule import nn, optim
    from chainrule.data import DataLoader, TensorDataset
    from chainrule.train import fit
    from chainrule.train import logging as log_module

    real_open = open

    def full_open(path, mode="r", *args, **kwargs):
        f = real_open(path, mode, *args, **kwargs)
        if "a" in mode:
            f.close()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return f

    monkeypatch.setattr(log_module, "open", full_open, raising=False)
    model = nn.Linear(2, 2)
    data = DataLoader(TensorDataset(cr.randn(8, 2), cr.randint(0, 2, (8,))), batch_size=4)
    with pytest.raises(OSError, match=r"log\.csv'.*no space left on device") as info:
        fit(model, optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), data,
            epochs=1, out_dir=tmp_path, progress=False, plot=False, log=None)
    assert info.value.errno == errno.ENOSPC
    assert load_checkpoint(tmp_path / "last.ckpt")["epoch"] == 1  # the checkpoint came first
