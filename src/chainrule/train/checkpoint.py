"""Checkpoints: everything a run needs to continue as if it had never stopped.

A checkpoint is one file written by :func:`chainrule.save` (safetensors; see
``chainrule.serialization`` for the layout), holding the dict::

    {
      "format": "chainrule.checkpoint", "version": 1,
      "epoch":     number of epochs completed,
      "model":     model.state_dict(),
      "optimizer": optimizer.state_dict()  (moment buffers, step counts, param_groups),
      "scheduler": scheduler.state_dict() or None,
      "rng":       chainrule.backend.get_rng_state()  (the next shuffle and dropout masks),
      ["rng_ranks": [the RNG state of each rank]  (data-parallel runs only)]
      "best":      {"metric": "val_acc", "mode": "max", "value": 0.87, "epoch": 12},
      "history":   [epoch records, as in log.csv],
      "config":    the run's settings (the recipe and its options, for `chainrule eval`),
    }

Its arrays are readable by any safetensors reader under ``model/<name>``,
``optimizer/state/<i>/<buffer>``, ...; ``chainrule.load`` gives back the dict exactly.
"""
from __future__ import annotations

import glob
import io
import os

from .. import backend
from ..serialization import _atomic_write, load, save

FORMAT = "chainrule.checkpoint"
VERSION = 1


def make_checkpoint(model, optimizer=None, scheduler=None, *, epoch=0, best=None, history=(),
                    config=None) -> dict:
    """The checkpoint dict of a run after ``epoch`` epochs (see the module docstring)."""
    return {
        "format": FORMAT, "version": VERSION, "epoch": int(epoch),
        "model": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "rng": backend.get_rng_state(),
        "best": dict(best) if best is not None else None,
        "history": list(history),
        "config": dict(config) if config is not None else {},
    }


def save_checkpoint(checkpoint: dict, *paths) -> None:
    """Write ``checkpoint`` atomically to each of ``paths`` (serialized once), in that order.

    Give ``last.ckpt`` last: the run resumes from it, so a crash before it is written only
    repeats the epoch, while a crash after it must not leave the other files behind.
    """
    buf = io.BytesIO()
    save(checkpoint, buf)
    for path in paths:
        _atomic_write(path, buf.getvalue(), who="save_checkpoint")


def load_checkpoint(path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`, checking that it is one."""
    return _checked(load(path), path)


def checkpoint_from_bytes(data: bytes, path) -> dict:
    """The checkpoint in ``data``, the bytes of the file ``path`` (read elsewhere: in a
    distributed run, by rank 0), checked as :func:`load_checkpoint` does."""
    from ..serialization import CorruptFileError

    try:
        ckpt = load(io.BytesIO(data))
    except CorruptFileError as e:
        raise CorruptFileError(f"'{os.fspath(path)}': {e}") from None
    return _checked(ckpt, path)


def _checked(ckpt, path) -> dict:
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"load_checkpoint: '{os.fspath(path)}' is not a chainrule checkpoint "
                         f"(a plain state dict? load it with chainrule.load and "
                         f"model.load_state_dict)")
    if ckpt.get("version", 0) > VERSION:
        raise ValueError(f"load_checkpoint: '{os.fspath(path)}' has checkpoint version "
                         f"{ckpt['version']}, newer than this chainrule reads ({VERSION})")
    return ckpt


def restore(ckpt: dict, model, optimizer=None, scheduler=None, rng=True) -> None:
    """Put the states of ``ckpt`` back into the model, optimizer, scheduler and the RNG."""
    model.load_state_dict(ckpt["model"])
    if optimizer is not None:
        if ckpt.get("optimizer") is None:
            raise ValueError("restore: the checkpoint has no optimizer state")
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None:
        if ckpt.get("scheduler") is None:
            raise ValueError("restore: the checkpoint has no scheduler state (was the run "
                             "started without a scheduler?)")
        scheduler.load_state_dict(ckpt["scheduler"])
    if rng:
        backend.set_rng_state(ckpt["rng"])


def save_epoch_checkpoints(model, out_dir, epoch, *, history, config, value, best) -> bool:
    """After an epoch of a recipe's own loop: write OUT/last.ckpt, and OUT/best.ckpt as well when
    ``value`` (a validation measure, lower is better; None for none) beats ``best['value']``
    (``best`` is updated in place with value and epoch). Returns whether best.ckpt was written."""
    ckpt = make_checkpoint(model, epoch=epoch, history=history, config=config)
    last = os.path.join(out_dir, "last.ckpt")
    if value is not None and (best.get("value") is None or value < best["value"]):
        best.update(value=value, epoch=epoch)
        save_checkpoint(ckpt, os.path.join(out_dir, "best.ckpt"), last)
        return True
    save_checkpoint(ckpt, last)
    return False


def remove_stale_temps(directory) -> list[str]:
    """Delete temporary files left by a write that was killed (``.<name>.<random>.tmp``)."""
    removed = []
    for path in glob.glob(os.path.join(os.fspath(directory), ".*.tmp")):
        try:
            os.unlink(path)
            removed.append(path)
        except OSError:
            pass
    return removed
