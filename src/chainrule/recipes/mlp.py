"""A ReLU multi-layer network (notes 1.2) on Fashion-MNIST, with softmax cross-entropy (2.2).

    x (N, 784) -> [Linear -> ReLU -> Dropout] x len(hidden) -> Linear -> logits (N, 10)

Inputs are the 28x28 images flattened and normalized, (x / 255 - 0.2860) / 0.3530 (the training
set's mean and std). The whole dataset is one float32 array in a TensorDataset, so a batch is one
fancy index and an epoch's time is the GEMMs. The last ``--val-size`` images of a fixed shuffle
of the training set are held out for validation (picking best.ckpt); the test set is used once,
at the end.
"""
from __future__ import annotations

import numpy as np

from . import Setup, add_fashion_mnist_source, limit

DESCRIPTION = ("ReLU MLP 784-512-512-10 with dropout on Fashion-MNIST (notes 1.2, 2.2); "
               "about 10-20 s an epoch on 2 cores")
DEFAULTS = {"epochs": 30, "batch_size": 128, "optimizer": "adam", "lr": 1e-3,
            "scheduler": "cosine", "weight_decay": 0.0}
LR = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.01, "rmsprop": 5e-4,
      "adadelta": 1.0, "adamw": 1e-3}
MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST training pixels, x / 255
SPLIT_SEED = 0  # the validation split is the same whatever --seed


def add_arguments(parser):
    g = parser.add_argument_group("mlp")
    g.add_argument("--hidden", type=int, nargs="+", default=[512, 512],
                   help="hidden layer sizes (default 512 512)")
    g.add_argument("--dropout", type=float, default=0.2,
                   help="dropout probability after each hidden ReLU (default 0.2; 0 for none)")
    g.add_argument("--val-size", type=int, default=5000,
                   help="training images held out for validation (default 5000; 0 for none)")
    add_fashion_mnist_source(g)


def make_model(in_features, hidden, num_classes, dropout):
    from .. import nn

    layers, width = [], in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def build(args) -> Setup:
    from .. import nn
    from ..data import DataLoader, TensorDataset
    from ..datasets import FashionMNIST

    if not 0 <= args.dropout < 1:
        raise ValueError(f"mlp: --dropout must be in [0, 1), got {args.dropout}")
    try:
        full = FashionMNIST(args.root, train=True, download=args.download)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{e} From the command line: --download, or --root DIR.") \
            from None
    full = full.as_tensor_dataset(flatten=True, normalize=(MEAN, STD))
    X, y = (t.data for t in full.tensors)  # (60000, 784) float32, (60000,) int64
    if not 0 <= args.val_size < len(X):
        raise ValueError(f"mlp: --val-size must be in [0, {len(X)}), got {args.val_size}")
    order = np.random.default_rng(SPLIT_SEED).permutation(len(X))
    train_idx, val_idx = order[:len(X) - args.val_size], order[len(X) - args.val_size:]
    train = limit((X[train_idx], y[train_idx]), args.limit_train)
    test = FashionMNIST(args.root, train=False, download=args.download).as_tensor_dataset(
        flatten=True, normalize=(MEAN, STD))
    return Setup(
        model=make_model(X.shape[1], args.hidden, 10, args.dropout),
        loss_fn=nn.CrossEntropyLoss(),
        train_loader=DataLoader(TensorDataset(*train), batch_size=args.batch_size, shuffle=True),
        val_loader=(DataLoader(TensorDataset(X[val_idx], y[val_idx]), batch_size=1000)
                    if args.val_size else None),
        test_loader=DataLoader(test, batch_size=1000),
    )
