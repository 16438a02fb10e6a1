"""A small VGG net (notes 2.3) on Fashion-MNIST, with or without batch normalization (2.4).

    x (N, 1, 28, 28) -> [conv 3x3 (w) -> (BN) -> ReLU] x2 -> max pool 2      28 -> 14
      -> [conv 3x3 (2w) -> (BN) -> ReLU] x2 -> max pool 2                    14 -> 7
      -> [conv 3x3 (4w) -> (BN) -> ReLU] x2 -> max pool 2                     7 -> 3
      -> FC 36w-256 -> ReLU -> dropout -> FC 256-256 -> ReLU -> dropout -> FC 256-10

(``chainrule.models.vgg_small``, 0.58M parameters at w = 32.) SGD with momentum 0.9 and a cosine
schedule. Data and split: see ``recipes._cnn``; augmentation is off by default (``--augment``).

The notes (2.4) claim batch normalization stabilizes training and allows larger learning rates.
``--compare-bn`` tests it: after the run, the same net without batch normalization (with it, if
the run had ``--no-batch-norm``) is trained from the same seed with the same data, optimizer,
learning rate and schedule into ``OUT/no-bn`` (``OUT/bn``), and both runs' curves are drawn on
one figure, ``OUT/bn_comparison.png``. A large learning rate shows the difference best, e.g.

    chainrule train vgg --compare-bn --lr 0.1 --epochs 5 --out runs/vgg-bn

A run whose loss diverges stops there and is drawn up to that epoch.
"""
from __future__ import annotations

import os

from . import Setup
from . import _cnn

DESCRIPTION = ("small VGG (3 groups of two 3x3 convs) on Fashion-MNIST, --batch-norm/"
               "--no-batch-norm, --compare-bn (notes 2.3, 2.4); about 3 min an epoch on 2 cores")
DEFAULTS = {"epochs": 15, "batch_size": 128, "optimizer": "momentum", "lr": 0.05,
            "scheduler": "cosine", "weight_decay": 5e-4}
_NOT_CONFIG = ("command", "resume", "progress", "plot")  # as the cli: switches, not settings
LR = {"sgd": 0.1, "nesterov": 0.05, "adagrad": 0.01, "rmsprop": 1e-4, "adadelta": 1.0,
      "adam": 1e-3, "adamw": 1e-3}


def add_arguments(parser):
    import argparse

    g = parser.add_argument_group("vgg")
    g.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=True,
                   help="batch normalization after every conv layer (default on)")
    g.add_argument("--width", type=int, default=32,
                   help="filters of the first group; the next two have 2x and 4x (default 32)")
    g.add_argument("--dropout", type=float, default=0.5,
                   help="dropout probability in the classifier (default 0.5; 0 for none)")
    g.add_argument("--compare-bn", action="store_true",
                   help="after the run, train the same net without batch normalization (with "
                        "it, after --no-batch-norm) with the same seed and settings, and draw "
                        "both runs on OUT/bn_comparison.png; try a large --lr, e.g. 0.1")
    _cnn.add_data_arguments(parser, "vgg", augment=False)


def make_model(batch_norm, width=32, dropout=0.5):
    from ..models import vgg_small

    if not 0 <= dropout < 1:
        raise ValueError(f"vgg: --dropout must be in [0, 1), got {dropout}")
    if width < 1:
        raise ValueError(f"vgg: --width must be at least 1, got {width}")
    return vgg_small(num_classes=10, in_channels=1, batch_norm=batch_norm, dropout=dropout,
                     width=width)


def build(args) -> Setup:
    from .. import nn

    model = make_model(args.batch_norm, args.width, args.dropout)
    train, val, test = _cnn.loaders(args, "vgg")
    return Setup(model=model, loss_fn=nn.CrossEntropyLoss(), train_loader=train, val_loader=val,
                 test_loader=test)


def _label(batch_norm):
    return "with BN" if batch_norm else "without BN"


def after_fit(setup, args, result):
    """Draw the first layer's filters; with --compare-bn, train the other variant and draw the
    two runs on one figure."""
    _cnn.plot_first_filters(setup.model, args,
                            f"vgg_small conv1 ({_label(args.batch_norm)}): {args.width} "
                            f"filters 3x3")
    if args.compare_bn:
        compare_batch_norm(setup, args, result.history)


def compare_batch_norm(setup, args, history):
    """Train the net with the other batch-norm setting, as the main run was trained (same seed,
    so the same initial conv and FC weights, shuffles and dropout masks; same optimizer, lr,
    schedule, epochs), into OUT/no-bn or OUT/bn; then draw both runs on OUT/bn_comparison.png.

    Returns ``(path of the figure, the other run's history)``.
    """
    import chainrule as cr

    from . import make_optimizer, make_scheduler
    from ..train import evaluate, fit
    from ..train.visualize import plot_comparison

    other_bn = not args.batch_norm
    out = os.path.join(args.out, "bn" if other_bn else "no-bn")
    print(f"--compare-bn: training vgg {_label(other_bn)} with the same settings -> {out}")
    cr.manual_seed(args.seed)  # the main run's initial weights and random draws
    model = make_model(other_bn, args.width, args.dropout)
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.lr, args.weight_decay)
    scheduler = make_scheduler(args.scheduler, optimizer, args.epochs, mode="max")
    records, note = [], ""
    try:
        fit(model, optimizer, setup.loss_fn, setup.train_loader, setup.val_loader,
            epochs=args.epochs, scheduler=scheduler, out_dir=out,
            clip_grad_norm=args.clip_grad_norm, progress=args.progress, plot=args.plot,
            config={**{k: v for k, v in vars(args).items() if k not in _NOT_CONFIG},
                    "batch_norm": other_bn, "compare_bn": False, "out": out},
            monitor="val_acc" if setup.val_loader is not None else "train_acc",
            on_epoch_end=lambda r: records.append(r))
        test = evaluate(model, setup.loss_fn, setup.test_loader)
        print(f"vgg {_label(other_bn)}: test accuracy {100 * test['accuracy']:.2f}%")
    except FloatingPointError as e:  # the run diverged: draw it up to there
        note = f", diverged in epoch {len(records) + 1}"
        print(f"vgg {_label(other_bn)}: {e}")
    runs = {_label(args.batch_norm): history, _label(other_bn) + note: records}
    if not args.batch_norm:  # put "with BN" first either way
        runs = dict(reversed(list(runs.items())))
    path = os.path.join(args.out, "bn_comparison.png")
    plot_comparison(runs, path, title=f"vgg_small with and without batch normalization: "
                                      f"{args.optimizer} lr {args.lr:g}, batch {args.batch_size}, "
                                      f"seed {args.seed}")
    print(f"batch-norm comparison -> {path}")
    return path, records
