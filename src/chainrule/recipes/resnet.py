"""A CIFAR-style residual net (notes 2.5) on Fashion-MNIST, with shifts and flips.

    x (N, 1, 28, 28) -> conv 3x3 (w) -> BN -> ReLU
      -> stage 1: n basic blocks of width w      on 28x28
      -> stage 2: n basic blocks of width 2w     on 14x14 (the first block has stride 2)
      -> stage 3: n basic blocks of width 4w     on 7x7
      -> global average pool -> FC 4w-10 -> logits

with depth 6n + 2 (``--depth``) and base width w (``--width``): ``--depth 20 --width 16`` is He et
al.'s ResNet-20 (``chainrule.models.resnet20``, 0.27M parameters). Each basic block is
x_{l+1} = ReLU(x_l + BN(conv(ReLU(BN(conv(x_l)))))) (``--preact`` for the pre-activation form
x_{l+1} = x_l + F(x_l)); the shortcut where the shape changes is option A (zero-padded identity,
no parameters) or B (1x1 conv + BN, ``--shortcut B``).

Training as He et al. on CIFAR, shortened for the CPU: SGD with momentum 0.9 and weight decay
5e-4, a cosine schedule from lr 0.1 over 15 epochs, batch 128, random crops of the 2-pixel padded
image and left-right flips. The convolutions run in NumPy: an epoch of ResNet-20 took about
225 s with OMP_NUM_THREADS=1 on the AMD build machine (``--depth 14``: about 170 s, ``--depth 8``:
about 80 s), and on the Intel one about 300 s with one thread, 230 s with two (convolutions split
their batch over the threads; the last digits of the results depend on the number of threads);
on a machine whose cores are busy with other work, OMP_NUM_THREADS=1 is much faster than two. Data and split: see ``recipes._cnn``. At the end the first
layer's 3x3 filters are drawn to ``OUT/filters.png``.
"""
from __future__ import annotations

from . import Setup
from . import _cnn

DESCRIPTION = ("ResNet of depth 6n+2 (default ResNet-20, width 16; notes 2.5) on Fashion-MNIST "
               "with crops and flips; about 4 minutes an epoch on 2 cores")
DEFAULTS = {"epochs": 15, "batch_size": 128, "optimizer": "momentum", "lr": 0.1,
            "scheduler": "cosine", "weight_decay": 5e-4}
LR = {"sgd": 0.1, "nesterov": 0.1, "adagrad": 0.01, "rmsprop": 1e-3, "adadelta": 1.0,
      "adam": 1e-3, "adamw": 1e-3}


def add_arguments(parser):
    g = parser.add_argument_group("resnet")
    g.add_argument("--depth", type=int, default=20,
                   help="layers with weights, 6n + 2: 8, 14, 20 (ResNet-20), 32, 44, 56 ... "
                        "(default 20)")
    g.add_argument("--width", type=int, default=16,
                   help="channels of the first stage; the next two have 2x and 4x (default 16)")
    g.add_argument("--shortcut", choices=("A", "B"), default="A",
                   help="where a block changes the shape: A zero-padded identity, B 1x1 conv + "
                        "BN (default A, as He et al. on CIFAR)")
    g.add_argument("--preact", action="store_true",
                   help="pre-activation blocks x + conv(ReLU(BN(conv(ReLU(BN(x)))))) "
                        "(He et al. 2016)")
    _cnn.add_data_arguments(parser, "resnet", augment=True)


def make_model(depth, width, shortcut="A", preact=False, in_channels=1, num_classes=10):
    """The residual net of ``depth`` = 6n + 2 layers and stage widths (w, 2w, 4w)."""
    from ..models import resnet as R

    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"resnet: --depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, ...), "
                         f"got {depth}")
    if width < 1:
        raise ValueError(f"resnet: --width must be at least 1, got {width}")
    n = (depth - 2) // 6
    block = R.PreActBasicBlock if preact else R.BasicBlock
    net = R.ResNet(block, [n, n, n], num_classes=num_classes, in_channels=in_channels,
                   widths=(width, 2 * width, 4 * width), small_input=True, shortcut=shortcut)
    net.arch = f"{'preact_' if preact else ''}resnet{depth}"
    return net


def build(args) -> Setup:
    from .. import nn

    model = make_model(args.depth, args.width, args.shortcut, args.preact)
    train, val, test = _cnn.loaders(args, "resnet")
    return Setup(model=model, loss_fn=nn.CrossEntropyLoss(), train_loader=train, val_loader=val,
                 test_loader=test)


def after_fit(setup, args, result):
    """Draw the first layer's filters (OUT/filters.png)."""
    _cnn.plot_first_filters(setup.model, args,
                            f"ResNet-{args.depth} conv1: {args.width} filters 3x3")
