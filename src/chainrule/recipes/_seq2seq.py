"""What the encoder-decoder recipes (dates, addition) share: options, data, training, the test by
exact match, attention pictures and ``chainrule sample --input``.

A task module gives ``make_split(args, n, split, seed)`` (a ``datasets.seq_tasks`` dataset),
``max_len(config)`` (the longest output greedy decoding may write: the longest target and its
<eos>, so a too-long output counts as wrong), ``NAME`` and ``EXAMPLES`` (sources for the attention
picture).

Data: ``--n-train`` pairs drawn from the task's training items, ``--n-val`` pairs drawn from the
same items with another seed (to pick best.ckpt), ``--n-test`` pairs from the test items, which no
training pair shares (unseen dates, unseen operand pairs). The data seeds are fixed: ``--seed``
changes the initialization and the shuffles, not the data.
"""
from __future__ import annotations

import os

from . import Setup

DATA_SEEDS = {"train": 0, "val": 1, "test": 2}
ATTENTION = ("additive", "dot", "scaled_dot", "none")


def add_arguments(parser, name, *, n_train, n_val, n_test, embed, hidden, attention="additive"):
    g = parser.add_argument_group(name)
    g.add_argument("--attention", choices=ATTENTION, default=attention,
                   help=f"attention over the source (notes 3.4): additive (Bahdanau), dot "
                        f"(Luong), scaled_dot, or none (the thought vector only) (default "
                        f"{attention})")
    g.add_argument("--cell", choices=("gru", "lstm", "rnn"), default="gru",
                   help="recurrent cell of the encoder and decoder (default gru)")
    g.add_argument("--embed", type=int, default=embed,
                   help=f"character embedding size (default {embed})")
    g.add_argument("--hidden", type=int, default=hidden,
                   help=f"hidden state size of both RNNs (default {hidden})")
    g.add_argument("--layers", type=int, default=1, help="layers of both RNNs (default 1)")
    g.add_argument("--bidirectional", action="store_true",
                   help="read the source both ways (a bidirectional encoder)")
    g.add_argument("--n-train", type=int, default=n_train,
                   help=f"training pairs (default {n_train})")
    g.add_argument("--n-val", type=int, default=n_val,
                   help=f"validation pairs, from the training items, for best.ckpt (default "
                        f"{n_val}; 0 for none)")
    g.add_argument("--n-test", type=int, default=n_test,
                   help=f"test pairs, from items no training pair has (default {n_test})")
    g.add_argument("--plot-examples", type=int, default=4,
                   help="test sources whose attention is drawn to OUT/attention.png (default 4)")


def _get(config, key, default=None):
    if isinstance(config, dict):
        return config.get(key, default)
    return getattr(config, key, default)


def make_model(src_vocab, tgt_vocab, config):
    """The Seq2Seq of a run's settings (``args`` or a checkpoint's config dict)."""
    from ..models.seq2seq import Seq2Seq

    attention = _get(config, "attention")
    return Seq2Seq(src_vocab, tgt_vocab, _get(config, "embed"), _get(config, "hidden"),
                   cell=_get(config, "cell"), attention=None if attention == "none" else attention,
                   num_layers=_get(config, "layers"),
                   bidirectional_encoder=_get(config, "bidirectional", False),
                   pad_idx=tgt_vocab.pad_id)


def build(task, args) -> Setup:
    from ..data import DataLoader

    for key in ("embed", "hidden", "layers", "n_train", "n_test"):
        if getattr(args, key) < 1:
            raise ValueError(f"{task.NAME}: --{key.replace('_', '-')} must be >= 1, got "
                             f"{getattr(args, key)}")
    if args.n_val < 0:
        raise ValueError(f"{task.NAME}: --n-val must be >= 0, got {args.n_val}")
    if args.n_val == 0 and args.scheduler == "plateau":
        raise ValueError(f"{task.NAME}: --scheduler plateau watches the validation exact match; "
                         f"keep --n-val > 0")
    n_train = args.n_train if args.limit_train is None else min(args.n_train, args.limit_train)
    train = task.make_split(args, n_train, "train", DATA_SEEDS["train"])
    val = task.make_split(args, args.n_val, "train", DATA_SEEDS["val"]) if args.n_val else None
    test = task.make_split(args, args.n_test, "test", DATA_SEEDS["test"])
    return Setup(model=make_model(train.src_vocab, train.tgt_vocab, args), loss_fn=None,
                 train_loader=DataLoader(train, batch_size=args.batch_size, shuffle=True),
                 val_loader=val, test_loader=test)


def _vocabs(setup):
    ds = setup.train_loader.dataset
    return {"src_vocab": ds.src_vocab.state_dict(), "tgt_vocab": ds.tgt_vocab.state_dict()}


def fit(task, setup, optimizer, scheduler, args, config):
    from ..train.seq import Seq2SeqTrainer, fit_epochs

    trainer = Seq2SeqTrainer(setup.model, optimizer, setup.train_loader, setup.val_loader,
                             max_len=task.max_len(args), clip_grad_norm=args.clip_grad_norm)
    monitor = "val_acc" if setup.val_loader is not None else "train_loss"
    return fit_epochs(trainer, args.epochs, scheduler=scheduler, monitor=monitor,
                      out_dir=args.out, resume=args.resume, config=config,
                      progress=args.progress, plot=args.plot, title=f"{task.NAME}:",
                      extra=_vocabs(setup))


def test(task, setup, args, split="test"):
    """Exact match of greedy decoding (and the teacher-forced loss, token accuracy) on a split."""
    from ..train.seq import evaluate_seq2seq

    data = {"test": setup.test_loader, "val": setup.val_loader,
            "train": setup.train_loader.dataset}[split]
    if data is None:
        raise ValueError(f"{task.NAME}: the run has no {split} set")
    r = evaluate_seq2seq(setup.model, data, task.max_len(args))
    print(f"{split} loss {r['loss']:.4f}  token accuracy {100 * r['token_acc']:.2f}%  "
          f"exact match {100 * r['exact_match']:.2f}% of {len(data)} (greedy decoding)")
    return {f"{split}_loss": r["loss"], f"{split}_token_acc": r["token_acc"],
            f"{split}_exact_match": r["exact_match"], f"{split}_size": len(data)}


def after_fit(task, setup, args, result):
    """Print a few test translations (mistakes first) and draw OUT/attention.png."""
    from ..train.seq import exact_match, translate

    data = setup.test_loader
    r = exact_match(setup.model, data, task.max_len(args))
    wrong = [i for i, ok in enumerate(r["correct"]) if not ok]
    shown = (wrong[:5] + [i for i in range(len(data)) if r["correct"][i]])[:8]
    print(f"test translations ({len(wrong)} of {len(data)} wrong):")
    for i in shown:
        src, tgt = data.pairs[i]
        mark = "ok " if r["correct"][i] else "ERR"
        print(f"  {mark} {src!r:>40} -> {r['predictions'][i]!r} (target {tgt!r})")
    if not args.plot or args.plot_examples <= 0 or setup.model.attention_kind is None:
        return None
    sources = [s for s in task.EXAMPLES][:args.plot_examples]
    sources += [s for s, _ in data.pairs[:max(0, args.plot_examples - len(sources))]]
    outs, weights = translate(setup.model, data, sources, task.max_len(args))
    path = os.path.join(args.out, "attention.png")
    from ..train.attention_plot import plot_attention

    plot_attention([(w, list(s), list(o)) for s, o, w in zip(sources, outs, weights)], path,
                   title=f"{task.NAME}: {args.attention} attention (rows: output characters, "
                         f"columns: source)")
    print(f"attention weights -> {path}")
    return path


def model_from_checkpoint(ckpt):
    """(the trained Seq2Seq in eval mode, src vocabulary, tgt vocabulary) from a checkpoint."""
    from ..datasets.text import Vocabulary

    src = Vocabulary.from_state_dict(ckpt["src_vocab"])
    tgt = Vocabulary.from_state_dict(ckpt["tgt_vocab"])
    model = make_model(src, tgt, ckpt["config"])
    model.load_state_dict(ckpt["model"])
    return model.eval(), src, tgt


class _Codec:
    """The vocabularies and ``encode_sources`` of a task dataset, rebuilt from a checkpoint."""

    def __init__(self, src_vocab, tgt_vocab):
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab

    def encode_sources(self, sources):
        from ..datasets.seq_tasks import _ids, pad_sequences

        src, lengths = pad_sequences([self.src_vocab.encode(s) for s in sources],
                                     self.src_vocab.pad_id)
        return _ids(src), _ids(lengths)


def sample(task, ckpt, args):
    """``chainrule sample CKPT --input SRC ...``: one 'source -> output' line per input."""
    from ..train.seq import translate

    if not args.input:
        raise ValueError(f"{task.NAME}: give the sources to translate with --input TEXT "
                         f"(repeatable), e.g. --input {task.EXAMPLES[0]!r}")
    model, src, tgt = model_from_checkpoint(ckpt)
    config = ckpt["config"]
    if args.beam_width > 1:
        codec = _Codec(src, tgt)
        outs = []
        for s in args.input:
            x, n = codec.encode_sources([s])
            seqs, _ = model.beam_search(x, n, args.beam_width, task.max_len(config),
                                        tgt.bos_id, tgt.eos_id)
            outs.append(tgt.decode(seqs[0]))
    else:
        outs, _ = translate(model, _Codec(src, tgt), list(args.input), task.max_len(config))
    width = max(len(s) for s in args.input)
    return "\n".join(f"{s:<{width}} -> {o}" for s, o in zip(args.input, outs))

