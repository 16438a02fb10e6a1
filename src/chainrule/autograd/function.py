"""The differentiable op: a node of the graph with a forward on raw arrays and a hand-derived backward.

A subclass implements

- ``forward(self, *arrays, **params)``: raw arrays in, one array (or a tuple of arrays) out; it keeps
  what backward needs with ``self.save(...)`` (prefer outputs when the derivative is written in them);
- ``backward(self, *grad_outputs)``: one gradient array per output in, one gradient per input out
  (``None`` where ``self.needs_input_grad[i]`` is false, and that work is skipped).

``Op.apply(*tensors, **params)`` runs forward and, when any input requires grad and grad mode is on,
records the node so that ``Tensor.backward`` can call ``backward`` later (chain rule, notes 1.2:
dL/dh_{l-1} = (dh_l/dh_{l-1})^T dL/dh_l, one node at a time).
"""
from __future__ import annotations

from . import anomaly
from .grad_mode import _State

_Tensor = None  # chainrule.tensor.Tensor, looked up once (tensor.py imports this module first)


def _tensor_class():
    global _Tensor
    from ..tensor import Tensor

    _Tensor = Tensor
    return Tensor


class Function:
    __slots__ = ("inputs", "needs_input_grad", "saved", "n_outputs", "out_meta", "freed", "retained",
                 "created_at", "__dict__")

    fresh_grads = False
    """Set True in an op whose backward returns only newly allocated arrays, each once, that it
    keeps no reference to: leaves may then keep them as .grad without a copy."""

    def save(self, *arrays) -> None:
        """Keep arrays for backward (released after backward unless retain_graph)."""
        self.saved = arrays

    def forward(self, *arrays, **params):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def backward(self, *grad_outputs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} has no backward")

    @property
    def name(self) -> str:
        return type(self).__name__

    @classmethod
    def apply(cls, *inputs, **params):
        """Run the op on Tensors; returns a Tensor, or a tuple of Tensors for a multi-output op."""
        Tensor = _Tensor or _tensor_class()
        ctx = cls()
        try:
            needs = tuple(t.requires_grad for t in inputs)
        except AttributeError:
            got = ", ".join(type(t).__name__ for t in inputs)
            raise TypeError(f"{cls.__name__}: expected Tensor inputs, got ({got}); make them "
                            f"with chainrule.tensor(...)") from None
        ctx.needs_input_grad = needs
        ctx.saved = ()
        try:
            out = ctx.forward(*[t.data for t in inputs], **params)
        except (ValueError, IndexError, TypeError) as e:
            if getattr(e, "chainrule_named", False):
                raise
            shapes = ", ".join(str(tuple(t.shape)) for t in inputs)
            err = type(e)(f"{cls.__name__}: {e} (got inputs of shapes {shapes})")
            err.chainrule_named = True
            raise err from e
        record = _State.enabled and any(needs)
        if isinstance(out, tuple):
            if record:
                ctx.inputs = inputs
                ctx.n_outputs = len(out)
                ctx.out_meta = [(o.shape, o.dtype) for o in out]
                ctx.freed = False
                ctx.retained = None
                _note_creation(ctx)
                return tuple(Tensor._make(o, True, ctx, i) for i, o in enumerate(out))
            return tuple(Tensor._make(o, False, None, 0) for o in out)
        if record:
            ctx.inputs = inputs
            ctx.n_outputs = 1
            ctx.out_meta = ((out.shape, out.dtype),)
            ctx.freed = False
            ctx.retained = None
            _note_creation(ctx)
            return Tensor._make(out, True, ctx, 0)
        return Tensor._make(out, False, None, 0)


def _note_creation(ctx) -> None:
    if anomaly._enabled:
        anomaly.note_creation(ctx)
