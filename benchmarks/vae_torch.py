"""The PyTorch peer of ``chainrule train vae``: the same model, data, training and measures.

    encoder: X (784) -> Linear -> ReLU (400) -> Linear -> mu (20), Linear -> logvar (20)
    decoder: h (20) -> Linear -> ReLU (400) -> Linear -> 784 Bernoulli logits

(``--conv``: the layers of ``chainrule.models.ConvVAE``.) PyTorch's default initialization
(kaiming_uniform_(a=sqrt(5)) weights, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) biases: chainrule's
too), Adam (lr 1e-3), batches of 100, the data of ``chainrule.recipes.vae.load_data``: the same
55,000 training images binarized afresh for every batch (``datasets.binarized.binarize``), the
same 5,000 held-out validation images and the same fixed binarized test set
(``datasets.fixed_binarized(test, seed=0)``). The loss is the batch mean of the one-sample -ELBO,

    -ELBO(X) = -log p_theta(X|h) + KL(N(mu, diag exp(logvar)) || N(0, I)),
    h = mu + exp(logvar / 2) eps.

At the end it measures the final model as the recipe's ``test`` does: the test ELBO (one sample
of h per image, all test images) and the K-sample importance-weighted log-likelihood

    log (1/K) sum_k p(h_k) p_theta(X|h_k) / q_phi(h_k|X),   h_k ~ q_phi(h|X),

on the first ``--n-test`` test images. Only the initial weights, the random draws (torch's own
generator) and the floating-point order differ, so the two IW log-likelihoods should agree within
about 1 nat:

    chainrule train vae --out runs/vae --n-test 5000      # "IW log-likelihood (K=5000) X"
    python benchmarks/vae_torch.py --n-test 5000          # "torch test IW log-likelihood Y"

(10 epochs, K = 5000 on the first 5000 test images, one thread each: chainrule -239.06, torch
-239.28 nats; test ELBO -242.38 and -242.84 on all 10,000.)
"""
from __future__ import annotations

import argparse
import json
import math
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", default="data", help="Fashion-MNIST folder, as the recipe's --root")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--latent", type=int, default=20)
    p.add_argument("--hidden", default=None,
                   help="comma-separated MLP widths (default 400); --conv: one int (default 256)")
    p.add_argument("--conv", action="store_true", help="the ConvVAE layers")
    p.add_argument("--channels", type=int, default=32)
    p.add_argument("--val-size", type=int, default=5000)
    p.add_argument("--limit-train", type=int, default=None)
    p.add_argument("--iw-samples", type=int, default=5000)
    p.add_argument("--n-test", type=int, default=None)
    p.add_argument("--iw-chunk", type=int, default=5000,
                   help="codes decoded at once, images x samples (default 5000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the results here")
    p.add_argument("--save", default=None, metavar="PATH",
                   help="save the trained model's state_dict here (torch.save)")
    return p.parse_args(argv)


def build_model(args):
    from torch import nn

    from chainrule.recipes.vae import _hidden

    hidden = _hidden(args)

    class TorchVAE(nn.Module):
        def __init__(self):
            super().__init__()
            d = args.latent
            if args.conv:  # the layers of chainrule.models.ConvVAE on 1x28x28
                c, flat = args.channels, 2 * args.channels * 7 * 7
                self.encoder = nn.Sequential(
                    nn.Conv2d(1, c, 4, 2, 1), nn.ReLU(), nn.Conv2d(c, 2 * c, 4, 2, 1), nn.ReLU(),
                    nn.Flatten(), nn.Linear(flat, hidden), nn.ReLU())
                width = hidden
                self.decoder = nn.Sequential(
                    nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, flat), nn.ReLU(),
                    nn.Unflatten(1, (2 * c, 7, 7)),
                    nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.ReLU(),
                    nn.ConvTranspose2d(c, 1, 4, 2, 1), nn.Flatten())
            else:  # the layers of chainrule.models.VAE(784, latent, hidden)
                enc, width = [], 784
                for w in hidden:
                    enc += [nn.Linear(width, w), nn.ReLU()]
                    width = w
                self.encoder = nn.Sequential(*enc)
                dec, w_in = [], d
                for w in reversed(hidden):
                    dec += [nn.Linear(w_in, w), nn.ReLU()]
                    w_in = w
                dec.append(nn.Linear(w_in, 784))
                self.decoder = nn.Sequential(*dec)
            self.fc_mu = nn.Linear(width, d)
            self.fc_logvar = nn.Linear(width, d)

        def encode(self, x):  # x (B, 784)
            a = self.encoder(x.reshape(-1, 1, 28, 28) if args.conv else x)
            return self.fc_mu(a), self.fc_logvar(a)

        def decode(self, h):  # h (M, d) -> logits (M, 784)
            return self.decoder(h)

    return TorchVAE()


def log_bernoulli(logits, x):
    """sum_i x_i log sigmoid(a_i) + (1 - x_i) log sigmoid(-a_i) over the last dim."""
    import torch.nn.functional as F

    return -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits),
                                               reduction="none").sum(-1)


def elbo_terms(model, x):
    """(log p(X|h) at one reparameterized h, KL(q(h|X) || N(0, I))), each (B,)."""
    import torch

    mu, logvar = model.encode(x)
    h = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    rec = log_bernoulli(model.decode(h), x)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)
    return rec, kl


def mean_elbo(model, X, batch=1000):
    """The one-sample ELBO of each row of X (N, 784) float tensor -> float64 numpy (N,)."""
    import numpy as np
    import torch

    out = []
    with torch.no_grad():
        for s in range(0, len(X), batch):
            rec, kl = elbo_terms(model, X[s:s + batch])
            out.append((rec - kl).double().numpy())
    return np.concatenate(out)


def iw_log_likelihood(model, X, K, chunk_rows=5000):
    """log (1/K) sum_k p(h_k) p(X|h_k) / q(h_k|X), h_k ~ q(h|X), for each row of X -> (N,)."""
    import numpy as np
    import torch

    per_chunk = min(K, chunk_rows)
    images = max(1, chunk_rows // per_chunk)
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    out = []
    with torch.no_grad():
        for s in range(0, len(X), images):
            x = X[s:s + images]  # (b, 784)
            mu, logvar = model.encode(x)
            std = torch.exp(0.5 * logvar)
            parts, done = [], 0
            while done < K:
                k = min(per_chunk, K - done)
                eps = torch.randn(k, *mu.shape)
                h = mu + std * eps  # (k, b, d)
                log_q = (-0.5 * eps.pow(2) - 0.5 * logvar - half_log_2pi).sum(-1)
                log_ph = (-0.5 * h.pow(2) - half_log_2pi).sum(-1)
                logits = model.decode(h.reshape(-1, h.shape[-1])).reshape(k, len(x), 784)
                log_px = log_bernoulli(logits, x.unsqueeze(0))
                parts.append(torch.logsumexp(log_px + log_ph - log_q, 0))
                done += k
            total = torch.logsumexp(torch.stack(parts), 0) - math.log(K)
            out.append(total.double().numpy())
    return np.concatenate(out)


def main(argv=None):
    import numpy as np
    import torch

    from chainrule.datasets.binarized import binarize, grey_levels
    from chainrule.recipes.vae import load_data

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train, val, test = load_data(args.root, args.val_size, args.limit_train)
    probs = grey_levels(train)
    rng = np.random.default_rng(args.seed)  # shuffling and the dynamic binarization
    val_t = None if val is None else torch.from_numpy(val)
    test_t = torch.from_numpy(test)
    model = build_model(args)
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads); "
          f"{sum(p.numel() for p in model.parameters()):,} parameters; {len(probs):,} training, "
          f"{0 if val is None else len(val):,} validation and {len(test):,} test images",
          flush=True)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    B, t_start = args.batch_size, time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        t0, total, kl_total = time.perf_counter(), 0.0, 0.0
        model.train()
        order = rng.permutation(len(probs))
        for s in range(0, len(order), B):
            x = torch.from_numpy(binarize(probs[order[s:s + B]], rng))
            opt.zero_grad()
            rec, kl = elbo_terms(model, x)
            loss = (kl - rec).mean()
            loss.backward()
            opt.step()
            total += loss.item() * len(x)
            kl_total += kl.sum().item()
        line = (f"epoch {epoch:2d}/{args.epochs}  train -ELBO {total / len(order):.4f}  "
                f"KL {kl_total / len(order):.2f}")
        if val_t is not None:
            model.eval()
            line += f"  val -ELBO {-mean_elbo(model, val_t).mean():.4f}"
        print(line + f"  {time.perf_counter() - t0:.1f}s", flush=True)
    train_s = time.perf_counter() - t_start
    if args.save:
        torch.save(model.state_dict(), args.save)
    model.eval()
    torch.manual_seed(args.seed + 1234)
    n = len(test) if args.n_test is None else min(args.n_test, len(test))
    elbo = mean_elbo(model, test_t)
    t0 = time.perf_counter()
    ll = iw_log_likelihood(model, test_t[:n], args.iw_samples, args.iw_chunk)
    eval_s = time.perf_counter() - t0
    res = {"test_elbo": float(elbo.mean()), "test_elbo_n": float(elbo[:n].mean()),
           "test_iw_ll": float(ll.mean()),
           "test_iw_ll_sem": float(ll.std(ddof=1) / math.sqrt(n)) if n > 1 else None,
           "test_n": n, "test_iw_samples": args.iw_samples, "train_seconds": train_s,
           "iw_seconds": eval_s}
    print(f"torch test ELBO {res['test_elbo']:.2f} nats per image ({len(test)} images); "
          f"torch test IW log-likelihood (K={args.iw_samples}) {res['test_iw_ll']:.2f} on the "
          f"first {n} (their ELBO {res['test_elbo_n']:.2f}); trained in {train_s:.0f} s, "
          f"IW in {eval_s:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    return res


if __name__ == "__main__":
    main()
