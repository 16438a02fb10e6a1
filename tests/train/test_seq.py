"""train/seq.py: truncated BPTT (state carried, detached, clipped), bits per character, exact
match, and fit_epochs (log, checkpoints with extras, exact resume)."""
import csv
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.datasets.seq_tasks import Addition
from chainrule.datasets.text import CharDataset
from chainrule.models.charrnn import CharRNN
from chainrule.models.seq2seq import Seq2Seq
from chainrule.train import load_checkpoint
from chainrule.train.seq import (LanguageModelTrainer, Seq2SeqTrainer, bits_per_char,
                                 evaluate_lm, evaluate_seq2seq, exact_match, fit_epochs,
                                 translate)

TEXT = "the cat sat on the mat.\nthe dog ran far.\n" * 30  # 1230 characters


def _lm(cell="lstm", seed=0, hidden=12):
    cr.manual_seed(seed)
    train, val = CharDataset.splits(TEXT, seq_len=8)
    return CharRNN(len(train.vocab), 6, hidden, 1, cell), train, val


def _weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def test_bits_per_char_is_nats_over_ln2():
    assert bits_per_char(math.log(2)) == pytest.approx(1.0)
    assert bits_per_char(math.log(65)) == pytest.approx(math.log2(65))
    assert bits_per_char(None) is None


def test_evaluate_lm_of_a_uniform_model_is_log2_of_the_vocabulary():
    model, train, val = _lm()
    model.decoder.weight.data[...] = 0  # logits all 0: p = 1/V for every character
    model.decoder.bias.data[...] = 0
    r = evaluate_lm(model, val, batch_size=3, seq_len=5)
    V = len(train.vocab)
    assert r["loss"] == pytest.approx(math.log(V), rel=1e-6)
    assert r["bpc"] == pytest.approx(math.log2(V), rel=1e-6)
    assert r["chars"] == 3 * ((len(val.data) - 1) // 3)  # the streams' characters, all scored
    assert model.training  # the mode is put back


def test_evaluate_lm_carries_the_state_like_one_long_pass():
    model, train, val = _lm()
    streamed = evaluate_lm(model, val, batch_size=1, seq_len=7)["loss"]
    with cr.no_grad():  # the whole text in one call: the same computation, no truncation
        x = cr.tensor(val.data[None, :-1])
        logits, _ = model(x)
        whole = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                            cr.tensor(val.data[1:])).item()
    assert streamed == pytest.approx(whole, rel=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_training_steps_carry_the_detached_state(cell):
    model, train, _ = _lm(cell)
    opt = optim.SGD(model.parameters(), lr=0.0)  # no update: the state alone moves on
    tr = LanguageModelTrainer(model, opt, train, batch_size=2, seq_len=5, steps_per_epoch=3)
    tr.train_epoch()
    assert tr.position == 3
    states = tr.state if isinstance(tr.state, tuple) else (tr.state,)
    assert all(not s.requires_grad for s in states)  # cut from the graph (truncated BPTT)
    with cr.no_grad():  # the same streams read in one call of 15 characters
        _, ref = model(cr.tensor(tr._x[:, :15]))
    refs = ref if isinstance(ref, tuple) else (ref,)
    for s, r in zip(states, refs):
        np.testing.assert_allclose(s.numpy(), r.numpy(), rtol=1e-5, atol=1e-6)


def test_streams_start_over_with_a_fresh_state_when_the_text_runs_out():
    model, train, _ = _lm()
    opt = optim.SGD(model.parameters(), lr=0.0)
    tr = LanguageModelTrainer(model, opt, train, batch_size=4, seq_len=8, steps_per_epoch=None)
    n = tr.batches_per_pass
    assert n == train.num_bptt_batches(4, 8, drop_last=True) and tr.steps_per_epoch == n
    tr.train_epoch()
    assert tr.position == n
    tr.steps_per_epoch = 2
    tr.train_epoch()  # the first step starts over at batch 0 from a zero state
    assert tr.position == 2
    with cr.no_grad():
        _, ref = model(cr.tensor(tr._x[:, :16]))
    np.testing.assert_allclose(tr.state[0].numpy(), ref[0].numpy(), rtol=1e-5, atol=1e-6)


def test_gradients_are_clipped_before_the_step():
    model, train, _ = _lm()
    before = _weights(model)
    opt = optim.SGD(model.parameters(), lr=1.0)
    tr = LanguageModelTrainer(model, opt, train, batch_size=2, seq_len=8, steps_per_epoch=1,
                              clip_grad_norm=1e-3)
    tr.train_epoch()
    moved = math.sqrt(sum(float(((v - before[k]) ** 2).sum())
                          for k, v in _weights(model).items()))
    assert 0 < moved <= 1e-3 * (1 + 1e-4)  # ||step|| = lr * ||clipped g|| <= 1e-3


def test_lm_trainer_learns_and_rejects_bad_settings():
    model, train, val = _lm(hidden=24)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    tr = LanguageModelTrainer(model, opt, train, val, batch_size=4, seq_len=16,
                              steps_per_epoch=40, clip_grad_norm=5.0)
    first = tr.validate()["val_bpc"]
    rec = tr.train_epoch()
    assert rec["train_bpc"] == pytest.approx(rec["train_loss"] / math.log(2))
    after = tr.validate()["val_bpc"]
    assert after < first - 1.0 and after < 2.5  # a repetitive text is learned quickly
    with pytest.raises(ValueError, match="too short for 500 streams"):
        LanguageModelTrainer(model, opt, train, batch_size=500, seq_len=16)
    with pytest.raises(ValueError, match="steps_per_epoch must be >= 1"):
        LanguageModelTrainer(model, opt, train, batch_size=2, seq_len=4, steps_per_epoch=-1)


def _lm_run(out, epochs, resume=False):
    model, train, val = _lm(seed=3)
    opt = optim.Adam(model.parameters(), lr=5e-3)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    tr = LanguageModelTrainer(model, opt, train, val, batch_size=3, seq_len=6,
                              steps_per_epoch=7, clip_grad_norm=1.0)
    res = fit_epochs(tr, epochs, scheduler=sched, out_dir=str(out), resume=resume, plot=False,
                     extra={"vocab": train.vocab.state_dict()}, log=None)
    return model, res


def test_fit_epochs_resumes_to_the_same_weights(tmp_path):
    straight, res = _lm_run(tmp_path / "a", 4)
    _lm_run(tmp_path / "b", 2)
    resumed, res_b = _lm_run(tmp_path / "b", 4, resume=True)
    for k, v in _weights(straight).items():
        np.testing.assert_array_equal(_weights(resumed)[k], v)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in res.history]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in res_b.history]
    ckpt = load_checkpoint(tmp_path / "b" / "last.ckpt")
    assert ckpt["vocab"] == CharDataset.splits(TEXT)[0].vocab.state_dict()
    assert ckpt["trainer"]["position"] == 4 * 7 and len(ckpt["trainer"]["state"]) == 2  # (h, c)
    with open(tmp_path / "b" / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert float(rows[-1]["val_bpc"]) == pytest.approx(float(rows[-1]["val_loss"]) / math.log(2))
    assert res.best["metric"] == "val_loss" and res.best["mode"] == "min"


def test_fit_epochs_refuses_to_resume_on_other_data(tmp_path):
    _lm_run(tmp_path, 1)
    model, train, val = _lm()
    opt = optim.Adam(model.parameters())
    tr = LanguageModelTrainer(model, opt, train, val, batch_size=3, seq_len=6, steps_per_epoch=2)
    with pytest.raises(ValueError, match="another 'vocab'"):
        fit_epochs(tr, 2, out_dir=str(tmp_path), resume=True, log=None,
                   extra={"vocab": {"itos": ["x"], "specials": [], "sep": ""}})
    with pytest.raises(ValueError, match="may not be named"):
        fit_epochs(tr, 1, extra={"model": 1}, log=None)
    with pytest.raises(ValueError, match="monitor must be one of"):
        fit_epochs(tr, 1, monitor="val_bleu", log=None)


# ---- encoder-decoders -------------------------------------------------------------------------

class _Echo:
    """A stand-in decoder that writes fixed outputs, to check the counting of exact_match."""

    def __init__(self, outputs, tgt_vocab):
        self.outputs, self.tv, self.calls = outputs, tgt_vocab, []

    def greedy_decode(self, src, lengths, max_len, bos, eos):
        start = sum(self.calls)
        self.calls.append(src.shape[0])
        outs = self.outputs[start:start + src.shape[0]]
        return [self.tv.encode(o)[:max_len] for o in outs], None


def test_exact_match_counts_whole_outputs_equal_to_the_target():
    ds = Addition(7, seed=0)
    outs = [t for _, t in ds.pairs]
    outs[1] = outs[1] + "0"  # one digit too many
    outs[4] = outs[4][:-1]  # one too few
    fake = _Echo(outs, ds.tgt_vocab)
    r = exact_match(fake, ds, max_len=10, batch_size=3)
    assert fake.calls == [3, 3, 1]  # decoded in batches
    assert r["exact_match"] == pytest.approx(5 / 7)
    assert r["correct"] == [True, False, True, True, False, True, True]


def _s2s(attention="additive"):
    cr.manual_seed(0)
    ds = Addition(64, digits=2, seed=0)
    return Seq2Seq(ds.src_vocab, ds.tgt_vocab, 8, 16, attention=attention), ds


def test_evaluate_seq2seq_token_accuracy_and_translate_batches():
    model, ds = _s2s()
    r = evaluate_seq2seq(model, ds, max_len=4, batch_size=10)
    b = ds.collate(ds.pairs)
    with cr.no_grad():
        logits = model(b.src, b.src_lengths, b.tgt_in)
    y = b.tgt_out.numpy()
    real = y != ds.tgt_vocab.pad_id
    assert r["token_acc"] == pytest.approx(((logits.numpy().argmax(-1) == y) & real).sum()
                                           / real.sum())
    ce = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), b.tgt_out.reshape(-1),
                                     ignore_index=ds.tgt_vocab.pad_id).item()
    assert r["loss"] == pytest.approx(ce, rel=1e-5)
    sources = [s for s, _ in ds.pairs]
    one, w1 = translate(model, ds, sources, 4, batch_size=64)
    many, w2 = translate(model, ds, sources, 4, batch_size=5)
    assert one == many and len(w1) == len(sources)
    for a, c, s, o in zip(w1, w2, sources, one):
        assert a.shape[1] == len(s) and a.shape[0] >= len(o)
        np.testing.assert_allclose(a, c, atol=1e-6)
        np.testing.assert_allclose(a.sum(-1), 1, rtol=1e-5)  # distributions over the source
    assert translate(_s2s(None)[0], ds, sources[:3], 4)[1] is None


def test_seq2seq_trainer_learns_a_tiny_task():
    from chainrule.data import DataLoader

    model, ds = _s2s()
    opt = optim.Adam(model.parameters(), lr=1e-2)
    tr = Seq2SeqTrainer(model, opt, DataLoader(ds, batch_size=16, shuffle=True), ds, max_len=4,
                        clip_grad_norm=1.0)
    first = tr.train_epoch()
    for _ in range(15):
        last = tr.train_epoch()
    v = tr.validate()
    assert last["train_loss"] < first["train_loss"] - 0.5
    assert 0 <= last["train_acc"] <= 1 and last["train_acc"] > first["train_acc"]
    assert v["val_loss"] < first["train_loss"] and 0 <= v["val_acc"] <= 1
    assert tr.state_dict() == {}
