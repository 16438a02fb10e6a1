"""Utilities for training: gradient clipping and parameter <-> vector conversion."""
from .clip_grad import clip_grad_norm_, clip_grad_value_
from .convert_parameters import parameters_to_vector, vector_to_parameters
from . import rnn  # noqa: F401  (nn.utils.rnn.pack_padded_sequence, ...)

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]
