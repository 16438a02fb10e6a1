"""recipes/memqa.py: the memory network recipe on the StoryQA generator, through the CLI."""
import argparse
import json

import numpy as np
import pytest

from chainrule import recipes
from chainrule.cli import main

PNG = b"\x89PNG\r\n\x1a\n"
TINY = ["--no-progress", "--epochs", "2", "--n-train", "20", "--n-val", "5", "--n-test", "10",
        "--embed", "8", "--hops", "2"]


def _args(argv=()):
    p = argparse.ArgumentParser()
    r = recipes.get_recipe("memqa")
    r.add_arguments(p)
    args = p.parse_args(list(argv))
    args.batch_size, args.limit_train = r.DEFAULTS["batch_size"], None
    return args


def test_registered_with_its_options(capsys):
    assert recipes.RECIPES["memqa"] == "chainrule.recipes.memqa"
    with pytest.raises(SystemExit):
        main(["train", "memqa", "--help"])
    text = capsys.readouterr().out
    for flag in ("--task", "--hops", "--embed", "--n-train", "--n-val", "--n-test"):
        assert flag in text, flag


def test_build_gives_input_target_pairs():
    args = _args(["--task", "2", "--n-train", "10", "--n-val", "3", "--n-test", "5",
                  "--hops", "2", "--embed", "6"])
    s = recipes.get_recipe("memqa").build(args)
    (story, question), answer = next(iter(s.train_loader))
    assert story.ndim == 3 and question.ndim == 2 and answer.shape == (story.shape[0],)
    assert s.model.hops == 2 and s.model.embed_dim == 6
    assert s.model((story, question)).shape == (story.shape[0], s.model.answer_size)
    val_story = next(iter(s.val_loader))[0][0].data
    assert not any(np.array_equal(val_story[0], t) for t in story.data)  # other stories
    args.n_train = 0
    with pytest.raises(ValueError, match="--n-train must be >= 1, got 0"):
        recipes.get_recipe("memqa").build(args)


def test_memqa_trains_through_the_cli(tmp_path, capsys):
    out = tmp_path / "memqa"
    assert main(["train", "memqa", "--task", "1", "--out", str(out), *TINY]) == 0
    text = capsys.readouterr().out
    assert "memqa:" in text and "test accuracy" in text
    names = {p.name for p in out.iterdir()}
    assert {"best.ckpt", "last.ckpt", "config.json", "log.csv", "results.json",
            "attention.png"} <= names
    assert (out / "attention.png").read_bytes()[:8] == PNG
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == 1 and config["hops"] == 2 and config["embed"] == 8
    results = json.loads((out / "results.json").read_text())
    assert results["epochs"] == 2 and 0.0 <= results["test_acc"] <= 1.0
    assert main(["eval", str(out / "last.ckpt")]) == 0
    assert "test accuracy" in capsys.readouterr().out
