"""Attention heat-maps: where an encoder-decoder looked while it wrote each output token.

notes 3.4 (memory and attention): at output step t the decoder's state s_t gives a distribution
a_tj = softmax_j(score(s_t, h_j)) over the source positions j. Drawn as a matrix, rows the output
tokens and columns the source tokens, it shows the alignment the network learned, e.g. the digits
of the year in "1999-03-03" reading the "1999" of "the 3rd of march 1999".

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no display) and written
atomically, like ``train.plots``.
"""
from __future__ import annotations

import math

import numpy as np


def _label(token):
    return {" ": "␣", "\n": "\\n", "\t": "\\t"}.get(token, token)


def plot_attention(examples, path, title=None, columns=None, cmap="viridis"):
    """Save one heat-map per example to the PNG ``path``.

    Args:
        examples: a list of ``(weights, source_tokens, output_tokens)``: weights (T, S) (a NumPy
            array or nested list; row t the distribution over the S source tokens while writing
            output token t), and the tokens as lists of strings (characters). Rows beyond the
            output tokens (e.g. the <eos> step) are labelled "<eos>".
        path: the PNG file to write.
        title: a title over the whole figure.
        columns: panels per row (default: up to 2).
        cmap: the matplotlib colour map (weights from 0 to 1).

    Example::

        >>> outs, weights = train.seq.translate(model, test_set, ["the 3rd of march 1999"], 11)
        >>> plot_attention([(weights[0], list("the 3rd of march 1999"), list(outs[0]))],
        ...                "attention.png")
    """
    if not examples:
        raise ValueError("plot_attention: no examples to draw")
    mats = []
    for i, ex in enumerate(examples):
        if not isinstance(ex, (tuple, list)) or len(ex) != 3:
            raise ValueError(f"plot_attention: example {i} must be (weights, source_tokens, "
                             f"output_tokens), got {type(ex).__name__}")
        w = np.asarray(ex[0], dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != len(ex[1]) or w.shape[0] < len(ex[2]):
            raise ValueError(f"plot_attention: example {i} has weights {w.shape} for "
                             f"{len(ex[1])} source and {len(ex[2])} output tokens; expected "
                             f"(>= {len(ex[2])}, {len(ex[1])})")
        mats.append(w)
    from .visualize import _figure, _save

    n = len(examples)
    cols = columns or min(2, n)
    rows = math.ceil(n / cols)
    widths = [max(m.shape[1] for m in mats[c::cols]) for c in range(cols)]
    height = max(m.shape[0] for m in mats)
    fig = _figure((max(4.0, 0.28 * sum(widths) + 1.6 * cols),
                   max(2.5, rows * (0.28 * height + 1.4)) + (0.4 if title else 0)),
                  "drawing attention")
    axes = fig.subplots(rows, cols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.set_axis_off()
            continue
        w, src, out = mats[k], examples[k][1], examples[k][2]
        im = ax.imshow(w, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto",
                       interpolation="nearest")
        ax.set_xticks(range(len(src)))
        ax.set_xticklabels([_label(t) for t in src], fontsize=8)
        ylabels = [_label(t) for t in out] + ["<eos>"] * (w.shape[0] - len(out))
        ax.set_yticks(range(w.shape[0]))
        ax.set_yticklabels(ylabels, fontsize=8)
        ax.set_xlabel("source")
        ax.set_ylabel("output")
        ax.set_title(f"{''.join(src)!r} -> {''.join(out)!r}", fontsize=9)
    fig.colorbar(im, ax=axes, shrink=0.6, label="attention weight")
    if title:
        fig.suptitle(title)
    _save(fig, path, "plot_attention")
