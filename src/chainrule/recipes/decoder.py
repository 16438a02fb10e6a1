"""Supervised decoders (notes 4.2): Fashion-MNIST images rebuilt from the features of each layer of
a trained LeNet-5.

    1. the classifier: LeNet-5 loaded from ``--classifier CKPT`` (a checkpoint of
       ``chainrule train lenet5``), or trained here for ``--classifier-epochs`` epochs (Adam,
       lr 2e-3, no augmentation);
    2. for each layer l of ``--layers`` (dotted module names of LeNet-5, default the two pooled
       feature maps, the two hidden fully connected layers and the logits), a decoder
       g_l (``chainrule.models.FeatureDecoder``) trained by least squares with the classifier
       frozen:  min sum_i ||X_i - g_l(f_l(X_i))||^2,  X_i the image's pixels in [0, 1].

    layer          h = f_l(X)      decoder
    features.2     6 x 14 x 14     Conv 3x3 (32), ConvT x2 (16), ConvT 3x3 (1), sigmoid
    features.5     16 x 5 x 5      ConvT 3x3 to 7x7 (64), ConvT x2 (32), ConvT x2 (16), ConvT 3x3
    classifier.1   120 (FC, ReLU)  FC 256, FC 64x7x7, ConvT x2 (32), ConvT x2 (16), ConvT 3x3
    classifier.3   84 (FC, ReLU)   the same
    classifier.4   10 (logits)     the same

All decoders learn from the same batches (one classifier pass per batch gives every layer's
features); ``--optimizer``/``--lr``/``--scheduler``/``--epochs`` are the decoders'. The classifier
reads normalized images, (x - 0.2860) / 0.3530; the decoders rebuild the [0, 1] pixels, and the
MSE reported is per pixel on that scale. The split is ``chainrule train lenet5``'s: the last
``--val-size`` images of a fixed shuffle of the training set are held out (validation MSE in
log.csv), the test set measures at the end (``test``: the MSE per layer and the classifier's
accuracy). ``OUT/reconstructions.png``: the first row test images, then one row per layer, its
reconstructions.

Measured (``--classifier`` a 10-epoch ``chainrule train lenet5`` run, 90.10% test accuracy;
``--epochs 3 --limit-train 30000``, seed 0; 3.6 min of CPU on one core), test MSE per pixel:

    features.2 0.0060   features.5 0.0138   classifier.1 0.0190   classifier.3 0.0227
    classifier.4 (the logits) 0.0323

The higher the layer, the less of the image is left: from the pooled maps of the first stage
even the print on a shirt comes back; from the logits, a blurred typical member of the class,
with little more than its brightness and shape.
"""
from __future__ import annotations

import os
import time

import numpy as np

from . import Setup, add_fashion_mnist_source

DESCRIPTION = ("supervised decoders rebuilding Fashion-MNIST images from each layer of a "
               "LeNet-5 (notes 4.2); about 7 min on 1 core")
DEFAULTS = {"epochs": 3, "batch_size": 128, "optimizer": "adam", "lr": 2e-3,
            "scheduler": "cosine", "weight_decay": 0.0}
MONITOR = "val_mse"

LAYERS = ["features.2", "features.5", "classifier.1", "classifier.3", "classifier.4"]
MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST's training pixel statistics (FashionMNIST.mean/std)
CLASSIFIER_LR = 2e-3
EVAL_BATCH = 500


# ---- the parts the style recipe shares -----------------------------------------------------

def add_data_arguments(g, n_show=10):
    add_fashion_mnist_source(g)
    g.add_argument("--val-size", type=int, default=5000,
                   help="training images held out for validation (default 5000, as lenet5)")
    g.add_argument("--limit-test", type=int, default=None, metavar="N",
                   help="measure on the first N test images only (quick runs)")
    g.add_argument("--classifier", default=None, metavar="CKPT",
                   help="a checkpoint of `chainrule train lenet5` to use as the classifier "
                        "(default: train one here)")
    g.add_argument("--classifier-epochs", type=int, default=4,
                   help="epochs of the LeNet-5 trained here without --classifier (default 4)")
    g.add_argument("--show", type=int, default=n_show,
                   help=f"test images in the figure (default {n_show})")


def normalize(pixels):
    """The classifier's input: (x - mean) / std of [0, 1] pixels (float32 array or Tensor)."""
    return (pixels - MEAN) / STD


_RAW = {}  # (root, train) -> (uint8 images, labels): read the IDX files once per process


def _raw(args, train):
    from ..datasets import FashionMNIST

    key = (os.path.abspath(os.path.expanduser(str(args.root))), bool(train))
    if key not in _RAW:
        try:
            ds = FashionMNIST(args.root, train=train, download=args.download)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"{e} From the command line: --download, or --root DIR.") \
                from None
        _RAW[key] = (np.asarray(ds.data), np.asarray(ds.targets, dtype=np.int64))
    return _RAW[key]


def load_data(args, who):
    """{'train': (X, y), 'val': (X, y), 'test': (X, y)}: Fashion-MNIST pixels in [0, 1] as
    float32 (N, 1, 28, 28) and int64 labels; the validation split is lenet5's (recipes._cnn)."""
    from . import _cnn

    def pixels(images, idx):
        return (images[idx].astype(np.float32) / 255.0)[:, None]

    images, labels = _raw(args, True)
    if not 0 <= args.val_size < len(images):
        raise ValueError(f"{who}: --val-size must be in [0, {len(images)}), got {args.val_size}")
    order = np.random.default_rng(_cnn.SPLIT_SEED).permutation(len(images))
    tr, va = order[:len(images) - args.val_size], order[len(images) - args.val_size:]
    if args.limit_train is not None:
        if args.limit_train < 1:
            raise ValueError(f"--limit-train must be at least 1, got {args.limit_train}")
        tr = tr[:args.limit_train]
    test_images, test_labels = _raw(args, False)
    te = np.arange(len(test_images))
    if args.limit_test is not None:
        if args.limit_test < 1:
            raise ValueError(f"{who}: --limit-test must be at least 1, got {args.limit_test}")
        te = te[:args.limit_test]
    return {"train": (pixels(images, tr), labels[tr]), "val": (pixels(images, va), labels[va]),
            "test": (pixels(test_images, te), test_labels[te])}


def batches(n, batch_size, rng=None):
    """Index arrays covering range(n) in batches (shuffled by ``rng`` when given)."""
    order = np.arange(n) if rng is None else rng.permutation(n)
    for s in range(0, n, batch_size):
        yield order[s:s + batch_size]


def _t(a):
    from ..tensor import Tensor

    return Tensor(np.ascontiguousarray(a))


def classifier_accuracy(model, X, y):
    """The share of the [0, 1] images X the classifier labels y."""
    from ..autograd import no_grad

    was = model.training
    model.eval()
    correct = 0
    try:
        with no_grad():
            for idx in batches(len(X), EVAL_BATCH):
                correct += int((model(_t(normalize(X[idx]))).numpy().argmax(-1) == y[idx]).sum())
    finally:
        model.train(was)
    return correct / max(1, len(X))


def prepare_classifier(model, args, data, who, log=print):
    """Load ``--classifier CKPT`` into the LeNet-5 ``model``, or train it for
    ``--classifier-epochs`` epochs on the training split (Adam, lr 2e-3, batch --batch-size).
    Returns a short description for the log."""
    from .. import optim
    from ..ops.loss import cross_entropy
    from ..train.checkpoint import load_checkpoint

    if args.classifier:
        if not os.path.exists(args.classifier):
            raise FileNotFoundError(f"{who}: no such classifier checkpoint: {args.classifier}")
        ckpt = load_checkpoint(args.classifier)
        made_by = (ckpt.get("config") or {}).get("recipe")
        if made_by != "lenet5":
            raise ValueError(f"{who}: --classifier expects a checkpoint of `chainrule train "
                             f"lenet5`, got one of {made_by!r} ({args.classifier})")
        model.load_state_dict(ckpt["model"])
        what = f"LeNet-5 from {args.classifier} (epoch {ckpt.get('epoch')})"
    else:
        if args.classifier_epochs < 0:
            raise ValueError(f"{who}: --classifier-epochs must be >= 0, got "
                             f"{args.classifier_epochs}")
        X, y = data["train"]
        opt = optim.Adam(model.parameters(), lr=CLASSIFIER_LR)
        rng = np.random.default_rng(10_000 + args.seed)
        model.train()
        for epoch in range(1, args.classifier_epochs + 1):
            t0, total, seen = time.perf_counter(), 0.0, 0
            for idx in batches(len(X), args.batch_size, rng):
                loss = cross_entropy(model(_t(normalize(X[idx]))), _t(y[idx]))
                opt.zero_grad()
                loss.backward()
                opt.step()
                total, seen = total + loss.item() * len(idx), seen + len(idx)
            log(f"classifier epoch {epoch}/{args.classifier_epochs}  loss {total / seen:.4f}  "
                f"({time.perf_counter() - t0:.1f} s)")
        what = f"LeNet-5 trained here for {args.classifier_epochs} epochs"
    model.eval()
    model.requires_grad_(False)
    acc = classifier_accuracy(model, *data["test"])
    log(f"classifier: {what}; test accuracy {100 * acc:.2f}%")
    return what


def args_from_checkpoint(name, ckpt):
    """The parsed options of the run that wrote ``ckpt`` (for ``chainrule sample``)."""
    from ..cli import COMMON, _recipe_parser

    config = ckpt.get("config") or {}
    parser = _recipe_parser(name)
    parser.set_defaults(**{k: v for k, v in config.items() if k != "recipe"})
    args = parser.parse_args([])
    for key in COMMON:
        if getattr(args, key, None) is None:
            setattr(args, key, config.get(key))
    args.limit_train = config.get("limit_train")
    return args


def sample_path(args):
    return args.out or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)),
                                    "samples.png")


# ---- the recipe -------------------------------------------------------------------------------

def add_arguments(parser):
    g = parser.add_argument_group("decoder")
    g.add_argument("--layers", nargs="+", default=list(LAYERS), metavar="LAYER",
                   help=f"LeNet-5 layers to decode (dotted names; default {' '.join(LAYERS)})")
    g.add_argument("--channels", type=int, default=8,
                   help="decoder channels at full size; doubled per upsampling (default 8)")
    g.add_argument("--hidden", type=int, default=256,
                   help="hidden width of the decoders of vector features (default 256)")
    add_data_arguments(g)


def _key(layer):
    return layer.replace(".", "_")


def build(args) -> Setup:
    from .. import nn
    from ..models import FeatureDecoder, layer_names, lenet5

    if not args.layers:
        raise ValueError("decoder: --layers needs at least one layer")
    if len(set(args.layers)) != len(args.layers):
        raise ValueError(f"decoder: --layers has repeats: {args.layers}")
    if args.show < 1:
        raise ValueError(f"decoder: --show must be >= 1, got {args.show}")
    classifier = lenet5(num_classes=10, in_channels=1)
    known = layer_names(classifier)
    for layer in args.layers:
        if layer not in known:
            raise ValueError(f"decoder: LeNet-5 has no layer {layer!r}; its layers are: "
                             f"{', '.join(known)}")
    decoders = nn.ModuleDict({
        _key(layer): FeatureDecoder(classifier, layer, (1, 28, 28), channels=args.channels,
                                    hidden=args.hidden, output="sigmoid")
        for layer in args.layers})
    model = nn.ModuleDict({"classifier": classifier, "decoders": decoders})
    setup = Setup(model=model, loss_fn=None, train_loader=None, val_loader=None,
                  test_loader=None)
    setup.data = load_data(args, "decoder")
    return setup


def _decoders(setup, args):
    return [(layer, setup.model["decoders"][_key(layer)]) for layer in args.layers]


def layer_mse(setup, args, X):
    """{layer: (1 / (N 784)) sum_i ||X_i - g_l(f_l(X_i))||^2} over the [0, 1] images X."""
    from ..autograd import no_grad
    from ..models import layer_features

    classifier = setup.model["classifier"]
    decs = _decoders(setup, args)
    sums = {layer: 0.0 for layer in args.layers}
    was = [d.training for _, d in decs]
    classifier.eval()
    for _, d in decs:
        d.eval()
    try:
        with no_grad():
            for idx in batches(len(X), EVAL_BATCH):
                feats = layer_features(classifier, args.layers, _t(normalize(X[idx])))
                for layer, d in decs:
                    diff = d(feats[layer]).numpy() - X[idx]
                    sums[layer] += float(np.square(diff, dtype=np.float64).sum())
    finally:
        for (_, d), w in zip(decs, was):
            d.train(w)
    return {layer: s / max(1, X.size) for layer, s in sums.items()}


def fit(setup, optimizer, scheduler, args, config):
    """The classifier (loaded or trained), then every decoder by least squares on its features."""
    from ..autograd import no_grad
    from ..models import layer_features
    from ..ops.loss import mse_loss
    from ..train.checkpoint import save_epoch_checkpoints
    from ..train.logging import CSVLog
    from ..train.loop import FitResult
    from . import make_optimizer, make_scheduler

    if args.resume:
        raise ValueError("decoder: --resume is not supported; train again")
    classifier = setup.model["classifier"]
    prepare_classifier(classifier, args, setup.data, "decoder")
    decs = _decoders(setup, args)
    params = [p for _, d in decs for p in d.parameters()]
    opt = make_optimizer(args.optimizer, params, args.lr, args.weight_decay)
    sched = make_scheduler(args.scheduler, opt, args.epochs, mode="min")
    X, _ = setup.data["train"]
    X_val = setup.data["val"][0]
    fields = (["epoch"] + [f"train_mse:{layer}" for layer in args.layers]
              + [f"val_mse:{layer}" for layer in args.layers] + ["val_mse", "seconds"])
    log = CSVLog(os.path.join(args.out, "log.csv"), fields=fields)
    rng = np.random.default_rng(args.seed)
    history, best = [], {"metric": "val_mse", "mode": "min", "value": None, "epoch": None}
    t_all = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        for _, d in decs:
            d.train()
        sums = {layer: 0.0 for layer in args.layers}
        for idx in batches(len(X), args.batch_size, rng):
            target = _t(X[idx])
            with no_grad():  # the frozen classifier: every layer's features in one pass
                feats = layer_features(classifier, args.layers, _t(normalize(X[idx])))
            losses = [mse_loss(d(feats[layer]), target) for layer, d in decs]
            total = losses[0]
            for loss in losses[1:]:
                total = total + loss
            opt.zero_grad()
            total.backward()
            opt.step()
            for (layer, _), loss in zip(decs, losses):
                sums[layer] += loss.item() * len(idx)
        if sched is not None:
            sched.step()
        record = {"epoch": epoch}
        record.update({f"train_mse:{k}": v / len(X) for k, v in sums.items()})
        val = layer_mse(setup, args, X_val) if len(X_val) else {}
        record.update({f"val_mse:{k}": v for k, v in val.items()})
        record["val_mse"] = float(np.mean(list(val.values()))) if val else None
        record["seconds"] = time.perf_counter() - t0
        history.append(record)
        log.append(record)
        print(f"epoch {epoch:3d}  " + "  ".join(
            f"{layer} {record[f'train_mse:{layer}']:.4f}"
            + (f"/{val[layer]:.4f}" if val else "") for layer in args.layers)
            + f"  (train/val MSE, {record['seconds']:.1f} s)")
        save_epoch_checkpoints(setup.model, args.out, epoch, history=history, config=config,
                               value=record["val_mse"], best=best)
    if args.epochs == 0:
        save_epoch_checkpoints(setup.model, args.out, 0, history=[], config=config, value=None,
                               best=best)
    print(f"decoders trained in {time.perf_counter() - t_all:.1f} s")
    return FitResult(history=history, best=best if best["value"] is not None else {})


def test(setup, args, split="test"):
    """The MSE per pixel ([0, 1] scale) of each layer's reconstructions, and the classifier's
    accuracy, on ``split``."""
    X, y = setup.data[split]
    if len(X) == 0:
        raise ValueError(f"decoder: the run has no {split} set")
    mse = layer_mse(setup, args, X)
    acc = classifier_accuracy(setup.model["classifier"], X, y)
    shapes = {layer: d.feature_shape for layer, d in _decoders(setup, args)}
    width = max(len(layer) for layer in args.layers)
    print(f"{split}: classifier accuracy {100 * acc:.2f}%; reconstruction MSE per pixel "
          f"([0, 1] scale) on {len(X)} images:")
    for layer in args.layers:
        shape = "x".join(map(str, shapes[layer]))
        print(f"  {layer:<{width}}  h {shape:<9}  MSE {mse[layer]:.5f}")
    return {f"{split}_mse": mse, f"{split}_classifier_acc": acc, "layers": list(args.layers),
            "feature_shapes": {k: list(v) for k, v in shapes.items()}}


def reconstruction_grid(setup, args, X):
    """(1 + L) rows of len(X) images: X, then each layer's reconstructions (N, 1, 28, 28)."""
    from ..autograd import no_grad
    from ..models import layer_features

    classifier = setup.model["classifier"]
    classifier.eval()
    rows = [X]
    with no_grad():
        feats = layer_features(classifier, args.layers, _t(normalize(X)))
        for layer, d in _decoders(setup, args):
            d.eval()
            rows.append(d(feats[layer]).numpy())
    return np.concatenate(rows, axis=0)


def after_fit(setup, args, result):
    """OUT/reconstructions.png: test images (top row), then one row per layer."""
    from ..train.images import save_image_grid

    X = setup.data["test"][0][:args.show]
    path = save_image_grid(reconstruction_grid(setup, args, X),
                           os.path.join(args.out, "reconstructions.png"), nrow=len(X),
                           value_range=(0.0, 1.0), scale=2)
    print(f"reconstructions (rows: test images, then {', '.join(args.layers)}) -> {path}")
    return path


def sample(ckpt, args):
    """``chainrule sample CKPT``: ``--num`` (at most 16) test images drawn with ``--seed`` and
    their reconstruction from each layer, to ``--out`` (default samples.png beside the
    checkpoint)."""
    from ..train.images import save_image_grid

    rargs = args_from_checkpoint("decoder", ckpt)
    setup = build(rargs)
    setup.model.load_state_dict(ckpt["model"])
    X = setup.data["test"][0]
    n = min(int(args.num), 16, len(X))
    idx = np.sort(np.random.default_rng(args.seed).choice(len(X), n, replace=False))
    path = save_image_grid(reconstruction_grid(setup, rargs, X[idx]), sample_path(args),
                           nrow=n, value_range=(0.0, 1.0), scale=2)
    return (f"{n} test images (seed {args.seed}) and their reconstructions from "
            f"{', '.join(rargs.layers)} -> {path}")

