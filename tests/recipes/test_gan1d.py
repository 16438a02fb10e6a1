"""The gan1d recipe end to end through the CLI on a tiny run."""
import json

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.recipes import RECIPES, gan1d


def test_wasserstein1_of_sorted_samples():
    assert gan1d.wasserstein1([0.0, 1.0], [3.0, 2.0]) == pytest.approx(2.0)
    x = np.random.default_rng(0).standard_normal(1000)
    assert gan1d.wasserstein1(x, x + 0.5) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="same size"):
        gan1d.wasserstein1([0.0], [1.0, 2.0])


def test_sample_mixture_is_seeded_and_bimodal():
    a = gan1d.sample_mixture(4000, np.array([-2.0, 2.0]), 0.25, seed=3)
    assert np.array_equal(a, gan1d.sample_mixture(4000, np.array([-2.0, 2.0]), 0.25, seed=3))
    assert 0.45 < (a < 0).mean() < 0.55 and np.abs(np.abs(a) - 2).max() < 6 * 0.25


def test_tiny_run_writes_its_folder(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert RECIPES["gan1d"] == "chainrule.recipes.gan1d"
    out = tmp_path / "gan1d"
    assert main(["train", "gan1d", "--epochs", "2", "--n-train", "256", "--n-eval", "500",
                 "--hidden", "8", "--batch-size", "64", "--out", str(out),
                 "--no-progress"]) == 0
    for name in ("config.json", "log.csv", "last.ckpt", "results.json", "density.png"):
        assert (out / name).is_file(), name
    assert (out / "density.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = json.loads((out / "results.json").read_text())
    assert res["recipe"] == "gan1d" and res["epochs"] == 2
    assert res["test_w1"] >= 0 and len(res["test_mode_mass"]) == 2
    assert 0.0 <= sum(res["test_mode_mass"]) + res["test_outside"] <= 1.0 + 1e-9
    assert "W1(generated, data)" in capsys.readouterr().out
    with open(out / "log.csv") as f:
        rows = f.read().strip().splitlines()
    assert rows[0].startswith("epoch,d_loss,g_loss,value") and len(rows) == 3
    # the checkpoint holds both networks and the settings: eval rebuilds and measures it
    assert main(["eval", str(out / "last.ckpt")]) == 0
    assert "gan1d after epoch 2" in capsys.readouterr().out
