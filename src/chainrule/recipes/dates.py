"""Date translation with an encoder-decoder and attention (notes 3.4: translation, memory and
attention): "the 3rd of march 1999", "03/03/99", "Wed 3 Mar 1999", ... -> "1999-03-03".

    source characters -> Embedding (32) -> GRU encoder (128) -> h_1..h_S (the memory)
    <bos> y_1..y_n -> Embedding -> GRU decoder from h_S -> s_t -> attention over h_1..h_S
      -> c_t -> tanh(W_c [s_t; c_t]) -> Linear -> the next character

(``chainrule.models.Seq2Seq``; ``--attention none`` keeps only the thought vector h_S, as the
notes' first encoder-decoder.) Data: ``datasets.DateTranslation``, 15 human formats of the dates
1950-2049; the test dates are days no training pair uses. Training: teacher forcing, Adam, cosine
schedule, gradients clipped to norm 5. The measure is exact match: the share of test sources
whose greedy decoding is the whole ISO date. At the end ``OUT/attention.png`` shows where the
decoder looked while writing a few dates (the year's digits read the year, the month the
month's name, ...).
"""
from __future__ import annotations

import sys

from . import Setup
from . import _seq2seq

NAME = "dates"
_TASK = sys.modules[__name__]  # this module: the task the shared functions run
DESCRIPTION = ("GRU encoder-decoder with attention: human dates -> ISO (notes 3.4); exact "
               "match; about 4 min on 2 cores")
DEFAULTS = {"epochs": 12, "batch_size": 64, "optimizer": "adam", "lr": 2e-3,
            "scheduler": "cosine", "weight_decay": 0.0, "clip_grad_norm": 5.0}
MONITOR = "val_acc"
EXAMPLES = ["the 3rd of march 1999", "Wednesday, March 3, 1999", "03/03/99", "3 mar 99",
            "saturday the 21st of december 2047", "2001-9-11"]


def add_arguments(parser):
    _seq2seq.add_arguments(parser, NAME, n_train=20000, n_val=1000, n_test=2000, embed=32,
                           hidden=128)


def make_split(args, n, split, seed):
    from ..datasets.seq_tasks import DateTranslation

    return DateTranslation(n, seed=seed, split=split)


def max_len(config):
    return len("YYYY-MM-DD") + 1  # the ISO date and <eos>


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
