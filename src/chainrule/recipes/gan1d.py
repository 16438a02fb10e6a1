"""A GAN on a 1-D mixture of Gaussians (notes 4.3), to watch the learned density cover every mode.

    data:           X ~ sum_j w_j N(mu_j, sigma^2)   (default 0.5 N(-2, 0.25^2) + 0.5 N(2, 0.25^2))
    generator:      h ~ N(0, I) -> Linear -> LeakyReLU -> Linear -> LeakyReLU -> Linear -> x
    discriminator:  x -> Linear -> LeakyReLU -> Linear -> LeakyReLU -> Linear -> logit a(x)

Training is :func:`chainrule.train.gan.fit_gan` (k D steps per G step, non-saturating generator
loss by default), with two optimizers of ``--optimizer`` / ``--lr``. The measures (``test``),
from ``--n-eval`` generated and as many fresh data samples: the Wasserstein-1 distance
W1 = (1/n) sum_i |x_(i) - y_(i)| of the sorted samples, the share of the generated mass within
3 sigma of each mode, and the share outside every mode. ``OUT/density.png`` draws the histogram
of generated samples over the data density.
"""
from __future__ import annotations

import os
import time

import numpy as np

from . import Setup

DESCRIPTION = ("GAN on a 1-D mixture of Gaussians (notes 4.3); W1 distance and mass per mode; "
               "about 30 s on 1 core")
DEFAULTS = {"epochs": 60, "batch_size": 128, "optimizer": "adam", "lr": 1e-3,
            "scheduler": "none", "weight_decay": 0.0}
MONITOR = "value"


def add_arguments(parser):
    g = parser.add_argument_group("gan1d")
    g.add_argument("--modes", default="-2,2",
                   help="comma-separated means of the mixture's components (default -2,2)")
    g.add_argument("--sigma", type=float, default=0.25,
                   help="standard deviation of every component (default 0.25)")
    g.add_argument("--n-train", type=int, default=10000,
                   help="data samples per epoch (drawn once, seeded; default 10000)")
    g.add_argument("--n-eval", type=int, default=10000,
                   help="generated and data samples for the measures (default 10000)")
    g.add_argument("--noise-dim", type=int, default=1, help="size of h (default 1)")
    g.add_argument("--hidden", type=int, default=64, help="hidden width of G and D (default 64)")
    g.add_argument("--k", type=int, default=1,
                   help="discriminator steps per generator step (default 1)")
    g.add_argument("--beta1", type=float, default=0.5,
                   help="Adam's/AdamW's first-moment decay for both networks (default 0.5, as "
                        "Radford et al.; 0.9 is Adam's usual)")
    g.add_argument("--generator-loss", choices=("non_saturating", "minimax"),
                   default="non_saturating", help="the generator's loss (default non_saturating)")


def _modes(args):
    try:
        modes = [float(m) for m in str(args.modes).split(",") if m.strip()]
    except ValueError:
        raise ValueError(f"gan1d: --modes must be comma-separated numbers, got "
                         f"{args.modes!r}") from None
    if not modes or args.sigma <= 0:
        raise ValueError(f"gan1d: expected at least one mode and --sigma > 0, got --modes "
                         f"{args.modes!r} and --sigma {args.sigma}")
    return np.array(modes)


def sample_mixture(n, modes, sigma, seed):
    """n draws (float32, shape (n,)) of the equal-weight mixture of N(mode, sigma^2)."""
    rng = np.random.default_rng(seed)
    which = rng.integers(0, len(modes), size=n)
    return (modes[which] + sigma * rng.standard_normal(n)).astype(np.float32)


def _mlp(nn, n_in, hidden, n_out):
    return nn.Sequential(nn.Linear(n_in, hidden), nn.LeakyReLU(0.2),
                         nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                         nn.Linear(hidden, n_out))


def build(args) -> Setup:
    from .. import nn
    from ..data import DataLoader, TensorDataset
    from ..tensor import Tensor

    modes = _modes(args)
    if args.n_train < 1 or args.n_eval < 1 or args.noise_dim < 1 or args.k < 1:
        raise ValueError(f"gan1d: expected --n-train, --n-eval, --noise-dim and --k >= 1, got "
                         f"{args.n_train}, {args.n_eval}, {args.noise_dim} and {args.k}")
    n = args.n_train if args.limit_train is None else min(args.n_train, args.limit_train)
    x = sample_mixture(n, modes, args.sigma, seed=1000 + args.seed)[:, None]
    model = nn.ModuleDict({"generator": _mlp(nn, args.noise_dim, args.hidden, 1),
                           "discriminator": _mlp(nn, 1, args.hidden, 1)})
    loader = DataLoader(TensorDataset(Tensor(x)), batch_size=args.batch_size, shuffle=True)
    return Setup(model=model, loss_fn=None, train_loader=loader, val_loader=None,
                 test_loader=None)


def _optimizer(args, params):
    """``--optimizer`` over ``params``; Adam and AdamW take betas (--beta1, 0.999)."""
    from .. import optim
    from . import make_optimizer

    if args.optimizer == "adam":
        return optim.Adam(params, lr=args.lr, betas=(args.beta1, 0.999),
                          weight_decay=args.weight_decay)
    if args.optimizer == "adamw":
        return optim.AdamW(params, lr=args.lr, betas=(args.beta1, 0.999),
                           weight_decay=args.weight_decay)
    return make_optimizer(args.optimizer, params, args.lr, args.weight_decay)


def fit(setup, optimizer, scheduler, args, config):
    """fit_gan with one optimizer per network (the CLI's ``optimizer``, over both, is unused;
    ``--scheduler`` other than none is not applied: GAN training here keeps a constant rate)."""
    from ..train.checkpoint import make_checkpoint, save_checkpoint
    from ..train.gan import fit_gan
    from ..train.logging import CSVLog
    from ..train.loop import FitResult

    if args.resume:
        raise ValueError("gan1d: --resume is not supported; train again")
    g, d = setup.model["generator"], setup.model["discriminator"]
    opt_g, opt_d = (_optimizer(args, m.parameters()) for m in (g, d))
    fields = ["epoch", "d_loss", "g_loss", "value", "d_steps", "g_steps", "seconds"]
    log = CSVLog(os.path.join(args.out, "log.csv"), fields=fields)

    def on_epoch(record, samples):
        log.append(record)
        print(f"epoch {record['epoch']:3d}  D loss {record['d_loss']:.4f}  G loss "
              f"{record['g_loss']:.4f}  V {record['value']:.4f}  ({record['seconds']:.1f} s)")

    t0 = time.perf_counter()
    history = fit_gan(g, d, setup.train_loader, opt_g=opt_g, opt_d=opt_d, epochs=args.epochs,
                      noise_dim=args.noise_dim, k=args.k, generator_loss=args.generator_loss,
                      on_epoch=on_epoch)
    print(f"trained in {time.perf_counter() - t0:.1f} s")
    last = history[-1]["epoch"] if history else 0
    save_checkpoint(make_checkpoint(setup.model, epoch=last, history=history, config=config),
                    os.path.join(args.out, "last.ckpt"))
    return FitResult(history=history, best={})


def _generate(setup, args, n):
    from ..autograd import no_grad
    from ..creation import randn

    g = setup.model["generator"]
    g.eval()
    with no_grad():
        return g(randn(n, args.noise_dim)).numpy().reshape(-1).astype(np.float64)


def wasserstein1(a, b):
    """W1 between two equal-size 1-D samples: the mean |a_(i) - b_(i)| of the sorted samples."""
    a, b = np.sort(np.asarray(a, np.float64)), np.sort(np.asarray(b, np.float64))
    if a.shape != b.shape:
        raise ValueError(f"wasserstein1: expected samples of the same size, got {a.shape} and "
                         f"{b.shape}")
    return float(np.mean(np.abs(a - b)))


def test(setup, args, split="test"):
    """W1 to fresh data and the generated mass within 3 sigma of each mode."""
    modes = _modes(args)
    fake = _generate(setup, args, args.n_eval)
    data = sample_mixture(args.n_eval, modes, args.sigma, seed=2000 + args.seed)
    w1 = wasserstein1(fake, data)
    near = np.abs(fake[:, None] - modes[None, :]) <= 3 * args.sigma
    masses = near.mean(axis=0)
    outside = float(1.0 - near.any(axis=1).mean())
    print(f"{split}: W1(generated, data) {w1:.4f} on {args.n_eval} samples; generated mass "
          f"within 3 sigma of " + ", ".join(f"{m:g}: {100 * p:.1f}%" for m, p in
                                            zip(modes, masses)) +
          f"; outside every mode {100 * outside:.1f}%")
    return {f"{split}_w1": w1, f"{split}_mode_mass": [float(p) for p in masses],
            f"{split}_modes": [float(m) for m in modes], f"{split}_outside": outside,
            f"{split}_mean": float(fake.mean()), f"{split}_std": float(fake.std())}


def after_fit(setup, args, result):
    """Draw OUT/density.png: the histogram of generated samples over the data density."""
    if not args.plot:
        return None
    from ..train.visualize import _figure, _save

    modes = _modes(args)
    fake = _generate(setup, args, args.n_eval)
    lo = min(modes.min() - 5 * args.sigma, np.percentile(fake, 0.5))
    hi = max(modes.max() + 5 * args.sigma, np.percentile(fake, 99.5))
    xs = np.linspace(lo, hi, 600)
    dens = np.mean([np.exp(-0.5 * ((xs - m) / args.sigma) ** 2) for m in modes], axis=0)
    dens /= args.sigma * np.sqrt(2 * np.pi)
    fig = _figure((7, 4), "gan1d's density plot", " (or pass --no-plot)")
    ax = fig.subplots()
    ax.hist(fake, bins=120, range=(lo, hi), density=True, alpha=0.6,
            label=f"generated ({args.n_eval} samples)")
    ax.plot(xs, dens, "k-", lw=1.5, label="data density")
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.set_title(f"gan1d after {len(result.history)} epochs")
    ax.legend()
    path = os.path.join(args.out, "density.png")
    _save(fig, path, "gan1d")
    print(f"learned density -> {path}")
    return path
