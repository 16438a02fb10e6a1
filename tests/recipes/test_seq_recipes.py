"""The sequence recipes (charlm, dates, addition) end to end through the CLI on tiny data, and
`chainrule sample`."""
import json
import math
import os

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.datasets.text import Vocabulary
from chainrule.recipes import RECIPES, charlm
from chainrule.train import load_checkpoint, read_csv

WORDS = "the cat sat on a mat and then the dog ran far away from home".split()
TINY_LM = ["--epochs", "2", "--steps-per-epoch", "6", "--batch-size", "4", "--seq-len", "12",
           "--embed", "8", "--hidden", "24", "--sample-length", "80", "--no-progress"]
TINY_S2S = ["--epochs", "2", "--n-train", "192", "--n-val", "32", "--n-test", "32", "--embed",
            "8", "--hidden", "16", "--batch-size", "32", "--no-progress"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = np.random.default_rng(0)
    lines = [" ".join(rng.choice(WORDS, 7)) + "." for _ in range(120)]
    path = tmp_path_factory.mktemp("text") / "tiny.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def lm_run(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("charlm") / "run"
    assert main(["train", "charlm", "--text", str(corpus), "--out", str(out), *TINY_LM]) == 0
    return out


def _weights(path):
    return {k: v.numpy() for k, v in load_checkpoint(path)["model"].items()}


def test_the_recipes_are_registered():
    assert {"charlm", "dates", "addition"} <= set(RECIPES)


def test_charlm_trains_end_to_end(lm_run, corpus):
    names = sorted(p.name for p in lm_run.iterdir())
    assert names == ["best.ckpt", "config.json", "curves.png", "last.ckpt", "log.csv",
                     "results.json", "samples.txt"]
    rows = read_csv(lm_run / "log.csv")
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(r["val_bpc"] == pytest.approx(r["val_loss"] / math.log(2)) for r in rows)
    results = json.loads((lm_run / "results.json").read_text())
    assert results["val_bpc"] == pytest.approx(rows[-1]["val_bpc"])
    assert results["best"]["metric"] == "val_loss"
    text = corpus.read_text()
    ckpt = load_checkpoint(lm_run / "last.ckpt")
    vocab = Vocabulary.from_state_dict(ckpt["vocab"])  # the vocabulary travels with the weights
    assert vocab.itos == sorted(set(text))
    assert ckpt["config"]["clip_grad_norm"] == 5.0  # the recipe's default clipping
    assert ckpt["trainer"]["position"] == 12  # 2 epochs x 6 steps into the streams
    samples = (lm_run / "samples.txt").read_text()
    assert samples.startswith("# chainrule charlm") and len(samples.splitlines()[1:]) >= 1
    assert set(samples.split("\n", 1)[1]) <= set(text)


def test_charlm_resume_gives_the_same_weights(corpus, tmp_path, lm_run, monkeypatch):
    from chainrule.train.seq import LanguageModelTrainer

    out = tmp_path / "r"
    argv = ["train", "charlm", "--text", str(corpus), "--out", str(out), *TINY_LM]
    validate = LanguageModelTrainer.validate
    calls = []

    def interrupted(self):  # Ctrl-C in the second epoch, after epoch 1's checkpoint
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return validate(self)

    monkeypatch.setattr(LanguageModelTrainer, "validate", interrupted)
    assert main(argv) == 130
    assert load_checkpoint(out / "last.ckpt")["epoch"] == 1
    monkeypatch.setattr(LanguageModelTrainer, "validate", validate)
    assert main(argv + ["--resume"]) == 0  # epoch 2 from last.ckpt
    a, b = _weights(lm_run / "last.ckpt"), _weights(out / "last.ckpt")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert [r["val_loss"] for r in read_csv(out / "log.csv")] == \
        [r["val_loss"] for r in read_csv(lm_run / "log.csv")]
    assert (out / "samples.txt").read_text() == (lm_run / "samples.txt").read_text()


def test_sample_is_reproducible_with_a_seed(lm_run, capsys):
    ckpt = str(lm_run / "best.ckpt")
    capsys.readouterr()
    assert main(["sample", ckpt, "--length", "60", "--seed", "3", "--prime", "the "]) == 0
    first = capsys.readouterr().out
    assert main(["sample", ckpt, "--length", "60", "--seed", "3", "--prime", "the "]) == 0
    assert capsys.readouterr().out == first
    assert first.startswith("the ") and len(first) == len("the ") + 60 + 1  # and print's "\n"
    assert main(["sample", ckpt, "--length", "60", "--seed", "4", "--prime", "the "]) == 0
    assert capsys.readouterr().out != first
    assert main(["sample", ckpt, "--length", "20", "--temperature", "0"]) == 0  # argmax
    greedy = capsys.readouterr().out
    assert main(["sample", ckpt, "--length", "20", "--temperature", "0", "--seed", "9"]) == 0
    assert capsys.readouterr().out == greedy  # no draws at temperature 0
    assert main(["sample", ckpt, "--length", "20", "--top-k", "1", "--seed", "5"]) == 0
    assert capsys.readouterr().out == greedy  # top-1 is the argmax


def test_sample_errors(lm_run, tmp_path, capsys):
    ckpt = str(lm_run / "best.ckpt")
    assert main(["sample", ckpt, "--prime", "QZ#"]) == 2
    assert "not in the vocabulary" in capsys.readouterr().err
    assert main(["sample", ckpt, "--temperature", "-1"]) == 2
    assert "--temperature >= 0" in capsys.readouterr().err
    assert main(["sample", ckpt, "--num", "0"]) == 2
    assert "--num >= 1" in capsys.readouterr().err
    assert main(["sample", str(tmp_path / "nope.ckpt")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
    assert main(["sample", ckpt, "--input", "1+1"]) == 2
    assert "dates/addition" in capsys.readouterr().err


def test_eval_of_a_charlm_checkpoint(lm_run, capsys):
    assert main(["eval", str(lm_run / "last.ckpt")]) == 0
    out = capsys.readouterr().out
    bpc = float(out.split("val bits per character")[1].split()[0])
    assert bpc == pytest.approx(read_csv(lm_run / "log.csv")[-1]["val_bpc"], abs=1e-4)


def test_dates_with_attention_end_to_end(tmp_path, capsys):
    out = tmp_path / "dates"
    assert main(["train", "dates", "--out", str(out), *TINY_S2S]) == 0
    text = capsys.readouterr().out
    assert "exact match" in text and "attention weights ->" in text
    assert (out / "attention.png").stat().st_size > 5000
    assert (out / "attention.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((out / "results.json").read_text())
    assert 0 <= results["test_exact_match"] <= 1 and results["test_size"] == 32
    ckpt = load_checkpoint(out / "best.ckpt")
    src = Vocabulary.from_state_dict(ckpt["src_vocab"])
    tgt = Vocabulary.from_state_dict(ckpt["tgt_vocab"])
    assert "m" in src and "-" in tgt and tgt.bos_id == 1
    rows = read_csv(out / "log.csv")
    assert results["best"]["metric"] == "val_acc" and len(rows) == 2
    assert main(["sample", str(out / "best.ckpt"), "--input", "the 3rd of march 1999",
                 "--input", "03/03/99"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("the 3rd of march 1999 -> ")
    assert main(["sample", str(out / "best.ckpt"), "--input", "3 mar 99",
                 "--beam-width", "3"]) == 0
    assert capsys.readouterr().out.startswith("3 mar 99 -> ")
    assert main(["sample", str(out / "best.ckpt")]) == 2  # a translation needs --input
    assert "--input" in capsys.readouterr().err


def test_dates_without_attention_draws_no_attention(tmp_path, capsys):
    out = tmp_path / "plain"
    assert main(["train", "dates", "--out", str(out), "--attention", "none", *TINY_S2S]) == 0
    assert not (out / "attention.png").exists()
    assert "attn" not in " ".join(load_checkpoint(out / "last.ckpt")["model"])


def test_addition_learns_and_evaluates(tmp_path, capsys):
    out = tmp_path / "add"
    args = ["--epochs", "6", "--digits", "1", "--n-train", "256", "--n-val", "32", "--n-test",
            "40", "--embed", "8", "--hidden", "32", "--batch-size", "16", "--lr", "0.01",
            "--no-progress", "--no-plot"]
    assert main(["train", "addition", "--out", str(out), *args]) == 0
    rows = read_csv(out / "log.csv")
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] - 0.5  # it learns
    assert rows[-1]["train_acc"] > 0.4  # tokens right under teacher forcing (chance 0.1)
    capsys.readouterr()
    assert main(["eval", str(out / "best.ckpt"), "--split", "val"]) == 0
    assert "val loss" in capsys.readouterr().out
    assert main(["sample", str(out / "best.ckpt"), "--input", "3+4"]) == 0
    assert capsys.readouterr().out.startswith("3+4 -> ")


def test_fortune_files_skip_the_indexes(tmp_path):
    for name in ("b", "a", "a.dat", "b.dat"):
        (tmp_path / name).write_text(name)
    os.symlink(tmp_path / "a", tmp_path / "a.u8")
    assert [os.path.basename(p) for p in charlm.fortune_files(str(tmp_path))] == ["a", "b"]
    assert charlm.fortune_files(str(tmp_path / "missing")) == []


def test_the_corpus_without_fortunes_or_network_is_a_clear_error(tmp_path, monkeypatch):
    from chainrule.datasets import _download

    def offline(url, timeout):
        raise OSError("no network")

    monkeypatch.setattr(charlm, "fortune_files", lambda folder=None: [])
    monkeypatch.setattr(_download, "urlopen", offline)
    with pytest.raises(FileNotFoundError, match="--text PATH.*apt-get install fortunes"):
        charlm.load_corpus(None, str(tmp_path))
    (tmp_path / charlm.SHAKESPEARE_FILE).write_text("First Citizen:\n")
    assert charlm.load_corpus(None, str(tmp_path))[0] == "First Citizen:\n"
    with pytest.raises(FileNotFoundError, match="no text file"):
        charlm.load_corpus(str(tmp_path / "nope.txt"))
