"""Question answering over stories with a memory network (notes 3.4: memory with attention).

    story sentences -> thought vectors (position-encoded word sums + temporal encoding): memory
    question -> thought vector u; K hops: p = softmax(u . m_i), u <- u + sum_i p_i c_i
    -> Linear -> the answer word

(``chainrule.models.MemoryQA``.) Data: ``datasets.StoryQA``, the seeded bAbI-style generator:
task 1 ("Where is Mary?", one supporting fact) or task 2 ("Where is the football?", two).
``--n-train`` stories are generated for training (bAbI's "1k" is 1000 questions; here each story
asks several), ``--n-val`` more (the same stream, after them) pick best.ckpt, and ``--n-test``
stories of the disjoint test split measure the accuracy at the end. ``OUT/attention.png`` shows
the attention of each hop over the sentences of a few test stories.
"""
from __future__ import annotations

import os

import numpy as np

from . import Setup

DESCRIPTION = ("end-to-end memory network on bAbI-style stories, task 1 or 2 (notes 3.4); "
               "about 1-3 min on 2 cores")
DEFAULTS = {"epochs": 40, "batch_size": 32, "optimizer": "adam", "lr": 1e-2,
            "scheduler": "cosine", "weight_decay": 0.0}
LR = {"adamw": 1e-2, "rmsprop": 3e-3}
PLOT_EXAMPLES = 4


def add_arguments(parser):
    g = parser.add_argument_group("memqa")
    g.add_argument("--task", type=int, choices=(1, 2), default=1,
                   help="1: one supporting fact (where is a person); 2: two (where is an "
                        "object) (default 1)")
    g.add_argument("--hops", type=int, default=3, help="memory hops K (default 3)")
    g.add_argument("--embed", type=int, default=32, help="thought vector size d (default 32)")
    g.add_argument("--n-train", type=int, default=1000,
                   help="training stories (default 1000)")
    g.add_argument("--n-val", type=int, default=100,
                   help="validation stories, picking best.ckpt (default 100; 0 for none)")
    g.add_argument("--n-test", type=int, default=1000, help="test stories (default 1000)")
    g.add_argument("--data-seed", type=int, default=0,
                   help="seed of the story generator (default 0)")


class QAPairs:
    """A ``StoryQA`` as ``((story, question), answer)`` batches, the (inputs, targets) of
    ``train.fit``'s loop; ``indices`` keeps a subset of its examples."""

    def __init__(self, ds, indices=None):
        self.ds = ds
        self.indices = np.arange(len(ds)) if indices is None else np.asarray(indices)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        return self.__getitems__([i])

    def __getitems__(self, indices):
        b = self.ds.__getitems__(self.indices[np.asarray(indices, dtype=np.int64)])
        return (b.story, b.question), b.answer


def _check(args):
    for name in ("hops", "embed", "n_train", "n_test"):
        if getattr(args, name) < 1:
            raise ValueError(f"memqa: --{name.replace('_', '-')} must be >= 1, got "
                             f"{getattr(args, name)}")
    if args.n_val < 0:
        raise ValueError(f"memqa: --n-val must be >= 0, got {args.n_val}")


def build(args) -> Setup:
    from .. import nn
    from ..data import DataLoader
    from ..datasets.story_qa import StoryQA, generate_stories, generator_vocabulary
    from ..models import MemoryQA

    _check(args)
    vocab = generator_vocabulary()
    stories = generate_stories(args.n_train + args.n_val, task=args.task, seed=args.data_seed,
                               split="train")
    train = StoryQA.from_stories(stories[:args.n_train], vocab=vocab)
    val = StoryQA.from_stories(stories[args.n_train:], vocab=vocab) if args.n_val else None
    test = StoryQA(args.n_test, task=args.task, seed=args.data_seed, split="test", vocab=vocab)
    n = len(train) if args.limit_train is None else min(len(train), args.limit_train)
    if n < 1:
        raise ValueError(f"--limit-train must be at least 1, got {args.limit_train}")
    sizes = [train.max_sentences, test.max_sentences] + ([val.max_sentences] if val else [])
    model = MemoryQA(len(vocab), args.embed, args.hops, max_sentences=max(sizes),
                     pad_id=vocab.pad_id)
    setup = Setup(
        model=model,
        loss_fn=nn.CrossEntropyLoss(),
        train_loader=DataLoader(QAPairs(train, np.arange(n)), batch_size=args.batch_size,
                                shuffle=True),
        val_loader=DataLoader(QAPairs(val), batch_size=500) if val else None,
        test_loader=DataLoader(QAPairs(test), batch_size=500),
    )
    setup.test_set = test
    return setup


def _pick_examples(ds, k, most=10):
    """For each of the first ``k`` stories of ``ds``, its question with the longest memory of
    at most ``most`` sentences (a readable panel)."""
    best = {}  # first sentence's ids -> (n, index), in story order
    for i in range(len(ds)):
        n = int(ds.n_sentences[i])
        key = tuple(ds.story[i, 0])
        if key not in best and len(best) == k:
            break
        if n <= most and n > best.get(key, (0, None))[0]:
            best[key] = (n, i)
    return [i for _, i in best.values()] or [0]


def plot_story_attention(model, ds, indices, path, title=None):
    """Draw the attention of each hop over the sentences of test questions ``indices`` of ``ds``
    (a ``StoryQA``) to the PNG ``path``: one panel per question, rows the sentences (supporting
    ones marked '*'), columns the hops."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ..autograd import no_grad
    from ..tensor import Tensor
    from ..train.visualize import _save

    idx = np.asarray(indices, dtype=np.int64)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            logits = model(Tensor._make(ds.story[idx], False, None, 0),
                           Tensor._make(ds.question[idx], False, None, 0))
    finally:
        model.train(was_training)
    pred = logits.data.argmax(-1)
    att = np.stack(model.attention, -1)  # (B, S, K)
    cols = min(2, len(idx))
    rows = -(-len(idx) // cols)
    fig = Figure(figsize=(7.0 * cols, 0.32 * rows * ds.max_sentences + 1.6 * rows),
                 layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    im = None
    for k, ax in enumerate(axes.flat):
        if k >= len(idx):
            ax.set_axis_off()
            continue
        i = int(idx[k])
        sentences, question, answer = ds.decode(i)
        n = len(sentences)
        sup = set(int(j) for j in ds.supporting[i] if j >= 0)
        w = att[k, :n, :]
        im = ax.imshow(w, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto",
                       interpolation="nearest")
        ax.set_yticks(range(n))
        ax.set_yticklabels([("* " if j in sup else "") + s for j, s in enumerate(sentences)],
                           fontsize=8)
        ax.set_xticks(range(w.shape[1]))
        ax.set_xticklabels([f"hop {h + 1}" for h in range(w.shape[1])], fontsize=8)
        guess = ds.vocab.decode([int(pred[k])])
        ax.set_title(f"{question}? {answer} (predicted {guess})", fontsize=9)
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.6, label="attention weight")
    if title:
        fig.suptitle(title)
    _save(fig, path, "plot_story_attention")


def after_fit(setup, args, result):
    ds = setup.test_set
    path = os.path.join(args.out, "attention.png")
    try:
        plot_story_attention(setup.model, ds, _pick_examples(ds, PLOT_EXAMPLES), path,
                             title=f"memqa task {args.task}: attention over the story "
                                   f"(* = supporting fact)")
    except ImportError:  # pragma: no cover - matplotlib is optional
        print("memqa: matplotlib is not installed; no attention.png")
        return
    print(f"attention over story sentences -> {path}")
