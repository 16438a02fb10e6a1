"""Anomaly detection: remember where each node was made; stop backward at the first NaN or Inf.

    with chainrule.autograd.detect_anomaly():
        loss.backward()   # RuntimeError naming the op that produced NaN and where it was created
"""
from __future__ import annotations

import os
import traceback

_enabled = False
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # .../chainrule/


def is_anomaly_enabled() -> bool:
    return _enabled


def note_creation(ctx) -> None:
    stack = traceback.extract_stack()[:-3]
    # the user's line: the last frame outside the package (a checkout folder may also be called
    # "chainrule", so compare with the package's own path, not with the name)
    frames = [f for f in stack if not os.path.abspath(f.filename).startswith(_PACKAGE)] or stack
    f = frames[-1]
    ctx.created_at = f"{f.filename}:{f.lineno} in {f.name}: {f.line}"


class detect_anomaly:
    """Context manager: forward notes where each node is made; backward raises on NaN/Inf gradients."""

    def __init__(self, mode: bool = True):
        self.mode = mode

    def __enter__(self):
        global _enabled
        self._prev = _enabled
        _enabled = self.mode
        return self

    def __exit__(self, *exc):
        global _enabled
        _enabled = self._prev
        return False


def check_gradients(ctx, grads) -> None:
    from ..backend import get_array_module

    for i, g in enumerate(grads):
        if g is not None and not get_array_module(g).isfinite(g).all():
            where = getattr(ctx, "created_at", "unknown place (made before detect_anomaly)")
            raise RuntimeError(
                f"Function {ctx.name}Backward returned a non-finite gradient for its input {i} "
                f"(shape {tuple(g.shape)}). The op was created at {where}")
