"""The dcgan recipe end to end through the CLI on tiny runs (seconds)."""
import json

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.models import DCGANGenerator, MLPGenerator
from chainrule.recipes import RECIPES, dcgan
from tests._fashion import requires_fashion_mnist


@pytest.fixture(autouse=True)
def synthetic(monkeypatch):
    """Small synthetic 'Fashion-MNIST' (blobs whose brightness follows the label), so the runs
    need no data files; the real data is checked in ``test_real_fashion_mnist``."""
    def pixels(args, train):
        n = 300 if train else 240
        rng = np.random.default_rng(0 if train else 1)
        labels = rng.integers(0, 10, n)
        img = rng.integers(0, 40, (n, 28, 28))
        img[:, 6:22, 6:22] += 20 * labels[:, None, None]
        return img.astype(np.uint8), labels.astype(np.int64)

    monkeypatch.setattr(dcgan, "_pixels", pixels)


TINY = ["--epochs", "2", "--limit-train", "256", "--batch-size", "64", "--n-eval", "100",
        "--monitor-n", "50", "--classifier-epochs", "1", "--no-progress"]


def _png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_helpers():
    px = np.array([[[0, 255], [51, 204]]], np.uint8)
    x = dcgan.to_tanh_range(px)
    assert x.shape == (1, 1, 2, 2) and x.dtype == np.float32
    assert np.allclose(x[0, 0], [[-1, 1], [-0.6, 0.6]])
    g, d = dcgan.make_nets({"nz": 8, "ngf": 4, "ndf": 4})
    assert isinstance(g, DCGANGenerator) and g.nz == 8 and g.image_size == 28
    g, d = dcgan.make_nets({"nz": 8, "mlp": True, "g_hidden": "16,32", "d_hidden": "8"})
    assert isinstance(g, MLPGenerator) and g.hidden == (16, 32) and d.hidden == (8,)
    with pytest.raises(ValueError, match="--g-hidden must be comma-separated positive ints"):
        dcgan.make_nets({"mlp": True, "g_hidden": "16,x"})


def test_tiny_run_scores_samples_and_draws_grids(tmp_path, capsys):
    assert RECIPES["dcgan"] == "chainrule.recipes.dcgan"
    out = tmp_path / "dcgan"
    assert main(["train", "dcgan", *TINY, "--nz", "8", "--ngf", "4", "--ndf", "4",
                 "--out", str(out)]) == 0
    for name in ("config.json", "log.csv", "last.ckpt", "best.ckpt", "results.json",
                 "classifier.ckpt", "samples.png", "interpolation.png", "epochs/epoch_001.png",
                 "epochs/epoch_002.png"):
        assert (out / name).is_file(), name
    # 64 samples of 28x28, 8 a row, padding 2, scale 2; interpolation: 8 rows of 10 steps
    assert _png(out / "samples.png") == (2 * (8 * 30 + 2), 2 * (8 * 30 + 2))
    assert _png(out / "interpolation.png") == (2 * (10 * 30 + 2), 2 * (8 * 30 + 2))
    res = json.loads((out / "results.json").read_text())
    assert res["recipe"] == "dcgan" and res["epochs"] == 2 and res["n_eval"] == 100
    assert res["test_frechet"] > 0 and res["test_frechet_real_halves"] >= 0
    assert len(res["test_label_histogram"]) == 10
    assert sum(res["test_label_histogram"]) == pytest.approx(1.0)
    assert 1 <= res["test_modes_covered"] <= 10
    assert res["best"]["metric"] == "frechet" and res["best"]["epoch"] in (1, 2)
    text = capsys.readouterr().out
    assert "real half vs real half" in text and "Frechet distance (LeNet-5 features)" in text
    rows = (out / "log.csv").read_text().strip().splitlines()
    assert rows[0] == "epoch,d_loss,g_loss,value,frechet,d_steps,g_steps,seconds"
    assert len(rows) == 3 and all(np.isfinite(float(r.split(",")[4])) for r in rows[1:])

    # chainrule sample: a grid of --num samples from the checkpoint alone
    png = tmp_path / "s.png"
    assert main(["sample", str(out / "last.ckpt"), "--num", "10", "--out", str(png)]) == 0
    assert "10 samples of the generator after epoch 2" in capsys.readouterr().out
    assert _png(png) == (2 * (8 * 30 + 2), 2 * (2 * 30 + 2))
    assert main(["sample", str(out / "best.ckpt"), "--num", "4"]) == 0  # default: beside it
    assert (out / "samples.png").is_file()
    # chainrule eval: rebuilds the nets and scores them with the run's classifier.ckpt
    assert main(["eval", str(out / "last.ckpt"), "--n-eval", "50"]) == 0
    text = capsys.readouterr().out
    assert "dcgan after epoch 2" in text and "LeNet-5 from" in text


def test_mlp_run_with_a_given_classifier(tmp_path, capsys):
    first = tmp_path / "a"
    assert main(["train", "dcgan", *TINY, "--epochs", "1", "--nz", "8", "--ngf", "4", "--ndf",
                 "4", "--out", str(first)]) == 0
    out = tmp_path / "mlp"
    assert main(["train", "dcgan", *TINY, "--epochs", "1", "--mlp", "--nz", "8", "--g-hidden",
                 "16", "--d-hidden", "16", "--monitor-n", "0", "--classifier",
                 str(first / "classifier.ckpt"), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"LeNet-5 from {first / 'classifier.ckpt'}" in text
    assert not (out / "classifier.ckpt").exists()  # the given one is used, not retrained
    res = json.loads((out / "results.json").read_text())
    assert np.isfinite(res["test_frechet"]) and res["best"] == {}
    assert (out / "best.ckpt").is_file() and (out / "epochs" / "epoch_001.png").is_file()
    assert main(["sample", str(out / "last.ckpt"), "--num", "3", "--out",
                 str(tmp_path / "m.png")]) == 0
    assert main(["train", "dcgan", *TINY, "--classifier", str(tmp_path / "none.ckpt"),
                 "--out", str(tmp_path / "bad")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err


@requires_fashion_mnist
def test_real_fashion_mnist(monkeypatch):
    monkeypatch.undo()  # the real loader, not the synthetic one
    import argparse

    p = argparse.ArgumentParser()
    dcgan.add_arguments(p)
    args = p.parse_args([])
    args.limit_train, args.batch_size = 500, 100
    setup = dcgan.build(args)
    x = setup.train_loader.dataset.tensors[0].numpy()
    assert x.shape == (500, 1, 28, 28) and x.dtype == np.float32
    assert x.min() == -1.0 and x.max() == 1.0 and -0.9 < x.mean() < 0  # mostly dark background
    pixels, labels = dcgan._pixels(args, train=False)
    assert pixels.shape == (10000, 28, 28) and set(np.unique(labels)) == set(range(10))
