"""The style recipe (notes 4.1) end to end through the CLI on a tiny run."""
import json
import struct

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.recipes import RECIPES, decoder, style
from tests._fashion import requires_fashion_mnist, synthetic_fashion_raw


@pytest.fixture(autouse=True)
def synthetic(monkeypatch):
    """The runs read the synthetic images, not the data files (see test_real_fashion_mnist)."""
    monkeypatch.setattr(decoder, "_raw", synthetic_fashion_raw)


TINY = ["--no-progress", "--no-plot", "--epochs", "1", "--limit-train", "256",
        "--limit-test", "60", "--val-size", "50", "--classifier-epochs", "1",
        "--channels", "2", "--hidden", "8", "--style-dim", "2", "--show", "3"]


def png_size(path):
    data = open(path, "rb").read(24)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])  # (width, height)


def test_registered_with_its_options(capsys):
    assert RECIPES["style"] == "chainrule.recipes.style"
    with pytest.raises(SystemExit):
        main(["train", "style", "--help"])
    text = capsys.readouterr().out
    for flag in ("--style-dim", "--beta", "--alpha", "--no-variational", "--classifier"):
        assert flag in text, flag


def test_derangement_pairs_different_classes():
    y = np.array([0, 0, 1, 1, 2, 2, 2, 0])
    p = style.derangement(y, seed=3)
    assert len(p) == len(y) and (p >= 0).all() and (y[p] != y).all()
    assert np.array_equal(p, style.derangement(y, seed=3))
    assert (style.derangement(np.zeros(4, dtype=np.int64)) == -1).all()  # one class: no pairs


def test_tiny_run_writes_its_folder_and_measures_the_swaps(tmp_path, capsys):
    out = tmp_path / "style"
    assert main(["train", "style", "--out", str(out), *TINY]) == 0
    text = capsys.readouterr().out
    assert "judged as the content's class" in text and "style consistency" in text
    for name in ("config.json", "log.csv", "last.ckpt", "best.ckpt", "results.json",
                 "style_swaps.png"):
        assert (out / name).is_file(), name
    # the 60 test images hold every class: 1 + 10 rows, 1 + 3 columns, 30 px each, x2
    assert png_size(out / "style_swaps.png") == (2 * (4 * 30 + 2), 2 * (11 * 30 + 2))
    res = json.loads((out / "results.json").read_text())
    assert res["recipe"] == "style" and res["epochs"] == 1
    for key in ("test_mse", "test_content_acc", "test_judge_acc", "test_judge_recon_acc",
                "test_swap_acc", "test_swap_style_acc", "test_swap_acc_true_content"):
        assert 0 <= res[key] <= 1, key
    assert res["test_swap_acc"] + res["test_swap_style_acc"] <= 1 + 1e-9
    assert res["test_swap_pairs"] == 60 and res["test_style_consistency"] >= 0
    rows = (out / "log.csv").read_text().splitlines()
    assert rows[0] == "epoch,loss,recon,kl,ce,train_content_acc,val_mse,seconds"
    assert len(rows) == 2
    assert main(["eval", str(out / "last.ckpt")]) == 0
    assert "style after epoch 1" in capsys.readouterr().out
    png = tmp_path / "s.png"
    assert main(["sample", str(out / "last.ckpt"), "--num", "2", "--out", str(png)]) == 0
    assert png_size(png) == (2 * (3 * 30 + 2), 2 * (11 * 30 + 2))
    assert "in the style of 2 test images" in capsys.readouterr().out


def test_swap_figure_layout():
    import chainrule as cr
    from chainrule.models import StyleContentAutoencoder

    cr.manual_seed(0)
    ae = StyleContentAutoencoder(num_classes=3, style_dim=2, image_size=8, channels=2, hidden=4)
    X = np.random.default_rng(0).random((9, 1, 8, 8)).astype(np.float32)
    y = np.array([2, 0, 0, 1, 2, 1, 0, 1, 2])
    images, ncol = style.swap_figure(ae, X, y, n_styles=4, seed=1)
    assert ncol == 5 and images.shape == (4 * 5, 1, 8, 8)
    assert (images[0] == 1).all()  # the blank corner
    assert np.array_equal(images[5], X[1]) and np.array_equal(images[10], X[3])  # class 0, 1
    assert np.array_equal(images[15], X[0])  # the first image of class 2
    grid = ae.swap_grid(cr.tensor(X[[1, 3, 0]]), cr.tensor(images[1:5])).numpy()
    assert np.allclose(images[6:10], grid[0], atol=1e-6)


def test_bad_options_are_reported(tmp_path):
    with pytest.raises(ValueError, match="--style-dim must be >= 1, got 0"):
        main(["train", "style", "--out", str(tmp_path / "x"), *TINY, "--style-dim", "0"])


@requires_fashion_mnist
def test_real_fashion_mnist(monkeypatch, tmp_path):
    monkeypatch.undo()  # the real loader, not the synthetic one
    out = tmp_path / "real"
    assert main(["train", "style", "--out", str(out), *TINY, "--limit-train", "128",
                 "--limit-test", "40"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert 0 < res["test_mse"] < 1 and res["test_swap_pairs"] > 0
