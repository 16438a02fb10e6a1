"""Dropout (Srivastava et al. 2014): a regularizer that zeroes random units during training."""
from __future__ import annotations

from ..ops.dropout import check_p, dropout, dropout2d
from .module import Module


class Dropout(Module):
    """Zero each element with probability p in training mode, scaling the rest by 1/(1-p)
    (inverted dropout: y = x * m / (1 - p), m ~ Bernoulli(1 - p)); the identity in eval mode.

    Args:
        p: probability of dropping an element, in [0, 1] (default 0.5).
        inplace: accepted for PyTorch compatibility and ignored.

    Shape: any -> same.

    Example::

        >>> drop = Dropout(0.2)
        >>> y = drop(x)          # training: about 20% zeros, the rest times 1.25
        >>> drop.eval(); drop(x) is x
    """

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        self.p = check_p(p, "Dropout")
        self.inplace = inplace

    def forward(self, input):
        return dropout(input, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Module):
    """Channel dropout: in training mode zero each whole feature map x_{n,c,:,:} with probability
    p and scale the kept maps by 1/(1-p); the identity in eval mode.

    Args:
        p: probability of dropping a channel, in [0, 1] (default 0.5).
        inplace: accepted for PyTorch compatibility and ignored.

    Shape: (N, C, H, W) -> same (a 3-D input is read as (N, C, L), as PyTorch does today).

    Example::

        >>> drop = Dropout2d(0.2)
        >>> y = drop(cr.randn(8, 16, 32, 32))   # about 20% of the 8 x 16 maps all zero
    """

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        self.p = check_p(p, "Dropout2d")
        self.inplace = inplace

    def forward(self, input):
        return dropout2d(input, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"
