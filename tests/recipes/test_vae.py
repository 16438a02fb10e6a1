"""The vae recipe end to end through the CLI on a tiny run, its measures, pictures and
`chainrule sample`, and its PyTorch peer's estimator (benchmarks/vae_torch.py).

The runs read a small synthetic stand-in for Fashion-MNIST (``vae._fashion`` patched: 600
training and 100 test images of grey rectangles); the test of the real data skips when it is not
installed."""
import types

import importlib.util
import json
import math
import os
import struct

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import _recipe_parser, main
from chainrule.recipes import RECIPES, vae
from chainrule.train import load_checkpoint, read_csv

TINY = ["--limit-train", "300", "--val-size", "200", "--hidden", "32", "--latent", "4",
        "--batch-size", "50", "--iw-samples", "40", "--n-test", "12", "--interp-steps", "5",
        "--no-progress", "--no-plot"]
PNG = b"\x89PNG\r\n\x1a\n"
REAL_FASHION = vae._fashion
BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "vae_torch.py")


def _png_size(path):
    """(width, height) from a PNG's IHDR chunk."""
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == PNG and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def _fake_fashion(root, train, download):
    """Grey rectangles of random size, place and shade, uint8 (N, 28, 28)."""
    n = 600 if train else 100
    rng = np.random.default_rng(7 if train else 8)
    data = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        top, left = rng.integers(0, 14, 2)
        h, w = rng.integers(6, 14, 2)
        data[i, top:top + h, left:left + w] = rng.integers(120, 256)
    return types.SimpleNamespace(data=data, targets=rng.integers(0, 10, n))


@pytest.fixture(scope="module", autouse=True)
def fake_fashion():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(vae, "_fashion", _fake_fashion)
        yield


def _fashion_mnist_available():
    from chainrule.datasets import FashionMNIST

    try:
        FashionMNIST("data", train=False)
    except (FileNotFoundError, OSError):
        return False
    return True


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("vae") / "run"
    assert main(["train", "vae", "--epochs", "2", "--out", str(out), *TINY]) == 0
    return out


def test_registered():
    assert RECIPES["vae"] == "chainrule.recipes.vae"


def test_tiny_run_writes_its_folder_and_finite_measures(run):
    for name in ("config.json", "log.csv", "last.ckpt", "best.ckpt", "results.json"):
        assert (run / name).is_file(), name
    res = json.loads((run / "results.json").read_text())
    assert res["recipe"] == "vae" and res["epochs"] == 2
    assert res["test_n"] == 12 and res["test_iw_samples"] == 40
    for key in ("test_elbo", "test_elbo_n", "test_iw_ll", "test_iw_ll_sem"):
        assert math.isfinite(res[key]), key
    # log p(X) <= 0 for binary X, and the ELBO is below the importance-weighted bound
    assert res["test_elbo"] < 0 and res["test_iw_ll"] < 0
    assert res["test_elbo_n"] <= res["test_iw_ll"]
    rows = read_csv(run / "log.csv")
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(r["train_loss"] > 0 and r["val_loss"] > 0 and r["train_kl"] >= 0 for r in rows)
    assert res["best"]["metric"] == "val_loss"
    assert res["best"]["value"] == pytest.approx(min(r["val_loss"] for r in rows))


def test_pictures(run):
    # 64 samples, 8 a row, 28 + 2 padding per cell, scale 2
    assert _png_size(run / "samples.png") == (2 * (8 * 30 + 2),) * 2
    # 4 pairs of rows (test images, reconstructions) of 8
    assert _png_size(run / "reconstructions.png") == (2 * (8 * 30 + 2), 2 * (8 * 30 + 2))
    # 8 rows: X_a, 5 decoded codes, X_b
    assert _png_size(run / "interpolation.png") == (2 * (7 * 30 + 2), 2 * (8 * 30 + 2))


def test_sample_writes_a_grid(run, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["sample", str(run / "best.ckpt"), "--num", "10", "--out", str(out)]) == 0
    assert _png_size(out) == (2 * (4 * 30 + 2), 2 * (3 * 30 + 2))  # 4 a row, 3 rows
    assert "10 samples of the vae" in capsys.readouterr().out
    default = run / "samples.png"
    default.unlink()
    assert main(["sample", str(run / "last.ckpt")]) == 0
    assert _png_size(default) == (2 * (8 * 30 + 2),) * 2
    # the same seed draws the same samples
    again = tmp_path / "again.png"
    assert main(["sample", str(run / "last.ckpt"), "--out", str(again)]) == 0
    assert again.read_bytes() == default.read_bytes()
    assert main(["sample", str(run / "last.ckpt"), "--num", "0"]) == 2
    assert "--num >= 1" in capsys.readouterr().err


def test_eval_measures_a_checkpoint(run, capsys):
    assert main(["eval", str(run / "best.ckpt"), "--iw-samples", "8", "--n-test", "5"]) == 0
    out = capsys.readouterr().out
    assert "test ELBO" in out and "IW log-likelihood (K=8)" in out and "first 5" in out
    assert main(["eval", str(run / "best.ckpt"), "--split", "val", "--iw-samples", "4",
                 "--n-test", "3"]) == 0
    assert "val ELBO" in capsys.readouterr().out


def test_resume_continues_exactly(run, tmp_path):
    straight = load_checkpoint(run / "last.ckpt")
    out = tmp_path / "resumed"
    assert main(["train", "vae", "--epochs", "1", "--out", str(out), *TINY]) == 0
    assert main(["train", "vae", "--epochs", "2", "--out", str(out), "--resume",
                 *TINY]) == 0
    resumed = load_checkpoint(out / "last.ckpt")
    assert resumed["epoch"] == 2
    for k, v in straight["model"].items():
        np.testing.assert_array_equal(resumed["model"][k].numpy(), v.numpy(), err_msg=k)


def _tiny_model(seed=0):
    cr.manual_seed(seed)
    return vae.make_model({"conv": False, "hidden": "16", "latent": 3, "channels": 4})


def _binary(n, seed=1):
    return (np.random.default_rng(seed).random((n, 784)) < 0.3).astype(np.float32)


def test_iw_bound_is_above_the_elbo_and_chunks_agree():
    model, X = _tiny_model(), _binary(6)
    cr.manual_seed(3)
    elbo = vae.elbo_per_image(model, X)
    cr.manual_seed(3)
    ll = vae.iw_log_likelihood(model, X, K=200, chunk_rows=200)
    assert elbo.shape == ll.shape == (6,) and np.isfinite(ll).all()
    assert ll.mean() > elbo.mean()
    # K = 1 is a one-sample ELBO (with a Monte-Carlo KL): equal in expectation
    cr.manual_seed(4)
    one = np.mean([vae.iw_log_likelihood(model, X, K=1).mean() for _ in range(200)])
    cr.manual_seed(4)
    mc_elbo = np.mean([vae.elbo_per_image(model, X).mean() for _ in range(200)])
    assert one == pytest.approx(mc_elbo, abs=2.0)
    # chunking (several images at a time, several chunks of samples) changes nothing but the
    # draws: the estimates agree within the Monte-Carlo error
    cr.manual_seed(5)
    other = vae.iw_log_likelihood(model, X, K=200, chunk_rows=70)
    assert np.abs(other - ll).max() < 2.0


def test_conv_run(tmp_path):
    out = tmp_path / "conv"
    assert main(["train", "vae", "--conv", "--channels", "2", "--hidden", "8", "--latent", "2",
                 "--epochs", "1", "--limit-train", "100", "--val-size", "50", "--batch-size",
                 "50", "--iw-samples", "4", "--n-test", "3", "--interp-steps", "3",
                 "--no-progress", "--no-plot", "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert math.isfinite(res["test_iw_ll"]) and res["test_n"] == 3
    assert _png_size(out / "interpolation.png") == (2 * (5 * 30 + 2), 2 * (8 * 30 + 2))
    model = vae.model_from_checkpoint(load_checkpoint(out / "last.ckpt"))
    assert type(model).__name__ == "ConvVAE"


def _args(*argv):
    return _recipe_parser("vae").parse_args(["--val-size", "100", *argv])  # the stand-in's 600


@pytest.mark.parametrize("argv, match", [
    (["--iw-samples", "0"], r"--iw-samples.*got --iw-samples 0"),
    (["--n-test", "0"], r"--n-test.*got --n-test 0"),
    (["--iw-chunk", "-1"], r"--iw-chunk.*got --iw-chunk -1"),
    (["--interp-steps", "1"], r"--interp-steps must be at least 2.*got 1"),
    (["--hidden", "a,b"], r"--hidden must be comma-separated positive ints.*'a,b'"),
    (["--hidden", "0"], r"--hidden must be comma-separated positive ints.*'0'"),
    (["--conv", "--hidden", "8,8"], r"--hidden must be one positive int.*'8,8'"),
    (["--latent", "0"], r"--latent must be a positive int, got 0"),
    (["--val-size", "600"], r"--val-size must be in \[0, 600\), got 600"),
    (["--limit-train", "0"], r"--limit-train must be at least 1, got 0"),
])
def test_bad_options_are_named(argv, match):
    args = _args(*argv)
    args.batch_size = 10
    with pytest.raises(ValueError, match=match):
        vae.build(args)


def test_no_validation_set_monitors_the_training_loss(tmp_path, capsys):
    out = tmp_path / "noval"
    assert main(["train", "vae", "--epochs", "1", "--out", str(out), *TINY,
                 "--val-size", "0"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["best"]["metric"] == "train_loss" and (out / "best.ckpt").is_file()
    assert main(["eval", str(out / "last.ckpt"), "--split", "val"]) == 2
    assert "no val set" in capsys.readouterr().err


@pytest.mark.skipif(not _fashion_mnist_available(), reason="Fashion-MNIST not installed")
def test_load_data_on_fashion_mnist():
    from chainrule.datasets import FashionMNIST, fixed_binarized

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(vae, "_fashion", REAL_FASHION)  # the real files, not the stand-in
        train, val, test = vae.load_data("data", val_size=5000)
    assert train.data.shape == (55000, 28, 28) and val.shape == (5000, 784)
    assert test.shape == (10000, 784) and test.dtype == np.float32
    assert set(np.unique(val)) <= {0.0, 1.0}
    np.testing.assert_array_equal(test, fixed_binarized(FashionMNIST("data", train=False), 0))


# ---- the PyTorch peer ----------------------------------------------------------------------------

def _bench():
    spec = importlib.util.spec_from_file_location("vae_torch", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_torch_peer_has_the_same_model_and_estimates():
    torch = pytest.importorskip("torch")
    bench = _bench()
    args = bench.parse_args(["--hidden", "16", "--latent", "3"])
    tmodel = bench.build_model(args)
    model = _tiny_model()
    ours = model.state_dict()
    theirs = tmodel.state_dict()
    assert sorted(ours) == sorted(theirs)  # the same layers under the same names
    with torch.no_grad():
        for k, v in ours.items():
            assert tuple(theirs[k].shape) == tuple(v.shape), k
            theirs[k].copy_(torch.from_numpy(v.numpy()))
    X = _binary(4)
    # the reconstruction term at the mean code, deterministic: the same to float32 rounding
    from chainrule.nn import functional as F
    from chainrule.tensor import Tensor

    with cr.no_grad():
        mu, _ = model.encode(Tensor(X))
        ours_rec = F.bernoulli_log_likelihood(model.decode(mu), Tensor(X),
                                              reduction="none").numpy()
    with torch.no_grad():
        xt = torch.from_numpy(X)
        tmu, _ = tmodel.encode(xt)
        theirs_rec = bench.log_bernoulli(tmodel.decode(tmu), xt).numpy()
    np.testing.assert_allclose(ours_rec, theirs_rec, rtol=1e-4)
    # the IW estimates with K = 2000 agree within their Monte-Carlo error
    torch.manual_seed(0)
    tll = bench.iw_log_likelihood(tmodel, xt, 2000, chunk_rows=2000)
    cr.manual_seed(0)
    ll = vae.iw_log_likelihood(model, X, 2000, chunk_rows=2000)
    np.testing.assert_allclose(ll, tll, atol=0.5)
    # the torch ELBO (averaged over draws of h) is below the bound, as chainrule's
    torch.manual_seed(0)
    telbo = np.mean([bench.mean_elbo(tmodel, xt).mean() for _ in range(100)])
    cr.manual_seed(0)
    elbo = np.mean([vae.elbo_per_image(model, X).mean() for _ in range(100)])
    assert telbo < tll.mean() and elbo < ll.mean()
    assert telbo == pytest.approx(elbo, abs=1.0)
