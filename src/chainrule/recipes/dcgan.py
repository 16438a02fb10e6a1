"""DCGAN on Fashion-MNIST (notes 4.3; Radford et al. 2015), or its MLP counterpart (``--mlp``).

    data:           Fashion-MNIST training images scaled to [-1, 1] (x / 127.5 - 1), (N, 1, 28, 28)
    generator:      z ~ N(0, I_nz) -> DCGANGenerator: nz -> 2 ngf (7x7) -> ngf (14x14) -> 1 (28x28),
                    tanh          (--mlp: MLPGenerator, hidden --g-hidden)
    discriminator:  DCGANDiscriminator: 1 -> ndf (14x14) -> 2 ndf (7x7) -> logit
                    (--mlp: MLPDiscriminator, hidden --d-hidden)

Training is :func:`chainrule.train.gan.fit_gan` (k D steps per G step, non-saturating generator
loss), each net with its own Adam (lr 2e-4, betas (0.5, 0.999), as the paper). After every epoch
the grid of G on one fixed noise batch goes to ``OUT/epochs/epoch_NNN.png``, and the Frechet
distance of ``--monitor-n`` samples to as many training images is logged (``frechet`` in
log.csv), which picks ``best.ckpt``.

Sample quality (``test``), with no download: the squared Frechet distance between Gaussians
fitted to the 84 penultimate-layer features of chainrule's own Fashion-MNIST LeNet-5
(``chainrule.train.sample_quality``; NOT the Inception-based FID, and not comparable with it) of
``--n-eval`` generated images and ``--n-eval`` real test images, next to the same distance
between two disjoint halves of the real test set (the floor that sampling noise alone gives);
and the classifier's label histogram over the samples (mode coverage). The classifier is
``--classifier CKPT`` (e.g. ``runs/lenet5/best.ckpt`` of ``chainrule train lenet5``), else
``OUT/classifier.ckpt`` if an earlier run left one, else a LeNet-5 trained here for
``--classifier-epochs`` epochs and saved there. At the end: ``OUT/samples.png`` (64 samples) and
``OUT/interpolation.png`` (each row G along a slerp path between two random z).

    chainrule train dcgan --epochs 4 --classifier runs/lenet5/best.ckpt
    chainrule sample runs/dcgan/last.ckpt --num 64 --out samples.png

Measured (seed 0, batch 128, the scoring LeNet-5 of ``chainrule train lenet5 --epochs 10``,
90.1% test accuracy; 5000 samples vs 5000 test images, real half vs real half 0.77):

    DCGAN ngf = ndf = 64 (898,304 parameters), 4 epochs (about 15 min of one core): 51.3,
        all 10 classes covered (label histogram 7.4% .. 11.9%)
    --mlp (2,021,649 parameters), 4 epochs (76 s of one core): 93.5, all 10 covered
    --mlp, 20 epochs (6 min of one core): 37.9 (best.ckpt, epoch 17: 32.2), all 10 covered
        but a skewed histogram (Pullover 2.2%, Shirt 18.6%; total variation to the real
        labels 0.16, against 0.05 for the DCGAN) and speckled samples that the distance in
        LeNet-5 features still rates well: compare the grids as well as the numbers

About 3.5 min an epoch on a free core (--mlp: about 25 s); per-epoch Frechet distances
(1000 samples vs 1000 training images) 160, 86, 63, 54 for the DCGAN.
"""
from __future__ import annotations

import os
import time

import numpy as np

from . import Setup, add_fashion_mnist_source

DESCRIPTION = ("DCGAN (or --mlp GAN) on Fashion-MNIST (notes 4.3); Frechet distance in LeNet-5 "
               "features and label histogram; about 4 min an epoch on 1 core (--mlp 30 s)")
DEFAULTS = {"epochs": 4, "batch_size": 128, "optimizer": "adam", "lr": 2e-4,
            "scheduler": "none", "weight_decay": 0.0}
MONITOR = "frechet"
GRID = 64  # samples in the grids


def add_arguments(parser):
    g = parser.add_argument_group("dcgan")
    g.add_argument("--nz", type=int, default=100, help="size of z (default 100)")
    g.add_argument("--ngf", type=int, default=64,
                   help="DCGAN generator width: 2 ngf maps at 7x7, ngf at 14x14 (default 64)")
    g.add_argument("--ndf", type=int, default=64,
                   help="DCGAN discriminator width: ndf maps at 14x14, 2 ndf at 7x7 (default 64)")
    g.add_argument("--mlp", action="store_true",
                   help="fully connected nets (MLPGenerator / MLPDiscriminator) instead")
    g.add_argument("--g-hidden", default="256,512,1024",
                   help="with --mlp: the generator's hidden widths (default 256,512,1024)")
    g.add_argument("--d-hidden", default="512,256",
                   help="with --mlp: the discriminator's hidden widths (default 512,256)")
    g.add_argument("--k", type=int, default=1,
                   help="discriminator steps per generator step (default 1)")
    g.add_argument("--beta1", type=float, default=0.5,
                   help="Adam's first-moment decay for both nets (default 0.5, as the paper)")
    g.add_argument("--generator-loss", choices=("non_saturating", "minimax"),
                   default="non_saturating", help="the generator's loss (default non_saturating)")
    g.add_argument("--n-eval", type=int, default=5000,
                   help="generated images, and real test images in each half, for the Frechet "
                        "distances (default 5000, at most half the test set)")
    g.add_argument("--monitor-n", type=int, default=1000,
                   help="samples for the per-epoch Frechet distance that picks best.ckpt "
                        "(default 1000; 0: none, best.ckpt is the last epoch)")
    g.add_argument("--classifier", default=None, metavar="CKPT",
                   help="a LeNet-5 checkpoint (chainrule train lenet5) whose features score the "
                        "samples (default: OUT/classifier.ckpt, trained here if missing)")
    g.add_argument("--classifier-epochs", type=int, default=3,
                   help="epochs of the LeNet-5 trained here without --classifier (default 3)")
    add_fashion_mnist_source(g)


def _widths(text, flag):
    try:
        widths = tuple(int(w) for w in str(text).split(",") if w.strip())
    except ValueError:
        widths = ()
    if not widths or min(widths) < 1:
        raise ValueError(f"dcgan: {flag} must be comma-separated positive ints, got {text!r}")
    return widths


def make_nets(cfg):
    """(generator, discriminator) of the settings ``cfg`` (parsed args or a checkpoint's config
    dict)."""
    from ..models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator

    get = cfg.get if isinstance(cfg, dict) else lambda k, d=None: getattr(cfg, k, d)
    nz = get("nz", 100)
    if get("mlp", False):
        return (MLPGenerator(nz=nz, hidden=_widths(get("g_hidden", "256,512,1024"), "--g-hidden"),
                             nc=1, image_size=28),
                MLPDiscriminator(nc=1, hidden=_widths(get("d_hidden", "512,256"), "--d-hidden"),
                                 image_size=28))
    return (DCGANGenerator(nz=nz, ngf=get("ngf", 64), nc=1, image_size=28),
            DCGANDiscriminator(nc=1, ndf=get("ndf", 64), image_size=28))


def _pixels(args, train):
    """(uint8 images (N, 28, 28), int64 labels) of a Fashion-MNIST split."""
    from ..datasets import FashionMNIST

    try:
        ds = FashionMNIST(args.root, train=train, download=args.download)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{e} From the command line: --download, or --root DIR.") \
            from None
    return np.asarray(ds.data), np.asarray(ds.targets, dtype=np.int64)


def to_tanh_range(pixels):
    """uint8 images (N, 28, 28) -> float32 (N, 1, 28, 28) in [-1, 1]: x / 127.5 - 1."""
    return (np.asarray(pixels, np.float32) / 127.5 - 1.0)[:, None]


def build(args) -> Setup:
    from .. import nn
    from ..data import DataLoader, TensorDataset
    from ..tensor import Tensor

    for name in ("nz", "ngf", "ndf", "k", "n_eval", "classifier_epochs"):
        if getattr(args, name) < 1:
            raise ValueError(f"dcgan: --{name.replace('_', '-')} must be >= 1, got "
                             f"{getattr(args, name)}")
    if args.monitor_n < 0 or args.monitor_n == 1:
        raise ValueError(f"dcgan: --monitor-n must be 0 or >= 2, got {args.monitor_n}")
    pixels, _ = _pixels(args, train=True)
    if args.limit_train is not None:
        if args.limit_train < 1:
            raise ValueError(f"--limit-train must be at least 1, got {args.limit_train}")
        pixels = pixels[:args.limit_train]
    g, d = make_nets(args)
    loader = DataLoader(TensorDataset(Tensor(to_tanh_range(pixels))), batch_size=args.batch_size,
                        shuffle=True)
    return Setup(model=nn.ModuleDict({"generator": g, "discriminator": d}), loss_fn=None,
                 train_loader=loader, val_loader=None, test_loader=None)


def _adam(args, params):
    """--optimizer over ``params``; Adam/AdamW with betas (--beta1, 0.999)."""
    from .. import optim
    from . import make_optimizer

    if args.optimizer in ("adam", "adamw"):
        cls = optim.Adam if args.optimizer == "adam" else optim.AdamW
        return cls(params, lr=args.lr, betas=(args.beta1, 0.999), weight_decay=args.weight_decay)
    return make_optimizer(args.optimizer, params, args.lr, args.weight_decay)


# ---- the scoring classifier --------------------------------------------------------------------

def train_classifier(pixels, labels, epochs, seed=0, batch_size=128, lr=2e-3, log=print):
    """A LeNet-5 trained on uint8 images (N, 28, 28) normalized as the lenet5 recipe
    ((x / 255 - 0.2860) / 0.3530), Adam, no augmentation. Returns the net in eval mode."""
    from .. import nn, optim
    from ..models import lenet5
    from ..tensor import Tensor

    x = ((np.asarray(pixels, np.float32) / 255.0 - 0.2860) / 0.3530)[:, None]
    y = np.asarray(labels, np.int64)
    net = lenet5(num_classes=10, in_channels=1)
    opt = optim.Adam(net.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    for epoch in range(1, epochs + 1):
        net.train()
        t0, total, correct = time.perf_counter(), 0.0, 0
        order = rng.permutation(len(x))
        for i in range(0, len(x), batch_size):
            b = order[i:i + batch_size]
            logits = net(Tensor(x[b]))
            loss = loss_fn(logits, Tensor(y[b]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.item()) * len(b)
            correct += int((logits.numpy().argmax(axis=1) == y[b]).sum())
        log(f"classifier epoch {epoch}/{epochs}: train loss {total / len(x):.4f}, accuracy "
            f"{100 * correct / len(x):.2f}% ({time.perf_counter() - t0:.1f} s)")
    net.eval()
    return net


def _classifier(setup, args):
    """The LeNet-5 that scores the samples (cached on ``setup``): --classifier, else
    OUT/classifier.ckpt, else one trained now and saved there."""
    from ..train.checkpoint import make_checkpoint, save_checkpoint
    from ..train.sample_quality import load_classifier

    net = getattr(setup, "classifier", None)
    if net is not None:
        return net
    saved = os.path.join(args.out, "classifier.ckpt") if getattr(args, "out", None) else None
    path = args.classifier or (saved if saved and os.path.exists(saved) else None)
    if path is not None:
        if not os.path.exists(path):
            raise FileNotFoundError(f"dcgan: --classifier {path}: no such checkpoint (train one "
                                    f"with `chainrule train lenet5`, or leave --classifier out "
                                    f"to train one here)")
        net = load_classifier(path)
        print(f"scoring classifier: LeNet-5 from {path}")
    else:
        pixels, labels = _pixels(args, train=True)
        if args.limit_train is not None:
            pixels, labels = pixels[:args.limit_train], labels[:args.limit_train]
        print(f"training the scoring LeNet-5 ({args.classifier_epochs} epochs on "
              f"{len(pixels)} images)")
        net = train_classifier(pixels, labels, args.classifier_epochs, seed=args.seed)
        if saved:
            config = {"recipe": "lenet5", "trained_by": "dcgan", "epochs": args.classifier_epochs,
                      "batch_size": 128, "optimizer": "adam", "lr": 2e-3, "scheduler": "none",
                      "weight_decay": 0.0, "seed": args.seed, "augment": False,
                      "limit_train": args.limit_train, "root": args.root}
            save_checkpoint(make_checkpoint(net, epoch=args.classifier_epochs, config=config),
                            saved)
            print(f"scoring classifier -> {saved}")
    setup.classifier = net
    return net


def generate(generator, n, batch=500):
    """n samples of G (eval mode, no graph), float32 (n, C, H, W) in G's range."""
    from ..autograd import no_grad
    from ..creation import randn

    was = generator.training
    generator.eval()
    out = []
    try:
        with no_grad():
            for i in range(0, n, batch):
                out.append(generator(randn(min(batch, n - i), generator.nz)).numpy())
    finally:
        generator.train(was)
    return np.concatenate(out).astype(np.float32)


# ---- training ----------------------------------------------------------------------------------

def fit(setup, optimizer, scheduler, args, config):
    """fit_gan with one Adam per net (the CLI's ``optimizer`` over both is unused; GAN training
    here keeps a constant rate, so ``--scheduler`` is not applied)."""
    from ..train.checkpoint import make_checkpoint, save_checkpoint
    from ..train.gan import fit_gan
    from ..train.logging import CSVLog
    from ..train.loop import FitResult
    from ..train.sample_quality import SampleScorer, frechet_distance

    if args.resume:
        raise ValueError("dcgan: --resume is not supported; train again")
    g, d = setup.model["generator"], setup.model["discriminator"]
    opt_g, opt_d = _adam(args, g.parameters()), _adam(args, d.parameters())
    monitor = None
    if args.monitor_n:
        scorer = SampleScorer(_classifier(setup, args), value_range=(-1.0, 1.0))
        pixels, _ = _pixels(args, train=True)
        pick = np.random.default_rng(1).permutation(len(pixels))[:args.monitor_n]
        real_feats = scorer.features(to_tanh_range(pixels[pick]))
        monitor = (scorer, real_feats)
    fields = ["epoch", "d_loss", "g_loss", "value", "frechet", "d_steps", "g_steps", "seconds"]
    log = CSVLog(os.path.join(args.out, "log.csv"), fields=fields)
    last_path, best_path = os.path.join(args.out, "last.ckpt"), os.path.join(args.out,
                                                                             "best.ckpt")
    best = {"metric": "frechet", "mode": "min", "value": None, "epoch": None}
    history = []

    def on_epoch(record, samples):
        if monitor is not None:
            scorer, real_feats = monitor
            fake = generate(g, len(real_feats))
            record["frechet"] = frechet_distance(scorer.features(fake), real_feats)
        else:
            record["frechet"] = float("nan")
        history.append(record)
        log.append(record)
        improved = monitor is None or best["value"] is None or record["frechet"] < best["value"]
        if improved and monitor is not None:
            best.update(value=record["frechet"], epoch=record["epoch"])
        ckpt = make_checkpoint(setup.model, epoch=record["epoch"], best=best, history=history,
                               config=config)
        save_checkpoint(ckpt, *((best_path, last_path) if improved else (last_path,)))
        print(f"epoch {record['epoch']:3d}  D loss {record['d_loss']:.4f}  G loss "
              f"{record['g_loss']:.4f}  V {record['value']:.4f}  Frechet "
              f"{record['frechet']:.3f}  ({record['seconds']:.1f} s)  grid "
              f"{record.get('sample_grid')}", flush=True)

    t0 = time.perf_counter()
    fit_gan(g, d, setup.train_loader, opt_g=opt_g, opt_d=opt_d, epochs=args.epochs,
            noise_dim=args.nz, k=args.k, generator_loss=args.generator_loss,
            sample_dir=os.path.join(args.out, "epochs"), num_samples=GRID,
            sample_range=(-1.0, 1.0), on_epoch=on_epoch)
    print(f"trained in {time.perf_counter() - t0:.1f} s")
    if not history:  # --epochs 0: still leave a checkpoint of the initial nets
        save_checkpoint(make_checkpoint(setup.model, epoch=0, config=config), best_path,
                        last_path)
    return FitResult(history=history, best=best if best["value"] is not None else {})


# ---- measures and pictures ---------------------------------------------------------------------

def test(setup, args, split="test"):
    """Frechet distances (generated vs real, real half vs real half) and the label histogram."""
    from ..backend import manual_seed
    from ..train.sample_quality import FASHION_MNIST_CLASSES, SampleScorer, split_halves

    if split not in ("test", "train"):
        raise ValueError(f"dcgan: the samples are scored against the 'test' or 'train' images, "
                         f"got split {split!r}")
    pixels, labels = _pixels(args, train=split == "train")
    n = min(args.n_eval, len(pixels) // 2)
    if n < 2:
        raise ValueError(f"dcgan: expected at least 4 {split} images to score against, got "
                         f"{len(pixels)}")
    half_a, half_b = split_halves(len(pixels), n, seed=0)
    scorer = SampleScorer(_classifier(setup, args), value_range=(-1.0, 1.0))
    manual_seed(args.seed + 1000)
    fake = generate(setup.model["generator"], n)
    real_a, real_b = to_tanh_range(pixels[half_a]), to_tanh_range(pixels[half_b])
    gen = scorer.score(fake, real_a)
    ref = scorer.score(real_b, real_a)
    acc = float(np.mean(scorer.predict(real_a) == labels[half_a]))
    hist = gen["label_histogram"]
    print(f"{split}: Frechet distance (LeNet-5 features) of {n} generated vs {n} real images "
          f"{gen['frechet']:.3f}; real half vs real half {ref['frechet']:.3f}")
    print(f"{split}: classifier labels of the samples ({gen['modes_covered']} of {len(hist)} "
          f"classes with >= 1%; total variation to the real images' {gen['label_tv']:.3f}; "
          f"classifier accuracy on the real half {100 * acc:.2f}%):")
    print("  " + ", ".join(f"{name} {100 * p:.1f}%" for name, p in
                           zip(FASHION_MNIST_CLASSES, hist)))
    return {f"{split}_frechet": gen["frechet"], f"{split}_frechet_real_halves": ref["frechet"],
            f"{split}_label_histogram": hist,
            f"{split}_real_label_histogram": gen["real_label_histogram"],
            f"{split}_modes_covered": gen["modes_covered"], f"{split}_label_tv": gen["label_tv"],
            f"{split}_classifier_accuracy": acc, "n_eval": n}


def write_pictures(generator, out_dir, seed=0, num=GRID, rows=8, steps=10):
    """OUT/samples.png (``num`` samples) and OUT/interpolation.png (``rows`` slerp paths of
    ``steps`` images between two random z). Returns the two paths."""
    from ..autograd import no_grad
    from ..backend import manual_seed
    from ..creation import randn
    from ..tensor import Tensor
    from ..train.images import interpolate, save_image_grid

    manual_seed(seed)
    samples = save_image_grid(generate(generator, num), os.path.join(out_dir, "samples.png"),
                              nrow=8, value_range=(-1, 1), scale=2)
    ends = randn(2 * rows, generator.nz).numpy()
    path = np.concatenate([interpolate(ends[2 * r], ends[2 * r + 1], steps, kind="slerp")
                           for r in range(rows)])
    was = generator.training
    generator.eval()
    with no_grad():
        imgs = generator(Tensor(path)).numpy()
    generator.train(was)
    interp = save_image_grid(imgs, os.path.join(out_dir, "interpolation.png"), nrow=steps,
                             value_range=(-1, 1), scale=2)
    return samples, interp


def after_fit(setup, args, result):
    """Write OUT/samples.png and OUT/interpolation.png."""
    samples, interp = write_pictures(setup.model["generator"], args.out, seed=args.seed)
    print(f"samples -> {samples}; latent interpolations -> {interp}")
    return samples, interp


def sample(checkpoint, args):
    """``chainrule sample CKPT --num N --out PNG``: a grid of N samples of the checkpoint's G."""
    from .. import nn
    from ..backend import manual_seed
    from ..train.images import save_image_grid

    config = checkpoint.get("config") or {}
    g, d = make_nets(config)
    model = nn.ModuleDict({"generator": g, "discriminator": d})
    try:
        model.load_state_dict(checkpoint["model"])
    except (RuntimeError, KeyError, ValueError) as e:
        raise ValueError(f"the weights in {args.checkpoint} do not fit the generator its config "
                         f"describes ({'mlp' if config.get('mlp') else 'dcgan'}): {e}") from None
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)),
                                   "samples.png")
    manual_seed(args.seed)
    path = save_image_grid(generate(g, args.num), out, nrow=8, value_range=(-1, 1), scale=2)
    return (f"{args.num} samples of the generator after epoch {checkpoint.get('epoch')} -> "
            f"{path}")
