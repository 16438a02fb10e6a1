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
    for flag in ("--image-size", "--n-train", "--n-test", "--question-encoder", "--rnn",
                 "--fusion", "--coords"):
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
    assert config["fusion"] == "film" and config["coords"] is True
    results = json.loads((out / "results.json").read_text())
    assert results["epochs"] == 1
    for k in ("test_acc", "test_acc_nonrel", "test_acc_rel"):
        assert 0.0 <= results[k] <= 1.0
    assert "by type:" in text
    for t in recipes.get_recipe("vqa").QUESTION_TYPES:  # None: no question of that type
        assert results[f"test_acc_{t}"] is None or 0.0 <= results[f"test_acc_{t}"] <= 1.0
    # half of the questions are relational: the total is the mean of the two
    assert results["test_acc"] == pytest.approx(
        (results["test_acc_nonrel"] + results["test_acc_rel"]) / 2)
    assert main(["eval", str(out / "last.ckpt")]) == 0
    assert "non-relational" in capsys.readouterr().out


def test_fusion_and_coords_options_reach_the_model():
    r = recipes.get_recipe("vqa")
    s = r.build(_args(TINY[4:] + ["--question-encoder", "code"]))
    assert s.model.fusion == "film" and s.model.coords  # the defaults
    assert s.model.cnn[0].weight.shape[1] == 5
    s = r.build(_args(TINY[4:] + ["--fusion", "concat", "--no-coords"]))
    assert s.model.fusion == "concat" and not s.model.coords
    assert s.model.cnn[0].weight.shape[1] == 3 and not hasattr(s.model, "film")


def test_accuracy_by_type_counts_each_question_type():
    r = recipes.get_recipe("vqa")
    s = r.build(_args(TINY[4:] + ["--question-encoder", "code"]))
    pairs, idx = s.data["test"]

    class Oracle:  # answers right exactly on the 'left' and 'count' questions
        training = False

        def eval(self):
            pass

        def train(self, mode=True):
            pass

        def __call__(self, x):
            from chainrule import tensor
            i = np.asarray(self.idx)
            logits = np.zeros((len(i), 11), np.float32)
            ok = np.isin(pairs.qtype[i], [1, 5])
            wrong = (pairs.answers[i] + 1) % 11
            logits[np.arange(len(i)), np.where(ok, pairs.answers[i], wrong)] = 1
            return tensor(logits)

    oracle = Oracle()
    orig = pairs.__getitems__

    def getitems(i):
        oracle.idx = i
        return orig(i)

    pairs.__getitems__ = getitems
    acc = r.accuracy_by_type(oracle, pairs, idx)
    qt = pairs.qtype[idx]
    for t, name in enumerate(r.QUESTION_TYPES):
        if (qt == t).any():
            assert acc[name] == (1.0 if t in (1, 5) else 0.0), name
        else:
            assert np.isnan(acc[name])
    assert acc["nonrel"] == pytest.approx((qt == 1).sum() / (qt < 3).sum())
    assert acc["rel"] == pytest.approx((qt == 5).sum() / (qt >= 3).sum())
    assert acc["all"] == pytest.approx(np.isin(qt, [1, 5]).mean())
