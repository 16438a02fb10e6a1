"""The training loop: epochs of mini-batch SGD (notes 1.3), evaluation, logs, checkpoints, resume.

Read :func:`fit` top to bottom; in short::

    for epoch in epochs not yet done:
        train one epoch        shuffled mini-batches: forward, loss, backward, [clip], step
        evaluate               model.eval(), no graph: mean loss and accuracy on val_loader
        scheduler.step()       once per epoch (ReduceLROnPlateau gets the monitored metric)
        record the epoch       console line, log.csv row, last.ckpt (+ best.ckpt), curves.png

Everything a run needs to continue is in ``last.ckpt`` (see ``train.checkpoint``), written
atomically after every epoch. Because the checkpoint holds the state of chainrule's random
generator, a resumed run draws the same shuffles and dropout masks as an uninterrupted one and
ends with the same weights.

Data-parallel runs (``chainrule.distributed``, under mpirun): give ``fit`` a
``DistributedDataParallel`` model and loaders whose samplers shard the data (``shard_loader``).
Every rank then runs this loop on its shard; the gradients are averaged after each backward
pass (before clipping); the epoch's training and validation sums (loss x examples, correct
answers, examples) are added over the ranks, so every rank logs the same metrics of the whole
data and takes the same scheduler and early-stopping decisions; a sampler with ``set_epoch``
gets the epoch (0-based) before each epoch. Only rank 0 prints, draws the progress bar and
writes log.csv, curves.png and the checkpoints (which also hold every rank's RNG state); on
resume rank 0 reads last.ckpt and sends it to the others.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from .. import backend
from ..autograd import no_grad
from .checkpoint import (checkpoint_from_bytes, load_checkpoint, make_checkpoint,
                         remove_stale_temps, restore, save_checkpoint)
from .logging import FIELDS, CSVLog, format_epoch, progress_bar
from .metrics import RunningMean, correct_count

METRICS = ("loss", "accuracy")
PLOT_EVERY_SECONDS = 30.0  # redraw curves.png during a run at most this often (and at the end)


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        history: one record per epoch (the columns of log.csv), including resumed ones.
        best: {"metric", "mode", "value", "epoch"} of the monitored metric.
        stopped_early: whether ``on_epoch_end`` ended the run before ``epochs``.
    """

    history: list = field(default_factory=list)
    best: dict = field(default_factory=dict)
    stopped_early: bool = False


def _batch(batch, where):
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError(f"{where}: expected the loader to yield (inputs, targets) pairs, got "
                        f"{type(batch).__name__}" + (f" of length {len(batch)}"
                                                     if isinstance(batch, (tuple, list)) else ""))
    return batch


def _ddp(model):
    """``model`` when it is a DistributedDataParallel (data-parallel run), else None."""
    from ..distributed.ddp import DistributedDataParallel

    return model if isinstance(model, DistributedDataParallel) else None


def _reduce_sums(ddp, loss_mean, correct, seen):
    """Add the epoch's sums over the ranks (a no-op outside a data-parallel run)."""
    if ddp is None or ddp.process_group.size == 1:
        return correct, seen
    from ..distributed.reduce import all_reduce_sum

    tot = all_reduce_sum(np.array([loss_mean.total, loss_mean.count, correct, seen],
                                  dtype=np.float64))
    loss_mean.total, loss_mean.count = float(tot[0]), int(round(tot[1]))
    return int(round(tot[2])), int(round(tot[3]))


def train_one_epoch(model, optimizer, loss_fn, loader, *, accuracy=True, clip_grad_norm=None,
                    scheduler=None, bar=None) -> dict:
    """One pass over ``loader`` updating the model; returns the mean loss (and accuracy).

    ``loss_fn`` must average over the batch (reduction='mean'); the epoch's loss is the mean over
    examples, sum_b n_b L_b / sum_b n_b. ``scheduler``, when given, is stepped after every batch.
    A ``DistributedDataParallel`` model has its gradients averaged over the ranks after each
    backward pass, and the returned means are over the examples of all ranks.
    """
    ddp = _ddp(model)
    model.train()
    loss_mean, correct, seen = RunningMean(), 0, 0
    for step, batch in enumerate(bar if bar is not None else loader):
        x, y = _batch(batch, "train_one_epoch")
        optimizer.zero_grad()
        output = model(x)
        loss = loss_fn(output, y)
        loss.backward()
        if ddp is not None:
            ddp.allreduce_gradients()
        if clip_grad_norm is not None:
            from ..nn.utils import clip_grad_norm_
            clip_grad_norm_(model.parameters(), clip_grad_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        value, n = loss.item(), len(y)
        if not math.isfinite(value):
            raise FloatingPointError(f"train_one_epoch: the loss became {value} at batch {step}; "
                                     f"lower the learning rate or clip gradients")
        loss_mean.update(value, n)
        if accuracy:
            correct += correct_count(output, y)
        seen += n
        if bar is not None:
            bar.set_postfix_str(f"loss {loss_mean.value:.4f}", refresh=False)
    correct, seen = _reduce_sums(ddp, loss_mean, correct, seen)
    return {"loss": loss_mean.value, "accuracy": correct / seen if accuracy and seen else None}


def evaluate(model, loss_fn, loader, *, accuracy=True) -> dict:
    """Mean loss (and accuracy) of the model on ``loader``, in eval mode without a graph.

    The model's train/eval mode is put back as it was. For a ``DistributedDataParallel`` model
    each rank scores its shard of the data and the sums are added over the ranks (every rank
    returns the means over all the shards; see ``chainrule.distributed.DistributedEvalSampler``).
    """
    ddp = _ddp(model)
    was_training = model.training
    model.eval()
    loss_mean, correct, seen = RunningMean(), 0, 0
    try:
        with no_grad():
            for batch in loader:
                x, y = _batch(batch, "evaluate")
                output = model(x)
                loss_mean.update(loss_fn(output, y).item(), len(y))
                if accuracy:
                    correct += correct_count(output, y)
                seen += len(y)
    finally:
        model.train(was_training)
    correct, seen = _reduce_sums(ddp, loss_mean, correct, seen)
    return {"loss": loss_mean.value, "accuracy": correct / seen if accuracy and seen else None}


def _is_plateau(scheduler):
    try:
        from ..optim.lr_scheduler import ReduceLROnPlateau
    except ImportError:  # pragma: no cover
        return type(scheduler).__name__ == "ReduceLROnPlateau"
    return isinstance(scheduler, ReduceLROnPlateau)


def _improved(best, value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if best["value"] is None:
        return True
    return value > best["value"] if best["mode"] == "max" else value < best["value"]


def fit(model, optimizer, loss_fn, train_loader, val_loader=None, epochs=1, *, scheduler=None,
        metrics=METRICS, out_dir=None, resume=False, clip_grad_norm=None, progress=True,
        monitor=None, step_scheduler="epoch", config=None, on_epoch_end=None, plot=True,
        log=print) -> FitResult:
    """Train ``model`` for ``epochs`` epochs, evaluating, logging and checkpointing each one.

    Args:
        model: a ``nn.Module``; called as ``model(x)`` on each batch's inputs.
        optimizer: a ``chainrule.optim`` optimizer over the model's parameters.
        loss_fn: ``loss_fn(output, y)`` -> scalar Tensor, averaged over the batch.
        train_loader: iterable of ``(x, y)`` batches (a ``DataLoader``; shuffle it).
        val_loader: batches to evaluate on after each epoch (optional).
        epochs: the total number of epochs of the run (resumed epochs count).
        scheduler: a learning-rate scheduler, stepped once per epoch (or per batch with
            ``step_scheduler='batch'``); ``ReduceLROnPlateau`` is given the monitored metric.
        metrics: which of ('loss', 'accuracy') to measure; the loss always is. Accuracy reads
            logits (N, C) with integer targets, or binary logits (N,) with targets in {0, 1}.
        out_dir: the run's directory for ``log.csv``, ``curves.png``, ``last.ckpt`` and
            ``best.ckpt`` (created if needed); None keeps nothing on disk.
        resume: continue the run saved in ``out_dir/last.ckpt``: model, optimizer, scheduler,
            RNG state, history and best metric are restored and training goes on from the epoch
            after the checkpoint, to the same result as a run that was never interrupted.
        clip_grad_norm: rescale the gradients to this total L2 norm at most (``None``: off).
        progress: show a tqdm bar with the running loss (only on a terminal).
        monitor: the record field that picks ``best.ckpt`` ('val_acc', 'val_loss',
            'train_loss', ...); default val_acc, else val_loss, else train_loss. Accuracies
            are maximized, losses minimized.
        step_scheduler: 'epoch' or 'batch'.
        config: a JSON-able dict stored in the checkpoints (e.g. the recipe's settings).
        on_epoch_end: ``f(record) -> bool``, called after each epoch's checkpoint; returning True
            ends the run there (early stopping).
        plot: draw ``curves.png`` (matplotlib) at the end and at most every 30 s.
        log: where the per-epoch lines go (``print``; ``None`` for silence).

    A ``chainrule.distributed.DistributedDataParallel`` model makes it a data-parallel run (see
    the module docstring): run ``fit`` on every rank, with sharded loaders; only rank 0 prints
    and writes into ``out_dir``.

    Returns:
        :class:`FitResult` (history, best, stopped_early).

    Example:
        >>> result = fit(model, optim.Adam(model.parameters()), nn.CrossEntropyLoss(),
        ...              DataLoader(train, 128, shuffle=True), DataLoader(val, 512),
        ...              epochs=10, out_dir="runs/demo")
    """
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise ValueError(f"fit: unknown metrics {sorted(unknown)}; available: {METRICS}")
    if step_scheduler not in ("epoch", "batch"):
        raise ValueError(f"fit: step_scheduler must be 'epoch' or 'batch', got "
                         f"{step_scheduler!r}")
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative int, got {epochs!r}")
    if scheduler is not None and step_scheduler == "batch" and _is_plateau(scheduler):
        raise ValueError("fit: ReduceLROnPlateau needs an epoch metric; use step_scheduler='epoch'")
    ddp = _ddp(model)
    group = ddp.process_group if ddp is not None else None
    main = group is None or group.rank == 0  # the process that prints and writes files
    say = (log if main else None) or (lambda *a, **k: None)
    with_acc = "accuracy" in metrics
    if monitor is None:
        monitor = ("val_acc" if with_acc else "val_loss") if val_loader is not None else (
            "train_acc" if with_acc else "train_loss")
    if monitor not in FIELDS[1:5]:
        raise ValueError(f"fit: monitor must be one of {FIELDS[1:5]}, got {monitor!r}")
    best = {"metric": monitor, "mode": "max" if monitor.endswith("acc") else "min",
            "value": None, "epoch": None}
    history, start = [], 0

    # ---- the run's directory; resume from its last checkpoint ---------------------------------
    last_path = best_path = csv_log = None
    if out_dir is not None:
        if main:
            os.makedirs(out_dir, exist_ok=True)
            remove_stale_temps(out_dir)
        last_path = os.path.join(out_dir, "last.ckpt")
        best_path = os.path.join(out_dir, "best.ckpt")
    if resume:
        if last_path is None:
            raise ValueError("fit(resume=True): give out_dir, the directory of the run's "
                             "last.ckpt")
        if ddp is None:
            if not os.path.exists(last_path):
                raise FileNotFoundError(f"fit(resume=True): no checkpoint to resume from at "
                                        f"'{last_path}'")
            ckpt = load_checkpoint(last_path)
        else:  # rank 0 reads the file and sends its bytes to every rank
            from ..distributed.checkpoint import read_bytes_on_main

            try:
                data = read_bytes_on_main(last_path, who="fit(resume=True)")
            except FileNotFoundError:
                raise FileNotFoundError(f"fit(resume=True): no checkpoint to resume from at "
                                        f"'{last_path}' (on rank 0)") from None
            ckpt = checkpoint_from_bytes(data, last_path)
        try:
            restore(ckpt, model, optimizer, scheduler)  # weights, moments, lr, RNG
        except (RuntimeError, ValueError, TypeError, KeyError) as e:  # another architecture...
            raise type(e)(f"fit(resume=True): the checkpoint '{last_path}' does not fit this "
                          f"run's model, optimizer or scheduler: {e}") from None
        if group is not None:
            _restore_rank_rng(ckpt, group)
        start, history, best = ckpt["epoch"], ckpt["history"], ckpt["best"] or best
        say(f"resumed from {last_path} after epoch {start}")
    elif main and last_path is not None and os.path.exists(last_path):
        say(f"note: starting over in {out_dir} (its earlier last.ckpt will be overwritten; "
            f"resume=True continues it instead)")
    if out_dir is not None and main:
        csv_log = CSVLog(os.path.join(out_dir, "log.csv"), history)
    last_plot = time.monotonic()

    stopped_early = False
    for epoch in range(start + 1, epochs + 1):
        t0 = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        set_epoch = getattr(getattr(train_loader, "sampler", None), "set_epoch", None)
        if callable(set_epoch):  # DistributedSampler: this epoch's order, the same on every rank
            set_epoch(epoch - 1)

        # ---- train one epoch, then evaluate ----------------------------------------------------
        bar = progress_bar(train_loader, total=_len(train_loader), desc=f"epoch {epoch}/{epochs}",
                           enabled=progress and main)
        try:
            train = train_one_epoch(model, optimizer, loss_fn, train_loader, accuracy=with_acc,
                                    clip_grad_norm=clip_grad_norm, bar=bar,
                                    scheduler=scheduler if step_scheduler == "batch" else None)
        finally:
            bar.close()
        val = (evaluate(model, loss_fn, val_loader, accuracy=with_acc)
               if val_loader is not None else {"loss": None, "accuracy": None})
        record = {"epoch": epoch, "train_loss": train["loss"], "train_acc": train["accuracy"],
                  "val_loss": val["loss"], "val_acc": val["accuracy"], "lr": lr,
                  "seconds": time.perf_counter() - t0}

        # ---- the learning rate for the next epoch -----------------------------------------------
        if scheduler is not None and step_scheduler == "epoch":
            if _is_plateau(scheduler):
                scheduler.step(record[monitor])
            else:
                scheduler.step()

        # ---- record: history, best, checkpoints, CSV, curves -------------------------------------
        history.append(record)
        is_best = _improved(best, record[monitor])
        if is_best:
            best = {**best, "value": record[monitor], "epoch": epoch}
        rng_ranks = None
        if out_dir is not None and group is not None:  # collective: every rank's RNG state
            from ..distributed.reduce import all_gather_object

            rng_ranks = all_gather_object(backend.get_rng_state())
        if out_dir is not None and main:
            ckpt = make_checkpoint(model, optimizer, scheduler, epoch=epoch, best=best,
                                   history=history, config=config)
            if rng_ranks is not None:
                ckpt["rng_ranks"] = rng_ranks
            # best.ckpt before last.ckpt: a crash between the two writes then leaves best.ckpt
            # ahead (the resumed run redoes that epoch and writes both), never stale
            save_checkpoint(ckpt, *([best_path] if is_best else []), last_path)
            csv_log.append(record)
            if plot and (epoch == epochs or time.monotonic() - last_plot > PLOT_EVERY_SECONDS):
                _plot(history, out_dir)
                last_plot = time.monotonic()
        say(format_epoch(record, epochs, best=is_best))
        if on_epoch_end is not None and on_epoch_end(record):
            stopped_early = epoch < epochs
            if out_dir is not None and plot and main:
                _plot(history, out_dir)
            break
    return FitResult(history=history, best=best, stopped_early=stopped_early)


def _restore_rank_rng(ckpt, group):
    """Each rank's own RNG state from a data-parallel checkpoint; after a change of world size
    (or from a one-process checkpoint) ranks > 0 start new streams derived from their rank."""
    states = ckpt.get("rng_ranks")
    if isinstance(states, (list, tuple)) and len(states) == group.size:
        backend.set_rng_state(states[group.rank])
    elif group.rank > 0:
        seq = np.random.SeedSequence([int(ckpt["epoch"]), group.rank, group.size])
        backend.set_rng_state(np.random.PCG64(seq).state)


def _plot(history, out_dir):
    from .plots import plot_history

    plot_history(history, os.path.join(out_dir, "curves.png"))


def _len(loader):
    try:
        return len(loader)
    except TypeError:
        return None
