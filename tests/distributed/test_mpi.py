"""Data-parallel training under ``mpirun -np 2``: equal parameters after every step, 2 ranks x
batch B == 1 process x batch 2B, disjoint shards, rank-0-only files, exact resume, and
``chainrule train mlp --distributed``.

Two launches in all (the checks of _mpi_worker.py, then the command); skips without mpirun or
mpi4py (apt-get install openmpi-bin libopenmpi-dev; pip install mpi4py).
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from tests._fashion import requires_fashion_mnist

pytest.importorskip("mpi4py")
MPIRUN = shutil.which("mpirun")
pytestmark = pytest.mark.skipif(MPIRUN is None, reason="mpirun (Open MPI / MPICH) not installed")

HERE = os.path.dirname(os.path.abspath(__file__))
NP = 2


def _is_open_mpi():
    return "Open MPI" in subprocess.run([MPIRUN, "--version"], capture_output=True,
                                        text=True).stdout


def mpirun(*cmd, cwd=None, timeout=180):
    # Open MPI refuses root and more processes than cores unless told (CI runs as root on 2 cores)
    env = dict(os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    args = [MPIRUN, "-np", str(NP)] + (["--oversubscribe"] if _is_open_mpi() else [])
    proc = subprocess.run(args + list(cmd), capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)
    assert proc.returncode == 0, f"mpirun failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("mpi")
    mpirun(sys.executable, os.path.join(HERE, "_mpi_worker.py"), str(out))
    res = [json.loads((out / f"rank{r}.json").read_text()) for r in range(NP)]
    return res, out


def test_world(ranks):
    res, _ = ranks
    assert [r["rank"] for r in res] == list(range(NP))
    assert all(r["world_size"] == NP and r["backend"] == "mpi" for r in res)


def test_parameters_equal_at_start_and_after_every_step(ranks):
    res, _ = ranks
    for r in res:
        assert r["spread_init"] == 0.0  # seeded differently, then rank 0's weights broadcast
        assert len(r["spread_steps"]) == 96 // (8 * NP)
        assert r["spread_steps"] == [0.0] * len(r["spread_steps"])  # bit-for-bit equal
        assert len(r["buckets"]) > 1  # a tiny bucket_mb: several all-reduce buffers
        assert r["allreduce_calls"] == len(r["buckets"]) * len(r["spread_steps"])


def test_two_ranks_of_batch_b_equal_one_process_of_batch_2b(ranks):
    res, _ = ranks
    for r in res:
        assert r["equiv_moved"] > 1e-2  # the 5 SGD steps did move the weights
        assert r["equiv_maxdiff"] < 1e-6  # float32 rounding only


def test_distributed_optimizer_averages_in_step(ranks):
    res, _ = ranks
    for r in res:
        assert r["distopt_maxdiff"] == 0.0 and r["distopt_isinstance"]


def test_sampler_shards_are_disjoint_and_cover_the_set(ranks):
    res, _ = ranks
    shards = [r["shard_96"] for r in res]
    assert all(len(s) == 96 // NP for s in shards)
    assert sorted(sum(shards, [])) == list(range(96))  # disjoint, and every index
    shards = [r["shard_7"] for r in res]
    assert all(len(s) == 4 for s in shards)  # ceil(7 / 2), padded with repeats
    assert set(sum(shards, [])) == set(range(7))
    assert sorted(sum([r["eval_shard_7"] for r in res], [])) == list(range(7))  # exactly once


def test_reductions(ranks):
    res, _ = ranks
    for r in res:
        assert r["sum_int"] == sum(range(1, NP + 1)) and isinstance(r["sum_int"], int)
        assert r["mean_float"] == pytest.approx(np.mean(range(NP)))
        assert r["sum_array"] == [float(NP), float(sum(range(NP)))]
        assert r["bcast"] == {"from": 0}


def test_fit_rank0_alone_writes_and_logs_global_metrics(ranks):
    res, out = ranks
    assert res[0]["fit_files"] == ["best.ckpt", "last.ckpt", "log.csv"]
    assert all(r["fit_files"] is None for r in res[1:])
    assert not any(p.name.startswith("fit_rank1") for p in out.iterdir())
    assert all(r["history"] == res[0]["history"] for r in res)  # the same records everywhere
    last = res[0]["history"][-1]
    # validation over the shards of all ranks == the whole validation set in one process
    assert last["val_loss"] == pytest.approx(res[0]["val_full"]["loss"], rel=1e-5)
    assert last["val_acc"] == pytest.approx(res[0]["val_full"]["accuracy"])


def test_fit_resume_equals_an_unbroken_run(ranks):
    res, _ = ranks
    assert all(r["resume_maxdiff"] == 0.0 for r in res)  # dropout masks of every rank restored


@requires_fashion_mnist
def test_cli_train_mlp_distributed(tmp_path):
    from chainrule.recipes.mlp import make_model
    from chainrule.train import load_checkpoint

    out = tmp_path / "run"
    proc = mpirun(sys.executable, "-m", "chainrule", "train", "mlp", "--distributed",
                  "--epochs", "2", "--limit-train", "512", "--val-size", "500", "--hidden", "16",
                  "--no-progress", "--no-plot", "--out", str(out), cwd=str(tmp_path))
    text = proc.stdout
    assert text.count("epoch 2/2") == 1  # rank 0 alone prints
    assert f"batch 128 per process = {128 * NP} per step" in text
    assert sorted(p.name for p in out.iterdir()) == ["best.ckpt", "config.json", "last.ckpt",
                                                     "log.csv", "results.json"]
    results = json.loads((out / "results.json").read_text())
    assert results["world_size"] == NP and results["epochs"] == 2
    assert 0.0 < results["test_acc"] <= 1.0
    ckpt = load_checkpoint(out / "last.ckpt")
    assert ckpt["config"]["world_size"] == NP and "distributed" not in ckpt["config"]
    assert len(ckpt["rng_ranks"]) == NP
    make_model(784, [16], 10, 0.2).load_state_dict(ckpt["model"])  # the plain model's keys
