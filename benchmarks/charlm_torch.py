"""The PyTorch reference of ``chainrule train charlm``: the same model, data and training budget.

    nn.Embedding(V, 64) -> nn.LSTM(64, 256, batch_first=True) -> nn.Linear(256, V)

trained by truncated BPTT exactly as chainrule's recipe (``chainrule.train.seq``): the training
text of ``chainrule.recipes.charlm.load_splits`` (so the same corpus, split and character ids) as
``--batch-size`` streams, ``--seq-len`` characters a step, the state carried and detached between
steps and reset when the text starts over, gradients clipped to norm 5, Adam, the learning rate
per epoch from the same cosine schedule, ``--steps-per-epoch`` steps an epoch. After each epoch it
prints the validation cross-entropy in bits per character, measured as chainrule's
``evaluate_lm`` (all of the validation text as ``--batch-size`` streams, state carried).

Only the initial weights (torch's own generator) and the floating-point order differ, so the
final bits per character of the two should agree to about 1%:

    chainrule train charlm --out runs/charlm           # prints "val bits per character X"
    python benchmarks/charlm_torch.py                  # prints "torch val bits per character Y"
"""
from __future__ import annotations

import argparse
import math
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--text", default=None, help="as charlm's --text (default: the fortunes)")
    p.add_argument("--root", default="data")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--steps-per-epoch", type=int, default=400)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--embed", type=int, default=64)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--clip-grad-norm", type=float, default=5.0)
    p.add_argument("--scheduler", choices=("cosine", "none"), default="cosine")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default torch's)")
    return p.parse_args(argv)


def main(argv=None):
    import torch
    from torch import nn

    from chainrule.recipes.charlm import load_splits

    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train, val, source = load_splits(args.text, args.root, args.seq_len, args.val_fraction)
    V, B, T = len(train.vocab), args.batch_size, args.seq_len
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads); {source}: "
          f"{len(train.text):,} training and {len(val.text):,} validation characters, {V} "
          f"distinct")

    class CharLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(V, args.embed)
            self.rnn = nn.LSTM(args.embed, args.hidden, batch_first=True)
            self.decoder = nn.Linear(args.hidden, V)

        def forward(self, x, state=None):
            out, state = self.rnn(self.embedding(x), state)
            return self.decoder(out), state

    model = CharLSTM()
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters")
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()

    # the streams, as chainrule.train.seq.LanguageModelTrainer lays them out
    n = train.num_bptt_batches(B, T, drop_last=True)
    xs = torch.from_numpy(train.data[:B * n * T].reshape(B, n * T).copy())
    ys = torch.from_numpy(train.data[1:B * n * T + 1].reshape(B, n * T).copy())
    steps = args.steps_per_epoch or n
    val_batches = [(torch.from_numpy(x.numpy()), torch.from_numpy(y.numpy()))
                   for x, y in val.bptt_batches(B, T)]

    def validate():
        model.eval()
        total, count, state = 0.0, 0, None
        with torch.no_grad():
            for x, y in val_batches:
                logits, state = model(x, state)
                total += loss_fn(logits.reshape(-1, V), y.reshape(-1)).item() * y.numel()
                count += y.numel()
        model.train()
        return total / count / math.log(2)

    position, state, t_start = 0, None, time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        lr = args.lr if args.scheduler == "none" else \
            args.lr * (1 + math.cos(math.pi * (epoch - 1) / args.epochs)) / 2
        for g in opt.param_groups:
            g["lr"] = lr
        t0, total = time.perf_counter(), 0.0
        for _ in range(steps):
            if position == n:  # the text is read: start over with a fresh state
                position, state = 0, None
            x, y = (a[:, position * T:(position + 1) * T] for a in (xs, ys))
            opt.zero_grad()
            logits, state = model(x, state)
            loss = loss_fn(logits.reshape(-1, V), y.reshape(-1))
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad_norm)
            opt.step()
            state = tuple(s.detach() for s in state)
            position += 1
            total += loss.item()
        bpc = validate()
        print(f"epoch {epoch:2d}/{args.epochs}  train bpc {total / steps / math.log(2):.4f}  "
              f"val bpc {bpc:.4f}  lr {lr:.2e}  {time.perf_counter() - t0:.1f}s", flush=True)
    print(f"torch val bits per character {bpc:.4f}  ({args.epochs} epochs x {steps} steps, "
          f"{time.perf_counter() - t_start:.0f} s)")
    return bpc


if __name__ == "__main__":
    main()
