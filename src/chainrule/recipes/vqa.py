"""Visual question answering on ShapesWorld, a Sort-of-CLEVR-style generator (notes 3.4).

    image [+ x, y channels] -> CNN (stride-2 Conv2d + BatchNorm2d + ReLU blocks, each scaled
       and shifted by the question vector with --fusion film) -> image thought vector
    question words -> LSTM -> question thought vector   (--question-encoder rnn)
       or the 11-number question code -> Linear + ReLU   (--question-encoder code: the
          Sort-of-CLEVR encoding of Santoro et al. 2017; with --fusion concat --no-coords,
          their CNN+MLP baseline)
    [image ; question] -> MLP -> answer (yes, no, circle, square, triangle, 1..6)

(``chainrule.models.VQANet``.) ``--n-train`` scenes of the train split (20 questions each, half
non-relational, half relational) train the model, ``--n-val`` more scenes pick best.ckpt, and
``--n-test`` scenes of the disjoint test split measure it: the test reports the accuracy on the
non-relational and on the relational questions separately, and on each question type
(results.json: ``test_acc``, ``test_acc_nonrel``, ``test_acc_rel``, ``test_acc_shape``, ...,
``test_acc_count``).

``--fusion concat`` is Santoro et al.'s CNN+MLP (the thought vectors meet only at the MLP); it
learns the left/top questions very slowly, since the MLP must pick the named object out of one
flattened feature vector. ``--fusion film`` (the default) lets the question scale and shift the
conv channels (FiLM), and ``--coords`` (default on) gives the CNN each pixel's x and y.
"""
from __future__ import annotations

import argparse

import numpy as np

from . import Setup

DESCRIPTION = ("CNN + LSTM visual question answering on Sort-of-CLEVR-style scenes "
               "(notes 3.4); about 10 minutes on one core")
# 3 * kind + subtype -> a short name (the rows of the shapes_world module's table)
QUESTION_TYPES = ("shape", "left", "top", "closest", "farthest", "count")
DEFAULTS = {"epochs": 8, "batch_size": 64, "optimizer": "adam", "lr": 1e-3,
            "scheduler": "cosine", "weight_decay": 0.0}


def add_arguments(parser):
    g = parser.add_argument_group("vqa")
    g.add_argument("--image-size", type=int, default=32,
                   help="H = W of the scene images (default 32; the generator's own is 64)")
    g.add_argument("--n-train", type=int, default=3000, help="training scenes (default 3000)")
    g.add_argument("--n-val", type=int, default=100,
                   help="validation scenes, picking best.ckpt (default 100; 0 for none)")
    g.add_argument("--n-test", type=int, default=500, help="test scenes (default 500)")
    g.add_argument("--questions-per-scene", type=int, default=20,
                   help="questions per scene, half of them relational (default 20)")
    g.add_argument("--question-encoder", choices=("rnn", "code"), default="rnn",
                   help="rnn: the question's words through an LSTM/GRU; code: the 11-number "
                        "Sort-of-CLEVR encoding through a Linear layer (default rnn)")
    g.add_argument("--rnn", choices=("lstm", "gru"), default="lstm",
                   help="the question RNN (default lstm)")
    g.add_argument("--channels", type=int, nargs="+", default=[32, 32, 32],
                   help="channels of the stride-2 conv blocks (default 32 32 32)")
    g.add_argument("--image-dim", type=int, default=128,
                   help="image thought vector size (default 128)")
    g.add_argument("--question-dim", type=int, default=64,
                   help="question thought vector size (default 64)")
    g.add_argument("--hidden", type=int, nargs="*", default=[256, 256],
                   help="hidden layers of the answer MLP (default 256 256)")
    g.add_argument("--fusion", choices=("concat", "film"), default="film",
                   help="concat: the two thought vectors meet only at the answer MLP (the CNN+MLP "
                        "baseline); film: the question vector also scales and shifts every conv "
                        "block's channels (default film)")
    g.add_argument("--coords", action=argparse.BooleanOptionalAction, default=True,
                   help="append x and y coordinate channels to the image (default on)")
    g.add_argument("--data-seed", type=int, default=0,
                   help="seed of the scene generator (default 0)")


class VQAPairs:
    """A ``ShapesWorld`` as ``((images, questions, lengths, codes), answer)`` batches, the
    (inputs, targets) of ``train.fit``'s loop. Each scene is rendered once and kept;
    ``relational`` (N,) bool says which items are relational questions, ``qtype`` (N,) their
    type 3 * kind + subtype (an index into ``QUESTION_TYPES``)."""

    def __init__(self, ds):
        from ..datasets.seq_tasks import pad_sequences
        from ..datasets.shapes_world import question_code

        self.ds = ds
        Q = ds.questions_per_scene
        self.images = np.stack([ds.scene_image(k) for k in range(ds.num_scenes)])
        qs = [q for k in range(ds.num_scenes) for q in ds.scene_questions(k)]
        ids = [i for k in range(ds.num_scenes) for i in ds._entry(k)["question_ids"]]
        self.questions, self.lengths = pad_sequences(ids, ds.vocab.pad_id)
        self.codes = np.stack([question_code(q.kind, q.subtype, q.colour) for q in qs])
        self.answers = np.array([q.answer for q in qs], dtype=np.int64)
        self.relational = np.array([q.kind == 1 for q in qs], dtype=np.bool_)
        self.qtype = np.array([3 * q.kind + q.subtype for q in qs], dtype=np.int64)
        self.scene = np.repeat(np.arange(ds.num_scenes), Q)

    def __len__(self):
        return len(self.answers)

    def __getitem__(self, i):
        return self.__getitems__([i])

    def __getitems__(self, indices):
        from ..tensor import Tensor

        idx = np.asarray(indices, dtype=np.int64)

        def t(a):
            return Tensor._make(np.ascontiguousarray(a), False, None, 0)

        return ((t(self.images[self.scene[idx]]), t(self.questions[idx]), t(self.lengths[idx]),
                 t(self.codes[idx])), t(self.answers[idx]))


def _check(args):
    for name in ("n_train", "n_test", "questions_per_scene", "image_dim", "question_dim"):
        if getattr(args, name) < 1:
            raise ValueError(f"vqa: --{name.replace('_', '-')} must be >= 1, got "
                             f"{getattr(args, name)}")
    if args.n_val < 0:
        raise ValueError(f"vqa: --n-val must be >= 0, got {args.n_val}")
    if args.questions_per_scene < 2:
        raise ValueError(f"vqa: --questions-per-scene must be >= 2 (one of each kind), got "
                         f"{args.questions_per_scene}")


def build(args) -> Setup:
    from .. import nn
    from ..data import DataLoader
    from ..datasets.shapes_world import ANSWERS, QUESTION_CODE_SIZE, ShapesWorld, build_vocab
    from ..models import VQANet

    _check(args)
    vocab = build_vocab()
    kw = dict(seed=args.data_seed, image_size=args.image_size,
              questions_per_scene=args.questions_per_scene, captions_per_scene=1, vocab=vocab)
    # the validation scenes follow the training ones in the same stream (scene k is seeded by k)
    both = ShapesWorld(args.n_train + args.n_val, split="train", **kw)
    train_all = VQAPairs(both)
    n_items = args.n_train * args.questions_per_scene
    if args.limit_train is not None and args.limit_train < 1:
        raise ValueError(f"--limit-train must be at least 1, got {args.limit_train}")
    n = n_items if args.limit_train is None else min(n_items, args.limit_train)
    test = VQAPairs(ShapesWorld(args.n_test, split="test", **kw))
    model = VQANet(len(vocab), len(ANSWERS), image_size=args.image_size,
                   channels=args.channels, image_dim=args.image_dim,
                   question_dim=args.question_dim, hidden=args.hidden,
                   question_encoder=args.question_encoder, rnn=args.rnn,
                   code_size=QUESTION_CODE_SIZE, pad_id=vocab.pad_id,
                   coords=getattr(args, "coords", False),
                   fusion=getattr(args, "fusion", "concat"))
    train_idx = np.arange(n)
    val_idx = np.arange(n_items, len(train_all))
    setup = Setup(
        model=model,
        loss_fn=nn.CrossEntropyLoss(),
        train_loader=DataLoader(_Subset(train_all, train_idx), batch_size=args.batch_size,
                                shuffle=True),
        val_loader=(DataLoader(_Subset(train_all, val_idx), batch_size=500)
                    if args.n_val else None),
        test_loader=DataLoader(test, batch_size=500),
    )
    setup.data = {"train": (train_all, train_idx), "val": (train_all, val_idx),
                  "test": (test, np.arange(len(test)))}
    return setup


class _Subset:
    def __init__(self, pairs, indices):
        self.pairs, self.indices = pairs, np.asarray(indices, dtype=np.int64)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        return self.__getitems__([i])

    def __getitems__(self, indices):
        return self.pairs.__getitems__(self.indices[np.asarray(indices, dtype=np.int64)])


def fit(setup, optimizer, scheduler, args, config):
    """``train.fit``'s standard loop (so that ``test`` below measures the run)."""
    from ..train import fit as fit_loop

    monitor = "val_acc" if setup.val_loader is not None else "train_acc"
    return fit_loop(setup.model, optimizer, setup.loss_fn, setup.train_loader, setup.val_loader,
                    epochs=args.epochs, scheduler=scheduler, out_dir=args.out,
                    resume=args.resume, clip_grad_norm=args.clip_grad_norm,
                    progress=args.progress, plot=args.plot, config=config, monitor=monitor)


def _correct(model, pairs, indices, batch_size=500):
    from ..autograd import no_grad

    was = model.training
    model.eval()
    correct = np.zeros(len(indices), dtype=np.bool_)
    try:
        with no_grad():
            for s in range(0, len(indices), batch_size):
                idx = indices[s:s + batch_size]
                x, y = pairs.__getitems__(idx)
                correct[s:s + len(idx)] = model(x).data.argmax(-1) == y.data
    finally:
        model.train(was)
    return correct


def _acc(correct, m):
    return float(correct[m].mean()) if m.any() else float("nan")


def accuracy_by_kind(model, pairs, indices, batch_size=500):
    """(overall, non-relational, relational) accuracy of ``model`` on items ``indices``."""
    correct = _correct(model, pairs, indices, batch_size)
    rel = pairs.relational[indices]
    return _acc(correct, np.ones_like(rel)), _acc(correct, ~rel), _acc(correct, rel)


def accuracy_by_type(model, pairs, indices, batch_size=500):
    """{'all', 'nonrel', 'rel', and each of QUESTION_TYPES: accuracy} on items ``indices``
    (nan for a type with no item)."""
    correct = _correct(model, pairs, indices, batch_size)
    rel, qtype = pairs.relational[indices], pairs.qtype[indices]
    out = {"all": _acc(correct, np.ones_like(rel)), "nonrel": _acc(correct, ~rel),
           "rel": _acc(correct, rel)}
    out.update({name: _acc(correct, qtype == t) for t, name in enumerate(QUESTION_TYPES)})
    return out


def test(setup, args, split="test"):
    """Accuracy on the non-relational and on the relational questions of ``split``, and on
    each question type."""
    pairs, idx = setup.data[split]
    if len(idx) == 0:
        raise ValueError(f"vqa: the run has no {split} set")
    acc = accuracy_by_type(setup.model, pairs, idx)
    print(f"{split} accuracy {100 * acc['all']:.2f}%  non-relational {100 * acc['nonrel']:.2f}%  "
          f"relational {100 * acc['rel']:.2f}%")
    print("  by type: " + "  ".join(f"{t} {100 * acc[t]:.2f}%" for t in QUESTION_TYPES))
    out = {f"{split}_acc": acc["all"], f"{split}_acc_nonrel": acc["nonrel"],
           f"{split}_acc_rel": acc["rel"]}
    out.update({f"{split}_acc_{t}": None if np.isnan(acc[t]) else acc[t]  # None: no such item
                for t in QUESTION_TYPES})
    return out
