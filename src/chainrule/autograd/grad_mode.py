"""Switching graph recording off and on: ``no_grad`` and ``enable_grad``."""
from __future__ import annotations

import functools


class _State:
    enabled = True


def is_grad_enabled() -> bool:
    """True when operations record the graph for backward."""
    return _State.enabled


class _GradMode:
    """A context manager that sets grad mode to ``_mode`` inside and restores it after; used as a
    decorator (``@no_grad()`` or bare ``@no_grad``) it does the same around each call."""

    _mode = True

    def __new__(cls, *args):
        self = super().__new__(cls)
        if len(args) == 1 and callable(args[0]):  # bare decorator: @no_grad
            return self(args[0])
        return self

    def __enter__(self):
        self._prev = _State.enabled
        _State.enabled = self._mode
        return self

    def __exit__(self, *exc):
        _State.enabled = self._prev
        return False

    def __call__(self, fn):
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = _State.enabled
            _State.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                _State.enabled = prev

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
        _State.enabled = self._mode  # takes effect at once, also as a plain call

    def __enter__(self):
        return self

    def __call__(self, fn):
        _State.enabled = self._prev  # as a decorator, only the decorated calls change the mode
        return super().__call__(fn)
