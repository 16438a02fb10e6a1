"""What a training run shows and records: the per-epoch CSV log, the console line, the progress bar.

The CSV log (``log.csv`` in the run's directory) has one row per epoch with the columns
``epoch, train_loss, train_acc, val_loss, val_acc, lr, seconds`` (empty where not measured);
``lr`` is the learning rate used during the epoch, ``seconds`` its wall time, training and
evaluation together.
"""
from __future__ import annotations

import csv
import io
import math
import os
import sys

FIELDS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


class CSVLog:
    """An append-only CSV file of epoch records, rewritten from a history when a run resumes.

    Args:
        path: the CSV file.
        history: records already done (a resumed run's); the file is rewritten with the header
            and these rows, dropping rows of epochs that were logged after the last checkpoint.
        fields: the columns (default FIELDS; a trainer may add its own, e.g. bits per character).
    """

    def __init__(self, path, history=(), fields=FIELDS):
        from ..serialization import _atomic_write

        self.path = os.fspath(path)
        self.fields = tuple(fields)
        buf = io.StringIO(newline="")
        writer = csv.DictWriter(buf, self.fields, extrasaction="ignore")
        writer.writeheader()
        for record in history:
            writer.writerow(_row(record, self.fields))
        # atomic: a crash while a resumed run rewrites the log never leaves it cut short
        _atomic_write(self.path, buf.getvalue().encode(), who="CSVLog")

    def append(self, record: dict) -> None:
        try:
            with open(self.path, "a", newline="") as f:
                csv.DictWriter(f, self.fields, extrasaction="ignore").writerow(
                    _row(record, self.fields))
        except OSError as e:  # e.g. a full disk: name the file (a bare write error does not)
            reason = e.strerror or str(e)
            raise OSError(e.errno, f"CSVLog: could not append epoch {record.get('epoch')} to "
                                   f"'{self.path}': {reason[:1].lower() + reason[1:]}",
                          self.path) from e


def _row(record, fields=FIELDS):
    return {k: "" if record.get(k) is None else record[k] for k in fields}


def read_csv(path) -> list[dict]:
    """The rows of a CSV log as dicts of floats (None for empty cells; epoch as int)."""
    with open(path, newline="") as f:
        rows = []
        for row in csv.DictReader(f):
            rows.append({k: (None if v == "" else int(v) if k == "epoch" else float(v))
                         for k, v in row.items()})
        return rows


def _fmt(x, pct=False):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{100 * x:6.2f}%" if pct else f"{x:.4f}"


def format_epoch(record: dict, epochs: int, best: bool = False) -> str:
    """One console line for an epoch (``*`` at the end marks a new best monitored metric)::

        epoch  3/30  train loss 0.4123 acc  85.12%  val loss 0.3900 acc  86.01%  lr 1.00e-03  12.3s
    """
    width = len(str(epochs))
    parts = [f"epoch {record['epoch']:{width}d}/{epochs}",
             f"train loss {_fmt(record.get('train_loss'))}"]
    if record.get("train_acc") is not None:
        parts[-1] += f" acc {_fmt(record['train_acc'], pct=True)}"
    if record.get("val_loss") is not None:
        parts.append(f"val loss {_fmt(record['val_loss'])}")
        if record.get("val_acc") is not None:
            parts[-1] += f" acc {_fmt(record['val_acc'], pct=True)}"
    parts.append(f"lr {record['lr']:.2e}")
    secs = record["seconds"]
    parts.append((f"{secs:.1f}s" if secs >= 10 else f"{secs:.2f}s") + (" *" if best else ""))
    return "  ".join(parts)


class _NoBar:
    """Stands in for a tqdm bar when none is shown."""

    def __init__(self, iterable):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def set_postfix_str(self, s, refresh=True):
        pass

    def close(self):
        pass


def progress_bar(iterable, total=None, desc="", enabled=True, stream=None):
    """A tqdm bar over ``iterable`` on ``stream`` (stderr), or a silent wrapper.

    The bar is shown only when ``enabled`` and the stream is a terminal, so logs redirected to a
    file and test runs stay clean. It is cleared when the epoch ends (the epoch line replaces it).
    """
    stream = sys.stderr if stream is None else stream
    if not enabled or not getattr(stream, "isatty", lambda: False)():
        return _NoBar(iterable)
    try:
        from tqdm.auto import tqdm
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("the training progress bar needs tqdm: pip install tqdm (or pass "
                          "progress=False / --no-progress)") from e
    return tqdm(iterable, total=total, desc=desc, leave=False, file=stream, dynamic_ncols=True,
                unit="batch")
