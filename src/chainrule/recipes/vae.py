"""A variational auto-encoder on dynamically binarized Fashion-MNIST (notes 4.4-4.5).

    encoder q_phi(h|X):   X (784) -> Linear -> ReLU (400) -> Linear -> mu (20), and -> logvar (20)
    decoder p_theta(X|h): h (20) -> Linear -> ReLU (400) -> Linear -> 784 Bernoulli logits

(``chainrule.models.VAE``; ``--conv`` trains ``models.ConvVAE`` instead.) Each epoch the training
images are binarized afresh, X_i ~ Bernoulli(grey level_i) (``datasets.DynamicBinarized``); the
model maximizes the one-sample ELBO

    ELBO(X) = E_{q_phi(h|X)}[log p_theta(X|h)] - KL(q_phi(h|X) || N(0, I))  <=  log p_theta(X)

with Adam; the loss is -ELBO in nats per image. ``--val-size`` training images (default 5000) are
held out, binarized once, and their -ELBO (``val_loss``) picks best.ckpt.

The test measures are taken on the fixed binarized test set (``datasets.fixed_binarized(test,
seed=0)``, the same binary images for every model): the test ELBO (mean per image, nats, one
sample of h per image, all 10,000 images) and the K-sample importance-weighted estimate of
log p_theta(X),

    log p_theta(X) ~ log (1/K) sum_k p(h_k) p_theta(X|h_k) / q_phi(h_k|X),  h_k ~ q_phi(h|X),

with K = ``--iw-samples`` (default 5000), on the first ``--n-test`` test images (default all;
K = 5000 over 10,000 images is 5e7 decoder passes, about 0.05 s of one core an image, so about
8 minutes; quick runs take a few hundred images). It is >= the ELBO on average and tends to
log p_theta(X) as K grows.

After training the run directory also holds ``samples.png`` (64 draws h ~ N(0, I) decoded to the
Bernoulli means), ``reconstructions.png`` (rows of test images, each followed by a row of their
reconstructions sigmoid(g(mu(X)))) and ``interpolation.png`` (rows going from one test image to
another: the decoded codes (1 - a) mu(X_a) + a mu(X_b), ``train.images.interpolate``). ``chainrule
sample OUT/best.ckpt --num N --out PNG`` draws a new grid of prior samples.

benchmarks/vae_torch.py is the PyTorch peer: the same model, initialization, data and measures.
"""
from __future__ import annotations

import math
import os
import types

import numpy as np

from . import Setup, add_fashion_mnist_source

DESCRIPTION = ("VAE on dynamically binarized Fashion-MNIST (notes 4.4-4.5): test ELBO and "
               "importance-weighted log-likelihood, sample grids; about 10 s an epoch on 1 core")
DEFAULTS = {"epochs": 10, "batch_size": 100, "optimizer": "adam", "lr": 1e-3,
            "scheduler": "none", "weight_decay": 0.0}
MONITOR = "val_loss"

SPLIT_SEED = 0    # which training images are held out for validation
VAL_SEED = 1      # the one binarization of the validation images
TEST_SEED = 0     # datasets.fixed_binarized(test, seed=0): the test images every model is scored on
EVAL_SEED = 1234  # the noise of the test measures (added to --seed)
EVAL_BATCH = 1000
IMAGE = (1, 28, 28)


def add_arguments(parser):
    g = parser.add_argument_group("vae")
    g.add_argument("--conv", action="store_true",
                   help="a convolutional VAE (models.ConvVAE) instead of the MLP")
    g.add_argument("--latent", type=int, default=20, help="size of the code h (default 20)")
    g.add_argument("--hidden", default=None,
                   help="MLP: comma-separated hidden widths of the encoder, mirrored by the "
                        "decoder (default 400); --conv: the one fully connected width "
                        "(default 256)")
    g.add_argument("--channels", type=int, default=32,
                   help="--conv: channels of the first convolution (default 32)")
    g.add_argument("--val-size", type=int, default=5000,
                   help="training images held out for validation (default 5000; 0 for none)")
    g.add_argument("--iw-samples", type=int, default=5000, metavar="K",
                   help="samples K of the importance-weighted log-likelihood (default 5000)")
    g.add_argument("--n-test", type=int, default=None, metavar="N",
                   help="estimate the importance-weighted log-likelihood on the first N test "
                        "images only (default all 10,000; slow for K = 5000)")
    g.add_argument("--iw-chunk", type=int, default=None, metavar="ROWS",
                   help="codes decoded at once in that estimate, images x samples (bounds the "
                        "memory; default 5000, 256 with --conv)")
    g.add_argument("--interp-steps", type=int, default=10,
                   help="decoded codes per row of interpolation.png (default 10)")
    g.add_argument("--interp", choices=("linear", "slerp"), default="linear",
                   help="path between two codes in interpolation.png (default linear)")
    add_fashion_mnist_source(g)


# ---- the data ----------------------------------------------------------------------------------

def _fashion(root, train, download):
    from ..datasets import FashionMNIST

    try:
        return FashionMNIST(root, train=train, download=download)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{e} From the command line: --download, or --root DIR.") \
            from None


def load_data(root="data", val_size=5000, limit_train=None, download=False):
    """The VAE's data, as NumPy arrays (benchmarks/vae_torch.py reads the same):

    ``(train, val, test)``: ``train`` a namespace with ``data`` uint8 (N, 28, 28) and ``targets``
    of the training images not held out (for ``datasets.DynamicBinarized``; the first
    ``limit_train`` of them when given); ``val`` float32 (val_size, 784) binarized once (seed
    VAL_SEED), None when val_size is 0; ``test`` the fixed binarized test set float32
    (10000, 784) (``datasets.fixed_binarized(test, seed=TEST_SEED)``).
    """
    from ..datasets.binarized import binarize, fixed_binarized, grey_levels

    train_ds, test_ds = _fashion(root, True, download), _fashion(root, False, download)
    data, targets = np.asarray(train_ds.data), np.asarray(train_ds.targets)
    n = len(data)
    if not 0 <= val_size < n:
        raise ValueError(f"vae: --val-size must be in [0, {n}), got {val_size}")
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    train_idx, val_idx = order[:n - val_size], order[n - val_size:]
    if limit_train is not None:
        if limit_train < 1:
            raise ValueError(f"vae: --limit-train must be at least 1, got {limit_train}")
        train_idx = train_idx[:limit_train]
    train = types.SimpleNamespace(data=data[train_idx], targets=targets[train_idx])
    val = None
    if val_size:
        val_probs = grey_levels(types.SimpleNamespace(data=data[val_idx]))
        val = binarize(val_probs, np.random.default_rng(VAL_SEED))
    return train, val, fixed_binarized(test_ds, seed=TEST_SEED)


# ---- the model ---------------------------------------------------------------------------------

def _hidden(config):
    """The hidden widths of ``config`` (args or a checkpoint's config dict): a tuple for the MLP,
    an int for --conv."""
    get = config.get if isinstance(config, dict) else lambda k: getattr(config, k)
    conv, text = get("conv"), get("hidden")
    if text is None:
        return 256 if conv else (400,)
    try:
        widths = tuple(int(w) for w in str(text).split(",") if w.strip())
    except ValueError:
        widths = ()
    if not widths or min(widths) < 1 or (conv and len(widths) != 1):
        want = "one positive int" if conv else "comma-separated positive ints, e.g. 400 or 512,256"
        raise ValueError(f"vae: --hidden must be {want}, got {text!r}")
    return widths[0] if conv else widths


def make_model(config):
    """The VAE of a run's settings (``args`` or a checkpoint's config dict)."""
    from ..models.vae import VAE, ConvVAE

    get = config.get if isinstance(config, dict) else lambda k: getattr(config, k)
    hidden, latent = _hidden(config), get("latent")
    if not isinstance(latent, int) or latent < 1:
        raise ValueError(f"vae: --latent must be a positive int, got {latent!r}")
    if get("conv"):
        if get("channels") < 1:
            raise ValueError(f"vae: --channels must be >= 1, got {get('channels')}")
        return ConvVAE(latent_dim=latent, in_channels=1, image_size=28,
                       channels=get("channels"), hidden=hidden)
    return VAE(784, latent_dim=latent, hidden=hidden)


def _check_options(args):
    bad = [f"--{name.replace('_', '-')} {getattr(args, name)}"
           for name in ("iw_samples",) if getattr(args, name) < 1]
    bad += [f"--{name.replace('_', '-')} {getattr(args, name)}"
            for name in ("n_test", "iw_chunk") if getattr(args, name) is not None
            and getattr(args, name) < 1]
    if bad:
        raise ValueError(f"vae: expected --iw-samples, --n-test and --iw-chunk >= 1, got "
                         f"{', '.join(bad)}")
    if args.interp_steps < 2:
        raise ValueError(f"vae: --interp-steps must be at least 2 (the two ends), got "
                         f"{args.interp_steps}")


def build(args) -> Setup:
    from ..data import DataLoader, TensorDataset
    from ..datasets.binarized import DynamicBinarized
    from ..tensor import Tensor

    _check_options(args)
    model = make_model(args)
    train, val, test = load_data(args.root, args.val_size, args.limit_train, args.download)
    train_set = DynamicBinarized(train, seed=args.seed)
    print(f"vae: {'ConvVAE' if args.conv else 'VAE'} with a {args.latent}-number code; "
          f"{len(train_set):,} training images (binarized afresh each epoch), "
          f"{0 if val is None else len(val):,} validation and {len(test):,} test images")
    val_loader = (DataLoader(TensorDataset(Tensor(val)), batch_size=EVAL_BATCH)
                  if val is not None else None)
    return Setup(model=model, loss_fn=None,
                 train_loader=DataLoader(train_set, batch_size=args.batch_size, shuffle=True),
                 val_loader=val_loader,
                 test_loader=DataLoader(TensorDataset(Tensor(test)), batch_size=EVAL_BATCH))


# ---- training ----------------------------------------------------------------------------------

def _shaped(model, x):
    """Flat images (B, 784) in the model's input shape: (B, 784) or (B, 1, 28, 28)."""
    return x.reshape(x.shape[0], *model.event_shape) if len(model.event_shape) > 1 else x


def elbo_terms(model, x):
    """(log p_theta(X|h) at one h ~ q_phi(h|X), KL(q_phi(h|X) || N(0, I))), each (B,) nats, for
    flat binary images x (B, 784); their difference is ``model.elbo``."""
    from ..nn import functional as F

    x = _shaped(model, x)
    recon, mu, logvar = model(x)
    rec = F.bernoulli_log_likelihood(recon, x, reduction="none",
                                     event_dims=len(model.event_shape))
    return rec, F.gaussian_kl(mu, logvar, reduction="none")


def _mean_elbo(model, loader):
    """(mean -ELBO, mean KL) over a loader of fixed binary images, one sample of h each."""
    from ..autograd import no_grad

    model.eval()
    total = kl_total = 0.0
    count = 0
    with no_grad():
        for (x,) in loader:
            rec, kl = elbo_terms(model, x)
            total += float((kl - rec).numpy().astype(np.float64).sum())
            kl_total += float(kl.numpy().astype(np.float64).sum())
            count += x.shape[0]
    return total / count, kl_total / count


class VAETrainer:
    """One epoch of the VAE for :func:`chainrule.train.seq.fit_epochs` (its trainer protocol):
    Adam steps on the batch mean of -ELBO; validation -ELBO on the fixed validation images.

    Record fields: train_loss, val_loss (-ELBO, nats per image) and train_kl, val_kl
    (KL(q_phi(h|X) || p(h)), the nats the code carries). The state (the binarizer's generator)
    goes into the checkpoints, so a resumed run draws the same binary images.
    """

    fields = ("train_kl", "val_kl")

    def __init__(self, model, optimizer, train_loader, val_loader=None, clip_grad_norm=None):
        self.model, self.optimizer = model, optimizer
        self.train_loader, self.val_loader = train_loader, val_loader
        self.clip = clip_grad_norm

    def train_epoch(self, desc="", progress=False) -> dict:
        from ..train.logging import progress_bar
        from ..train.seq import _check_finite, _clip_and_step

        model, opt = self.model, self.optimizer
        model.train()
        total = kl_total = 0.0
        count = 0
        loader = self.train_loader
        bar = progress_bar(loader, total=len(loader), desc=desc, enabled=progress)
        try:
            for step, (x, _) in enumerate(bar):
                opt.zero_grad()
                rec, kl = elbo_terms(model, x)
                loss = (kl - rec).mean()
                loss.backward()
                _clip_and_step(model, opt, self.clip)
                value = loss.item()
                _check_finite(value, "vae (-ELBO)", step)
                n = x.shape[0]
                total += value * n
                kl_total += float(kl.numpy().astype(np.float64).sum())
                count += n
                bar.set_postfix_str(f"-ELBO {total / count:.2f}", refresh=False)
        finally:
            bar.close()
        return {"train_loss": total / count, "train_acc": None, "train_kl": kl_total / count}

    def validate(self) -> dict:
        if self.val_loader is None:
            return {"val_loss": None, "val_acc": None, "val_kl": None}
        loss, kl = _mean_elbo(self.model, self.val_loader)
        return {"val_loss": loss, "val_acc": None, "val_kl": kl}

    def state_dict(self) -> dict:
        rng = getattr(self.train_loader.dataset, "rng", None)
        return {"binarizer": None if rng is None else rng.bit_generator.state}

    def load_state_dict(self, d) -> None:
        rng = getattr(self.train_loader.dataset, "rng", None)
        if rng is not None and d.get("binarizer") is not None:
            rng.bit_generator.state = d["binarizer"]

    def plot(self, history, path, title=None):
        """curves.png: train and validation -ELBO in nats per image."""
        from ..train.plots import plot_history

        plot_history(history, path, title=(title or "") + " -ELBO (nats per image)")


def fit(setup, optimizer, scheduler, args, config):
    """``args.epochs`` epochs of :class:`VAETrainer` (``train.seq.fit_epochs``: log.csv,
    curves.png, last.ckpt every epoch, best.ckpt by the validation -ELBO, --resume)."""
    from ..train.seq import fit_epochs

    trainer = VAETrainer(setup.model, optimizer, setup.train_loader, setup.val_loader,
                         args.clip_grad_norm)
    monitor = MONITOR if setup.val_loader is not None else "train_loss"
    return fit_epochs(trainer, args.epochs, scheduler=scheduler, monitor=monitor,
                      out_dir=args.out, resume=args.resume, config=config,
                      progress=args.progress, plot=args.plot, title="vae:")


# ---- the measures ------------------------------------------------------------------------------

def iw_log_likelihood(model, X, K, chunk_rows=5000, progress=False, desc="IW"):
    """The K-sample importance-weighted log p_theta(X) (nats) of each flat binary image in X
    (float32 (N, 784)), float64 (N,): ``model.log_likelihood`` on a few images at a time, at most
    ``chunk_rows`` = images x samples codes decoded at once."""
    from ..autograd import no_grad
    from ..tensor import Tensor
    from ..train.logging import progress_bar

    K, chunk_rows = int(K), int(chunk_rows)
    per_chunk = min(K, chunk_rows)               # samples drawn at a time
    images = max(1, chunk_rows // per_chunk)     # images at a time
    starts = range(0, len(X), images)
    out = np.empty(len(X), dtype=np.float64)
    model.eval()
    bar = progress_bar(starts, total=len(starts), desc=desc, enabled=progress)
    try:
        with no_grad():
            for s in bar:
                x = Tensor(np.ascontiguousarray(X[s:s + images]))
                ll = model.log_likelihood(_shaped(model, x), K=K, chunk_size=per_chunk)
                out[s:s + images] = ll.numpy()
    finally:
        bar.close()
    return out


def elbo_per_image(model, X, batch=EVAL_BATCH):
    """The one-sample ELBO (nats) of each flat binary image in X (N, 784), float64 (N,)."""
    from ..autograd import no_grad
    from ..tensor import Tensor

    model.eval()
    out = np.empty(len(X), dtype=np.float64)
    with no_grad():
        for s in range(0, len(X), batch):
            rec, kl = elbo_terms(model, Tensor(np.ascontiguousarray(X[s:s + batch])))
            out[s:s + batch] = (rec - kl).numpy()
    return out


def _split_images(setup, split):
    loader = {"test": setup.test_loader, "val": setup.val_loader}.get(split)
    if split == "train":  # the training images binarized once, for a fixed measure
        from ..datasets.binarized import binarize

        probs = setup.train_loader.dataset.probs
        return binarize(probs, np.random.default_rng(VAL_SEED + 1))
    if loader is None:
        raise ValueError("vae: there is no val set (the run has --val-size 0)" if split == "val"
                         else f"vae: split must be test, val or train, got {split!r}")
    return loader.dataset.tensors[0].numpy()


def test(setup, args, split="test"):
    """The ELBO (mean per image over the split) and the K-sample importance-weighted
    log-likelihood (mean over its first --n-test images), with the ELBO of those same images."""
    import chainrule as cr

    _check_options(args)
    X = _split_images(setup, split)
    n = len(X) if args.n_test is None else min(args.n_test, len(X))
    chunk = args.iw_chunk or (256 if args.conv else 5000)
    cr.manual_seed(EVAL_SEED + args.seed)
    elbo = elbo_per_image(setup.model, X)
    ll = iw_log_likelihood(setup.model, X[:n], args.iw_samples, chunk,
                           progress=getattr(args, "progress", False),
                           desc=f"IW log-likelihood, K={args.iw_samples}")
    res = {f"{split}_elbo": float(elbo.mean()), f"{split}_elbo_n": float(elbo[:n].mean()),
           f"{split}_iw_ll": float(ll.mean()),
           f"{split}_iw_ll_sem": float(ll.std(ddof=1) / math.sqrt(n)) if n > 1 else None,
           f"{split}_n": int(n), f"{split}_iw_samples": int(args.iw_samples)}
    print(f"{split} ELBO {res[f'{split}_elbo']:.2f} nats per image ({len(X)} images); "
          f"IW log-likelihood (K={args.iw_samples}) {res[f'{split}_iw_ll']:.2f} on the first "
          f"{n} (their ELBO {res[f'{split}_elbo_n']:.2f})")
    return res


# ---- the pictures ------------------------------------------------------------------------------

def _images(t):
    a = t.numpy() if hasattr(t, "numpy") else np.asarray(t)
    return a.reshape(a.shape[0], *IMAGE)


def prior_samples(model, n, seed):
    """n Bernoulli means sigmoid(g(h)), h ~ N(0, I) drawn with ``seed``: (n, 1, 28, 28)."""
    import chainrule as cr

    cr.manual_seed(seed)
    model.eval()
    return _images(model.sample(n))


def _decode_means(model, h):
    from ..autograd import no_grad
    from ..tensor import Tensor

    with no_grad():
        return _images(model.decode(Tensor(np.asarray(h, dtype=np.float32))).sigmoid())


def _codes(model, X):
    from ..autograd import no_grad
    from ..tensor import Tensor

    with no_grad():
        mu, _ = model.encode(_shaped(model, Tensor(np.ascontiguousarray(X))))
    return mu.numpy()


def write_pictures(model, X_test, out, seed=0, steps=10, kind="linear"):
    """samples.png, reconstructions.png and interpolation.png in ``out``; returns their paths."""
    from ..train.images import interpolate, save_image_grid

    model.eval()
    paths = [save_image_grid(prior_samples(model, 64, seed), os.path.join(out, "samples.png"),
                             nrow=8, scale=2)]
    # rows of 8 test images, each followed by the row of their reconstructions from h = mu(X)
    x = X_test[:32]
    recon = _decode_means(model, _codes(model, x))
    rows = []
    for r in range(0, len(x), 8):
        rows += [_images(x[r:r + 8]), recon[r:r + 8]]
    paths.append(save_image_grid(np.concatenate(rows), os.path.join(out, "reconstructions.png"),
                                 nrow=8, scale=2))
    # rows X_a, decoded codes from mu(X_a) to mu(X_b), X_b for 8 pairs of test images
    pairs = min(8, len(X_test) // 2)
    mu = _codes(model, X_test[:2 * pairs])
    rows = []
    for p in range(pairs):
        a, b = 2 * p, 2 * p + 1
        path = interpolate(mu[a], mu[b], steps, kind=kind)
        rows += [_images(X_test[a:a + 1]), _decode_means(model, path), _images(X_test[b:b + 1])]
    paths.append(save_image_grid(np.concatenate(rows), os.path.join(out, "interpolation.png"),
                                 nrow=steps + 2, scale=2))
    return paths


def after_fit(setup, args, result):
    """Write OUT/samples.png, reconstructions.png and interpolation.png."""
    X_test = setup.test_loader.dataset.tensors[0].numpy()
    paths = write_pictures(setup.model, X_test, args.out, args.seed, args.interp_steps,
                           args.interp)
    print("pictures -> " + ", ".join(paths))
    return paths


def model_from_checkpoint(ckpt):
    """The trained VAE (eval mode) of a vae checkpoint."""
    config = ckpt.get("config") or {}
    try:
        model = make_model(config)
    except (KeyError, TypeError) as e:
        raise ValueError(f"vae: the checkpoint's config lacks the model's settings "
                         f"(conv, latent, hidden, channels): {e}") from None
    model.load_state_dict(ckpt["model"])
    return model.eval()


def sample(ckpt, args):
    """``chainrule sample``: a grid of ``--num`` prior samples (Bernoulli means) at ``--out``
    (default samples.png beside the checkpoint), drawn with ``--seed``."""
    model = model_from_checkpoint(ckpt)
    num = int(getattr(args, "num", 64))
    if num < 1:
        raise ValueError(f"vae: --num must be >= 1, got {num}")
    out = getattr(args, "out", None) or os.path.join(
        os.path.dirname(os.path.abspath(args.checkpoint)), "samples.png")
    if os.path.isdir(out):
        raise ValueError(f"vae: --out must be a PNG file name, got the folder {out!r}")
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    path = save_grid(prior_samples(model, num, getattr(args, "seed", 0)), out)
    return f"{num} samples of the vae after epoch {ckpt.get('epoch')} -> {path}"


def save_grid(images, path):
    """``images`` (n, 1, 28, 28) as a near-square grid PNG at ``path``."""
    from ..train.images import save_image_grid

    return save_image_grid(images, path, nrow=int(math.ceil(math.sqrt(len(images)))), scale=2)
