"""Image grids: generated samples, reconstructions and latent interpolations saved as one PNG.

- :func:`make_grid`: a batch (N, C, H, W) with C = 1 or 3 tiled into one (3, H', W') image in
  [0, 1], ``nrow`` images per row with ``padding`` pixels between them (PyTorch's
  ``torchvision.utils.make_grid`` layout, so a sample grid reads the same in both).
- :func:`save_image_grid`: the grid written as an 8-bit PNG, atomically (a crash never leaves a
  half-written file).
- :func:`interpolate`: the points between two latent codes h_0 and h_1, on the line
  h(a) = (1 - a) h_0 + a h_1 or on the great circle (``slerp``, better for Gaussian codes whose
  mass lies near a sphere of radius sqrt(d)).

Writing needs no dependency beyond NumPy and zlib (the PNG encoder of
:mod:`chainrule.datasets.shapes_world`).
"""
from __future__ import annotations

import math
import os
import struct
import zlib

import numpy as np


def _array(images):
    from ..tensor import Tensor

    return images.data if isinstance(images, Tensor) else np.asarray(images)


def make_grid(images, nrow=8, padding=2, pad_value=1.0, value_range=None):
    """Tile (N, C, H, W) images (C = 1 or 3; or (N, H, W)) into one float (3, H', W') array.

    ``value_range=(lo, hi)`` maps lo..hi to 0..1 (e.g. (-1, 1) for a tanh generator); values
    outside are clipped. Rows hold ``nrow`` images; H' = rows (H + padding) + padding.
    """
    x = np.asarray(_array(images), dtype=np.float64)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] not in (1, 3) or x.shape[0] == 0:
        raise ValueError(f"make_grid: expected images (N, C, H, W) with N >= 1 and C = 1 or 3, "
                         f"or (N, H, W), got shape {tuple(np.shape(_array(images)))}")
    nrow, padding = int(nrow), int(padding)
    if nrow < 1 or padding < 0:
        raise ValueError(f"make_grid: expected nrow >= 1 and padding >= 0, got {nrow} and "
                         f"{padding}")
    if value_range is not None:
        lo, hi = map(float, value_range)
        if not hi > lo:
            raise ValueError(f"make_grid: value_range must be (lo, hi) with hi > lo, got "
                             f"{value_range}")
        x = (x - lo) / (hi - lo)
    x = np.clip(x, 0.0, 1.0)
    if x.shape[1] == 1:
        x = np.repeat(x, 3, axis=1)
    n, _, h, w = x.shape
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    grid = np.full((3, rows * (h + padding) + padding, cols * (w + padding) + padding),
                   float(pad_value))
    for k in range(n):
        r, c = divmod(k, cols)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        grid[:, top:top + h, left:left + w] = x[k]
    return grid


def _png_bytes(rgb):
    """An (H, W, 3) uint8 image as PNG bytes (filter 0 on every row, zlib level 9)."""
    h, w, _ = rgb.shape

    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    raw = np.concatenate([np.zeros((h, 1), np.uint8), rgb.reshape(h, w * 3)], axis=1)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), 9)) + chunk(b"IEND", b""))


def save_image_grid(images, path, nrow=8, padding=2, pad_value=1.0, value_range=None, scale=1):
    """Write :func:`make_grid`'s tiling of ``images`` as an 8-bit RGB PNG at ``path`` (atomic).

    ``scale`` repeats each pixel into a scale x scale block (28x28 samples are small on screen).
    Returns the path.
    """
    from ..serialization import _atomic_write

    grid = make_grid(images, nrow=nrow, padding=padding, pad_value=pad_value,
                     value_range=value_range)
    scale = int(scale)
    if scale < 1:
        raise ValueError(f"save_image_grid: scale must be >= 1, got {scale}")
    rgb = np.round(grid.transpose(1, 2, 0) * 255.0).astype(np.uint8)
    if scale > 1:
        rgb = rgb.repeat(scale, axis=0).repeat(scale, axis=1)
    path = os.fspath(path)
    _atomic_write(path, _png_bytes(np.ascontiguousarray(rgb)), who="save_image_grid")
    return path


def interpolate(h0, h1, steps, kind="linear"):
    """``steps`` codes from h0 to h1 (both ends included), shape (steps, *h0.shape), float32.

    linear: h(a) = (1 - a) h0 + a h1.
    slerp:  h(a) = sin((1 - a) w) / sin(w) h0 + sin(a w) / sin(w) h1, cos w = <h0, h1> / (|h0| |h1|)
            (falls back to linear where h0 and h1 are parallel).
    """
    a0 = np.asarray(_array(h0), dtype=np.float64)
    a1 = np.asarray(_array(h1), dtype=np.float64)
    if a0.shape != a1.shape:
        raise ValueError(f"interpolate: h0 and h1 must have the same shape, got {a0.shape} and "
                         f"{a1.shape}")
    steps = int(steps)
    if steps < 2:
        raise ValueError(f"interpolate: expected steps >= 2, got {steps}")
    if kind not in ("linear", "slerp"):
        raise ValueError(f"interpolate: kind must be 'linear' or 'slerp', got {kind!r}")
    t = np.linspace(0.0, 1.0, steps).reshape((steps,) + (1,) * a0.ndim)
    if kind == "slerp":
        n0, n1 = np.linalg.norm(a0), np.linalg.norm(a1)
        cos = float(np.dot(a0.ravel(), a1.ravel()) / max(n0 * n1, 1e-300))
        omega = math.acos(min(1.0, max(-1.0, cos)))
        if math.sin(omega) > 1e-6:
            s = math.sin(omega)
            return (np.sin((1 - t) * omega) / s * a0 + np.sin(t * omega) / s * a1).astype(
                np.float32)
    return ((1 - t) * a0 + t * a1).astype(np.float32)
