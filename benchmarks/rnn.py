"""One training step of a character-level LSTM (and GRU) language model: chainrule against PyTorch.

The model is Embedding(65, 64) -> LSTM(64, 256), one layer -> Linear(256, 65), over T = 64 steps
at batch 32, with full back-propagation through time; a step is forward, cross-entropy over all
T * B predictions, backward and an Adam update, all through the public API, float32, the same
initial weights in both libraries. Timing follows shared/PERF_NOTES.md "Measuring honestly"
(alternating blocks with a pause, warm-up, medians; see _timing.py).

    python benchmarks/rnn.py                 # LSTM and GRU, prints medians and ratios
    python benchmarks/rnn.py --cell gru --steps 10 --rounds 3
    python benchmarks/rnn.py --cell lstm --torch-per-step   # and torch with oneDNN off

PyTorch's CPU LSTM (float32) is oneDNN's fused RNN primitive (the whole layer, GEMMs and gate
arithmetic fused in compiled code; MkldnnRnnLayerBackward0 in its graph), the peer of the issue's
target; its GRU is ATen's loop of per-step ops. With ``--torch-per-step`` the script also times
torch with oneDNN switched off, where nn.LSTM runs that loop too, the same kind of computation as
chainrule's.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import machine_info, side_by_side  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule import nn, optim  # noqa: E402

VOCAB, EMBED, HIDDEN, T, BATCH = 65, 64, 256, 64, 32


class CharLM(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.rnn = getattr(nn, cell)(EMBED, HIDDEN)
        self.head = nn.Linear(HIDDEN, VOCAB)

    def forward(self, tokens):  # (T, B) -> (T * B, VOCAB)
        out, _ = self.rnn(self.embed(tokens))  # (T, B, H)
        return self.head(out.reshape(-1, HIDDEN))


def torch_model(torch, cell, ours):
    class TorchCharLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(VOCAB, EMBED)
            self.rnn = getattr(torch.nn, cell)(EMBED, HIDDEN)
            self.head = torch.nn.Linear(HIDDEN, VOCAB)

        def forward(self, tokens):
            out, _ = self.rnn(self.embed(tokens))
            return self.head(out.reshape(-1, HIDDEN))

    m = TorchCharLM()
    params = dict(m.named_parameters())
    with torch.no_grad():
        for name, p in ours.named_parameters():
            params[name].copy_(torch.from_numpy(p.data))
    return m


def bench(cell, steps, rounds, torch, with_per_step=False):
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, VOCAB, (T, BATCH))
    targets = rng.integers(0, VOCAB, T * BATCH)
    cr.manual_seed(0)
    model = CharLM(cell)
    opt = optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    x, y = cr.from_numpy(tokens), cr.from_numpy(targets)

    tmodel = torch_model(torch, cell, model)
    topt = torch.optim.Adam(tmodel.parameters(), lr=2e-3)
    tloss_fn = torch.nn.CrossEntropyLoss()
    tx, ty = torch.from_numpy(tokens), torch.from_numpy(targets)

    # the same first loss: the two models really are the same
    l0 = loss_fn(model(x), y).item()
    tl0 = tloss_fn(tmodel(tx), ty).item()
    assert abs(l0 - tl0) < 1e-4 * abs(tl0), (l0, tl0)

    def ours():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    def theirs():
        topt.zero_grad()
        tloss_fn(tmodel(tx), ty).backward()
        topt.step()

    def theirs_per_step():  # torch's own time loop of cell ops instead of oneDNN's fused layer
        with warnings.catch_warnings():  # flags() warns about TF32 on Intel GPUs
            warnings.simplefilter("ignore", UserWarning)
            with torch.backends.mkldnn.flags(enabled=False):
                theirs()

    times = side_by_side(ours, theirs, n=steps, rounds=rounds)
    if not with_per_step:
        return times
    return times + side_by_side(ours, theirs_per_step, n=steps, rounds=rounds)[1:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cell", choices=["lstm", "gru", "both"], default="both")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per block")
    ap.add_argument("--rounds", type=int, default=3, help="alternating blocks per library")
    ap.add_argument("--torch-per-step", action="store_true",
                    help="also time torch with oneDNN off: on the CPU, torch's nn.LSTM runs "
                         "oneDNN's fused RNN layer (MkldnnRnnLayerBackward0 in the graph); with "
                         "it off, torch's own time loop of per-step ops, as chainrule's")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    print(machine_info())
    print(f"char LM: Embedding({VOCAB}, {EMBED}) -> RNN({EMBED}, {HIDDEN}) -> "
          f"Linear({HIDDEN}, {VOCAB}), T={T}, batch {BATCH}, float32, full BPTT, Adam")
    cells = ["LSTM", "GRU"] if args.cell == "both" else [args.cell.upper()]
    for cell in cells:
        times = bench(cell, args.steps, args.rounds, torch, args.torch_per_step)
        a, b = times[:2]
        print(f"{cell} step: chainrule {a * 1e3:7.2f} ms, torch {b * 1e3:7.2f} ms (medians), "
              f"ratio chainrule/torch {a / b:.2f}")
        if args.torch_per_step:
            c = times[2]
            print(f"{cell} step, torch with oneDNN off: {c * 1e3:7.2f} ms, ratio chainrule/that "
                  f"{a / c:.2f}")


if __name__ == "__main__":
    main()
