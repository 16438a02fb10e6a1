"""``chainrule.cuda``: whether CUDA GPUs can be used (through CuPy), as ``torch.cuda``.

The "cuda" device exists when ``import cupy`` works (chainrule.backend registers it); tensors move
there with ``t.to("cuda")`` / ``t.cuda()`` and modules with ``model.to("cuda")``.
"""
from __future__ import annotations

from . import backend


def is_available() -> bool:
    """True when CuPy is installed and sees at least one GPU."""
    return device_count() > 0


def device_count() -> int:
    """The number of GPUs CuPy sees (0 without CuPy or without a working driver)."""
    b = backend._backends.get("cuda")
    if b is None or b.device_count is None:
        return 0
    return b.device_count()


def current_device() -> int:
    """The index of CuPy's current GPU."""
    if not is_available():
        raise RuntimeError("chainrule.cuda is not available: install cupy (pip install "
                           "cupy-cuda12x) on a machine with an NVIDIA GPU")
    import cupy

    return int(cupy.cuda.Device().id)


def synchronize() -> None:
    """Wait until every kernel queued on the current GPU has finished (for timing)."""
    if is_available():
        import cupy

        cupy.cuda.Device().synchronize()
