"""Image captioning on ShapesWorld scenes (notes 3.4: a CNN's thought vector decoded into words).

    image -> CNN (stride-2 Conv2d + BatchNorm2d + ReLU blocks, with x/y coordinate planes)
          -> thought vector -> LSTM/GRU decoder -> "there is a red circle on the left"
    --attention: at each word a softmax over the CNN's h x w feature positions, the context
          vector fed with the word (Show, Attend and Tell)

(``chainrule.models.Captioner``.) ``--n-train`` scenes of the train split, each with
``--captions-per-scene`` true captions (every (scene, caption) pair a training example, teacher
forcing), ``--n-val`` more pick best.ckpt (by the truth share of their greedy captions), and
``--n-test`` scenes of the disjoint test split measure the model. The test decodes one caption
per test image (greedy, or beam search with ``--beam-width``) and reports

- ``test_truth``: the share of captions that state a true fact about their image
  (``datasets.shapes_world.caption_is_true`` against the scene itself);
- ``test_bleu4``: corpus BLEU-4 (:func:`corpus_bleu`) against the scene's reference captions
  (its ``--captions-per-scene`` sampled true captions);
- ``test_well_formed``: the share that are sentences of the caption grammar (``is_caption``);
- ``test_distinct``: the share of distinct captions (1 / n_test when every image gets the same).

Figures in OUT: ``captions.png`` (test images with their generated captions; green when true,
red when false) and, with ``--attention``, ``attention.png`` (one image, the attention map over
it for each generated word).

``chainrule train caption --attention`` (the defaults: 4000 scenes x 5 captions, 18 epochs, Adam
3e-3, cosine) wrote true captions for 91.8% of 500 test images (greedy; 94.4% with
``--beam-width 3``), BLEU-4 0.52, all well-formed. Without ``--attention`` the same budget
stalls near the language model (loss 0.72 after 7 epochs, under 15% true): the flattened thought
vector alone did not learn to bind a colour to its position.
"""
from __future__ import annotations

import math
import os
from collections import Counter

import numpy as np

from . import Setup

DESCRIPTION = ("CNN + LSTM image captioning of Sort-of-CLEVR-style scenes, optional attention "
               "(notes 3.4); about 10-30 min on one core")
DEFAULTS = {"epochs": 18, "batch_size": 64, "optimizer": "adam", "lr": 3e-3,
            "scheduler": "cosine", "weight_decay": 0.0, "clip_grad_norm": 5.0}
MONITOR = "val_acc"  # the truth share of the validation scenes' greedy captions
PLOT_IMAGES = 16


def add_arguments(parser):
    g = parser.add_argument_group("caption")
    g.add_argument("--image-size", type=int, default=32,
                   help="H = W of the scene images (default 32; the generator's own is 64)")
    g.add_argument("--n-train", type=int, default=4000, help="training scenes (default 4000)")
    g.add_argument("--n-val", type=int, default=100,
                   help="validation scenes, picking best.ckpt (default 100; 0 for none)")
    g.add_argument("--n-test", type=int, default=500, help="test scenes (default 500)")
    g.add_argument("--captions-per-scene", type=int, default=5,
                   help="true captions per scene: the training pairs, and the BLEU references "
                        "of the test scenes (default 5)")
    g.add_argument("--cell", choices=("lstm", "gru"), default="lstm",
                   help="the decoder's recurrent cell (default lstm)")
    g.add_argument("--attention", action="store_true",
                   help="attend over the CNN's feature positions at each word (Show, Attend "
                        "and Tell)")
    g.add_argument("--channels", type=int, nargs="+", default=[32, 32, 64],
                   help="channels of the stride-2 conv blocks (default 32 32 64)")
    g.add_argument("--embed", type=int, default=32, help="word embedding size (default 32)")
    g.add_argument("--hidden", type=int, default=128,
                   help="decoder state size (and thought vector size) (default 128)")
    g.add_argument("--attention-dim", type=int, default=64,
                   help="size of the additive attention's comparison space (default 64)")
    g.add_argument("--dropout", type=float, default=0.0,
                   help="dropout on the decoder's output features (default 0)")
    g.add_argument("--beam-width", type=int, default=1,
                   help="decode the test captions by beam search of this width (default 1: "
                        "greedy)")
    g.add_argument("--max-len", type=int, default=16,
                   help="the most words a generated caption may have (default 16)")
    g.add_argument("--data-seed", type=int, default=0,
                   help="seed of the scene generator (default 0)")


# ---- BLEU -----------------------------------------------------------------------------------

def _ngrams(words, n):
    return Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def corpus_bleu(candidates, references, max_n=4):
    """Corpus BLEU (Papineni et al. 2002) of tokenized candidates against their references.

    p_n = sum over candidates of the clipped n-gram matches (each n-gram counted at most as
    often as in the reference that has it most) / sum of the candidate n-gram counts;
    BP = 1 if c > r else exp(1 - r / c), c the total candidate length and r the sum of the
    reference lengths closest to each candidate's (the shorter on a tie);
    BLEU = BP * exp(sum_n log(p_n) / max_n), n = 1..max_n (0 when some p_n is 0).

    Args:
        candidates: list of word lists.
        references: list (one per candidate) of lists of word lists.
    """
    if len(candidates) != len(references):
        raise ValueError(f"corpus_bleu: {len(candidates)} candidates but {len(references)} "
                         f"reference lists")
    if max_n < 1:
        raise ValueError(f"corpus_bleu: max_n must be >= 1, got {max_n}")
    match, total = [0] * max_n, [0] * max_n
    c_len = r_len = 0
    for i, (cand, refs) in enumerate(zip(candidates, references)):
        if not refs:
            raise ValueError(f"corpus_bleu: candidate {i} has no reference")
        cand = list(cand)
        c_len += len(cand)
        r_len += min((abs(len(r) - len(cand)), len(r)) for r in refs)[1]
        for n in range(1, max_n + 1):
            counts = _ngrams(cand, n)
            most = Counter()
            for r in refs:
                most |= _ngrams(list(r), n)  # | keeps the larger count of each n-gram
            match[n - 1] += sum(min(c, most[g]) for g, c in counts.items())
            total[n - 1] += sum(counts.values())
    if c_len == 0 or min(match) == 0:
        return 0.0
    log_p = sum(math.log(m / t) for m, t in zip(match, total)) / max_n
    bp = 1.0 if c_len > r_len else math.exp(1.0 - r_len / c_len)
    return bp * math.exp(log_p)


# ---- data -----------------------------------------------------------------------------------

class CaptionPairs:
    """A ``ShapesWorld`` as (images, captions) batches: one item per (scene, caption) pair.

    ``images`` (N_scenes, 3, H, W) rendered once; ``captions`` (N_pairs, L) <bos> words <eos>
    padded; ``scene`` (N_pairs,) the scene of each pair; ``scenes`` and ``references`` (the
    caption strings) per scene. A batch's captions are cut to its longest one.
    """

    def __init__(self, ds, indices=None):
        from ..datasets.seq_tasks import pad_sequences

        self.ds = ds
        n = ds.num_scenes
        self.images = np.stack([ds.scene_image(k) for k in range(n)]) if n else \
            np.zeros((0, 3, ds.image_size, ds.image_size), np.float32)
        self.scenes = [ds.scene_description(k) for k in range(n)]
        self.references = [ds.scene_captions(k) for k in range(n)]
        ids = [c for k in range(n) for c in ds._entry(k)["caption_ids"]]
        self.scene = np.array([k for k in range(n) for _ in ds._entry(k)["caption_ids"]],
                              dtype=np.int64)
        self.captions, self.lengths = pad_sequences(ids, ds.vocab.pad_id)
        self.indices = np.arange(len(ids)) if indices is None else np.asarray(indices)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        return self.__getitems__([i])

    def __getitems__(self, indices):
        from ..tensor import Tensor

        idx = self.indices[np.asarray(indices, dtype=np.int64)]
        L = int(self.lengths[idx].max())
        return (Tensor._make(np.ascontiguousarray(self.images[self.scene[idx]]), False, None, 0),
                Tensor._make(np.ascontiguousarray(self.captions[idx, :L]), False, None, 0))


def _check(args):
    for name in ("n_train", "n_test", "captions_per_scene", "embed", "hidden", "attention_dim",
                 "beam_width", "max_len"):
        if getattr(args, name) < 1:
            raise ValueError(f"caption: --{name.replace('_', '-')} must be >= 1, got "
                             f"{getattr(args, name)}")
    if args.n_val < 0:
        raise ValueError(f"caption: --n-val must be >= 0, got {args.n_val}")
    if not 0.0 <= args.dropout < 1.0:
        raise ValueError(f"caption: --dropout must be in [0, 1), got {args.dropout}")


def _get(config, key, default=None):
    return config.get(key, default) if isinstance(config, dict) else getattr(config, key, default)


def make_model(vocab, config):
    """The Captioner of a run's settings (``args`` or a checkpoint's config dict)."""
    from ..models import Captioner

    return Captioner(len(vocab), image_size=_get(config, "image_size"),
                     channels=_get(config, "channels"), embed_dim=_get(config, "embed"),
                     hidden_size=_get(config, "hidden"), cell=_get(config, "cell"),
                     attention=_get(config, "attention"),
                     attention_dim=_get(config, "attention_dim"),
                     dropout=_get(config, "dropout", 0.0), pad_id=vocab.pad_id,
                     bos_id=vocab.bos_id, eos_id=vocab.eos_id)


def _world(config, n, split, vocab, seed=None):
    from ..datasets.shapes_world import ShapesWorld

    return ShapesWorld(n, split=split, seed=_get(config, "data_seed") if seed is None else seed,
                       image_size=_get(config, "image_size"), questions_per_scene=1,
                       captions_per_scene=_get(config, "captions_per_scene"), vocab=vocab)


def build(args) -> Setup:
    from ..data import DataLoader
    from ..datasets.shapes_world import build_vocab

    _check(args)
    vocab = build_vocab()
    # the validation scenes follow the training ones in the same stream (scene k is seeded by k)
    both = _world(args, args.n_train + args.n_val, "train", vocab)
    n_pairs = sum(len(both.scene_captions(k)) for k in range(args.n_train))
    if args.limit_train is not None and args.limit_train < 1:
        raise ValueError(f"--limit-train must be at least 1, got {args.limit_train}")
    n = n_pairs if args.limit_train is None else min(n_pairs, args.limit_train)
    train = CaptionPairs(both, np.arange(n))
    val = CaptionPairs(both, np.arange(n_pairs, len(train.captions)))
    test = CaptionPairs(_world(args, args.n_test, "test", vocab))
    setup = Setup(model=make_model(vocab, args), loss_fn=None,
                  train_loader=DataLoader(train, batch_size=args.batch_size, shuffle=True),
                  val_loader=val if args.n_val else None, test_loader=test)
    setup.vocab = vocab
    setup.scenes = {"train": np.arange(args.n_train),
                    "val": np.arange(args.n_train, args.n_train + args.n_val),
                    "test": np.arange(args.n_test)}
    return setup


# ---- decoding and measures ------------------------------------------------------------------

def words(vocab, ids):
    """The text of generated ids (<eos> already cut); specials stay visible (so not captions)."""
    return " ".join(vocab.itos[i] for i in ids)


def caption_images(model, vocab, images, max_len, beam_width=1, batch_size=250):
    """(caption strings, attention weights per caption or None) of images (N, 3, H, W)."""
    from ..tensor import Tensor

    texts, weights = [], []
    for s in range(0, len(images), batch_size):
        x = Tensor._make(np.ascontiguousarray(images[s:s + batch_size]), False, None, 0)
        seqs, ws = model.generate(x, max_len, beam_width)
        texts += [words(vocab, q) for q in seqs]
        weights += ws if ws is not None else [None] * len(seqs)
    return texts, (weights if model.attention else None)


def score_captions(texts, scenes, references):
    """{'truth', 'bleu4', 'well_formed', 'distinct'} of generated captions (see the module)."""
    from ..datasets.shapes_world import caption_is_true, is_caption

    n = max(1, len(texts))
    return {"truth": sum(caption_is_true(s, t) for s, t in zip(scenes, texts)) / n,
            "bleu4": corpus_bleu([t.split() for t in texts],
                                 [[r.split() for r in refs] for refs in references]),
            "well_formed": sum(is_caption(t) for t in texts) / n,
            "distinct": len(set(texts)) / n}


def evaluate_captions(model, vocab, pairs, scene_indices, max_len, beam_width=1):
    """Caption the scenes ``scene_indices`` of ``pairs``: (scores, texts, weights)."""
    texts, weights = caption_images(model, vocab, pairs.images[scene_indices], max_len,
                                    beam_width)
    scores = score_captions(texts, [pairs.scenes[k] for k in scene_indices],
                            [pairs.references[k] for k in scene_indices])
    return scores, texts, weights


def teacher_forced(model, pairs, batch_size=500):
    """(mean cross-entropy per real token, token accuracy) of ``pairs`` under teacher forcing."""
    from ..autograd import no_grad

    was = model.training
    model.eval()
    loss_sum = hits = seen = 0.0
    try:
        with no_grad():
            for s in range(0, len(pairs), batch_size):
                images, caps = pairs.__getitems__(np.arange(s, min(len(pairs), s + batch_size)))
                loss, logits = model.loss(images, caps, return_logits=True)
                y = caps.data[:, 1:]
                real = y != model.pad_id
                k = int(real.sum())
                loss_sum += loss.item() * k
                hits += int(((logits.data.argmax(-1) == y) & real).sum())
                seen += k
    finally:
        model.train(was)
    return loss_sum / max(1, seen), hits / max(1, seen)


class CaptionTrainer:
    """One epoch of teacher forcing over the (image, caption) pairs, and a validation that
    captions the validation scenes greedily. Record fields: train_loss, train_acc (token
    accuracy under teacher forcing), val_loss (teacher-forced), val_acc (the truth share of the
    greedy captions)."""

    fields = ()

    def __init__(self, model, optimizer, train_loader, val_pairs, vocab, *, max_len,
                 clip_grad_norm=None):
        self.model, self.optimizer = model, optimizer
        self.train_loader, self.val_pairs, self.vocab = train_loader, val_pairs, vocab
        self.max_len, self.clip = int(max_len), clip_grad_norm

    def train_epoch(self, desc="", progress=False) -> dict:
        from ..train.logging import progress_bar
        from ..train.seq import _check_finite, _clip_and_step, _token_hits

        model, opt = self.model, self.optimizer
        model.train()
        loss_sum = hits = seen = 0.0
        bar = progress_bar(self.train_loader, total=len(self.train_loader), desc=desc,
                           enabled=progress)
        try:
            for step, (images, caps) in enumerate(bar):
                opt.zero_grad()
                loss, logits = model.loss(images, caps, return_logits=True)
                loss.backward()
                _clip_and_step(model, opt, self.clip)
                value = loss.item()
                _check_finite(value, "caption", step)
                h, k = _token_hits(logits, caps[:, 1:], model.pad_id)
                loss_sum += value * k
                hits += h
                seen += k
                bar.set_postfix_str(f"loss {loss_sum / max(1, seen):.4f}", refresh=False)
        finally:
            bar.close()
        return {"train_loss": loss_sum / max(1, seen), "train_acc": hits / max(1, seen)}

    def validate(self) -> dict:
        if self.val_pairs is None:
            return {"val_loss": None, "val_acc": None}
        loss, _ = teacher_forced(self.model, self.val_pairs)
        scenes = np.unique(self.val_pairs.scene[self.val_pairs.indices])
        scores, _, _ = evaluate_captions(self.model, self.vocab, self.val_pairs, scenes,
                                         self.max_len)
        return {"val_loss": loss, "val_acc": scores["truth"]}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, d) -> None:
        pass

    def plot(self, history, path, title=None):
        from ..train.plots import plot_history

        plot_history(history, path, title=(title or "") + " accuracy: train = tokens (teacher "
                     "forcing), val = true captions (greedy)")


def fit(setup, optimizer, scheduler, args, config):
    from ..train.seq import fit_epochs

    trainer = CaptionTrainer(setup.model, optimizer, setup.train_loader, setup.val_loader,
                             setup.vocab, max_len=args.max_len,
                             clip_grad_norm=args.clip_grad_norm)
    monitor = "val_acc" if setup.val_loader is not None else "train_loss"
    return fit_epochs(trainer, args.epochs, scheduler=scheduler, monitor=monitor,
                      out_dir=args.out, resume=args.resume, config=config,
                      progress=args.progress, plot=args.plot, title="caption:",
                      extra={"vocab": setup.vocab.state_dict()})


def _split(setup, split):
    pairs = {"test": setup.test_loader, "val": setup.val_loader,
             "train": setup.train_loader.dataset}[split]
    idx = setup.scenes[split]
    if pairs is None or len(idx) == 0:
        raise ValueError(f"caption: the run has no {split} set")
    return pairs, idx


def test(setup, args, split="test"):
    """Truth share, BLEU-4, well-formed and distinct shares of the split's generated captions."""
    pairs, scenes = _split(setup, split)
    scores, texts, _ = evaluate_captions(setup.model, setup.vocab, pairs, scenes, args.max_len,
                                         args.beam_width)
    how = "greedy" if args.beam_width == 1 else f"beam {args.beam_width}"
    print(f"{split} captions ({how}) of {len(scenes)} images: true {100 * scores['truth']:.2f}%  "
          f"BLEU-4 {100 * scores['bleu4']:.2f}  well-formed {100 * scores['well_formed']:.2f}%  "
          f"distinct {100 * scores['distinct']:.2f}%")
    out = {f"{split}_{k}": v for k, v in scores.items()}
    out[f"{split}_size"] = len(scenes)
    return out


# ---- figures --------------------------------------------------------------------------------

def _wrap(text, width=22):
    lines, cur = [], ""
    for w in text.split():
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    return "\n".join(lines + [cur])


def plot_captions(images, texts, truths, path, title=None, columns=4):
    """A grid of images (N, 3, H, W) with each caption under its image (green true, red false)."""
    from ..train.visualize import _figure, _save

    n = len(images)
    if n == 0 or len(texts) != n or len(truths) != n:
        raise ValueError(f"plot_captions: expected as many captions and truths as images, got "
                         f"{n} images, {len(texts)} captions, {len(truths)} truths")
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    fig = _figure((2.6 * cols, 3.1 * rows + 0.4), "drawing captions.png")
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(np.clip(np.asarray(images[i]).transpose(1, 2, 0), 0, 1),
                  interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(_wrap(texts[i] or "(empty)"), fontsize=8,
                      color="green" if truths[i] else "red")
    if title:
        fig.suptitle(title, fontsize=10)
    _save(fig, path, "caption.plot_captions")
    return path


def plot_caption_attention(image, caption_words, weights, path, title=None, columns=4):
    """The image and, for each word, the attention map (h, w) upsampled over the image."""
    from ..train.visualize import _figure, _save

    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 3 or weights.shape[0] != len(caption_words):
        raise ValueError(f"plot_caption_attention: expected weights (n_words, h, w) for "
                         f"{len(caption_words)} words, got {weights.shape}")
    img = np.clip(np.asarray(image).transpose(1, 2, 0), 0, 1)
    H = img.shape[0]
    n = len(caption_words) + 1
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    fig = _figure((2.4 * cols, 2.5 * rows + 0.4), "drawing attention.png")
    ax = fig.add_subplot(rows, cols, 1)
    ax.imshow(img, interpolation="nearest")
    ax.set_title("image", fontsize=9)
    ax.axis("off")
    for i, (w, a) in enumerate(zip(caption_words, weights)):
        ax = fig.add_subplot(rows, cols, i + 2)
        ax.imshow(img, interpolation="nearest")
        ax.imshow(a, cmap="gray", alpha=0.6, extent=(-0.5, H - 0.5, H - 0.5, -0.5),
                  interpolation="bilinear", vmin=0, vmax=max(1e-8, float(a.max())))
        ax.set_title(w, fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    _save(fig, path, "caption.plot_caption_attention")
    return path


def draw(model, vocab, pairs, scene_indices, out_dir, max_len, beam_width=1, tag=""):
    """captions.png (and attention.png with attention) for scenes of ``pairs``; their paths."""
    from ..datasets.shapes_world import caption_is_true

    texts, weights = caption_images(model, vocab, pairs.images[scene_indices], max_len,
                                    beam_width)
    truths = [caption_is_true(pairs.scenes[k], t) for k, t in zip(scene_indices, texts)]
    paths = [plot_captions(pairs.images[scene_indices], texts, truths,
                           os.path.join(out_dir, "captions.png"),
                           title=f"caption{tag}: generated captions (green true, red false)")]
    if weights is not None:
        pick = next((i for i, t in enumerate(texts) if truths[i]), 0)
        paths.append(plot_caption_attention(
            pairs.images[scene_indices[pick]], texts[pick].split(), weights[pick],
            os.path.join(out_dir, "attention.png"),
            title=f"attention while writing \"{texts[pick]}\""))
    return paths, texts, truths


def after_fit(setup, args, result):
    """Print a few test captions and draw OUT/captions.png (and attention.png)."""
    if not args.plot:
        return None
    scenes = setup.scenes["test"][:PLOT_IMAGES]
    paths, texts, truths = draw(setup.model, setup.vocab, setup.test_loader, scenes, args.out,
                                args.max_len, args.beam_width)
    for k, t, ok in list(zip(scenes, texts, truths))[:8]:
        print(f"  {'ok ' if ok else 'ERR'} test scene {k}: {t}")
    for p in paths:
        print(f"figure -> {p}")
    return paths


def sample(ckpt, args):
    """``chainrule sample CKPT``: captions of ``--num`` (at most 16) test scenes drawn with
    ``--seed``, printed and drawn to ``--out`` (default samples.png beside the checkpoint)."""
    from ..datasets.text import Vocabulary

    config = ckpt["config"]
    vocab = Vocabulary.from_state_dict(ckpt["vocab"])
    model = make_model(vocab, config)
    model.load_state_dict(ckpt["model"])
    model.eval()
    n = min(int(args.num), PLOT_IMAGES)
    pairs = CaptionPairs(_world(config, n, "test", vocab, seed=args.seed))
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)),
                                   "samples.png")
    from ..datasets.shapes_world import caption_is_true

    texts, _ = caption_images(model, vocab, pairs.images, config["max_len"], args.beam_width)
    truths = [caption_is_true(s, t) for s, t in zip(pairs.scenes, texts)]
    plot_captions(pairs.images, texts, truths, out,
                  title=f"caption: {n} test scenes (seed {args.seed})")
    lines = [f"{'true ' if ok else 'FALSE'} {t}" for t, ok in zip(texts, truths)]
    return "\n".join(lines + [f"{sum(truths)} of {n} true; grid -> {out}"])
