"""recipes/caption.py: image captioning on ShapesWorld, corpus BLEU-4, through the CLI."""
import argparse
import json
import math

import numpy as np
import pytest

from chainrule import recipes
from chainrule.cli import main
from chainrule.recipes.caption import corpus_bleu, score_captions

TINY = ["--no-progress", "--epochs", "1", "--n-train", "8", "--n-val", "3", "--n-test", "5",
        "--captions-per-scene", "2", "--image-size", "24", "--channels", "4", "4",
        "--embed", "8", "--hidden", "16", "--attention-dim", "8", "--max-len", "12"]


def _split(s):
    return s.split()


def test_corpus_bleu_hand_computed():
    # "a red circle on the left": every n-gram is in the first reference; c = 6, and the
    # closest reference length is 7 (|7 - 6| < |8 - 6|)
    c1 = _split("a red circle on the left")
    r1 = [_split("there is a red circle on the left"), _split("a red circle above a blue square")]
    c2 = _split("there is one square")
    r2 = [_split("there is one square")]
    # p_n = 1 for n = 1..4; c = 10, r = 7 + 4 = 11: BLEU = BP = exp(1 - 11/10)
    assert corpus_bleu([c1, c2], [r1, r2]) == pytest.approx(math.exp(-0.1))
    # one word wrong: p = 7/8, 5/7, 3/6, 1/5, c = r = 8: (1/16)^(1/4) = 1/2
    c3 = _split("there is a red square on the left")
    r3 = [_split("there is a red circle on the left")]
    assert corpus_bleu([c3], [r3]) == pytest.approx(0.5)
    # corpus level: the counts are pooled, not the scores averaged
    want = math.exp(1 - 19 / 18) * (17 / 18 * 13 / 15 * 9 / 12 * 5 / 9) ** 0.25
    assert corpus_bleu([c1, c2, c3], [r1, r2, r3]) == pytest.approx(want)
    # clipping: "the" counts at most as often as in a reference
    assert corpus_bleu([_split("the the the the")], [[_split("the cat")]], max_n=1) == 0.25
    # a candidate shorter than its references pays the brevity penalty exp(1 - r / c)
    assert corpus_bleu([_split("the cat")], [[_split("the cat sat")]], max_n=2) == \
        pytest.approx(math.exp(1 - 3 / 2))
    assert corpus_bleu([c3], [[_split("there are two squares")]]) == 0.0  # no 4-gram matches
    assert corpus_bleu([[]], [[_split("a b")]]) == 0.0
    with pytest.raises(ValueError, match="2 candidates but 1 reference lists"):
        corpus_bleu([c1, c2], [r1])
    with pytest.raises(ValueError, match="candidate 0 has no reference"):
        corpus_bleu([c1], [[]])


def test_score_captions_against_the_scene():
    from chainrule.datasets.shapes_world import ShapesWorld, true_captions

    ds = ShapesWorld(3, split="test", image_size=32, questions_per_scene=1)
    scenes = [ds.scene_description(k) for k in range(3)]
    refs = [ds.scene_captions(k) for k in range(3)]
    texts = [refs[0][0], sorted(true_captions(scenes[1]))[0], "there is a red"]
    s = score_captions(texts, scenes, refs)
    assert s["truth"] == pytest.approx(2 / 3) and s["well_formed"] == pytest.approx(2 / 3)
    assert s["distinct"] == 1.0 and 0.0 < s["bleu4"] < 1.0
    # a true caption of another scene is well-formed but (here) false
    other = next(c for c in true_captions(scenes[0]) if c not in true_captions(scenes[2]))
    s = score_captions([other], [scenes[2]], [refs[2]])
    assert s["truth"] == 0.0 and s["well_formed"] == 1.0


def test_registered_and_build():
    assert recipes.RECIPES["caption"] == "chainrule.recipes.caption"
    r = recipes.get_recipe("caption")
    p = argparse.ArgumentParser()
    r.add_arguments(p)
    args = p.parse_args(TINY[3:])
    args.batch_size, args.limit_train = 4, None
    s = r.build(args)
    images, caps = next(iter(s.train_loader))
    assert images.shape == (4, 3, 24, 24) and caps.shape[0] == 4
    assert (caps.data[:, 0] == s.vocab.bos_id).all()
    assert len(s.train_loader.dataset) == 8 * 2 and len(s.val_loader) == 3 * 2
    assert not any(np.array_equal(a, b) for a in s.train_loader.dataset.images[:8]
                   for b in s.test_loader.images)
    assert s.model.loss(images, caps).item() > 0
    args.n_train = 0
    with pytest.raises(ValueError, match="--n-train must be >= 1, got 0"):
        r.build(args)


def test_caption_trains_through_the_cli(tmp_path, capsys):
    out = tmp_path / "cap"
    assert main(["train", "caption", "--attention", "--out", str(out), *TINY]) == 0
    text = capsys.readouterr().out
    assert "test captions (greedy) of 5 images: true" in text and "BLEU-4" in text
    names = {p.name for p in out.iterdir()}
    assert {"best.ckpt", "last.ckpt", "config.json", "log.csv", "results.json", "captions.png",
            "attention.png"} <= names
    assert (out / "captions.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = json.loads((out / "results.json").read_text())
    for k in ("test_truth", "test_bleu4", "test_well_formed", "test_distinct"):
        assert 0.0 <= res[k] <= 1.0, k
    assert res["test_size"] == 5 and res["best"]["metric"] == "val_acc"
    assert main(["eval", str(out / "last.ckpt"), "--beam-width", "2"]) == 0
    assert "test captions (beam 2) of 5 images" in capsys.readouterr().out
    png = tmp_path / "s.png"
    assert main(["sample", str(out / "best.ckpt"), "--num", "3", "--seed", "1",
                 "--out", str(png)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and lines[-1].endswith(f"of 3 true; grid -> {png}")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_no_attention_run_draws_no_attention(tmp_path, capsys):
    out = tmp_path / "cap"
    assert main(["train", "caption", "--cell", "gru", "--out", str(out), *TINY]) == 0
    names = {p.name for p in out.iterdir()}
    assert "captions.png" in names and "attention.png" not in names
