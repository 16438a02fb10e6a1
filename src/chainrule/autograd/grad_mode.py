"""Switching graph recording off and on: ``no_grad`` and ``enable_grad``."""
from __future__ import annotations

import functools


class _State:
    enabled = True


def is_grad_enabled() -> bool:
    """True when operations record the graph for backward."""
    return _State.enabled


class _GradMode:
    _mode = True

    def __enter__(self):
        self._prev = _State.enabled
        _State.enabled = self._mode
        return self

    def __exit__(self, *exc):
        _State.enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Context manager and decorator: operations inside record no graph (evaluation, updates)."""

    _mode = False


class enable_grad(_GradMode):
    """Context manager and decorator: record the graph again inside a ``no_grad`` block."""

    _mode = True


class set_grad_enabled(_GradMode):
    """``with set_grad_enabled(flag):`` records the graph when flag is true."""

    def __init__(self, mode: bool):
        self._mode = bool(mode)
        self._prev = _State.enabled
        _State.enabled = self._mode

    def __enter__(self):
        return self
