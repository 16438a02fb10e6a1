"""Helpers shared by the CNN model tests (LeNet, AlexNet, VGG, GoogLeNet, ResNet).

- ``no_init()``: build a net without drawing its initial values. Parameter counts and names do not
  depend on them, and drawing 138 million numbers for VGG16 takes seconds; with the init
  functions skipped, the arrays stay as allocated (untouched memory) and a VGG builds in
  milliseconds. Never run such a net.
- closed-form parameter counts of the layers: ``conv``, ``bn``, ``fc``.
- ``torch_state(net)``: a net's state_dict as torch tensors, to load into a torch re-implementation
  (``load_state_dict`` is strict there: the keys and shapes must match).
"""
from contextlib import contextmanager

import numpy as np

from chainrule.nn import init

_INIT_FUNCTIONS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_",
                   "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_")


@contextmanager
def no_init():
    """Within the block, ``chainrule.nn.init``'s fill functions leave their tensor as it is."""
    saved = {name: getattr(init, name) for name in _INIT_FUNCTIONS}
    try:
        for name in _INIT_FUNCTIONS:
            setattr(init, name, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for name, f in saved.items():
            setattr(init, name, f)


def n_params(net):
    return sum(p.numel() for p in net.parameters())


def conv(cin, cout, k, bias=True):
    """Parameters of a k x k conv: cout * cin * k^2 weights (+ cout biases)."""
    return cout * cin * k * k + (cout if bias else 0)


def bn(c):
    """Parameters of a batch norm over c channels: gamma and beta."""
    return 2 * c


def fc(i, o):
    return o * i + o


def bn_keys(prefix):
    return [f"{prefix}.{k}" for k in ("weight", "bias", "running_mean", "running_var",
                                      "num_batches_tracked")]


def torch_state(net):
    import torch
    return {k: torch.from_numpy(np.ascontiguousarray(v.data)) for k, v in net.state_dict().items()}
