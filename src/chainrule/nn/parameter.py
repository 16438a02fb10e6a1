"""Parameter: a leaf Tensor that a Module registers as one of its learnable weights."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor, _to_array


class Parameter(Tensor):
    """A Tensor that requires grad by default and is collected by ``Module.parameters()``.

    Args:
        data: a Tensor or array-like; float data keeps its dtype (float32 by default). A Tensor's
            or NumPy array's memory is shared, not copied (as torch.nn.Parameter(tensor)).
        requires_grad: whether the optimizer should learn it (default True).
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            arr = np.empty(0, np.float32)
        elif isinstance(data, (Tensor, np.ndarray)):
            arr = data.data if isinstance(data, Tensor) else data  # shared, as torch's Parameter
        else:
            arr = _to_array(data)
        self.data = arr
        self.grad = None
        self._ctx = None
        self._out_idx = 0
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
