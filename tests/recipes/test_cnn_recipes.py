"""recipes/lenet5.py, resnet.py, vgg.py (and their shared _cnn.py): build, train through the CLI,
figures, augmentation, the batch-norm comparison.

The CLI runs use a few hundred small synthetic images in place of Fashion-MNIST (patched into
``_cnn.fashion_mnist_arrays``); the test on the real data skips when it is not installed.
"""
import argparse
import json

import numpy as np
import pytest

import chainrule as cr
from chainrule import models, recipes
from chainrule.cli import main
from chainrule.data import TensorDataset
from chainrule.datasets.transforms import RandomCrop, RandomHorizontalFlip, TransformDataset
from chainrule.recipes import _cnn
from chainrule.train import load_checkpoint, read_csv
from tests._fashion import requires_fashion_mnist

PNG = b"\x89PNG\r\n\x1a\n"
CNN_RECIPES = ("lenet5", "resnet", "vgg")


def _synthetic(n_train=240, n_test=60, seed=0):
    """Fashion-MNIST-shaped data: normalized (N, 1, 28, 28) float32 images, int64 labels, where
    the class sets the brightness of one 7x7 patch (learnable in an epoch or two)."""
    rng = np.random.default_rng(seed)

    def draw(n):
        y = rng.integers(0, 10, n)
        X = rng.standard_normal((n, 1, 28, 28)).astype(np.float32) * 0.3 - 0.8
        for k in range(n):
            r, c = divmod(int(y[k]), 4)
            X[k, 0, 7 * r:7 * r + 7, 7 * c:7 * c + 7] += 2.0
        return X, y.astype(np.int64)

    return (*draw(n_train), *draw(n_test))


@pytest.fixture
def synthetic(monkeypatch):
    data = _synthetic()
    monkeypatch.setattr(_cnn, "fashion_mnist_arrays", lambda args: data)
    return data


def _args(name, argv=()):
    p = argparse.ArgumentParser()
    r = recipes.get_recipe(name)
    r.add_arguments(p)
    args = p.parse_args(list(argv))
    args.batch_size, args.limit_train = r.DEFAULTS["batch_size"], None
    return args


def _run(name, out, *extra):
    return main(["train", name, "--out", str(out), "--no-progress", "--val-size", "40",
                 *extra])


def test_registered_with_their_options(capsys):
    for name in CNN_RECIPES:
        r = recipes.get_recipe(name)
        assert name in recipes.RECIPES and callable(r.after_fit)
        assert r.DEFAULTS["batch_size"] == 128
        with pytest.raises(SystemExit):
            main(["train", name, "--help"])
        text = capsys.readouterr().out
        own = {"lenet5": (), "resnet": ("--depth", "--width", "--shortcut", "--preact"),
               "vgg": ("--batch-norm", "--no-batch-norm", "--compare-bn", "--width")}[name]
        for flag in ("--augment", "--no-augment", "--crop-padding", "--val-size", "--limit-test",
                     "--limit-train", "--optimizer", "--scheduler", "--resume", *own):
            assert flag in text, (name, flag)
    assert main(["list"]) == 0
    assert "lenet5" in capsys.readouterr().out


def test_lenet5_trains_through_the_cli_and_draws_its_filters(tmp_path, synthetic, capsys):
    out = tmp_path / "lenet"
    assert _run("lenet5", out, "--epochs", "2", "--limit-train", "160") == 0
    text = capsys.readouterr().out
    assert "lenet5: 61,706 parameters; adam lr 0.002" in text
    assert sorted(p.name for p in out.iterdir()) == [
        "best.ckpt", "config.json", "curves.png", "filters.png", "last.ckpt", "log.csv",
        "results.json"]
    assert (out / "filters.png").read_bytes()[:8] == PNG
    config = json.loads((out / "config.json").read_text())
    assert config["augment"] is True and config["crop_padding"] == 1
    assert len(read_csv(out / "log.csv")) == 2
    assert main(["eval", str(out / "last.ckpt")]) == 0
    assert "test accuracy" in capsys.readouterr().out


def test_resnet_depth_and_width(tmp_path, synthetic, capsys):
    r = recipes.get_recipe("resnet")
    net = r.make_model(20, 16)
    ref = models.resnet20(in_channels=1)
    assert [(k, v.shape) for k, v in net.state_dict().items()] == \
        [(k, v.shape) for k, v in ref.state_dict().items()]
    assert recipes.count_parameters(net) == recipes.count_parameters(ref)
    small = r.make_model(8, 4, shortcut="B")
    assert [len(s) for s in small.stages()] == [1, 1, 1]
    assert small.fc.in_features == 16 and small.conv1.out_channels == 4
    assert small(cr.zeros(2, 1, 28, 28)).shape == (2, 10)
    pre = r.make_model(14, 4, preact=True)
    assert type(pre.layer1[0]).__name__ == "PreActBasicBlock" and len(pre.layer1) == 2
    with pytest.raises(ValueError, match=r"resnet: --depth must be 6n \+ 2"):
        r.make_model(18, 16)

    out = tmp_path / "resnet"
    assert _run("resnet", out, "--epochs", "1", "--depth", "8", "--width", "4",
                "--limit-train", "96", "--limit-test", "30", "--no-plot") == 0
    text = capsys.readouterr().out
    assert "momentum lr 0.1" in text and "test accuracy" in text
    assert not (out / "filters.png").exists()  # --no-plot: no figures at all
    ckpt = load_checkpoint(out / "last.ckpt")
    assert ckpt["model"]["conv1.weight"].shape == (4, 1, 3, 3)
    assert ckpt["config"]["depth"] == 8 and ckpt["config"]["weight_decay"] == 5e-4


def test_resnet_draws_its_filters(tmp_path, synthetic):
    out = tmp_path / "r"
    assert _run("resnet", out, "--epochs", "1", "--depth", "8", "--width", "4",
                "--limit-train", "64", "--limit-test", "20") == 0
    assert (out / "filters.png").read_bytes()[:8] == PNG


def test_vgg_compare_bn_draws_both_runs_on_one_figure(tmp_path, synthetic, capsys):
    out = tmp_path / "vgg"
    assert _run("vgg", out, "--epochs", "2", "--width", "4", "--limit-train", "128",
                "--limit-test", "30", "--compare-bn", "--lr", "0.1") == 0
    text = capsys.readouterr().out
    assert "--compare-bn: training vgg without BN" in text
    assert (out / "bn_comparison.png").read_bytes()[:8] == PNG
    assert (out / "filters.png").read_bytes()[:8] == PNG
    main_run, other = read_csv(out / "log.csv"), read_csv(out / "no-bn" / "log.csv")
    assert len(main_run) == len(other) == 2
    assert [r["lr"] for r in main_run] == [r["lr"] for r in other]  # the same schedule
    config = load_checkpoint(out / "no-bn" / "last.ckpt")["config"]
    assert config["recipe"] == "vgg" and config["batch_norm"] is False
    assert config["out"] == str(out / "no-bn")  # `chainrule train vgg --resume --out` works
    bn_keys = load_checkpoint(out / "last.ckpt")["model"]
    assert any("running_mean" in k for k in bn_keys)
    assert not any("running_mean" in k for k in load_checkpoint(out / "no-bn" /
                                                                 "last.ckpt")["model"])


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")  # diverges on purpose
def test_compare_bn_starts_from_the_same_weights_and_survives_divergence(synthetic,
                                                                        monkeypatch, tmp_path):
    vgg = recipes.get_recipe("vgg")
    cr.manual_seed(7)
    with_bn = vgg.make_model(True, width=4)
    cr.manual_seed(7)
    without = vgg.make_model(False, width=4)
    convs = [m.weight.numpy() for m in with_bn.modules() if type(m).__name__ == "Conv2d"]
    assert len(convs) == 6
    for a, m in zip(convs, [m for m in without.modules() if type(m).__name__ == "Conv2d"]):
        np.testing.assert_array_equal(a, m.weight.numpy())
    np.testing.assert_array_equal(with_bn.classifier[0].weight.numpy(),
                                  without.classifier[0].weight.numpy())

    import chainrule.train.visualize as visualize

    drawn = {}
    monkeypatch.setattr(visualize, "plot_comparison",
                        lambda runs, path, title=None: drawn.update(runs=runs, title=title))
    args = _args("vgg", ["--width", "4", "--val-size", "40"])
    args.limit_train, args.limit_test = 64, 20
    args.epochs, args.optimizer, args.lr, args.scheduler = 3, "sgd", 1e12, "none"
    args.weight_decay, args.clip_grad_norm, args.seed = 0.0, None, 0
    args.out, args.progress, args.plot = str(tmp_path), False, False
    setup = vgg.build(args)
    history = [{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0,
                "val_acc": 0.5}]
    with np.errstate(all="ignore"):  # the diverging run overflows on purpose
        path, records = vgg.compare_batch_norm(setup, args, history)
    assert path == str(tmp_path / "bn_comparison.png")
    assert list(drawn["runs"]) == ["with BN", f"without BN, diverged in epoch "
                                              f"{len(records) + 1}"]
    assert drawn["runs"]["with BN"] is history and "sgd lr 1e+12" in drawn["title"]


def test_augmentation_is_wired_into_the_training_loader(synthetic):
    args = _args("lenet5", ["--val-size", "40", "--crop-padding", "3"])
    train = recipes.get_recipe("lenet5").build(args).train_loader
    ds = train.dataset
    assert isinstance(ds, TransformDataset)
    crop, flip = ds.transform.transforms
    assert isinstance(crop, RandomCrop) and crop.padding == 3 and crop.size == (28, 28)
    assert crop.fill == pytest.approx(-0.2860 / 0.3530)  # pads with the black background
    assert isinstance(flip, RandomHorizontalFlip) and flip.p == 0.5
    xb, yb = next(iter(train))
    assert xb.shape == (128, 1, 28, 28) and yb.dtype == np.int64

    s = recipes.get_recipe("vgg").build(_args("vgg", ["--val-size", "40"]))  # off for vgg
    assert isinstance(s.train_loader.dataset, TensorDataset)
    only_flip = recipes.get_recipe("resnet").build(
        _args("resnet", ["--val-size", "40", "--crop-padding", "0", "--depth", "8"]))
    assert [type(t).__name__ for t in only_flip.train_loader.dataset.transform.transforms] == \
        ["RandomHorizontalFlip"]
    s = recipes.get_recipe("resnet").build(_args("resnet", ["--no-augment", "--val-size", "0",
                                                            "--limit-test", "7"]))
    assert isinstance(s.train_loader.dataset, TensorDataset) and s.val_loader is None
    assert len(s.test_loader.dataset) == 7 and len(s.train_loader.dataset) == 240
    # the validation images are never augmented: the same every time
    v = recipes.get_recipe("lenet5").build(_args("lenet5", ["--val-size", "40"])).val_loader
    np.testing.assert_array_equal(next(iter(v))[0].numpy(), next(iter(v))[0].numpy())


def test_resume_of_an_augmented_run_reaches_the_same_weights(tmp_path, synthetic):
    # (a constant rate: a resumed schedule keeps the length of the first run's)
    common = ("--limit-train", "64", "--limit-test", "20", "--no-plot", "--scheduler", "none")
    assert _run("lenet5", tmp_path / "a", "--epochs", "2", *common) == 0
    assert _run("lenet5", tmp_path / "b", "--epochs", "1", *common) == 0
    assert _run("lenet5", tmp_path / "b", "--epochs", "2", "--resume", *common) == 0
    a = load_checkpoint(tmp_path / "a" / "last.ckpt")["model"]
    b = load_checkpoint(tmp_path / "b" / "last.ckpt")["model"]
    for k in a:
        np.testing.assert_array_equal(a[k].numpy(), b[k].numpy())


def test_bad_options(synthetic):
    with pytest.raises(ValueError, match=r"lenet5: --val-size must be in \[0, 240\)"):
        recipes.get_recipe("lenet5").build(_args("lenet5", ["--val-size", "240"]))
    with pytest.raises(ValueError, match="--crop-padding must be >= 0"):
        recipes.get_recipe("lenet5").build(_args("lenet5", ["--crop-padding", "-1",
                                                            "--val-size", "4"]))
    with pytest.raises(ValueError, match=r"vgg: --dropout must be in \[0, 1\)"):
        recipes.get_recipe("vgg").build(_args("vgg", ["--dropout", "1", "--val-size", "4"]))


@requires_fashion_mnist
def test_image_recipes_on_fashion_mnist():
    args = _args("lenet5", ["--limit-test", "1000"])
    args.limit_train = 500
    s = recipes.get_recipe("lenet5").build(args)
    assert len(s.train_loader.dataset) == 500 and len(s.val_loader.dataset) == 5000
    assert len(s.test_loader.dataset) == 1000
    X = s.val_loader.dataset.tensors[0].numpy()
    assert X.shape == (5000, 1, 28, 28) and X.dtype == np.float32
    assert abs(X.mean()) < 0.1 and abs(X.std() - 1) < 0.1  # normalized with the train statistics
    # the same validation images as the mlp recipe's split, as images
    mlp_args = argparse.Namespace(root="data", download=False, val_size=5000, limit_train=10,
                                  dropout=0.0, hidden=[8], batch_size=128)
    mlp_val = recipes.get_recipe("mlp").build(mlp_args).val_loader.dataset.tensors[0].numpy()
    np.testing.assert_array_equal(X.reshape(5000, 784), mlp_val)
    xb, yb = next(iter(s.train_loader))
    assert xb.shape == (128, 1, 28, 28) and s.model(xb).shape == (128, 10)
