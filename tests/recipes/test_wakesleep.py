"""The wakesleep recipe (Helmholtz machine on binarized Fashion-MNIST) end to end on tiny runs.

The CLI runs use a few hundred small synthetic grey images in place of Fashion-MNIST (patched
into ``wakesleep.fashion_mnist_splits``); the test on the real data skips when it is not
installed.
"""
import argparse
import json
from types import SimpleNamespace

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.recipes import RECIPES, get_recipe, wakesleep
from chainrule.train import load_checkpoint

PNG = b"\x89PNG\r\n\x1a\n"


def _synthetic(n_train=300, n_test=40, seed=0):
    """Two kinds of 28x28 uint8 images: a bright left half or a bright top half, with noise."""
    rng = np.random.default_rng(seed)

    def draw(n):
        y = rng.integers(0, 2, n)
        img = rng.integers(0, 40, (n, 28, 28))
        img[y == 0, :, :14] += 200
        img[y == 1, :14, :] += 200
        return SimpleNamespace(data=np.clip(img, 0, 255).astype(np.uint8), targets=y)

    return draw(n_train), draw(n_test)


@pytest.fixture
def synthetic(monkeypatch):
    data = _synthetic()
    monkeypatch.setattr(wakesleep, "fashion_mnist_splits", lambda args: data)
    return data


def _args(argv=()):
    p = argparse.ArgumentParser()
    wakesleep.add_arguments(p)
    args = p.parse_args(list(argv))
    args.batch_size, args.limit_train, args.seed = 50, None, 0
    return args


TINY = ["--layers", "16,4", "--val-size", "50", "--val-iw-samples", "5", "--iw-samples", "20",
        "--eval-batch", "16", "--batch-size", "50", "--lr", "0.01", "--no-progress"]


def test_registered():
    assert RECIPES["wakesleep"] == "chainrule.recipes.wakesleep"
    r = get_recipe("wakesleep")
    assert r.DEFAULTS["optimizer"] == "adam" and hasattr(r, "fit") and hasattr(r, "sample")


def test_build_binarizes_train_val_and_test(synthetic):
    train, test = synthetic
    cr.manual_seed(0)
    setup = wakesleep.build(_args(["--layers", "16,4", "--val-size", "50", "--n-test", "30"]))
    hm = setup.model
    assert hm.layer_sizes == (784, 16, 4)
    assert setup.val_loader.shape == (50, 784) and setup.test_loader.shape == (30, 784)
    for x in (setup.val_loader.numpy(), setup.test_loader.numpy()):
        assert set(np.unique(x)) <= {0.0, 1.0}
    # the test images are the fixed binarization (seed 0) of the first --n-test test images
    from chainrule.datasets.binarized import fixed_binarized

    assert np.array_equal(setup.test_loader.numpy(), fixed_binarized(test, seed=0)[:30])
    # training batches are fresh Bernoulli draws of the 250 images not held out
    assert len(setup.train_loader.dataset) == 250
    xb, _ = next(iter(setup.train_loader))
    assert xb.shape == (50, 784) and set(np.unique(xb.numpy())) <= {0.0, 1.0}
    # p(x|h) starts at the data's pixel means
    p = 1 / (1 + np.exp(-hm.generative[0].bias.numpy()))
    want = np.clip(train.data[:250].reshape(250, -1).mean(0) / 255, 1e-3, 1 - 1e-3)
    assert np.allclose(p, want, atol=1e-4)


def test_tiny_run_writes_its_folder_and_learns(synthetic, tmp_path, capsys):
    out = tmp_path / "ws"
    assert main(["train", "wakesleep", "--epochs", "4", "--n-test", "32", "--out", str(out),
                 *TINY]) == 0
    for name in ("config.json", "log.csv", "last.ckpt", "best.ckpt", "results.json",
                 "samples.png", "samples_binary.png"):
        assert (out / name).is_file(), name
    assert (out / "samples.png").read_bytes()[:8] == PNG
    res = json.loads((out / "results.json").read_text())
    assert res["recipe"] == "wakesleep" and res["epochs"] == 4
    assert res["test_images"] == 32 and res["test_iw_samples"] == 20
    assert -784 * np.log(2) * 2 < res["test_iw_ll"] < 0 and res["test_iw_ll_sem"] > 0
    text = capsys.readouterr().out
    assert "importance-weighted log-likelihood L_20" in text and "on 32 fixed" in text
    ckpt = load_checkpoint(out / "last.ckpt")
    vals = [r["val_iw_ll"] for r in ckpt["history"]]
    assert len(vals) == 4 and vals[-1] > vals[0] + 10  # wake-sleep raises the likelihood
    assert res["best"]["metric"] == "val_iw_ll" and res["best"]["value"] == pytest.approx(
        max(vals))
    with open(out / "log.csv") as f:
        rows = f.read().strip().splitlines()
    assert rows[0] == "epoch,wake,sleep,val_iw_ll,lr,seconds" and len(rows) == 5

    # eval rebuilds the model from the stored settings and scores it again
    assert main(["eval", str(out / "best.ckpt"), "--iw-samples", "10"]) == 0
    assert "L_10" in capsys.readouterr().out

    # sample writes a grid where asked, seeded
    png = tmp_path / "grid.png"
    assert main(["sample", str(out / "best.ckpt"), "--out", str(png), "--num", "10"]) == 0
    assert png.read_bytes()[:8] == PNG and (tmp_path / "grid_binary.png").is_file()
    first = png.read_bytes()
    assert main(["sample", str(out / "best.ckpt"), "--out", str(png), "--num", "10"]) == 0
    assert png.read_bytes() == first
    assert "10 samples of the Helmholtz machine (784, 16, 4)" in capsys.readouterr().out
    assert main(["sample", str(out / "last.ckpt"), "--num", "4"]) == 0
    assert (out / "samples.png").is_file()

    # resume continues the run; a row logged after the last checkpoint (a crash between the
    # two writes) is dropped when the log is rewritten from the checkpoint's history
    with open(out / "log.csv", "a") as f:
        f.write("5,1,1,1,0.01,1\n")
    assert main(["train", "wakesleep", "--epochs", "5", "--out", str(out), "--resume",
                 "--no-progress"]) == 0
    assert load_checkpoint(out / "last.ckpt")["epoch"] == 5
    with open(out / "log.csv") as f:
        assert len(f.read().strip().splitlines()) == 6


def test_no_validation_keeps_the_last_epoch(synthetic, tmp_path):
    out = tmp_path / "noval"
    argv = [a for a in TINY]
    argv[argv.index("--val-size") + 1] = "0"
    assert main(["train", "wakesleep", "--epochs", "2", "--n-test", "8", "--out", str(out),
                 *argv]) == 0
    best = load_checkpoint(out / "best.ckpt")
    assert best["epoch"] == 2 and best["history"][-1]["val_iw_ll"] is None


def test_bad_settings_give_clear_errors(synthetic, tmp_path):
    with pytest.raises(ValueError, match="--layers must be comma-separated ints, got 'a,b'"):
        wakesleep.build(_args(["--layers", "a,b"]))
    with pytest.raises(ValueError, match="--layers must be one or more positive ints"):
        wakesleep.build(_args(["--layers", "0"]))
    with pytest.raises(ValueError, match="--iw-samples must be >= 1, got 0"):
        wakesleep.build(_args(["--iw-samples", "0"]))
    with pytest.raises(ValueError, match="--n-test must be >= 1, got 0"):
        wakesleep.build(_args(["--n-test", "0"]))
    with pytest.raises(ValueError, match="--val-size 300 leaves no training images"):
        wakesleep.build(_args(["--val-size", "300"]))
    setup = wakesleep.build(_args(["--layers", "8", "--val-size", "0"]))
    with pytest.raises(ValueError, match="no validation images"):
        wakesleep.test(setup, _args(["--val-size", "0"]), split="val")
    with pytest.raises(ValueError, match="generative.0.weight missing"):
        wakesleep.model_from_checkpoint({"model": {}})


def test_real_fashion_mnist_test_set_is_fixed(monkeypatch):
    args = _args(["--layers", "8", "--val-size", "100", "--n-test", "500"])
    try:
        train, test = wakesleep.fashion_mnist_splits(args)
    except FileNotFoundError:
        pytest.skip("Fashion-MNIST is not installed")
    assert train.data.shape == (60000, 28, 28) and test.data.shape == (10000, 28, 28)
    monkeypatch.setattr(wakesleep, "fashion_mnist_splits", lambda args: (train, test))
    args.limit_train = 200
    a = wakesleep.build(args)
    b = wakesleep.build(args)
    assert a.test_loader.shape == (500, 784)
    assert np.array_equal(a.test_loader.numpy(), b.test_loader.numpy())
    assert np.array_equal(a.val_loader.numpy(), b.val_loader.numpy())
    assert len(a.train_loader.dataset) == 200
    # about the grey level's share of the pixels are on
    grey = test.data[:500].reshape(500, -1).mean() / 255
    assert abs(a.test_loader.numpy().mean() - grey) < 0.01
