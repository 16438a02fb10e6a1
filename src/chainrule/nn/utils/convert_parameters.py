"""Parameters as one flat vector and back (for methods that see the model as a point in R^n)."""
from __future__ import annotations

from ... import ops
from ...tensor import Tensor


def parameters_to_vector(parameters):
    """All parameters flattened and joined into one 1-D Tensor (differentiable)."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return ops.cat([ops.reshape(p, (-1,)) for p in params])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D ``vec`` into the parameters' data (in place)."""
    if not isinstance(vec, Tensor) or vec.ndim != 1:
        raise TypeError(f"vector_to_parameters: expected a 1-D Tensor, got "
                        f"{getattr(vec, 'shape', type(vec).__name__)}")
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    need = sum(p.data.size for p in params)
    if vec.shape[0] != need:
        raise ValueError(f"vector_to_parameters: the vector has {vec.shape[0]} elements, the "
                         f"parameters {need}")
    pos = 0
    for p in params:
        n = p.data.size
        p.data[...] = vec.data[pos:pos + n].reshape(p.data.shape)
        pos += n
