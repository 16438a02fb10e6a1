"""LeNet-5 (notes 2.1) on Fashion-MNIST, with softmax cross-entropy (2.2).

    x (N, 1, 28, 28) -> conv 5x5 pad 2 (6) -> ReLU -> max pool 2 -> conv 5x5 (16) -> ReLU
      -> max pool 2 -> (N, 400) -> FC 120 -> ReLU -> FC 84 -> ReLU -> FC 10 -> logits

(``chainrule.models.lenet5``, 61,706 parameters.) Adam, lr 2e-3 with a cosine schedule over 30
epochs, batch 128. Without augmentation the small net over-fits Fashion-MNIST after about ten
epochs (99% training accuracy at the end); shifts of 2 pixels are too much for it (it under-fits);
random shifts of up to 1 pixel and left-right flips, the default, work best. Test accuracy after
the 30 epochs, seed 0, as measured for this recipe:

    --no-augment 90.80%   --crop-padding 0 (flips) 90.79%   --crop-padding 2 91.14%
    default (--crop-padding 1) 91.66%   (--optimizer momentum --lr 0.05 --weight-decay 5e-4: 91.62%)

About 8-15 s an epoch on one core. Data, split and augmentation: see ``recipes._cnn``. At the
end the 6 learned 5x5 filters of the first layer are drawn to ``OUT/filters.png``.
"""
from __future__ import annotations

from . import Setup
from . import _cnn

DESCRIPTION = ("LeNet-5 (conv-pool-conv-pool-FC) on Fashion-MNIST with shifts and flips "
               "(notes 2.1); about 10 s an epoch on 2 cores")
DEFAULTS = {"epochs": 30, "batch_size": 128, "optimizer": "adam", "lr": 2e-3,
            "scheduler": "cosine", "weight_decay": 0.0}
LR = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.01, "rmsprop": 1e-3,
      "adadelta": 1.0, "adamw": 2e-3}


def add_arguments(parser):
    _cnn.add_data_arguments(parser, "lenet5", augment=True, crop_padding=1)


def build(args) -> Setup:
    from .. import nn
    from ..models import lenet5

    train, val, test = _cnn.loaders(args, "lenet5")
    return Setup(model=lenet5(num_classes=10, in_channels=1), loss_fn=nn.CrossEntropyLoss(),
                 train_loader=train, val_loader=val, test_loader=test)


def after_fit(setup, args, result):
    """Draw the first layer's filters (OUT/filters.png)."""
    _cnn.plot_first_filters(setup.model, args, "LeNet-5 conv1: 6 filters 5x5")
