"""Learning curves: loss and accuracy per epoch, train and validation, as one PNG.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no display, no global backend
change), and written atomically like every file of a run.
"""
from __future__ import annotations



def plot_history(history, path, title=None) -> None:
    """Save the curves of ``history`` (epoch records, see ``train.logging.FIELDS``) to ``path``.

    Left panel: train and val loss; right panel: train and val accuracy (when measured).
    """
    from .visualize import _figure, _save

    epochs = [r["epoch"] for r in history]
    has_acc = any(r.get("train_acc") is not None or r.get("val_acc") is not None
                  for r in history)
    fig = _figure((10 if has_acc else 5.5, 4), "plotting the learning curves",
                  " (or pass plot=False)")
    axes = fig.subplots(1, 2 if has_acc else 1, squeeze=False)[0]
    panels = [("loss", "train_loss", "val_loss", 1)]
    if has_acc:
        panels.append(("accuracy (%)", "train_acc", "val_acc", 100))
    for ax, (label, train_key, val_key, scale) in zip(axes, panels):
        for key, name in ((train_key, "train"), (val_key, "val")):
            points = [(e, r[key] * scale) for e, r in zip(epochs, history)
                      if r.get(key) is not None]
            if points:
                ax.plot(*zip(*points), marker="o" if len(points) < 30 else None,
                        markersize=3, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    _save(fig, path, "plot_history")
