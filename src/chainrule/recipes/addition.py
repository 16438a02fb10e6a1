"""Addition as translation with an encoder-decoder and attention (notes 3.4): "123+45" -> "168".

    source characters -> Embedding (32) -> GRU encoder (128) -> h_1..h_S (the memory)
    <bos> y_1..y_n -> Embedding -> GRU decoder from h_S -> s_t -> attention over h_1..h_S
      -> c_t -> tanh(W_c [s_t; c_t]) -> Linear -> the next digit

(``chainrule.models.Seq2Seq``.) Data: ``datasets.Addition`` with operands of 1 to 3 digits
(``--digits``); the test pairs (a, b) are pairs no training example has. The network has to learn
to align the digits of equal place value and to carry, from examples alone. Training: teacher
forcing, Adam, cosine schedule, gradients clipped to norm 5; the measure is exact match of the
greedy decoding on the test pairs. ``OUT/attention.png`` shows which source digits each output
digit read.
"""
from __future__ import annotations

import sys

from . import Setup
from . import _seq2seq

NAME = "addition"
_TASK = sys.modules[__name__]  # this module: the task the shared functions run
DESCRIPTION = ("GRU encoder-decoder with attention: 3-digit sums 'a+b' -> digits (notes 3.4); "
               "exact match; about 2-4 min on 2 cores")
DEFAULTS = {"epochs": 15, "batch_size": 64, "optimizer": "adam", "lr": 2e-3,
            "scheduler": "cosine", "weight_decay": 0.0, "clip_grad_norm": 5.0}
MONITOR = "val_acc"
EXAMPLES = ["123+456", "999+1", "58+367", "700+300", "1+1", "909+99"]


def add_arguments(parser):
    _seq2seq.add_arguments(parser, NAME, n_train=50000, n_val=1000, n_test=2000, embed=32,
                           hidden=128)
    parser.add_argument("--digits", type=int, default=3,
                        help="the most digits of an operand (default 3)")


def make_split(args, n, split, seed):
    from ..datasets.seq_tasks import Addition

    return Addition(n, digits=args.digits, seed=seed, split=split)


def max_len(config):
    digits = config.get("digits", 3) if isinstance(config, dict) else config.digits
    return digits + 2  # the longest sum (digits + 1) and <eos>


def build(args) -> Setup:
    return _seq2seq.build(_TASK, args)


def fit(setup, optimizer, scheduler, args, config):
    return _seq2seq.fit(_TASK, setup, optimizer, scheduler, args, config)


def test(setup, args, split="test"):
    return _seq2seq.test(_TASK, setup, args, split)


def after_fit(setup, args, result):
    return _seq2seq.after_fit(_TASK, setup, args, result)


def sample(ckpt, args):
    return _seq2seq.sample(_TASK, ckpt, args)
