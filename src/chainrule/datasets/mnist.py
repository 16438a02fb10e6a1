"""MNIST and Fashion-MNIST: 28x28 grey images in 10 classes, read from the original IDX files.

IDX format (big-endian): bytes 0-1 are zero, byte 2 codes the element type (0x08 = uint8), byte 3
the number of dimensions d; then d 32-bit sizes; then the elements in row-major order. The image
files have magic 2051 (0x00000803: uint8, 3 dims N x 28 x 28) and the label files 2049
(0x00000801: uint8, 1 dim N). Files may be gzipped (name ending in .gz) or not.

Where the files are looked for, in order: ``root``, ``root/<ClassName>/raw`` (torchvision's
layout, where ``download=True`` puts them) and, for FashionMNIST, ``/usr/share/datasets/
fashion-mnist`` (Debian's dataset-fashion-mnist package). Downloads are verified with the MD5 of
the decompressed files (mirrors and distributions re-compress them, so the .gz bytes differ).
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

from ._download import download_from_mirrors
from ._vision import VisionDataset

_IDX_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_ADVICE = "delete it and download again with download=True (or copy a good copy there)"


class IDXError(ValueError):
    """An IDX file is malformed; the message names the file and what is wrong with it."""


def _read_exactly(f, buf):
    view = memoryview(buf.reshape(-1).view(np.uint8))
    got = 0
    while got < len(view):
        n = f.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def read_idx(path, expect_magic=None):
    """Read an IDX file (gzipped when ``path`` ends in .gz) into a NumPy array.

    Args:
        path: the file.
        expect_magic: the magic number it must have (2051 for MNIST images, 2049 for labels).

    Returns:
        an array of the header's shape and type (native byte order).

    Raises:
        IDXError: bad magic number, a length that disagrees with the header (truncated or
            trailing bytes), or corrupt gzip data; the message names the file.
    """
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4:
                raise IDXError(f"{path}: file too short for an IDX header ({len(head)} bytes); "
                               f"{_ADVICE}")
            magic = struct.unpack(">I", head)[0]
            if head[0] or head[1] or head[2] not in _IDX_TYPES or \
                    (expect_magic is not None and magic != expect_magic):
                want = f" (expected {expect_magic})" if expect_magic is not None else ""
                raise IDXError(f"{path}: bad IDX magic number {magic}{want}; this is not an IDX "
                               f"file of the right kind, or it is corrupt; {_ADVICE}")
            ndim = head[3]
            raw_dims = f.read(4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise IDXError(f"{path}: truncated IDX header (expected {ndim} dimension sizes); "
                               f"{_ADVICE}")
            dims = struct.unpack(f">{ndim}I", raw_dims)
            dtype = _IDX_TYPES[head[2]]
            nbytes = int(np.prod(dims, dtype=object)) * dtype.itemsize  # exact, no overflow
            have = None if opener is gzip.open else os.path.getsize(path) - 4 - 4 * ndim
            if have is not None and nbytes > have:  # checked before allocating the array
                raise IDXError(f"{path}: truncated: the header announces {dims} elements "
                               f"({nbytes} bytes) but only {have} bytes follow; {_ADVICE}")
            if nbytes > 2 ** 40:
                raise IDXError(f"{path}: corrupt: the header announces {dims} elements "
                               f"({nbytes} bytes), more than any IDX file holds; {_ADVICE}")
            try:
                arr = np.empty(dims, dtype=dtype)
            except (MemoryError, ValueError):
                raise IDXError(f"{path}: the header announces {dims} elements ({nbytes} bytes), "
                               f"more than fits in memory; corrupt? {_ADVICE}") from None
            got = _read_exactly(f, arr)
            if got < arr.nbytes:
                raise IDXError(f"{path}: truncated: the header announces {dims} elements "
                               f"({arr.nbytes} bytes) but only {got} bytes follow; {_ADVICE}")
            if f.read(1):
                raise IDXError(f"{path}: longer than its header announces ({dims} elements, "
                               f"{arr.nbytes} bytes); {_ADVICE}")
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise IDXError(f"{path}: corrupt or truncated gzip data ({exc}); {_ADVICE}") from None
    return arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))


class MNIST(VisionDataset):
    """The MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28, labels 0-9.

    Args:
        root: folder holding the IDX files (see the module docstring for where else they are
            looked for, and where a download goes: ``root/<ClassName>/raw``).
        train: the training split (``train-*``) or the test split (``t10k-*``).
        download: fetch the four files from the mirrors when they are not found.
        transform: applied to each image given as a uint8 array (28, 28) (torchvision gives a
            PIL image); without one, images are float32 Tensors (1, 28, 28) in [0, 1].
        target_transform: applied to each int label.

    Attributes:
        data: uint8 array (N, 28, 28). targets: int64 array (N,). classes: the 10 class names.
        mean, std: the training set's pixel statistics of x / 255 (for ``Normalize``).

    Batches: the DataLoader fetches a whole batch with one fancy index (``__getitems__``);
    :meth:`as_tensor_dataset` gives all of it as one float32 TensorDataset, e.g.
    ``MNIST("data").as_tensor_dataset(flatten=True, normalize=True)`` -> X (60000, 784).

    Example:
        >>> ds = MNIST("data", train=True, download=True)
        >>> img, label = ds[0]        # Tensor (1, 28, 28) float32, int
    """

    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/",
               "http://yann.lecun.com/exdb/mnist/"]
    # MD5 of the decompressed files (sizes 47040016, 60008, 7840016, 10008 bytes), as published
    # alongside the dataset in several projects; the .gz checksums differ between copies.
    resources = {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    }
    system_dirs = ()
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
               "7 - seven", "8 - eight", "9 - nine"]
    mean, std = (0.1307,), (0.3081,)
    image_size = (28, 28)

    def __init__(self, root, train=True, download=False, transform=None, target_transform=None):
        super().__init__(os.path.expanduser(os.fspath(root)), transform, target_transform)
        self.train = bool(train)
        split = "train" if self.train else "t10k"
        names = (f"{split}-images-idx3-ubyte", f"{split}-labels-idx1-ubyte")
        found = self._find(names)
        if found is None:
            if not download:
                searched = ", ".join(self._search_dirs())
                raise FileNotFoundError(
                    f"{type(self).__name__}: {names[0]}[.gz] and {names[1]}[.gz] not found in "
                    f"any of: {searched}. Pass download=True to fetch them into "
                    f"{self.raw_folder}, or put the files in one of those folders.")
            self.download()
            found = self._find(names)
        self.data, self.targets = self._load(*found)

    @property
    def raw_folder(self):
        return os.path.join(self.root, type(self).__name__, "raw")

    def _search_dirs(self):
        return [self.root, self.raw_folder, *self.system_dirs]

    @staticmethod
    def _file_in(folder, name):
        for candidate in (name, name + ".gz"):
            path = os.path.join(folder, candidate)
            if os.path.isfile(path):
                return path
        return None

    def _find(self, names):
        """The (images, labels) paths in the first folder holding both, or None."""
        for folder in self._search_dirs():
            paths = [self._file_in(folder, n) for n in names]
            if all(paths):
                return paths
        return None

    def download(self):
        """Fetch the missing files into ``raw_folder`` (each verified, then moved into place)."""
        for name, md5 in self.resources.items():
            if self._file_in(self.raw_folder, name) is None:
                download_from_mirrors(self.mirrors, name + ".gz",
                                      os.path.join(self.raw_folder, name + ".gz"),
                                      decompressed_md5=md5)

    def _load(self, images_path, labels_path):
        images = read_idx(images_path, expect_magic=2051)
        labels = read_idx(labels_path, expect_magic=2049)
        if images.shape[1:] != self.image_size:
            raise IDXError(f"{images_path}: images are {images.shape[1]}x{images.shape[2]}, "
                           f"expected {self.image_size[0]}x{self.image_size[1]} for "
                           f"{type(self).__name__}; {_ADVICE}")
        if len(labels) != len(images):
            raise IDXError(f"{type(self).__name__}: {images_path} has {len(images)} images but "
                           f"{labels_path} has {len(labels)} labels; one of them is from another "
                           f"split or corrupt; {_ADVICE}")
        if len(labels) and int(labels.max()) >= len(self.classes):
            raise IDXError(f"{labels_path}: label {int(labels.max())} out of range 0.."
                           f"{len(self.classes) - 1}; {_ADVICE}")
        return images, labels.astype(np.int64)


class FashionMNIST(MNIST):
    """Fashion-MNIST (Zalando): 28x28 grey images of 10 kinds of clothing; API of :class:`MNIST`.

    Also found in ``/usr/share/datasets/fashion-mnist`` (Debian's dataset-fashion-mnist).

    Example:
        >>> train = FashionMNIST("data", train=True).as_tensor_dataset(flatten=True)
    """

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    # MD5 of the decompressed files, computed from Debian's copy and matching the published ones.
    resources = {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    }
    system_dirs = ("/usr/share/datasets/fashion-mnist",)
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
    mean, std = (0.2860,), (0.3530,)
