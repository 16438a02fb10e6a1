"""A character-level language model (notes 3.4, Figure 18: an RNN for sequence generation).

    x_t (a character id) -> Embedding (64) -> LSTM (256) -> Linear -> logits over the characters

(``chainrule.models.CharRNN``.) The model reads a text one character at a time and predicts the
next one; its measure is the cross-entropy of the next character in bits per character (bpc) on
the last 10% of the text, which it never trains on (the split is by position).

Training is truncated back-propagation through time (``chainrule.train.seq``): the training text
is laid out as ``--batch-size`` parallel streams; each step reads the next ``--seq-len``
characters of every stream from the state the previous step left (detached, so gradients go back
``--seq-len`` steps), clips the gradients' total norm to 5 (exploding gradients) and takes an Adam
step. An epoch is ``--steps-per-epoch`` steps (the streams go on across epochs), so the budget of
a run is epochs x steps, whatever the size of the corpus. At the end ``OUT/samples.txt`` holds a
page of text the model writes, and ``chainrule sample OUT/best.ckpt`` writes more.

The corpus: ``--text PATH`` (any UTF-8 text file); by default the fortune cookies of Debian's
``fortunes`` and ``fortunes-min`` packages (``apt-get install fortunes``: the plain-text files of
/usr/share/games/fortunes, about 2.6 million characters, concatenated in name order), or, where
they are not installed, tiny-shakespeare (1.1 million characters) from ``--root``, downloaded
when it is missing and a network is there. The vocabulary is every character of the corpus; it is
stored in the checkpoints.
"""
from __future__ import annotations

import os

from . import Setup

DESCRIPTION = ("character-level LSTM language model, truncated BPTT, bits per character "
               "(notes 3.4); about 10 min on 2 cores")
DEFAULTS = {"epochs": 20, "batch_size": 32, "optimizer": "adam", "lr": 2e-3,
            "scheduler": "cosine", "weight_decay": 0.0, "clip_grad_norm": 5.0}
MONITOR = "val_loss"

FORTUNES_DIR = "/usr/share/games/fortunes"
SHAKESPEARE_URL = ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/"
                   "tinyshakespeare/input.txt")
SHAKESPEARE_FILE = "tinyshakespeare.txt"


def add_arguments(parser):
    g = parser.add_argument_group("charlm")
    g.add_argument("--text", default=None, metavar="PATH",
                   help=f"UTF-8 text to model (default: the fortune cookies in {FORTUNES_DIR}, "
                        f"from `apt-get install fortunes`; else tiny-shakespeare in --root)")
    g.add_argument("--root", default="data",
                   help=f"folder for tiny-shakespeare ({SHAKESPEARE_FILE}), used without --text "
                        f"when the fortunes are not installed (default data/)")
    g.add_argument("--cell", choices=("lstm", "gru", "rnn"), default="lstm",
                   help="recurrent cell (default lstm)")
    g.add_argument("--embed", type=int, default=64, help="character embedding size (default 64)")
    g.add_argument("--hidden", type=int, default=256, help="hidden state size (default 256)")
    g.add_argument("--layers", type=int, default=1, help="stacked recurrent layers (default 1)")
    g.add_argument("--dropout", type=float, default=0.0,
                   help="dropout between layers and before the output layer (default 0)")
    g.add_argument("--seq-len", type=int, default=64,
                   help="characters per stream and step: the BPTT length (default 64)")
    g.add_argument("--steps-per-epoch", type=int, default=400,
                   help="training steps per epoch, 0 for one pass over the text (default 400: "
                        "20 epochs read the fortunes about 7 times)")
    g.add_argument("--val-fraction", type=float, default=0.1,
                   help="share of the text, from its end, held out for validation (default 0.1)")
    g.add_argument("--sample-length", type=int, default=2000,
                   help="characters of OUT/samples.txt written at the end (default 2000)")
    g.add_argument("--temperature", type=float, default=0.8,
                   help="sampling temperature of samples.txt (default 0.8)")


# ---- the corpus -------------------------------------------------------------------------------

def fortune_files(folder=FORTUNES_DIR):
    """The plain-text fortune files of ``folder``, in name order (not the .dat indexes, nor the
    .u8 links to the same files)."""
    if not os.path.isdir(folder):
        return []
    return [os.path.join(folder, n) for n in sorted(os.listdir(folder))
            if not n.endswith((".dat", ".u8")) and not n.startswith(".")
            and os.path.isfile(os.path.join(folder, n))
            and not os.path.islink(os.path.join(folder, n))]


def _read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def load_corpus(text=None, root="data"):
    """(the corpus text, where it came from): ``text`` (a path), else the fortunes, else
    tiny-shakespeare from ``root`` (downloaded there when missing)."""
    if text is not None:
        if not os.path.isfile(text):
            raise FileNotFoundError(f"charlm: no text file {text!r} (--text PATH)")
        return _read(text), text
    files = fortune_files()
    if files:
        return "".join(_read(p) for p in files), f"{FORTUNES_DIR} ({len(files)} files)"
    path = os.path.join(root, SHAKESPEARE_FILE)
    if not os.path.exists(path):
        from ..datasets._download import DownloadError, download_file

        try:
            print(f"charlm: downloading tiny-shakespeare to {path}")
            download_file(SHAKESPEARE_URL, path)
        except DownloadError as e:
            raise FileNotFoundError(
                f"charlm: no corpus. Give one with --text PATH, or install the fortunes "
                f"(apt-get install fortunes), or put tiny-shakespeare at {path} "
                f"({SHAKESPEARE_URL}); the download failed: {e}") from None
    return _read(path), path


def load_splits(text=None, root="data", seq_len=64, val_fraction=0.1, limit_train=None):
    """(train, val, source): the corpus's ``CharDataset`` splits by position, sharing the
    vocabulary of all its characters; ``limit_train`` keeps the first characters of train.

    benchmarks/charlm_torch.py reads its data here, so both frameworks see the same ids.
    """
    from ..datasets.text import CharDataset, Vocabulary

    corpus, source = load_corpus(text, root)
    if not 0 < val_fraction < 1:
        raise ValueError(f"charlm: --val-fraction must be in (0, 1), got {val_fraction}")
    vocab = Vocabulary.from_text(corpus, specials=())
    train = CharDataset(corpus, seq_len, vocab, "train", val_fraction)
    val = CharDataset(corpus, seq_len, vocab, "val", val_fraction)
    if limit_train is not None:
        if limit_train < 2:
            raise ValueError(f"charlm: --limit-train must be at least 2 characters, got "
                             f"{limit_train}")
        train = CharDataset(train.text[:limit_train], seq_len, vocab, split=None)
    return train, val, source


# ---- the recipe -------------------------------------------------------------------------------

def make_model(vocab_size, config):
    """The CharRNN of a run's settings (``args`` or a checkpoint's config dict)."""
    from ..models.charrnn import CharRNN

    get = config.get if isinstance(config, dict) else lambda k: getattr(config, k)
    return CharRNN(vocab_size, get("embed"), get("hidden"), get("layers"), get("cell"),
                   get("dropout"))


def build(args) -> Setup:
    for name in ("embed", "hidden", "layers", "seq_len"):
        if getattr(args, name) < 1:
            raise ValueError(f"charlm: --{name.replace('_', '-')} must be >= 1, got "
                             f"{getattr(args, name)}")
    if args.steps_per_epoch < 0:
        raise ValueError(f"charlm: --steps-per-epoch must be >= 0, got {args.steps_per_epoch}")
    train, val, source = load_splits(args.text, args.root, args.seq_len, args.val_fraction,
                                     args.limit_train)
    print(f"charlm: {source}: {len(train.text):,} training and {len(val.text):,} validation "
          f"characters, {len(train.vocab)} distinct")
    return Setup(model=make_model(len(train.vocab), args), loss_fn=None, train_loader=train,
                 val_loader=val, test_loader=None)


def _trainer(setup, optimizer, args):
    from ..train.seq import LanguageModelTrainer

    return LanguageModelTrainer(setup.model, optimizer, setup.train_loader, setup.val_loader,
                                batch_size=args.batch_size, seq_len=args.seq_len,
                                steps_per_epoch=args.steps_per_epoch or None,
                                clip_grad_norm=args.clip_grad_norm)


def fit(setup, optimizer, scheduler, args, config):
    """Truncated BPTT for ``args.epochs`` epochs (``train.seq.fit_epochs``)."""
    from ..train.seq import fit_epochs

    trainer = _trainer(setup, optimizer, args)
    print(f"charlm: {trainer.steps_per_epoch} steps of {args.batch_size} x {args.seq_len} "
          f"characters an epoch ({trainer.batches_per_pass} make a pass over the text)")
    return fit_epochs(trainer, args.epochs, scheduler=scheduler, monitor=MONITOR, out_dir=args.out,
                      resume=args.resume, config=config, progress=args.progress, plot=args.plot,
                      title="charlm:",
                      extra={"vocab": setup.train_loader.vocab.state_dict()})


def test(setup, args, split="test"):
    """Bits per character on the validation text (the held-out split; 'test' means it too)."""
    from ..train.seq import evaluate_lm

    data = setup.train_loader if split == "train" else setup.val_loader
    r = evaluate_lm(setup.model, data, args.batch_size, args.seq_len)
    name = "train" if split == "train" else "val"
    print(f"{name} loss {r['loss']:.4f} nats/char  {name} bits per character {r['bpc']:.4f}")
    return {f"{name}_loss": r["loss"], f"{name}_bpc": r["bpc"]}


def _prime(vocab, prime):
    if prime is None:
        return "\n" if "\n" in vocab else vocab.itos[0]
    missing = sorted(set(prime) - set(vocab.itos))
    if not prime or missing:
        raise ValueError(f"charlm: the prime {prime!r} must be non-empty and use the corpus's "
                         f"characters; not in the vocabulary: {missing}")
    return prime


def generate(model, vocab, length, temperature=0.8, top_k=None, prime=None, seed=0):
    """``prime`` and ``length`` characters the model writes after it, drawn with ``seed``."""
    import chainrule as cr

    prime = _prime(vocab, prime)
    cr.manual_seed(seed)
    return prime + model.sample(prime, length, temperature, top_k, vocab=vocab)


def after_fit(setup, args, result):
    """Write OUT/samples.txt: a page of text from the trained model."""
    if args.sample_length <= 0:
        return None
    vocab = setup.train_loader.vocab
    text = generate(setup.model, vocab, args.sample_length, args.temperature, None, None,
                    args.seed)
    path = os.path.join(args.out, "samples.txt")
    head = (f"# chainrule charlm after {len(result.history)} epochs; temperature "
            f"{args.temperature:g}, seed {args.seed}; prime {_prime(vocab, None)!r}\n")
    from ..serialization import _atomic_write

    _atomic_write(path, (head + text + "\n").encode("utf-8"), who="charlm")
    print(f"samples -> {path}:\n{text[:300]}")
    return path


def model_from_checkpoint(ckpt):
    """(the trained CharRNN in eval mode, its Vocabulary) from a charlm checkpoint."""
    from ..datasets.text import Vocabulary

    vocab = Vocabulary.from_state_dict(ckpt["vocab"])
    model = make_model(len(vocab), ckpt["config"])
    model.load_state_dict(ckpt["model"])
    return model.eval(), vocab


def sample(ckpt, args):
    """``chainrule sample``: the prime and ``--length`` characters after it."""
    model, vocab = model_from_checkpoint(ckpt)
    if args.input:
        raise ValueError("charlm: --input translates with dates/addition checkpoints; give a "
                         "charlm checkpoint --prime TEXT instead")
    return generate(model, vocab, args.length, args.temperature, args.top_k, args.prime,
                    args.seed)
