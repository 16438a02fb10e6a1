"""The `chainrule` command: list, train (and --resume, also after a SIGKILL), eval, errors."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.recipes import OPTIMIZERS, RECIPES
from chainrule.train import load_checkpoint, read_csv

TINY = ["--n-train", "200", "--n-test", "200", "--no-progress", "--no-plot"]


def _train(out, *extra):
    return main(["train", "perceptron", "--out", str(out), *TINY, *extra])


def _weights(path):
    return {k: v.numpy() for k, v in load_checkpoint(path)["model"].items()}


def _history(path):
    return [{k: v for k, v in r.items() if k != "seconds"}
            for r in load_checkpoint(path)["history"]]


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in list(RECIPES) + list(OPTIMIZERS) + ["inverse-time", "plateau"]:
        assert re.search(rf"^  {re.escape(name)} ", out, re.M), name
    assert "--optimizer" in out


def test_help_lists_recipe_options(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "mlp", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--hidden" in out and "--dropout" in out and "--limit-train" in out
    assert "(default 30)" in out  # the recipe's own default number of epochs


def test_train_then_eval(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out, "--epochs", "3", "--hidden", "6", "--limit-train", "150") == 0
    text = capsys.readouterr().out
    assert "perceptron: 25 parameters; adam lr 0.05" in text  # 6*2 + 6 + 6 + 1
    assert re.search(r"^epoch 3/3  train loss [\d.]+ acc", text, re.M)
    test_acc = float(re.search(r"test accuracy ([\d.]+)%", text).group(1))
    assert sorted(p.name for p in out.iterdir()) == ["best.ckpt", "config.json", "last.ckpt",
                                                     "log.csv", "results.json"]
    config = json.loads((out / "config.json").read_text())
    assert config["recipe"] == "perceptron" and config["hidden"] == 6
    assert config["limit_train"] == 150 and config["optimizer"] == "adam"
    results = json.loads((out / "results.json").read_text())
    assert results["test_acc"] * 100 == pytest.approx(test_acc, abs=0.006)
    assert len(read_csv(out / "log.csv")) == 3

    assert main(["eval", str(out / "last.ckpt")]) == 0
    text = capsys.readouterr().out
    assert "after epoch 3" in text
    assert float(re.search(r"test accuracy ([\d.]+)%", text).group(1)) == test_acc
    # a recipe option after the checkpoint overrides the stored one (a smaller test set)
    assert main(["eval", str(out / "best.ckpt"), "--split", "val", "--n-test", "50"]) == 0
    assert "val accuracy" in capsys.readouterr().out


def test_eval_of_weights_that_do_not_fit_the_model_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out, "--epochs", "1", "--hidden", "6") == 0
    capsys.readouterr()
    # --hidden 3 after the checkpoint builds a smaller net than the one the weights are for
    assert main(["eval", str(out / "last.ckpt"), "--hidden", "3"]) == 2
    err = capsys.readouterr().err
    assert "do not fit the 'perceptron' model" in err and "last.ckpt" in err
    assert "Traceback" not in err


def test_resume_extends_a_run_to_the_same_weights(tmp_path, capsys):
    assert _train(tmp_path / "a", "--epochs", "4", "--optimizer", "momentum") == 0
    assert _train(tmp_path / "b", "--epochs", "2", "--optimizer", "momentum") == 0
    # settings come from the checkpoint: --hidden 3 is ignored, with a note
    assert _train(tmp_path / "b", "--epochs", "4", "--resume", "--hidden", "3") == 0
    text = capsys.readouterr().out
    assert "resumed from" in text and "--hidden 3 is ignored" in text
    a, b = _weights(tmp_path / "a" / "last.ckpt"), _weights(tmp_path / "b" / "last.ckpt")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert _history(tmp_path / "a" / "last.ckpt") == _history(tmp_path / "b" / "last.ckpt")


def test_errors_are_short_and_clear(tmp_path, capsys):
    assert _train(tmp_path / "none", "--resume") == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "missing.ckpt")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"\x00" * 5)
    assert main(["eval", str(bad)]) == 2
    assert "bad.ckpt' is not a readable safetensors file" in capsys.readouterr().err
    weights = tmp_path / "w.safetensors"
    cr.save({"w": cr.ones(2)}, weights)
    with pytest.raises(ValueError, match="not a chainrule checkpoint"):
        main(["eval", str(weights)])
    with pytest.raises(SystemExit):
        main(["train", "nope"])
    capsys.readouterr()


def _command(out, *extra):
    return [sys.executable, "-m", "chainrule", "train", "perceptron", "--epochs", "30",
            "--n-train", "2000", "--n-test", "200", "--no-progress", "--no-plot",
            "--out", str(out), *extra]


def test_sigkill_mid_run_then_resume_matches_an_uninterrupted_run(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": os.path.dirname(os.path.dirname(cr.__file__))}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "env": env}
    reference = subprocess.Popen(_command(tmp_path / "ref"), **quiet)
    victim = subprocess.Popen(_command(tmp_path / "run"), **quiet)
    ckpt = tmp_path / "run" / "last.ckpt"
    deadline = time.monotonic() + 60
    while not ckpt.exists() and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL, victim.stderr.read().decode()
    killed_at = load_checkpoint(ckpt)["epoch"]
    assert 1 <= killed_at < 30  # it really died mid-run

    resumed = subprocess.run(_command(tmp_path / "run", "--resume"), capture_output=True,
                             env=env, timeout=120)
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert f"resumed from {ckpt} after epoch {killed_at}" in resumed.stdout.decode()
    assert reference.wait(timeout=120) == 0, reference.stderr.read().decode()

    ref, res = tmp_path / "ref" / "last.ckpt", tmp_path / "run" / "last.ckpt"
    a, b = _weights(ref), _weights(res)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert _history(ref) == _history(res)
    assert [r["epoch"] for r in read_csv(tmp_path / "run" / "log.csv")] == list(range(1, 31))
    assert not [p.name for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]
