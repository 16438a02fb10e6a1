"""Embedding: a lookup table of learned vectors, one row per token id."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..ops.embedding import Embedding as EmbeddingFn, check_indices, normalize_padding_idx
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter


class Embedding(Module):
    """y = W[idx]: the row of the weight for each integer index (a one-hot vector times W).

    Args:
        num_embeddings: size of the vocabulary V.
        embedding_dim: size D of each vector.
        padding_idx: if given, that row starts at zero and gets no gradient (a padding token).
        _weight: an initial weight (V, D) to use instead of the N(0, 1) draw.
        _freeze: whether the weight is frozen (requires_grad False).
        dtype: dtype of the weight (the default dtype if None).

    Shape: input (*) of int64 in [0, V) -> output (*, D). Weight (V, D), drawn from N(0, 1).

    Example::

        >>> emb = Embedding(10, 3, padding_idx=0)
        >>> emb(cr.tensor([[1, 2, 0], [4, 9, 0]])).shape    # (2, 3, 3)
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None,
                 norm_type=2.0, scale_grad_by_freq=False, sparse=False, _weight=None,
                 _freeze=False, device=None, dtype=None):
        super().__init__()
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise NotImplementedError("Embedding: max_norm, scale_grad_by_freq and sparse are not "
                                      "implemented")
        for name, v in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise ValueError(f"Embedding: {name} must be a non-negative int, got {v!r}")
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        self.padding_idx = normalize_padding_idx(padding_idx, self.num_embeddings, "Embedding")
        if _weight is None:
            dt = backend.get_default_dtype() if dtype is None else np.dtype(dtype)
            self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim), dt),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            w = _weight.data if isinstance(_weight, Tensor) else np.asarray(_weight)
            if w.shape != (self.num_embeddings, self.embedding_dim):
                raise ValueError(f"Embedding: _weight must have shape ({self.num_embeddings}, "
                                 f"{self.embedding_dim}), got {tuple(w.shape)}")
            self.weight = Parameter(w.copy() if dtype is None else w.astype(dtype),
                                    requires_grad=not _freeze)

    def reset_parameters(self):
        """Redraw the weight from N(0, 1); the padding row is zero."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, input):
        idx = check_indices(input, self.num_embeddings, self._desc())
        return EmbeddingFn.apply(self.weight, idx=idx, padding_idx=self.padding_idx)

    def _desc(self):
        return f"Embedding({self.num_embeddings}, {self.embedding_dim})"

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None):
        """An Embedding whose weight is a copy of ``embeddings`` (V, D), frozen by default."""
        w = embeddings.data if isinstance(embeddings, Tensor) else np.asarray(embeddings)
        if w.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: expected a 2-D weight (V, D), got shape "
                             f"{tuple(w.shape)}")
        return cls(w.shape[0], w.shape[1], padding_idx=padding_idx, _weight=w, _freeze=freeze)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s
