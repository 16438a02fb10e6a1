"""CIFAR-10: 60,000 colour images 32x32 in 10 classes, from the "python version" pickle batches.

The archive ``cifar-10-python.tar.gz`` unpacks to ``cifar-10-batches-py/`` with ``data_batch_1``
... ``data_batch_5`` (10,000 training images each) and ``test_batch``. Each batch is a pickled
dict: ``b"data"`` a uint8 array (N, 3072) (each row the 1024 red, then green, then blue values of
a 32x32 image, rows top to bottom) and ``b"labels"`` a list of N ints in 0..9.

The batches are read with an unpickler that only builds NumPy arrays (no arbitrary code runs from
a tampered file).
"""
from __future__ import annotations

import os
import pickle
import sys

import numpy as np

from ._download import DownloadError, download_file, extract_tar, file_digest
from ._vision import VisionDataset

_ADVICE = "delete the folder and download again with download=True"


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes and NumPy arrays; refuses every other global."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only NumPy arrays "
                                         f"are expected in a CIFAR batch)")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):
            module = "numpy._core." + module[len("numpy.core."):]  # NumPy 2 renamed numpy.core
        return super().find_class(module, name)


def load_batch(path):
    """Read one CIFAR pickle batch: (images uint8 (N, 3, 32, 32), labels int64 (N,)).

    Raises ValueError naming the file when it is truncated, not a CIFAR batch, or inconsistent.
    """
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError) as exc:
        raise ValueError(f"{path}: not a readable CIFAR batch, the file is truncated or corrupt "
                         f"({type(exc).__name__}: {exc}); {_ADVICE}") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: expected a pickled dict, got {type(batch).__name__}; {_ADVICE}")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise ValueError(f"{path}: the batch lacks the 'data' or 'labels' key (keys: "
                         f"{sorted(map(str, batch))}); {_ADVICE}")
    try:
        data = np.asarray(data)
    except ValueError:  # a ragged nested list
        raise ValueError(f"{path}: 'data' must be uint8 (N, 3072), got a ragged "
                         f"{type(data).__name__}; {_ADVICE}") from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{path}: 'data' must be uint8 (N, 3072), got {data.dtype} "
                         f"{data.shape}; {_ADVICE}")
    try:
        arr = np.asarray(labels)
    except ValueError:  # ragged
        arr = np.empty(0, object)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{path}: 'labels' must be integers 0..9, got a "
                         f"{type(labels).__name__} of {arr.dtype}; {_ADVICE}")
    labels = arr.astype(np.int64).reshape(-1)
    if len(labels) != len(data):
        raise ValueError(f"{path}: {len(data)} images but {len(labels)} labels; {_ADVICE}")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{path}: labels must lie in 0..9, found {int(labels.min())}.."
                         f"{int(labels.max())}; {_ADVICE}")
    return data.reshape(-1, 3, 32, 32), labels


class CIFAR10(VisionDataset):
    """CIFAR-10: 50,000 training and 10,000 test colour images (3, 32, 32) in 10 classes.

    Args:
        root: folder that holds (or will hold) ``cifar-10-batches-py/``.
        train: the five training batches, or the test batch.
        download: when the batches are missing, fetch the archive (MD5-checked) into ``root``
            and extract it (into a temporary folder first, renamed into place when complete).
        transform: applied to each image given as a uint8 array (32, 32, 3) (torchvision gives a
            PIL image); without one, images are float32 Tensors (3, 32, 32) in [0, 1].
        target_transform: applied to each int label.

    Attributes:
        data: uint8 array (N, 32, 32, 3) (channels last, as torchvision). targets: int64 (N,)
        (torchvision uses a list). classes, mean, std (training-set statistics per channel).

    Example:
        >>> train = CIFAR10("data", train=True, download=True)
        >>> img, label = train[0]     # Tensor (3, 32, 32) float32, int
    """

    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    filename = "cifar-10-python.tar.gz"
    tgz_md5 = "c58f30108f718f92721af3b95e74349a"
    base_folder = "cifar-10-batches-py"
    train_list = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"]
    test_list = ["test_batch"]
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)

    def __init__(self, root, train=True, download=False, transform=None, target_transform=None):
        super().__init__(os.path.expanduser(os.fspath(root)), transform, target_transform)
        self.train = bool(train)
        names = self.train_list if self.train else self.test_list
        folder = os.path.join(self.root, self.base_folder)
        missing = [n for n in names if not os.path.isfile(os.path.join(folder, n))]
        if missing:
            if not download:
                raise FileNotFoundError(
                    f"{type(self).__name__}: {', '.join(missing)} not found in {folder}. Pass "
                    f"download=True to fetch {self.url}, or extract {self.filename} into "
                    f"{self.root}.")
            self.download()
        parts = [load_batch(os.path.join(folder, n)) for n in names]
        images = np.concatenate([p[0] for p in parts])
        self.data = np.ascontiguousarray(images.transpose(0, 2, 3, 1))  # (N, 32, 32, 3)
        self.targets = np.concatenate([p[1] for p in parts])

    def download(self):
        """Fetch and extract the archive unless the batch folder is already there."""
        folder = os.path.join(self.root, self.base_folder)
        if os.path.isdir(folder):
            missing = [n for n in self.train_list + self.test_list
                       if not os.path.isfile(os.path.join(folder, n))]
            if missing:
                raise DownloadError(f"{folder} exists but lacks {', '.join(missing)}; {_ADVICE}")
            return
        archive = os.path.join(self.root, self.filename)
        if not (os.path.isfile(archive) and file_digest(archive) == self.tgz_md5):
            print(f"Downloading {self.url} to {archive}", file=sys.stderr)
            download_file(self.url, archive, md5=self.tgz_md5)
        extract_tar(archive, self.root, self.base_folder)
