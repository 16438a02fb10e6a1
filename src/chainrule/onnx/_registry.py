"""The table from chainrule's Function classes to the converters that write their ONNX nodes.

A converter is ``fn(g, node)``: ``g`` the GraphBuilder, ``node`` the traced Record (its ``inputs``
and ``outputs`` Values, ``params`` and ``varying`` params). It must produce every output of the
node under the output Value's name. ``varying`` lists the params a converter copes with when they
differ between the two traces (e.g. a reshape's target shape, which holds the batch size).
"""
from __future__ import annotations

CONVERTERS = {}


def converts(*fns, varying=()):
    """Register the decorated converter for the Function classes ``fns``."""
    def deco(f):
        for fn in fns:
            CONVERTERS[fn] = (f, frozenset(varying))
        return f
    return deco
