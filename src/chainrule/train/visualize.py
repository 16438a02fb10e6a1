"""Pictures of a trained network: its first layer's filters, and runs compared on one figure.

- :func:`plot_filters`: the filters W^w of a convolutional layer (notes 2.1) as a grid of small
  images, e.g. the 6 5x5 filters LeNet-5 learns on Fashion-MNIST (edge and blob detectors).
- :func:`plot_comparison`: the learning curves of several runs on one figure (training dashed,
  validation solid, one colour per run), e.g. the same net with and without batch normalization
  (notes 2.4).

Like ``train.plots``, drawing uses matplotlib's object API on the Agg canvas (no pyplot, no
display, no global backend change) and every file is written atomically.
"""
from __future__ import annotations

import io
import math

import numpy as np


def _figure(figsize, what="drawing figures", hint=""):
    """A matplotlib Figure on the Agg canvas (no pyplot state, no display); a clear ImportError
    naming ``what`` needs matplotlib (and ``hint``, e.g. how to switch the figure off)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(f"{what} needs matplotlib: pip install matplotlib{hint}") from e
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path, who):
    """Write ``fig`` as a 100-dpi PNG at ``path`` atomically (``who`` names the writer in errors)."""
    from ..serialization import _atomic_write

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    _atomic_write(path, buf.getvalue(), who=who)


def first_conv(model):
    """The first ``nn.Conv2d`` of ``model`` in registration order (its input layer), or None."""
    from ..nn import Conv2d

    for m in model.modules():
        if isinstance(m, Conv2d):
            return m
    return None


def filter_mosaic(weight, columns=None, gap=1):
    """Tile conv filters (C_out, C_in, kh, kw) into one image with ``gap`` pixels between them.

    Each filter is scaled on its own to [0, 1] ((w - min) / (max - min)), so its pattern shows
    whatever its size. Filters of 3 input channels become RGB tiles and the mosaic is
    (H, W, 3); otherwise each (output, input) channel pair is a grey tile and the mosaic is
    (H, W). For C_in = 1 the C_out tiles fill a near-square grid of ``columns`` (default
    ceil(sqrt(C_out))); for other C_in there is one row per output channel and one column per
    input channel. Gaps are NaN (drawn as background).
    """
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"filter_mosaic: expected conv weights (C_out, C_in, kh, kw), got shape "
                         f"{w.shape}")
    c_out, c_in, kh, kw = w.shape
    lo = w.min(axis=(1, 2, 3), keepdims=True)
    span = w.max(axis=(1, 2, 3), keepdims=True) - lo
    w = (w - lo) / np.where(span > 0, span, 1.0)  # each filter to [0, 1]
    if c_in == 3:
        tiles = w.transpose(0, 2, 3, 1)  # (C_out, kh, kw, 3)
    elif c_in == 1:
        tiles = w[:, 0]                  # (C_out, kh, kw)
    else:
        tiles = w.reshape(c_out * c_in, kh, kw)
        columns = c_in
    n = len(tiles)
    cols = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    shape = (rows * (kh + gap) - gap, cols * (kw + gap) - gap) + tiles.shape[3:]
    mosaic = np.full(shape, np.nan)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        mosaic[r * (kh + gap):r * (kh + gap) + kh, c * (kw + gap):c * (kw + gap) + kw] = tile
    return mosaic


def plot_filters(weight, path, title=None, columns=None) -> None:
    """Save the filters of a conv layer (a ``Conv2d``, its weight Tensor, or an array
    (C_out, C_in, kh, kw)) to ``path`` as a PNG grid (see :func:`filter_mosaic`), grey or RGB.

    Example:
        >>> plot_filters(first_conv(model), "runs/lenet5/filters.png", title="LeNet-5 conv1")
    """
    from ..tensor import Tensor

    layer = weight
    if hasattr(layer, "weight") and not isinstance(layer, (Tensor, np.ndarray)):
        weight = layer.weight
    if isinstance(weight, Tensor):
        weight = weight.data
    weight = np.asarray(weight)
    mosaic = filter_mosaic(weight, columns=columns)
    c_out, c_in, kh, kw = weight.shape
    rgb = mosaic.ndim == 3
    if rgb:  # NaN gaps -> white background
        mosaic = np.where(np.isnan(mosaic), 1.0, mosaic)
    scale = min(0.3, 5.0 / max(mosaic.shape[:2]))  # inches per pixel: the long side about 5 in
    fig = _figure((max(2.0, mosaic.shape[1] * scale), max(1.5, mosaic.shape[0] * scale + 0.4)))
    ax = fig.add_subplot()
    if rgb:
        ax.imshow(mosaic, interpolation="nearest")
    else:
        import matplotlib

        cmap = matplotlib.colormaps["gray"].with_extremes(bad="white")
        ax.imshow(np.ma.masked_invalid(mosaic), cmap=cmap, vmin=0, vmax=1,
                  interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title or f"{c_out} filters {c_in}x{kh}x{kw}", fontsize=9)
    _save(fig, path, "plot_filters")


def plot_comparison(histories, path, title=None) -> None:
    """Save the learning curves of several runs on one figure.

    Args:
        histories: {label: history}, each history a list of epoch records with ``epoch``,
            ``train_loss``, ``val_loss`` and optionally ``train_acc``, ``val_acc`` (the
            ``history`` of :func:`chainrule.train.fit`). A run that stopped early (diverged)
            simply has fewer points.
        path: the PNG to write.
        title: the figure's title.

    Left panel: loss; right panel: accuracy (%) when measured. Each run has one colour; its
    training curve is dashed and its validation curve solid. Non-finite values (a diverged
    loss) are left out of the plot.

    Example:
        >>> plot_comparison({"with BN": bn.history, "without BN": plain.history},
        ...                 "runs/vgg/bn_comparison.png", title="VGG, lr 0.1")
    """
    if not histories:
        raise ValueError("plot_comparison: expected at least one run, got none")
    has_acc = any(r.get("train_acc") is not None or r.get("val_acc") is not None
                  for h in histories.values() for r in h)
    from matplotlib.ticker import MaxNLocator

    fig = _figure((11 if has_acc else 6, 4.2))
    axes = fig.subplots(1, 2 if has_acc else 1, squeeze=False)[0]
    panels = [("loss", "loss", 1)] + ([("accuracy (%)", "acc", 100)] if has_acc else [])
    colors = [f"C{k}" for k in range(10)]
    for ax, (label, key, scale) in zip(axes, panels):
        for k, (name, history) in enumerate(histories.items()):
            for split, style in (("train", "--"), ("val", "-")):
                points = [(r["epoch"], r[f"{split}_{key}"] * scale) for r in history
                          if r.get(f"{split}_{key}") is not None
                          and math.isfinite(r[f"{split}_{key}"])]
                if points:
                    ax.plot(*zip(*points), style, color=colors[k % 10],
                            marker="o" if len(points) < 30 else None, markersize=3,
                            label=f"{name} ({split})")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    _save(fig, path, "plot_comparison")
