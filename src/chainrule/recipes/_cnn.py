"""What the image-classification recipes (lenet5, resnet, vgg) share: Fashion-MNIST as
(N, 1, 28, 28) batches with a fixed validation split, optional augmentation, and the picture of
the first layer's filters written at the end of a run.

The images are normalized as (x / 255 - 0.2860) / 0.3530 (the training set's mean and std) and
held in memory as one float32 array, so a batch is one fancy index. The last ``--val-size``
images of a fixed shuffle of the training set (the same for every recipe and seed, as in the mlp
recipe) are held out for validation and pick best.ckpt; the test set is used once, at the end.

Augmentation (``--augment``) acts on the training batches only: each image is shifted by up to
``--crop-padding`` pixels in each direction (``RandomCrop(28, padding)``, the gaps filled with
the background's black) and mirrored left-right with probability 1/2
(``RandomHorizontalFlip``), with fresh draws every epoch from chainrule's generator.
"""
from __future__ import annotations

import argparse
import os

import numpy as np

from . import add_fashion_mnist_source, limit

SPLIT_SEED = 0  # the validation split is the same whatever --seed
EVAL_BATCH = 500  # validation and test batches: no graph, but im2col buffers grow with the batch


def add_data_arguments(parser, who, augment=True, crop_padding=2):
    """The data options of an image recipe, in the argument group ``who``."""
    g = parser.add_argument_group(f"{who} data")
    g.add_argument("--augment", action=argparse.BooleanOptionalAction, default=augment,
                   help=f"random shifts (--crop-padding) and left-right flips of the training "
                        f"images (default {'on' if augment else 'off'})")
    g.add_argument("--crop-padding", type=int, default=crop_padding,
                   help=f"with --augment: the largest shift, in pixels (default {crop_padding}; "
                        f"0 for flips only)")
    g.add_argument("--val-size", type=int, default=5000,
                   help="training images held out for validation (default 5000; 0 for none)")
    g.add_argument("--limit-test", type=int, default=None, metavar="N",
                   help="evaluate on the first N test images only (quick runs)")
    add_fashion_mnist_source(g)
    return g


def fashion_mnist_arrays(args):
    """``(X_train, y_train, X_test, y_test)``: normalized float32 images (N, 1, 28, 28) and int64
    labels of Fashion-MNIST (60,000 and 10,000)."""
    from ..datasets import FashionMNIST

    out = []
    for train in (True, False):
        try:
            ds = FashionMNIST(args.root, train=train, download=args.download)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"{e} From the command line: --download, or --root DIR.") \
                from None
        X, y = (t.data for t in ds.as_tensor_dataset(normalize=True).tensors)
        out += [X, y]
    return tuple(out)


def augmentation(args, mean, std):
    """The training batches' transform for ``--augment`` (None without it)."""
    from ..datasets.transforms import Compose, RandomCrop, RandomHorizontalFlip

    if not args.augment:
        return None
    if args.crop_padding < 0:
        raise ValueError(f"--crop-padding must be >= 0, got {args.crop_padding}")
    steps = [RandomHorizontalFlip(0.5)]
    if args.crop_padding:
        steps.insert(0, RandomCrop(28, padding=args.crop_padding, fill=-mean / std))
    return Compose(steps)


def loaders(args, who):
    """(train_loader, val_loader or None, test_loader) of Fashion-MNIST for an image recipe."""
    from ..data import DataLoader, TensorDataset
    from ..datasets import FashionMNIST
    from ..datasets.transforms import TransformDataset

    X, y, X_test, y_test = fashion_mnist_arrays(args)
    if not 0 <= args.val_size < len(X):
        raise ValueError(f"{who}: --val-size must be in [0, {len(X)}), got {args.val_size}")
    order = np.random.default_rng(SPLIT_SEED).permutation(len(X))
    train_idx, val_idx = order[:len(X) - args.val_size], order[len(X) - args.val_size:]
    train = TensorDataset(*limit((X[train_idx], y[train_idx]), args.limit_train))
    if args.limit_test is not None:
        if args.limit_test < 1:
            raise ValueError(f"{who}: --limit-test must be at least 1, got {args.limit_test}")
        X_test, y_test = X_test[:args.limit_test], y_test[:args.limit_test]
    aug = augmentation(args, FashionMNIST.mean[0], FashionMNIST.std[0])
    if aug is not None:
        train = TransformDataset(train, aug)
    val = (DataLoader(TensorDataset(X[val_idx], y[val_idx]), batch_size=EVAL_BATCH)
           if args.val_size else None)
    return (DataLoader(train, batch_size=args.batch_size, shuffle=True), val,
            DataLoader(TensorDataset(X_test, y_test), batch_size=EVAL_BATCH))


def plot_first_filters(model, args, title):
    """Write ``OUT/filters.png``, the learned filters of the model's first conv layer (unless
    --no-plot); returns the path, or None."""
    from ..train.visualize import first_conv, plot_filters

    conv = first_conv(model)
    if not getattr(args, "plot", True) or conv is None or getattr(args, "out", None) is None:
        return None
    path = os.path.join(args.out, "filters.png")
    plot_filters(conv, path, title=title)
    print(f"first-layer filters -> {path}")
    return path
