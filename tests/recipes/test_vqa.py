"""recipes/vqa.py: visual question answering on ShapesWorld, through the CLI."""
import argparse
import json

import numpy as np
import pytest

from chainrule import recipes
from chainrule.cli import main

TINY = ["--no-progress", "--no-plot", "--epochs", "1", "--n-train", "6", "--n-val", "2",
        "--n-test", "4", "--questions-per-scene", "4", "--image-size", "24",
        "--channels", "4", "4", "--image-dim", "8", "--question-dim", "8", "--hidden", "16"]


def _args(argv=()):
    p = argparse.ArgumentParser()
    r = recipes.get_recipe("vqa")
    r.add_arguments(p)
    args = p.parse_args(list(argv))
    args.batch_size, args.limit_train = r.DEFAULTS["batch_size"], None
    return args


def test_registered_with_its_options(capsys):
    assert recipes.RECIPES["vqa"] == "chainrule.recipes.vqa"
    with pytest.raises(SystemExit):
        main(["train", "vqa", "--help"])
    text = capsys.readouterr().out
    for flag in ("--image-size", "--n-train", "--n-test", "--question-encoder", "--rnn"):
        assert flag in text, flag


def test_build_gives_input_target_pairs_and_disjoint_splits():
    args = _args(TINY[4:])
    s = recipes.get_recipe("vqa").build(args)
    (img, q, lens, codes), ans = next(iter(s.train_loader))
    B = img.shape[0]
    assert img.shape == (B, 3, 24, 24) and q.shape[0] == lens.shape[0] == B
    assert codes.shape == (B, 11) and ans.shape == (B,)
    assert s.model((img, q, lens, codes)).shape == (B, 11)
    assert len(s.train_loader.dataset) == 6 * 4 and len(s.val_loader.dataset) == 2 * 4
    train_imgs = s.data["train"][0].images[:6]
    test_imgs = s.data["test"][0].images
    assert not any(np.array_equal(a, b) for a in train_imgs for b in test_imgs)
    args.n_train = 0
    with pytest.raises(ValueError, match="--n-train must be >= 1, got 0"):
        recipes.get_recipe("vqa").build(args)


@pytest.mark.parametrize("enc", ["rnn", "code"])
def test_vqa_trains_through_the_cli(tmp_path, capsys, enc):
    out = tmp_path / "vqa"
    assert main(["train", "vqa", "--question-encoder", enc, "--out", str(out), *TINY]) == 0
    text = capsys.readouterr().out
    assert "vqa:" in text and "non-relational" in text and "relational" in text
    assert {"best.ckpt", "last.ckpt", "config.json", "log.csv", "results.json"} <= {
        p.name for p in out.iterdir()}
    config = json.loads((out / "config.json").read_text())
    assert config["question_encoder"] == enc and config["image_size"] == 24
    results = json.loads((out / "results.json").read_text())
    assert results["epochs"] == 1
    for k in ("test_acc", "test_acc_nonrel", "test_acc_rel"):
        assert 0.0 <= results[k] <= 1.0
    # half of the questions are relational: the total is the mean of the two
    assert results["test_acc"] == pytest.approx(
        (results["test_acc_nonrel"] + results["test_acc_rel"]) / 2)
    assert main(["eval", str(out / "last.ckpt")]) == 0
    assert "non-relational" in capsys.readouterr().out
