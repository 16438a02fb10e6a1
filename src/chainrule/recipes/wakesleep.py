"""A Helmholtz machine trained by wake-sleep on dynamically binarized Fashion-MNIST (notes 4.4-4.5).

    model:  chainrule.models.HelmholtzMachine((784, *--layers)), default 784-200-50 binary units
    data:   X ~ Bernoulli(grey levels / 255), drawn anew for every training batch
            (datasets.DynamicBinarized); the test set binarized once, seed 0
            (datasets.fixed_binarized), the same binary images every likelihood model is scored on
    step:   wake  -log p_theta(x, h),   h ~ q_phi(.|x) held fixed     (gradient to theta)
            sleep -log q_phi(h | x~),   (x~, h) ~ p_theta dreamt      (gradient to phi)
            (wake + sleep).backward(); one step of --optimizer over all parameters (the two
            losses reach disjoint parameters, so this is both phases with one per-parameter rule)
    score:  the importance-weighted estimate L_K(x) = log (1/K) sum_k p(x, h_k) / q(h_k|x),
            h_k ~ q, in nats per image (K = --iw-samples, default 5000), on the first --n-test
            test images (default all 10,000)

Each epoch also scores the --val-size held-out training images (binarized once, seed 1) with
K = --val-iw-samples; that picks best.ckpt, and the test is of the best epoch's weights.
OUT holds log.csv, last.ckpt, best.ckpt, results.json and samples.png (64 dreams: the mean
E[x | h_1] of each; samples_binary.png: the binary draws). ``chainrule sample OUT/best.ckpt``
draws a new grid.
"""
from __future__ import annotations

import math
import os
import time
from types import SimpleNamespace

import numpy as np

from . import Setup, add_fashion_mnist_source

DESCRIPTION = ("Helmholtz machine (784-200-50 binary units) trained by wake-sleep on binarized "
               "Fashion-MNIST (notes 4.4-4.5); importance-weighted test log-likelihood")
DEFAULTS = {"epochs": 40, "batch_size": 100, "optimizer": "adam", "lr": 1e-3,
            "scheduler": "none", "weight_decay": 0.0}
MONITOR = "val_iw_ll"
VAL_SEED, TEST_SEED = 1, 0


def add_arguments(parser):
    g = parser.add_argument_group("wakesleep")
    g.add_argument("--layers", default="200,50",
                   help="hidden layer sizes, bottom to top (default 200,50)")
    g.add_argument("--iw-samples", type=int, default=5000, metavar="K",
                   help="importance samples per test image for the test log-likelihood "
                        "(default 5000)")
    g.add_argument("--n-test", type=int, default=None, metavar="N",
                   help="score only the first N images of the fixed binarized test set "
                        "(default: all 10,000; K=5000 on all of them takes about 30 min on 1 core)")
    g.add_argument("--val-size", type=int, default=1000,
                   help="training images held out to score each epoch and pick best.ckpt "
                        "(default 1000; 0 for none: best.ckpt is then the last epoch)")
    g.add_argument("--val-iw-samples", type=int, default=100, metavar="K",
                   help="importance samples per image for the per-epoch validation score "
                        "(default 100)")
    g.add_argument("--eval-batch", type=int, default=100,
                   help="images per batch when scoring (default 100)")
    add_fashion_mnist_source(g)


def hidden_sizes(args):
    try:
        sizes = tuple(int(s) for s in str(args.layers).split(",") if s.strip())
    except ValueError:
        raise ValueError(f"wakesleep: --layers must be comma-separated ints, got "
                         f"{args.layers!r}") from None
    if not sizes or min(sizes) < 1:
        raise ValueError(f"wakesleep: --layers must be one or more positive ints, got "
                         f"{args.layers!r}")
    return sizes


def fashion_mnist_splits(args):
    """(train, test): Fashion-MNIST's two splits, objects with uint8 ``data`` (N, 28, 28) and
    ``targets`` (tests patch this with small synthetic images)."""
    from ..datasets import FashionMNIST

    out = []
    for train in (True, False):
        try:
            out.append(FashionMNIST(args.root, train=train, download=args.download))
        except FileNotFoundError as e:
            raise FileNotFoundError(f"{e} From the command line: --download, or --root DIR.") \
                from None
    return tuple(out)


def _check_args(args):
    for name in ("iw_samples", "val_iw_samples", "eval_batch"):
        if getattr(args, name) < 1:
            raise ValueError(f"wakesleep: --{name.replace('_', '-')} must be >= 1, got "
                             f"{getattr(args, name)}")
    if args.val_size < 0:
        raise ValueError(f"wakesleep: --val-size must be >= 0, got {args.val_size}")
    if args.n_test is not None and args.n_test < 1:
        raise ValueError(f"wakesleep: --n-test must be >= 1, got {args.n_test}")


def build(args) -> Setup:
    from ..data import DataLoader
    from ..datasets.binarized import DynamicBinarized, fixed_binarized, grey_levels
    from ..models import HelmholtzMachine
    from ..tensor import Tensor

    sizes = hidden_sizes(args)
    _check_args(args)
    train, test = fashion_mnist_splits(args)
    data, targets = np.asarray(train.data), np.asarray(train.targets)
    n_val = args.val_size
    if n_val >= len(data):
        raise ValueError(f"wakesleep: --val-size {n_val} leaves no training images out of "
                         f"{len(data)}")
    fit_part = SimpleNamespace(data=data[:len(data) - n_val], targets=targets[:len(data) - n_val])
    if args.limit_train is not None:
        if args.limit_train < 1:
            raise ValueError(f"--limit-train must be at least 1, got {args.limit_train}")
        fit_part = SimpleNamespace(data=fit_part.data[:args.limit_train],
                                   targets=fit_part.targets[:args.limit_train])
    val = None
    if n_val:
        val = Tensor(fixed_binarized(SimpleNamespace(data=data[len(data) - n_val:]),
                                     seed=VAL_SEED))
    x_test = fixed_binarized(test, seed=TEST_SEED)
    if args.n_test is not None:
        x_test = x_test[:args.n_test]
    model = HelmholtzMachine((int(np.prod(data.shape[1:])),) + sizes)
    model.init_visible_bias_(grey_levels(fit_part).mean(0))
    loader = DataLoader(DynamicBinarized(fit_part, seed=args.seed), batch_size=args.batch_size,
                        shuffle=True, drop_last=False)
    return Setup(model=model, loss_fn=None, train_loader=loader, val_loader=val,
                 test_loader=Tensor(x_test))


def iw_log_likelihood(model, x, K, batch=100):
    """Per-image K-sample importance-weighted log-likelihoods (float64 array (N,), nats) of the
    binary images x (N, D), scored ``batch`` images at a time, without recording gradients."""
    from ..autograd import no_grad

    out = []
    with no_grad():
        for i in range(0, x.shape[0], batch):
            out.append(model.log_likelihood(x[i:i + batch], K=K).numpy().astype(np.float64))
    return np.concatenate(out) if out else np.zeros(0)


FIELDS = ["epoch", "wake", "sleep", "val_iw_ll", "lr", "seconds"]


def fit(setup, optimizer, scheduler, args, config):
    """Wake-sleep epochs; each scores the validation images, appends to log.csv and writes
    last.ckpt (and best.ckpt when the validation score is the best so far). Ends with the best
    epoch's weights in the model."""
    from ..train.checkpoint import load_checkpoint, make_checkpoint, restore, save_checkpoint
    from ..train.logging import CSVLog
    from ..train.loop import FitResult

    model = setup.model
    last_path, best_path = (os.path.join(args.out, n) for n in ("last.ckpt", "best.ckpt"))
    history, best, start = [], {"metric": MONITOR, "mode": "max", "value": None,
                                "epoch": None}, 1
    if args.resume:
        ckpt = load_checkpoint(last_path)
        restore(ckpt, model, optimizer, scheduler)
        history, start = list(ckpt["history"]), ckpt["epoch"] + 1
        best = dict(ckpt.get("best") or best)
        print(f"resuming after epoch {ckpt['epoch']}")
    # the header and the checkpointed epochs' rows (rows logged after the last checkpoint go)
    log = CSVLog(os.path.join(args.out, "log.csv"), history, FIELDS)
    for epoch in range(start, args.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        wake_sum = sleep_sum = 0.0
        n = 0
        for xb, _ in setup.train_loader:
            optimizer.zero_grad()
            wake, sleep = model.wake_sleep_losses(xb)
            (wake + sleep).backward()
            if args.clip_grad_norm is not None:
                from ..nn.utils import clip_grad_norm_

                clip_grad_norm_(model.parameters(), args.clip_grad_norm)
            optimizer.step()
            b = xb.shape[0]
            wake_sum += wake.item() * b
            sleep_sum += sleep.item() * b
            n += b
        val_ll = None
        if setup.val_loader is not None:
            model.eval()
            val_ll = float(iw_log_likelihood(model, setup.val_loader, args.val_iw_samples,
                                             args.eval_batch).mean())
        record = {"epoch": epoch, "wake": wake_sum / max(n, 1), "sleep": sleep_sum / max(n, 1),
                  "val_iw_ll": val_ll, "lr": optimizer.param_groups[0]["lr"],
                  "seconds": time.perf_counter() - t0}
        history.append(record)
        if scheduler is not None:
            if type(scheduler).__name__ == "ReduceLROnPlateau":
                scheduler.step(val_ll if val_ll is not None else -record["wake"])
            else:
                scheduler.step()
        log.append(record)
        improved = val_ll is None or best["value"] is None or val_ll > best["value"]
        if improved:
            best.update(value=val_ll, epoch=epoch)
        ckpt = make_checkpoint(model, optimizer, scheduler, epoch=epoch, best=best,
                               history=history, config=config)
        save_checkpoint(ckpt, *((best_path,) if improved else ()), last_path)
        val = "" if val_ll is None else (f"  val L_{args.val_iw_samples} {val_ll:.2f} nats" +
                                         (" *" if improved and val_ll is not None else ""))
        print(f"epoch {epoch:3d}  wake {record['wake']:.2f}  sleep {record['sleep']:.2f}{val}  "
              f"({record['seconds']:.1f} s)", flush=True)
    if os.path.exists(best_path) and best.get("epoch") is not None and \
            best["epoch"] != (history[-1]["epoch"] if history else None):
        model.load_state_dict(load_checkpoint(best_path)["model"])
        print(f"testing the weights of the best epoch ({best['epoch']}, val "
              f"{best['value']:.2f} nats)")
    return FitResult(history=history, best=best)


def test(setup, args, split="test"):
    """The K-sample importance-weighted log-likelihood (nats per image; K = --iw-samples) of the
    fixed binarized test images (the first --n-test), or of the validation images."""
    if split == "test":
        x = setup.test_loader
    elif split == "val":
        if setup.val_loader is None:
            raise ValueError("wakesleep: the run has no validation images (--val-size 0)")
        x = setup.val_loader
    else:
        raise ValueError(f"wakesleep: can score the 'test' or 'val' split, got {split!r}")
    setup.model.eval()
    K = args.iw_samples
    t0 = time.perf_counter()
    ll = iw_log_likelihood(setup.model, x, K, args.eval_batch)
    seconds = time.perf_counter() - t0
    mean = float(ll.mean())
    sem = float(ll.std(ddof=1) / math.sqrt(len(ll))) if len(ll) > 1 else 0.0
    bits = -mean / math.log(2) / x.shape[1]
    print(f"{split}: importance-weighted log-likelihood L_{K} = {mean:.2f} +- {sem:.2f} nats per "
          f"image (a code of {bits:.4f} bits per pixel) on {len(ll)} fixed binarized images "
          f"({seconds:.0f} s)")
    return {f"{split}_iw_ll": mean, f"{split}_iw_ll_sem": sem, f"{split}_iw_samples": K,
            f"{split}_images": int(len(ll)), f"{split}_seconds": seconds}


def _save_samples(model, n, path, binary_path=None, nrow=8):
    from ..train.images import save_image_grid

    side = int(round(math.sqrt(model.visible_size)))
    shape = (1, side, side) if side * side == model.visible_size else (1, 1, model.visible_size)
    x, h = model.dream(n)
    from ..autograd import no_grad

    with no_grad():
        mean = model.generative[0](h[0]).sigmoid().numpy()
    save_image_grid(mean.reshape(n, *shape), path, nrow=nrow, scale=2)
    if binary_path is not None:
        save_image_grid(x.numpy().reshape(n, *shape), binary_path, nrow=nrow, scale=2)
    return path


def after_fit(setup, args, result):
    """OUT/samples.png: 64 dreams (the mean E[x | h_1] of each) and samples_binary.png (the
    binary x drawn with them)."""
    path = _save_samples(setup.model, 64, os.path.join(args.out, "samples.png"),
                         os.path.join(args.out, "samples_binary.png"))
    print(f"samples -> {path}")
    return path


def model_from_checkpoint(ckpt):
    """The HelmholtzMachine of a wakesleep checkpoint, its layer sizes read off the weights."""
    from ..models import HelmholtzMachine

    state = ckpt.get("model") or {}
    shapes = []
    while f"generative.{len(shapes)}.weight" in state:
        shapes.append(np.shape(state[f"generative.{len(shapes)}.weight"]))
    if not shapes:
        raise ValueError("wakesleep: the checkpoint holds no Helmholtz machine weights "
                         "(generative.0.weight missing)")
    model = HelmholtzMachine(tuple(int(s[0]) for s in shapes) + (int(shapes[-1][1]),))
    model.load_state_dict(state)
    model.eval()
    return model


def sample(ckpt, args):
    """``chainrule sample``: a grid of --num dreams (seed --seed) at --out (default
    samples.png beside the checkpoint), with their binary draws in *_binary.png."""
    import chainrule as cr

    model = model_from_checkpoint(ckpt)
    cr.manual_seed(args.seed)
    path = args.out or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)),
                                    "samples.png")
    root, ext = os.path.splitext(path)
    _save_samples(model, args.num, path, root + "_binary" + (ext or ".png"))
    return (f"{args.num} samples of the Helmholtz machine {model.layer_sizes} (seed {args.seed})"
            f" -> {path} (binary draws: {root}_binary{ext or '.png'})")
