"""Training: the fit loop, metrics, checkpoints that resume exactly, CSV logs and curves.

>>> from chainrule.train import fit, evaluate
>>> result = fit(model, optimizer, nn.CrossEntropyLoss(), train_loader, val_loader, epochs=10,
...              scheduler=scheduler, out_dir="runs/demo")     # Ctrl-C, then ...
>>> result = fit(..., out_dir="runs/demo", resume=True)       # ... continues where it stopped

A run's directory holds ``log.csv`` (one row per epoch), ``curves.png`` (loss and accuracy),
``last.ckpt`` (after every epoch) and ``best.ckpt`` (best monitored metric), all written
atomically. tqdm (progress bar), matplotlib (curves) and safetensors (checkpoints) are imported
only when used.
"""
from .checkpoint import load_checkpoint, make_checkpoint, restore, save_checkpoint
from .logging import FIELDS, CSVLog, format_epoch, read_csv
from .loop import FitResult, evaluate, fit, train_one_epoch
from .metrics import RunningMean, accuracy, correct_count
from .plots import plot_history

__all__ = ["FIELDS", "CSVLog", "FitResult", "RunningMean", "accuracy", "correct_count",
           "evaluate", "fit", "format_epoch", "load_checkpoint", "make_checkpoint",
           "plot_history", "read_csv", "restore", "save_checkpoint", "train_one_epoch"]
from .gan import fit_gan  # noqa: E402,F401  (alternating GAN loop, notes 4.3)
from .sample_quality import SampleScorer, frechet_distance  # noqa: E402,F401  (sample quality)
