"""Datasets and mini-batch loading, with PyTorch's names (``torch.utils.data``).

>>> from chainrule.data import TensorDataset, DataLoader, random_split
>>> train, val = random_split(TensorDataset(x, y), [0.9, 0.1])
>>> for xb, yb in DataLoader(train, batch_size=128, shuffle=True): ...
"""
from .dataloader import DataLoader, default_collate
from .dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler

__all__ = ["BatchSampler", "ConcatDataset", "DataLoader", "Dataset", "RandomSampler", "Sampler",
           "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset",
           "default_collate", "random_split"]
# the augmentation transforms under the name chainrule.data.transforms too (one module, two names)
import sys as _sys  # noqa: E402
from ..datasets import transforms  # noqa: E402
_sys.modules[__name__ + ".transforms"] = transforms
