"""Training sequence models (notes 3.1-3.4): language models by truncated back-propagation through
time, encoder-decoders by teacher forcing, and the epochs around them.

The generic :func:`chainrule.train.fit` feeds ``model(x)`` one independent batch at a time. Two
things of sequence models do not fit that:

- a character language model reads its corpus as ``batch_size`` long parallel streams; the
  recurrent state h_t is carried from one batch of ``seq_len`` characters to the next and
  *detached* in between (truncated BPTT: gradients flow back ``seq_len`` steps, the memory goes
  further). Gradients of recurrent nets can explode (the product of many Jacobians dh_t/dh_{t-1}),
  so their total norm is clipped before each step (``nn.utils.clip_grad_norm_``). Its measure is
  the cross-entropy of the next character in *bits per character*, ``bpc = loss / ln 2``;
- an encoder-decoder is trained on (source, target) batches with the true previous tokens as the
  decoder's inputs (teacher forcing), but judged by what it writes on its own: the share of
  sources whose greedy decoding is exactly the target (exact match).

:class:`LanguageModelTrainer` and :class:`Seq2SeqTrainer` do one epoch of training and a
validation each; :func:`fit_epochs` runs them for a number of epochs with what ``fit`` gives a run:
console lines, ``log.csv`` (the columns of ``train.logging.FIELDS`` and the trainer's own, e.g.
``train_bpc, val_bpc``), ``curves.png``, ``last.ckpt`` after every epoch and ``best.ckpt``, and an
exact ``resume``: the checkpoint also holds the trainer's state (the position in the streams and
the carried recurrent state) and any ``extra`` entries (the vocabularies).

>>> trainer = LanguageModelTrainer(model, opt, train_set, val_set, batch_size=32, seq_len=64,
...                                steps_per_epoch=250, clip_grad_norm=5.0)
>>> result = fit_epochs(trainer, epochs=10, out_dir="runs/charlm", monitor="val_loss",
...                     extra={"vocab": train_set.vocab.state_dict()})
"""
from __future__ import annotations

import math
import os
import time

import numpy as np

from ..autograd import no_grad
from ..nn import functional as F
from ..nn.utils import clip_grad_norm_
from ..tensor import Tensor
from .checkpoint import (load_checkpoint, make_checkpoint, remove_stale_temps, restore,
                         save_checkpoint)
from .logging import FIELDS, CSVLog, format_epoch, progress_bar
from .loop import FitResult
from .metrics import RunningMean

LN2 = math.log(2.0)
PLOT_EVERY_SECONDS = 30.0


def bits_per_char(loss):
    """Cross-entropy in nats per character -> bits per character: loss / ln 2."""
    return None if loss is None else loss / LN2


def _check_finite(value, who, step):
    if not math.isfinite(value):
        raise FloatingPointError(f"{who}: the loss became {value} at batch {step}; lower the "
                                 f"learning rate or clip the gradients (--clip-grad-norm)")


def _clip_and_step(model, optimizer, clip):
    if clip is not None:
        clip_grad_norm_(model.parameters(), clip)  # exploding gradients: bound the step length
    optimizer.step()


# ---- language models --------------------------------------------------------------------------

def _detach(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def lm_loss(model, x, y, state=None):
    """(mean cross-entropy of the next characters, the new state): ``model(x, state)`` gives
    logits (B, T, V) for targets y (B, T)."""
    logits, state = model(x, state)  # (B, T, V)
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), y.reshape(-1)), state


def evaluate_lm(model, dataset, batch_size=32, seq_len=None) -> dict:
    """Cross-entropy of every next character of ``dataset`` (a ``CharDataset``) read as
    ``batch_size`` streams with the state carried, in eval mode without a graph.

    Returns ``{"loss": nats per character, "bpc": bits per character, "chars": count}``; the
    text that does not fill the streams evenly (fewer than ``batch_size`` characters) is left
    out. The model's train/eval mode is put back as it was.
    """
    was = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    try:
        with no_grad():
            for x, y in dataset.bptt_batches(batch_size, seq_len):
                loss, state = lm_loss(model, x, y, state)
                total += loss.item() * y.numel()
                count += y.numel()
    finally:
        model.train(was)
    loss = total / count
    return {"loss": loss, "bpc": bits_per_char(loss), "chars": count}


class LanguageModelTrainer:
    """Truncated BPTT for a next-character model (e.g. ``models.CharRNN``).

    The training text is laid out as ``batch_size`` streams (``CharDataset.bptt_batches``); a
    training step takes the next ``seq_len`` characters of every stream, runs the model from the
    carried state, back-propagates the mean cross-entropy (through these ``seq_len`` steps only:
    the state is detached afterwards), clips the gradients' norm and updates. An epoch is
    ``steps_per_epoch`` steps (None: one pass over the text); the streams continue across epochs
    and start over, with a fresh state, when the text runs out.

    Args:
        model: ``model(x (B, T) int64, state) -> (logits (B, T, V), state)``.
        optimizer: over the model's parameters.
        train_set, val_set: ``CharDataset`` splits (val_set may be None).
        batch_size, seq_len: B streams, T characters per step.
        steps_per_epoch: training steps per epoch (None: one pass, ``num_bptt_batches``).
        clip_grad_norm: the largest total gradient norm (None: no clipping).
        eval_batch_size: streams of the validation text (default ``batch_size``).

    ``state_dict()`` (position in the streams, carried state) goes into the checkpoints, so a
    resumed run continues exactly where it stopped.
    """

    fields = ("train_bpc", "val_bpc")

    def __init__(self, model, optimizer, train_set, val_set=None, *, batch_size=32, seq_len=64,
                 steps_per_epoch=None, clip_grad_norm=None, eval_batch_size=None):
        self.model, self.optimizer = model, optimizer
        self.train_set, self.val_set = train_set, val_set
        self.batch_size, self.seq_len = int(batch_size), int(seq_len)
        self.eval_batch_size = int(eval_batch_size or batch_size)
        self.clip = clip_grad_norm
        n = train_set.num_bptt_batches(self.batch_size, self.seq_len, drop_last=True)
        if n < 1:
            raise ValueError(f"LanguageModelTrainer: the training text ({len(train_set.data)} "
                             f"characters) is too short for {self.batch_size} streams of "
                             f"{self.seq_len} characters; use a smaller batch size or seq_len")
        self.batches_per_pass = n
        if steps_per_epoch is not None and steps_per_epoch < 1:
            raise ValueError(f"LanguageModelTrainer: steps_per_epoch must be >= 1 (or None for a "
                             f"pass over the text), got {steps_per_epoch}")
        self.steps_per_epoch = int(steps_per_epoch or n)
        # the streams: row b of batch k continues row b of batch k - 1
        T, B = self.seq_len, self.batch_size
        per_stream = n * T
        data = train_set.data
        self._x = data[:B * per_stream].reshape(B, per_stream)
        self._y = data[1:B * per_stream + 1].reshape(B, per_stream)
        self.position = 0  # the next batch of the pass
        self.state = None  # the carried (detached) recurrent state

    def _batch(self, k):
        s = slice(k * self.seq_len, (k + 1) * self.seq_len)
        return (Tensor._make(np.ascontiguousarray(self._x[:, s]), False, None, 0),
                Tensor._make(np.ascontiguousarray(self._y[:, s]), False, None, 0))

    def train_epoch(self, desc="", progress=False) -> dict:
        """``steps_per_epoch`` steps of truncated BPTT; returns train_loss and train_bpc (the
        mean over the epoch's characters)."""
        model, opt = self.model, self.optimizer
        model.train()
        mean = RunningMean()
        bar = progress_bar(range(self.steps_per_epoch), total=self.steps_per_epoch, desc=desc,
                           enabled=progress)
        try:
            for step in bar:
                if self.position == self.batches_per_pass:  # the text is read: start over
                    self.position, self.state = 0, None
                x, y = self._batch(self.position)
                opt.zero_grad()
                loss, state = lm_loss(model, x, y, self.state)
                loss.backward()
                _clip_and_step(model, opt, self.clip)
                self.state = _detach(state)  # carry the memory, cut the gradient path
                self.position += 1
                value = loss.item()
                _check_finite(value, "LanguageModelTrainer", step)
                mean.update(value, y.numel())
                bar.set_postfix_str(f"bpc {bits_per_char(mean.value):.3f}", refresh=False)
        finally:
            bar.close()
        return {"train_loss": mean.value, "train_acc": None,
                "train_bpc": bits_per_char(mean.value)}

    def validate(self) -> dict:
        """val_loss and val_bpc on the whole validation text (fresh state)."""
        if self.val_set is None:
            return {"val_loss": None, "val_acc": None, "val_bpc": None}
        r = evaluate_lm(self.model, self.val_set, self.eval_batch_size, self.seq_len)
        return {"val_loss": r["loss"], "val_acc": None, "val_bpc": r["bpc"]}

    def state_dict(self) -> dict:
        state = self.state
        if state is not None:
            state = [s.data.copy() for s in (state if isinstance(state, tuple) else (state,))]
        return {"position": self.position, "state": state,
                "tuple": isinstance(self.state, tuple)}

    def load_state_dict(self, d) -> None:
        self.position = int(d["position"])
        s = d["state"]
        if s is None:
            self.state = None
        else:
            ts = [Tensor._make(np.asarray(a.data if isinstance(a, Tensor) else a), False, None, 0)
                  for a in s]
            self.state = tuple(ts) if d.get("tuple") else ts[0]

    def plot(self, history, path, title=None):
        """curves.png: the train and validation cross-entropy in bits per character."""
        from .plots import plot_history

        rows = [{"epoch": r["epoch"], "train_loss": r.get("train_bpc"),
                 "val_loss": r.get("val_bpc")} for r in history]
        plot_history(rows, path, title=(title or "") + " cross-entropy (bits per character)")


# ---- encoder-decoders -------------------------------------------------------------------------

def seq2seq_loss(model, batch, pad_id):
    """(mean cross-entropy of the target tokens and <eos> under teacher forcing, logits)."""
    logits = model(batch.src, batch.src_lengths, batch.tgt_in)  # (B, T, V)
    V = logits.shape[-1]
    loss = F.cross_entropy(logits.reshape(-1, V), batch.tgt_out.reshape(-1), ignore_index=pad_id)
    return loss, logits


def _token_hits(logits, tgt_out, pad_id):
    """(correct predictions, real target tokens) of teacher-forced logits (padding ignored)."""
    y = tgt_out.data
    real = y != pad_id
    return int(((logits.data.argmax(-1) == y) & real).sum()), int(real.sum())


def translate(model, dataset, sources, max_len, batch_size=500):
    """Greedy decoding of a list of source strings: (output strings, attention weights per
    source (len(output) + <eos>..., S) or None).

    ``dataset`` gives the vocabularies (``src_vocab``, ``tgt_vocab``) and the encoding; a source
    character outside the vocabulary becomes <unk>.
    """
    tv = dataset.tgt_vocab
    outs, weights = [], []
    for i in range(0, len(sources), batch_size):
        src, lengths = dataset.encode_sources(sources[i:i + batch_size])
        seqs, ws = model.greedy_decode(src, lengths, max_len, tv.bos_id, tv.eos_id)
        outs += [tv.decode(s) for s in seqs]
        weights += ws if ws is not None else [None] * len(seqs)
    return outs, (weights if any(w is not None for w in weights) else None)


def exact_match(model, dataset, max_len, batch_size=500) -> dict:
    """The share of ``dataset``'s pairs whose greedy translation is exactly the target.

    Returns ``{"exact_match": share, "predictions": [str], "correct": [bool]}``.
    """
    sources = [s for s, _ in dataset.pairs]
    preds, _ = translate(model, dataset, sources, max_len, batch_size)
    correct = [p == t for p, (_, t) in zip(preds, dataset.pairs)]
    return {"exact_match": sum(correct) / max(1, len(correct)), "predictions": preds,
            "correct": correct}


def evaluate_seq2seq(model, dataset, max_len, batch_size=500) -> dict:
    """Teacher-forced loss and token accuracy, and greedy exact match, on a whole task dataset.

    Returns ``{"loss", "token_acc", "exact_match"}``; the model's mode is put back as it was.
    """
    was = model.training
    model.eval()
    pad = dataset.tgt_vocab.pad_id
    mean, hits, seen = RunningMean(), 0, 0
    try:
        with no_grad():
            for i in range(0, len(dataset), batch_size):
                batch = dataset.collate(dataset.pairs[i:i + batch_size])
                loss, logits = seq2seq_loss(model, batch, pad)
                h, n = _token_hits(logits, batch.tgt_out, pad)
                mean.update(loss.item(), n)
                hits, seen = hits + h, seen + n
        em = exact_match(model, dataset, max_len, batch_size)["exact_match"]
    finally:
        model.train(was)
    return {"loss": mean.value, "token_acc": hits / max(1, seen), "exact_match": em}


class Seq2SeqTrainer:
    """Teacher forcing for an encoder-decoder (``models.Seq2Seq``), judged by exact match.

    An epoch is one pass over ``train_loader`` (shuffled ``SeqBatch`` batches): the decoder reads
    <bos> y_1..y_n and is trained to write y_1..y_n <eos> (cross-entropy averaged over the real
    target tokens, padding ignored), gradients clipped to ``clip_grad_norm``. Validation decodes
    each source of ``val_set`` greedily and counts the outputs equal to the target.

    Record fields: train_loss, train_acc (token accuracy under teacher forcing), val_loss
    (teacher-forced), val_acc (exact match of greedy decoding).
    """

    fields = ()

    def __init__(self, model, optimizer, train_loader, val_set=None, *, max_len,
                 clip_grad_norm=None, eval_batch_size=500):
        self.model, self.optimizer = model, optimizer
        self.train_loader, self.val_set = train_loader, val_set
        self.max_len, self.clip = int(max_len), clip_grad_norm
        self.eval_batch_size = int(eval_batch_size)
        self.pad_id = train_loader.dataset.tgt_vocab.pad_id

    def train_epoch(self, desc="", progress=False) -> dict:
        model, opt = self.model, self.optimizer
        model.train()
        mean, hits, seen = RunningMean(), 0, 0
        loader = self.train_loader
        bar = progress_bar(loader, total=len(loader), desc=desc, enabled=progress)
        try:
            for step, batch in enumerate(bar):
                opt.zero_grad()
                loss, logits = seq2seq_loss(model, batch, self.pad_id)
                loss.backward()
                _clip_and_step(model, opt, self.clip)
                value = loss.item()
                _check_finite(value, "Seq2SeqTrainer", step)
                h, n = _token_hits(logits, batch.tgt_out, self.pad_id)
                mean.update(value, n)
                hits, seen = hits + h, seen + n
                bar.set_postfix_str(f"loss {mean.value:.4f}", refresh=False)
        finally:
            bar.close()
        return {"train_loss": mean.value, "train_acc": hits / max(1, seen)}

    def validate(self) -> dict:
        if self.val_set is None:
            return {"val_loss": None, "val_acc": None}
        r = evaluate_seq2seq(self.model, self.val_set, self.max_len, self.eval_batch_size)
        return {"val_loss": r["loss"], "val_acc": r["exact_match"]}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, d) -> None:
        pass

    def plot(self, history, path, title=None):
        """curves.png: losses, and accuracies (train: tokens, teacher-forced; val: exact match)."""
        from .plots import plot_history

        plot_history(history, path, title=(title or "") + " accuracy: train = tokens (teacher "
                     "forcing), val = exact match (greedy)")


# ---- the epochs -------------------------------------------------------------------------------

def _same(a, b):
    """Equality of checkpoint entries (plain data; lists may come back as tuples)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


_RESERVED = {"format", "version", "epoch", "model", "optimizer", "scheduler", "rng", "best",
             "history", "config", "trainer"}


def _improved(best, value):
    if value is None:
        return False
    if best["value"] is None:
        return True
    return value > best["value"] if best["mode"] == "max" else value < best["value"]


def fit_epochs(trainer, epochs, *, scheduler=None, monitor="val_loss", out_dir=None,
               resume=False, config=None, extra=None, progress=True, plot=True, title=None,
               log=print) -> FitResult:
    """Run ``trainer`` (a :class:`LanguageModelTrainer` or :class:`Seq2SeqTrainer`) for
    ``epochs`` epochs: train, validate, step the scheduler, record, checkpoint.

    Args:
        trainer: has ``model``, ``optimizer``, ``train_epoch(desc, progress)``, ``validate()``,
            ``state_dict()``/``load_state_dict()``, ``fields`` (extra log columns) and
            ``plot(history, path, title)``.
        epochs: the total number of epochs of the run (resumed ones count).
        scheduler: stepped once per epoch (``ReduceLROnPlateau`` with the monitored value).
        monitor: the record field that picks ``best.ckpt``: 'val_loss', 'val_acc',
            'train_loss', ... (accuracies maximized, the rest minimized).
        out_dir: the run's directory (log.csv, curves.png, last.ckpt, best.ckpt); None: nothing
            on disk.
        resume: continue from ``out_dir/last.ckpt`` (model, optimizer, scheduler, RNG, trainer
            state, history, best) to the same result as an uninterrupted run.
        config: the run's settings, stored in the checkpoints.
        extra: more plain-data entries for the checkpoints (e.g. ``{"vocab": v.state_dict()}``);
            on resume they must equal the checkpoint's (the same data), else ValueError.
        progress, plot, title, log: progress bar, curves.png (and its title), console lines.

    Returns:
        ``train.FitResult`` (history, best, stopped_early False).
    """
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit_epochs: epochs must be a non-negative int, got {epochs!r}")
    say = log or (lambda *a, **k: None)
    model, optimizer = trainer.model, trainer.optimizer
    fields = FIELDS + tuple(trainer.fields)
    if monitor not in fields:
        raise ValueError(f"fit_epochs: monitor must be one of {fields}, got {monitor!r}")
    best = {"metric": monitor, "mode": "max" if monitor.endswith("acc") else "min",
            "value": None, "epoch": None}
    extra = dict(extra or {})
    clash = sorted(set(extra) & _RESERVED)
    if clash:
        raise ValueError(f"fit_epochs: extra entries may not be named {clash}")
    history, start = [], 0
    last_path = best_path = log_csv = None
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        remove_stale_temps(out_dir)
        last_path, best_path = (os.path.join(out_dir, n) for n in ("last.ckpt", "best.ckpt"))
    if resume:
        if last_path is None or not os.path.exists(last_path):
            raise FileNotFoundError(f"fit_epochs(resume=True): no checkpoint to resume from at "
                                    f"'{last_path}'")
        ckpt = load_checkpoint(last_path)
        for key, value in extra.items():
            if not _same(ckpt.get(key), value):
                raise ValueError(f"fit_epochs: the checkpoint {last_path} has another {key!r} "
                                 f"than this run's data; resume with the same data options")
        try:
            restore(ckpt, model, optimizer, scheduler)  # weights, moments, lr, RNG
        except (RuntimeError, ValueError, TypeError, KeyError) as e:  # another architecture...
            raise type(e)(f"fit_epochs(resume=True): the checkpoint '{last_path}' does not fit "
                          f"this run's model, optimizer or scheduler: {e}") from None
        trainer.load_state_dict(ckpt.get("trainer") or {})
        start, history, best = ckpt["epoch"], ckpt["history"], ckpt["best"] or best
        say(f"resumed from {last_path} after epoch {start}")
    elif last_path is not None and os.path.exists(last_path):
        say(f"note: starting over in {out_dir} (its earlier last.ckpt will be overwritten)")
    if out_dir is not None:
        log_csv = CSVLog(os.path.join(out_dir, "log.csv"), history, fields)  # atomic rewrite
    last_plot = time.monotonic()

    for epoch in range(start + 1, epochs + 1):
        t0 = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        record = {"epoch": epoch, **trainer.train_epoch(f"epoch {epoch}/{epochs}", progress)}
        record.update(trainer.validate())
        record.update(lr=lr, seconds=time.perf_counter() - t0)
        if scheduler is not None:
            if type(scheduler).__name__ == "ReduceLROnPlateau":
                scheduler.step(record[monitor])
            else:
                scheduler.step()
        history.append(record)
        is_best = _improved(best, record.get(monitor))
        if is_best:
            best = {**best, "value": record[monitor], "epoch": epoch}
        if out_dir is not None:
            ckpt = make_checkpoint(model, optimizer, scheduler, epoch=epoch, best=best,
                                   history=history, config=config)
            ckpt["trainer"] = trainer.state_dict()
            ckpt.update(extra)
            # best.ckpt first: a crash between the writes never leaves it stale (see train.loop)
            save_checkpoint(ckpt, *([best_path] if is_best else []), last_path)
            log_csv.append(record)
            if plot and (epoch == epochs or time.monotonic() - last_plot > PLOT_EVERY_SECONDS):
                trainer.plot(history, os.path.join(out_dir, "curves.png"), title)
                last_plot = time.monotonic()
        line = format_epoch(record, epochs, best=False)
        if record.get("train_bpc") is not None:
            line += f"  bpc train {record['train_bpc']:.3f}"
            if record.get("val_bpc") is not None:
                line += f" val {record['val_bpc']:.3f}"
        say(line + (" *" if is_best else ""))
    return FitResult(history=history, best=best, stopped_early=False)
