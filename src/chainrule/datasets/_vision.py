"""The common part of the image-classification datasets (MNIST, FashionMNIST, CIFAR10).

Each holds all its images in memory as one uint8 array ``data`` and its labels as one int64 array
``targets``; a sample is converted to a float32 Tensor in [0, 1] only when it is asked for.
"""
from __future__ import annotations

import numpy as np

from ..data.dataset import Dataset, TensorDataset
from ..tensor import Tensor


def _tensor(arr):
    return Tensor._make(arr, False, None, 0)


def to_float_chw(images):
    """uint8 images (N, H, W) or (N, H, W, C) -> float32 (N, C, H, W) in [0, 1] (x / 255)."""
    if images.ndim == 3:
        images = images[:, None]
    else:
        images = images.transpose(0, 3, 1, 2)
    out = images.astype(np.float32)
    out /= np.float32(255)
    return out


class VisionDataset(Dataset):
    """Images ``data`` (uint8) with labels ``targets`` (int64), and per-sample transforms.

    ``ds[i]`` is ``(image, label)``: without ``transform`` the image is a float32 Tensor
    (C, H, W) in [0, 1]; with one, ``transform`` receives the raw uint8 array ((H, W) or
    (H, W, C), where torchvision would give a PIL image) and its result is returned, so
    ``transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])`` works as in
    torchvision. ``label`` is an int, or ``target_transform(int)``.

    Subclasses set ``data``, ``targets``, ``classes``, ``mean``, ``std`` (per-channel training
    set statistics of x / 255), ``root`` and ``train``.
    """

    classes: list = []
    mean: tuple = ()
    std: tuple = ()

    def __init__(self, root, transform=None, target_transform=None):
        self.root = root
        self.transform = transform
        self.target_transform = target_transform

    @property
    def class_to_idx(self):
        return {c: i for i, c in enumerate(self.classes)}

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        img, target = self.data[index], int(self.targets[index])
        if self.transform is None:
            img = _tensor(to_float_chw(img[None])[0])
        else:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __getitems__(self, indices):
        """The batch ``(images (B, C, H, W) float32, labels (B,) int64)`` in one fancy index.

        With a transform the samples are made one by one and returned as a list (collated by
        the DataLoader).
        """
        if self.transform is not None or self.target_transform is not None:
            return [self[i] for i in indices]
        idx = np.asarray(indices, dtype=np.intp)
        return _tensor(to_float_chw(self.data[idx])), _tensor(self.targets[idx])

    def as_tensor_dataset(self, flatten=False, normalize=None):
        """All samples as one :class:`~chainrule.data.TensorDataset` ``(X, y)``, made at once.

        Args:
            flatten: X of shape (N, C*H*W) (e.g. (N, 784) for an MLP) instead of (N, C, H, W).
            normalize: None (pixels x / 255 in [0, 1]); True for ``(x - mean) / std`` with this
                class's training-set statistics ``mean``, ``std`` (per channel); or a pair
                ``(mean, std)`` of numbers or per-channel sequences.

        X is float32, y int64. ``transform`` and ``target_transform`` are not applied.

        Example:
            >>> train = FashionMNIST("data").as_tensor_dataset(flatten=True, normalize=True)
            >>> train.tensors[0].shape
            (60000, 784)
        """
        x = to_float_chw(self.data)
        if normalize is not None and normalize is not False:
            mean, std = (self.mean, self.std) if normalize is True else normalize
            c = x.shape[1]
            mean = np.asarray(mean, dtype=np.float32).reshape(-1)
            std = np.asarray(std, dtype=np.float32).reshape(-1)
            if mean.size not in (1, c) or std.size not in (1, c):
                raise ValueError(f"{type(self).__name__}.as_tensor_dataset: normalize needs one "
                                 f"mean and std, or one per channel ({c}); got {mean.size} "
                                 f"and {std.size}")
            if np.any(std == 0):
                raise ValueError(f"{type(self).__name__}.as_tensor_dataset: std must be "
                                 f"non-zero, got {std.tolist()}")
            mean, std = np.broadcast_to(mean, (c,)), np.broadcast_to(std, (c,))
            for k in range(c):  # channel by channel with scalars: 10x faster than broadcasting
                x[:, k] -= mean[k]
                x[:, k] /= std[k]
        if flatten:
            x = x.reshape(len(x), -1)
        return TensorDataset(_tensor(x), _tensor(self.targets.copy()))

    def __repr__(self):
        return (f"Dataset {type(self).__name__}\n    Number of datapoints: {len(self)}\n"
                f"    Root location: {self.root}\n    Split: {'Train' if self.train else 'Test'}")
