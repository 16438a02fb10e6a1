"""The style/content autoencoder of notes 4.1 on Fashion-MNIST: the content of one image (its
class) drawn in the style of another.

    content encoder  X -> conv, conv, FC -> class logits a   -> c = one-hot(class)   (K = 10)
    style encoder    X -> conv, conv, FC -> mu, logvar of q(s|X) -> s                (--style-dim)
    decoder          [c ; s] -> FC, FC, ConvT, ConvT, sigmoid -> X_hat in [0, 1]

(``chainrule.models.StyleContentAutoencoder``.) The loss per example, averaged over the batch:

    ||X - g([onehot(y) ; s])||^2 + beta KL(q(s|X) || N(0, I)) + alpha CE(a, y),

with s = mu + exp(logvar / 2) eps during training: least squares for the image, cross-entropy
making the content the class, and a KL price on the style code so that it keeps only what the
class does not say (thickness, shade, width, pattern). At test time the content is the predicted
class and the style is mu(X): ``swap(x_content, x_style)`` = g([c(x_content) ; mu(x_style)]).

The measures (``test``), on the test set:

- ``test_mse``: reconstruction MSE per pixel ([0, 1] scale), content from the prediction;
- ``test_content_acc``: the content encoder's class accuracy;
- ``test_swap_acc``: each test image's content in the style of another test image of a
  *different* class (a fixed derangement); an independent LeNet-5 (``--classifier CKPT`` from
  ``chainrule train lenet5``, or one trained here) labels the swapped image: the share labelled
  with the content image's class (the content carries over), and ``test_swap_style_acc``, the
  share labelled with the style image's class (the style leaking the class; near 0 is good);
  ``test_swap_acc_true_content``: the same as ``test_swap_acc`` with the content code made
  from the content image's true label (the decoder's part alone, without the content
  encoder's mistakes);
- ``test_judge_acc`` / ``test_judge_recon_acc``: that LeNet-5's accuracy on the test images and
  on their reconstructions (the references for the swap accuracy);
- ``test_style_consistency``: mean ||mu(swap) - mu(x_style)||^2 / mean ||mu(x_a) - mu(x_b)||^2
  over the same pairs: 0 when the swapped image has exactly the style it was given, about 1
  when its style is unrelated.

``OUT/style_swaps.png``: the top row holds ``--show`` style images, the left column one content
image per class; cell (i, j) is content i in style j.

Measured (``--classifier`` a 10-epoch ``chainrule train lenet5`` run, 90.10% test accuracy;
``--epochs 4 --limit-train 30000``, seed 0; about 1.3 min of CPU on one core), on the 10,000
test images (swaps: 10,000 pairs of different classes):

    run                  MSE     content acc  swap: content class  style class  consistency
    --no-variational     0.0180  85.71%        4.56%              70.32%        0.003
    --beta 1             0.0227  85.71%       37.47%              23.02%        0.084
    --beta 4 (default)   0.0314  85.71%       68.45%               3.51%        0.193

Without the price on the style code the decoder ignores the content code: the style code holds
the whole image, class included, and every swap is the style image again. With it, the style
keeps the brightness, width and mass of the garment and the content decides what it is; a
larger beta follows the content more and draws blurrier images. With the true class as the
content code the default run's swaps are judged as the content's class 77.02% of the time.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from . import Setup
from .decoder import (EVAL_BATCH, _t, add_data_arguments, args_from_checkpoint, batches,
                      classifier_accuracy, load_data, normalize, prepare_classifier,
                      sample_path)

DESCRIPTION = ("style/content autoencoder on Fashion-MNIST: content = class, style = the rest; "
               "swaps (notes 4.1); about 3 min on 1 core")
DEFAULTS = {"epochs": 4, "batch_size": 128, "optimizer": "adam", "lr": 1e-3,
            "scheduler": "cosine", "weight_decay": 0.0}
MONITOR = "val_mse"


def add_arguments(parser):
    g = parser.add_argument_group("style")
    g.add_argument("--style-dim", type=int, default=8, help="size of the style code (default 8)")
    g.add_argument("--channels", type=int, default=16,
                   help="base width of the encoders and the decoder (default 16)")
    g.add_argument("--hidden", type=int, default=256,
                   help="the decoder's first fully connected width (default 256)")
    g.add_argument("--beta", type=float, default=4.0,
                   help="weight of the style code's KL to N(0, I) (default 4; 0.5 lets the "
                        "style carry the class, 8 blurs the images)")
    g.add_argument("--alpha", type=float, default=1.0,
                   help="weight of the content cross-entropy (default 1.0)")
    g.add_argument("--variational", action=argparse.BooleanOptionalAction,
                   default=True, help="sample the style code and charge its KL (default on; "
                                      "--no-variational: a plain autoencoder)")
    add_data_arguments(g, n_show=8)


def build(args) -> Setup:
    from .. import nn
    from ..models import StyleContentAutoencoder, lenet5

    for name in ("style_dim", "channels", "hidden", "show"):
        if getattr(args, name) < 1:
            raise ValueError(f"style: --{name.replace('_', '-')} must be >= 1, got "
                             f"{getattr(args, name)}")
    ae = StyleContentAutoencoder(num_classes=10, style_dim=args.style_dim, in_channels=1,
                                 image_size=28, channels=args.channels, hidden=args.hidden,
                                 beta=args.beta, alpha=args.alpha,
                                 variational=args.variational, output="sigmoid")
    model = nn.ModuleDict({"autoencoder": ae, "judge": lenet5(num_classes=10, in_channels=1)})
    setup = Setup(model=model, loss_fn=None, train_loader=None, val_loader=None,
                  test_loader=None)
    setup.data = load_data(args, "style")
    return setup


def _predict(model, X, fn):
    """fn(model, x_batch) -> array, concatenated over X in evaluation batches, no graph."""
    from ..autograd import no_grad

    was = model.training
    model.eval()
    try:
        with no_grad():
            return np.concatenate([fn(model, _t(X[idx])) for idx in batches(len(X), EVAL_BATCH)])
    finally:
        model.train(was)


def reconstruction_mse(ae, X):
    """MSE per pixel of g([c(X) ; mu(X)]) against X, content from the predicted class."""
    rec = _predict(ae, X, lambda m, x: m(x)[0].numpy())
    return float(np.mean(np.square(rec - X, dtype=np.float64)))


def derangement(y, seed=0):
    """For each i an index j with y[j] != y[i] (a fixed random choice), or -1 if none exists."""
    rng = np.random.default_rng(seed)
    n = len(y)
    partner = rng.permutation(n)
    for _ in range(20):  # re-draw the partners of same-class pairs
        bad = np.flatnonzero(y[partner] == y)
        if not len(bad):
            break
        partner[bad] = rng.integers(0, n, size=len(bad))
    partner[y[partner] == y] = -1
    return partner


def swap_measures(ae, judge, X, y, seed=0):
    """The swap measures of the module docstring on images X (labels y)."""
    partner = derangement(y, seed)
    keep = np.flatnonzero(partner >= 0)
    Xc, Xs = X[keep], X[partner[keep]]
    yc, ys = y[keep], y[partner[keep]]

    def judged(labels):
        swapped = np.concatenate([
            ae.swap(_t(Xc[idx]), _t(Xs[idx]),
                    content_labels=None if labels is None else labels[idx]).numpy()
            for idx in batches(len(keep), EVAL_BATCH)])
        return swapped, _predict(judge, swapped, lambda m, x: m(normalize(x)).numpy().argmax(-1))

    swapped, pred = judged(None)  # the content encoder's class
    _, pred_label = judged(yc)  # the true class: the decoder's part alone
    mu = _predict(ae, X, lambda m, x: m.style_params(x)[0].numpy())
    mu_swap = _predict(ae, swapped, lambda m, x: m.style_params(x)[0].numpy())
    given = np.mean(np.sum((mu_swap - mu[partner[keep]]) ** 2, axis=1))
    unrelated = np.mean(np.sum((mu[keep] - mu[partner[keep]]) ** 2, axis=1))
    return {"swap_acc": float(np.mean(pred == yc)), "swap_style_acc": float(np.mean(pred == ys)),
            "swap_acc_true_content": float(np.mean(pred_label == yc)),
            "style_consistency": float(given / max(unrelated, 1e-12)),
            "swap_pairs": int(len(keep))}


def fit(setup, optimizer, scheduler, args, config):
    """The judge LeNet-5 (loaded or trained), then the autoencoder on (X, y) batches."""
    from ..train.checkpoint import save_epoch_checkpoints
    from ..train.logging import CSVLog
    from ..train.loop import FitResult
    from . import make_optimizer, make_scheduler

    if args.resume:
        raise ValueError("style: --resume is not supported; train again")
    prepare_classifier(setup.model["judge"], args, setup.data, "style")
    ae = setup.model["autoencoder"]
    opt = make_optimizer(args.optimizer, ae.parameters(), args.lr, args.weight_decay)
    sched = make_scheduler(args.scheduler, opt, args.epochs, mode="min")
    X, y = setup.data["train"]
    X_val = setup.data["val"][0]
    fields = ["epoch", "loss", "recon", "kl", "ce", "train_content_acc", "val_mse", "seconds"]
    log = CSVLog(os.path.join(args.out, "log.csv"), fields=fields)
    rng = np.random.default_rng(args.seed)
    history, best = [], {"metric": "val_mse", "mode": "min", "value": None, "epoch": None}
    t_all = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        ae.train()
        sums = dict.fromkeys(("loss", "recon", "kl", "ce"), 0.0)
        correct = 0
        for idx in batches(len(X), args.batch_size, rng):
            parts = ae.losses(_t(X[idx]), _t(y[idx]))
            opt.zero_grad()
            parts["loss"].backward()
            opt.step()
            for k in sums:
                sums[k] += parts[k].item() * len(idx)
            correct += int((parts["logits"].numpy().argmax(-1) == y[idx]).sum())
        if sched is not None:
            sched.step()
        record = {"epoch": epoch, **{k: v / len(X) for k, v in sums.items()},
                  "train_content_acc": correct / len(X),
                  "val_mse": reconstruction_mse(ae, X_val) if len(X_val) else None,
                  "seconds": time.perf_counter() - t0}
        history.append(record)
        log.append(record)
        val = "" if record["val_mse"] is None else f"  val MSE {record['val_mse']:.5f}"
        print(f"epoch {epoch:3d}  loss {record['loss']:.3f}  ||X - X_hat||^2 "
              f"{record['recon']:.3f}  KL {record['kl']:.3f}  CE {record['ce']:.4f}  content "
              f"acc {100 * record['train_content_acc']:.2f}%{val}  ({record['seconds']:.1f} s)")
        save_epoch_checkpoints(setup.model, args.out, epoch, history=history, config=config,
                               value=record["val_mse"], best=best)
    if args.epochs == 0:
        save_epoch_checkpoints(setup.model, args.out, 0, history=[], config=config, value=None,
                               best=best)
    print(f"autoencoder trained in {time.perf_counter() - t_all:.1f} s")
    return FitResult(history=history, best=best if best["value"] is not None else {})


def test(setup, args, split="test"):
    """Reconstruction MSE, content accuracy and the swap measures on ``split``."""
    X, y = setup.data[split]
    if len(X) == 0:
        raise ValueError(f"style: the run has no {split} set")
    ae, judge = setup.model["autoencoder"], setup.model["judge"]
    mse = reconstruction_mse(ae, X)
    content = float(np.mean(_predict(ae, X, lambda m, x: m.content_logits(x).numpy()
                                     .argmax(-1)) == y))
    judge_acc = classifier_accuracy(judge, X, y)
    rec = _predict(ae, X, lambda m, x: m(x)[0].numpy())
    judge_rec = classifier_accuracy(judge, rec, y)
    sw = swap_measures(ae, judge, X, y, seed=1)
    print(f"{split}: reconstruction MSE {mse:.5f} per pixel; content encoder accuracy "
          f"{100 * content:.2f}%; LeNet-5 judge accuracy {100 * judge_acc:.2f}% on the images, "
          f"{100 * judge_rec:.2f}% on their reconstructions")
    print(f"{split}: swaps ({sw['swap_pairs']} pairs of different classes): judged as the "
          f"content's class {100 * sw['swap_acc']:.2f}%, as the style's class "
          f"{100 * sw['swap_style_acc']:.2f}%; with the true content class "
          f"{100 * sw['swap_acc_true_content']:.2f}% as the content's; style consistency "
          f"{sw['style_consistency']:.3f} (0 = the given style exactly, 1 = unrelated)")
    out = {f"{split}_mse": mse, f"{split}_content_acc": content,
           f"{split}_judge_acc": judge_acc, f"{split}_judge_recon_acc": judge_rec}
    out.update({f"{split}_{k}": v for k, v in sw.items()})
    return out


def swap_figure(ae, X, y, n_styles, seed=0):
    """The figure's images: a blank corner, ``n_styles`` style images along the top, one content
    image per class down the left, and the swaps: ((1 + R) * (1 + n_styles), 1, 28, 28)."""
    rng = np.random.default_rng(seed)
    classes = [c for c in range(ae.num_classes) if np.any(y == c)]
    contents = X[[int(np.flatnonzero(y == c)[0]) for c in classes]]
    styles = X[np.sort(rng.choice(len(X), min(n_styles, len(X)), replace=False))]
    ae.eval()
    grid = ae.swap_grid(_t(contents), _t(styles)).numpy()  # (R, K, 1, 28, 28)
    blank = np.ones((1,) + X.shape[1:], dtype=X.dtype)
    rows = [np.concatenate([blank, styles])]
    for i, c in enumerate(contents):
        rows.append(np.concatenate([c[None], grid[i]]))
    return np.concatenate(rows), len(styles) + 1


def after_fit(setup, args, result):
    """OUT/style_swaps.png: rows = content images (one per class), columns = style images."""
    from ..train.images import save_image_grid

    X, y = setup.data["test"]
    images, ncol = swap_figure(setup.model["autoencoder"], X, y, args.show, seed=args.seed)
    path = save_image_grid(images, os.path.join(args.out, "style_swaps.png"), nrow=ncol,
                           value_range=(0.0, 1.0), scale=2)
    print(f"swaps (rows: content, one per class; columns: style) -> {path}")
    return path


def sample(ckpt, args):
    """``chainrule sample CKPT``: the swap figure with min(--num, 12) style images drawn with
    ``--seed``, to ``--out`` (default samples.png beside the checkpoint)."""
    from ..train.images import save_image_grid

    rargs = args_from_checkpoint("style", ckpt)
    setup = build(rargs)
    setup.model.load_state_dict(ckpt["model"])
    X, y = setup.data["test"]
    images, ncol = swap_figure(setup.model["autoencoder"], X, y, min(int(args.num), 12),
                               seed=args.seed)
    path = save_image_grid(images, sample_path(args), nrow=ncol, value_range=(0.0, 1.0),
                           scale=2)
    return (f"{(len(images) // ncol) - 1} content images (one per class) in the style of "
            f"{ncol - 1} test images (seed {args.seed}) -> {path}")
