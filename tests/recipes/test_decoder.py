"""The decoder recipe (notes 4.2) end to end through the CLI on a tiny run."""
import json
import struct

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.recipes import RECIPES, decoder, get_recipe
from tests._fashion import requires_fashion_mnist, synthetic_fashion_raw


@pytest.fixture(autouse=True)
def synthetic(monkeypatch):
    """The runs read the synthetic images, not the data files (see test_real_fashion_mnist)."""
    monkeypatch.setattr(decoder, "_raw", synthetic_fashion_raw)


TINY = ["--no-progress", "--no-plot", "--epochs", "1", "--limit-train", "256",
        "--limit-test", "60", "--val-size", "50", "--classifier-epochs", "1",
        "--layers", "features.5", "classifier.4", "--channels", "2", "--hidden", "8",
        "--show", "4"]


def png_size(path):
    data = open(path, "rb").read(24)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])  # (width, height)


def test_registered_with_its_options(capsys):
    assert RECIPES["decoder"] == "chainrule.recipes.decoder"
    with pytest.raises(SystemExit):
        main(["train", "decoder", "--help"])
    text = capsys.readouterr().out
    for flag in ("--layers", "--classifier", "--classifier-epochs", "--channels", "--show"):
        assert flag in text, flag


def test_tiny_run_writes_its_folder_and_measures_each_layer(tmp_path, capsys):
    out = tmp_path / "decoder"
    assert main(["train", "decoder", "--out", str(out), *TINY]) == 0
    text = capsys.readouterr().out
    assert "classifier: LeNet-5 trained here for 1 epochs" in text
    for name in ("config.json", "log.csv", "last.ckpt", "best.ckpt", "results.json",
                 "reconstructions.png"):
        assert (out / name).is_file(), name
    # rows: the test images, then one per layer (2 layers); 4 images of 28 px, 2 px padding, x2
    assert png_size(out / "reconstructions.png") == (2 * (4 * 30 + 2), 2 * (3 * 30 + 2))
    res = json.loads((out / "results.json").read_text())
    assert res["recipe"] == "decoder" and res["layers"] == ["features.5", "classifier.4"]
    assert set(res["test_mse"]) == {"features.5", "classifier.4"}
    assert all(0 < v < 1 for v in res["test_mse"].values())
    assert res["feature_shapes"] == {"features.5": [16, 5, 5], "classifier.4": [10]}
    assert 0 <= res["test_classifier_acc"] <= 1
    header = (out / "log.csv").read_text().splitlines()[0]
    assert header.startswith("epoch,train_mse:features.5,train_mse:classifier.4")
    # eval rebuilds the model from the checkpoint and measures it again, the same way
    assert main(["eval", str(out / "last.ckpt")]) == 0
    text = capsys.readouterr().out
    assert "decoder after epoch 1" in text and "features.5" in text and "MSE" in text
    # sample draws test images and their reconstructions
    png = tmp_path / "s.png"
    assert main(["sample", str(out / "last.ckpt"), "--num", "3", "--out", str(png)]) == 0
    assert png_size(png) == (2 * (3 * 30 + 2), 2 * (3 * 30 + 2))


def test_decoders_learn_and_the_classifier_stays_frozen(tmp_path):
    """A few steps lower each decoder's MSE; fit leaves the classifier as it was trained."""
    import argparse

    import chainrule as cr

    r = get_recipe("decoder")
    p = argparse.ArgumentParser()
    r.add_arguments(p)
    args = p.parse_args(["--layers", "features.2", "--channels", "2", "--limit-test", "40",
                         "--val-size", "40", "--classifier-epochs", "0"])
    args.limit_train, args.batch_size, args.epochs, args.seed = 128, 16, 4, 0
    args.optimizer, args.lr, args.scheduler, args.weight_decay = "adam", 1e-2, "none", 0.0
    args.resume, args.out = False, None
    cr.manual_seed(0)
    setup = r.build(args)
    X = setup.data["test"][0]
    before = r.layer_mse(setup, args, X)["features.2"]
    weights = [p.numpy().copy() for p in setup.model["classifier"].parameters()]
    args.out = str(tmp_path)
    r.fit(setup, None, None, args, {"recipe": "decoder"})
    after = r.layer_mse(setup, args, X)["features.2"]
    assert after < 0.8 * before
    assert all(np.array_equal(w, p.numpy())
               for w, p in zip(weights, setup.model["classifier"].parameters()))


def test_classifier_checkpoint_is_loaded_and_checked(tmp_path, capsys):
    import chainrule as cr
    from chainrule.models import lenet5
    from chainrule.train.checkpoint import make_checkpoint, save_checkpoint

    cr.manual_seed(3)
    net = lenet5()
    good = tmp_path / "lenet5.ckpt"
    save_checkpoint(make_checkpoint(net, epoch=7, config={"recipe": "lenet5"}), str(good))
    out = tmp_path / "run"
    argv = ["train", "decoder", "--out", str(out), "--classifier", str(good), *TINY, "--epochs",
            "0"]
    assert main(argv) == 0
    assert f"LeNet-5 from {good} (epoch 7)" in capsys.readouterr().out
    from chainrule.train.checkpoint import load_checkpoint

    saved = load_checkpoint(str(out / "last.ckpt"))["model"]
    assert np.array_equal(saved["classifier.features.0.weight"].numpy(),
                          net.features[0].weight.numpy())
    wrong = tmp_path / "other.ckpt"
    save_checkpoint(make_checkpoint(net, config={"recipe": "mlp"}), str(wrong))
    with pytest.raises(ValueError, match="checkpoint of `chainrule train lenet5`, got one of "
                                         "'mlp'"):
        main(["train", "decoder", "--out", str(tmp_path / "r2"), "--classifier", str(wrong),
              *TINY])
    capsys.readouterr()
    assert main(["train", "decoder", "--out", str(tmp_path / "r3"), "--classifier",
                 str(tmp_path / "missing.ckpt"), *TINY]) == 2
    assert "no such classifier checkpoint" in capsys.readouterr().err


def test_bad_layers_are_reported(tmp_path):
    with pytest.raises(ValueError, match=r"LeNet-5 has no layer 'conv1'; its layers are: "
                                         r"features, features\.0"):
        main(["train", "decoder", "--out", str(tmp_path / "x"), *TINY, "--layers", "conv1"])
    with pytest.raises(ValueError, match="--layers has repeats"):
        main(["train", "decoder", "--out", str(tmp_path / "y"), *TINY, "--layers",
              "features.5", "features.5"])


@requires_fashion_mnist
def test_real_fashion_mnist(monkeypatch, tmp_path):
    monkeypatch.undo()  # the real loader, not the synthetic one
    out = tmp_path / "real"
    assert main(["train", "decoder", "--out", str(out), *TINY, "--limit-train", "128",
                 "--limit-test", "40"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert all(0 < v < 1 for v in res["test_mse"].values())
    X = decoder.load_data(_Args(), "decoder")["test"][0]
    assert X.shape == (40, 1, 28, 28) and X.dtype == np.float32 and 0 <= X.min() < X.max() <= 1


class _Args:
    root, download, val_size, limit_train, limit_test = "data", False, 5000, None, 40
