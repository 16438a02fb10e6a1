import gzip
import hashlib
import os
import struct

import numpy as np
import pytest

from chainrule.data import DataLoader
from chainrule.datasets import MNIST, FashionMNIST, IDXError, read_idx
from chainrule.datasets._download import DownloadError
from chainrule.datasets.transforms import Compose, Flatten, Normalize, ToTensor

DEBIAN = "/usr/share/datasets/fashion-mnist"


def idx_bytes(arr, magic_type=0x08):
    arr = np.asarray(arr)
    header = bytes([0, 0, magic_type, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write(path, data, gz=False):
    path = str(path) + (".gz" if gz else "")
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(data)
    return path


def make_split(folder, split="train", n=20, gz=False, seed=0):
    """Write a tiny split (n images 28x28, labels 0..9) and return (images, labels)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    os.makedirs(folder, exist_ok=True)
    write(os.path.join(folder, f"{split}-images-idx3-ubyte"), idx_bytes(images), gz)
    write(os.path.join(folder, f"{split}-labels-idx1-ubyte"), idx_bytes(labels), gz)
    return images, labels


# ---- the IDX reader -------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_raw_and_gzipped(tmp_path, gz):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    p = write(tmp_path / "a-idx3-ubyte", idx_bytes(a), gz)
    out = read_idx(p, expect_magic=2051)
    np.testing.assert_array_equal(out, a)
    assert out.dtype == np.uint8 and out.flags.writeable
    b = np.array([[-1, 7], [300, 2 ** 20]], dtype=np.int32)      # type 0x0C, big-endian
    out = read_idx(write(tmp_path / "b-idx", idx_bytes(b, 0x0C), gz))
    np.testing.assert_array_equal(out, b)
    assert out.dtype.isnative


def test_read_idx_errors_name_the_file(tmp_path):
    good = idx_bytes(np.zeros((3, 28, 28), np.uint8))
    bad_magic = write(tmp_path / "m", good, False)
    with pytest.raises(IDXError, match=r"m: bad IDX magic number 2051 \(expected 2049\)"):
        read_idx(bad_magic, expect_magic=2049)
    trunc = write(tmp_path / "t", good[:-100])
    with pytest.raises(IDXError, match=r"t: truncated: .* 2252 bytes follow.*download=True"):
        read_idx(trunc)
    long_ = write(tmp_path / "l", good + b"\0")
    with pytest.raises(IDXError, match="l: longer than its header"):
        read_idx(long_)
    gz = gzip.compress(good)
    (tmp_path / "c.gz").write_bytes(gz[: len(gz) - 10])
    with pytest.raises(IDXError, match="c.gz: (corrupt or truncated gzip|truncated)"):
        read_idx(tmp_path / "c.gz")
    (tmp_path / "s").write_bytes(b"\0\0")
    with pytest.raises(IDXError, match="too short"):
        read_idx(tmp_path / "s")


# ---- the dataset ----------------------------------------------------------------------------

def test_mnist_from_root_raw_and_from_torchvision_layout_gz(tmp_path):
    images, labels = make_split(tmp_path, "train", 20)
    te_images, te_labels = make_split(tmp_path / "MNIST" / "raw", "t10k", 10, gz=True, seed=1)
    ds = MNIST(tmp_path)
    assert len(ds) == 20 and ds.data.dtype == np.uint8 and ds.data.shape == (20, 28, 28)
    assert ds.targets.dtype == np.int64
    np.testing.assert_array_equal(ds.data, images)
    np.testing.assert_array_equal(ds.targets, labels)
    img, label = ds[3]
    assert img.shape == (1, 28, 28) and img.dtype == np.float32 and label == 3
    assert isinstance(label, int)
    np.testing.assert_allclose(img.data[0], images[3] / 255.0, rtol=1e-6)
    assert 0.0 <= img.data.min() and img.data.max() <= 1.0
    te = MNIST(tmp_path, train=False)
    np.testing.assert_array_equal(te.data, te_images)
    assert ds.classes[3] == "3 - three" and ds.class_to_idx["9 - nine"] == 9
    assert "Split: Test" in repr(te)


def test_batch_hook_matches_items_and_feeds_the_loader(tmp_path):
    make_split(tmp_path, "train", 20)
    ds = MNIST(tmp_path)
    xb, yb = ds.__getitems__([5, 0, 19])
    assert xb.shape == (3, 1, 28, 28) and yb.dtype == np.int64
    for row, i in enumerate([5, 0, 19]):
        np.testing.assert_array_equal(xb.data[row], ds[i][0].data)
        assert yb.data[row] == ds[i][1]
    batches = list(DataLoader(ds, batch_size=8))
    assert [b[0].shape[0] for b in batches] == [8, 8, 4]


def test_transforms_receive_the_raw_uint8_image(tmp_path):
    images, _ = make_split(tmp_path, "train", 20)
    seen = []

    def spy(img):
        seen.append((img.dtype, img.shape))
        return ToTensor()(img)

    ds = MNIST(tmp_path, transform=spy, target_transform=lambda y: y + 100)
    img, label = ds[2]
    assert seen == [(np.uint8, (28, 28))] and label == 102 and img.shape == (1, 28, 28)
    flat = MNIST(tmp_path, transform=Compose([ToTensor(), Normalize((0.5,), (0.25,)), Flatten()]))
    xb, yb = next(iter(DataLoader(flat, batch_size=4)))     # per-sample path, then collated
    assert xb.shape == (4, 784) and yb.tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(xb.data[1], (images[1].reshape(-1) / 255 - 0.5) / 0.25,
                               rtol=1e-5, atol=1e-6)


def test_as_tensor_dataset(tmp_path):
    images, labels = make_split(tmp_path, "train", 20)
    ds = MNIST(tmp_path)
    td = ds.as_tensor_dataset(flatten=True, normalize=True)
    x, y = td.tensors
    assert x.shape == (20, 784) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(x.data, (images.reshape(20, -1) / 255 - 0.1307) / 0.3081,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(y.data, labels)
    x4 = ds.as_tensor_dataset(normalize=(0.0, 2.0)).tensors[0]
    assert x4.shape == (20, 1, 28, 28)
    np.testing.assert_allclose(x4.data[:, 0], images / 255 / 2, rtol=1e-6)
    with pytest.raises(ValueError, match="non-zero"):
        ds.as_tensor_dataset(normalize=(0.0, 0.0))


def test_inconsistent_files_are_reported(tmp_path):
    make_split(tmp_path, "train", 20)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(19, np.uint8)))
    with pytest.raises(IDXError, match=r"20 images but .*train-labels-idx1-ubyte has 19 labels"):
        MNIST(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.full(20, 10, np.uint8)))
    with pytest.raises(IDXError, match=r"train-labels-idx1-ubyte: label 10 out of range 0..9"):
        MNIST(tmp_path)
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(np.zeros((20, 20, 20), np.uint8)))
    with pytest.raises(IDXError, match="images are 20x20, expected 28x28"):
        MNIST(tmp_path)


def test_truncated_file_in_root_names_the_file(tmp_path):
    make_split(tmp_path, "train", 20)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(IDXError, match=f"{path}: truncated.*delete it and download again"):
        MNIST(tmp_path)


def test_missing_files_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"(?s)train-images-idx3-ubyte\[.gz\].*"
                                                r"MNIST/raw.*download=True"):
        MNIST(tmp_path / "empty")


# ---- downloads (from file:// mirrors) -------------------------------------------------------

def _mirror(tmp_path, seed=0):
    """A mirror folder with the four files gzipped; returns (url, {name: md5 of content})."""
    folder = tmp_path / "mirror"
    md5 = {}
    for split, n in (("train", 20), ("t10k", 10)):
        images, labels = make_split(folder, split, n, gz=True, seed=seed)
        md5[f"{split}-images-idx3-ubyte"] = hashlib.md5(idx_bytes(images)).hexdigest()
        md5[f"{split}-labels-idx1-ubyte"] = hashlib.md5(idx_bytes(labels)).hexdigest()
    return "file://" + str(folder) + "/", md5


def test_download_success_writes_verified_files(tmp_path):
    url, md5 = _mirror(tmp_path)

    class Tiny(MNIST):
        mirrors = ["file://" + str(tmp_path / "nowhere") + "/", url]
        resources = md5

    ds = Tiny(tmp_path / "root", download=True)
    raw = tmp_path / "root" / "Tiny" / "raw"
    assert len(ds) == 20 and len(Tiny(tmp_path / "root", train=False)) == 10
    assert sorted(os.listdir(raw)) == sorted(n + ".gz" for n in md5)   # no temporary files


def test_corrupt_download_raises_and_leaves_no_file(tmp_path):
    url, md5 = _mirror(tmp_path)
    md5["train-labels-idx1-ubyte"] = "0" * 32       # the mirror's file no longer matches

    class Tiny(MNIST):
        mirrors = [url]
        resources = md5

    with pytest.raises(DownloadError, match=r"(?s)train-labels-idx1-ubyte.gz.*decompressed md5"):
        Tiny(tmp_path / "root", download=True)
    raw = tmp_path / "root" / "Tiny" / "raw"
    assert "train-labels-idx1-ubyte.gz" not in os.listdir(raw)
    assert not [f for f in os.listdir(raw) if f.endswith(".part")]


def test_truncated_download_raises_and_leaves_no_file(tmp_path):
    url, md5 = _mirror(tmp_path)
    mirror_file = tmp_path / "mirror" / "train-images-idx3-ubyte.gz"
    mirror_file.write_bytes(mirror_file.read_bytes()[:300])

    class Tiny(MNIST):
        mirrors = [url]
        resources = md5

    with pytest.raises(DownloadError, match="corrupt or truncated gzip"):
        Tiny(tmp_path / "root", download=True)
    assert os.listdir(tmp_path / "root" / "Tiny" / "raw") == []


def test_official_checksums_are_those_of_the_decompressed_files():
    assert MNIST.resources["train-images-idx3-ubyte"] == "6bbc9ace898e44ae57da46a324031adb"
    assert FashionMNIST.mirrors[0].startswith("http://fashion-mnist.s3-website.eu-central-1")
    assert any("ossci-datasets" in m for m in MNIST.mirrors)


# ---- the real Fashion-MNIST from Debian's package -------------------------------------------

@pytest.mark.skipif(not os.path.isdir(DEBIAN), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_from_the_debian_package(tmp_path):
    train = FashionMNIST(tmp_path)
    test = FashionMNIST(tmp_path, train=False)
    assert train.data.shape == (60000, 28, 28) and len(test) == 10000
    np.testing.assert_array_equal(np.bincount(train.targets, minlength=10), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(test.targets, minlength=10), [1000] * 10)
    n = train.data.size                                   # pixel statistics of x / 255, exact
    s1 = int(train.data.sum(dtype=np.uint64))
    s2 = int(np.square(train.data, dtype=np.uint16).sum(dtype=np.uint64))
    mean = s1 / n / 255
    std = np.sqrt(s2 / n / 255 ** 2 - mean ** 2)
    assert abs(mean - train.mean[0]) < 1e-4 and abs(std - train.std[0]) < 1e-4
    for split, ds in (("train", train), ("t10k", test)):   # the content behind the checksums
        content = idx_bytes(ds.data)
        assert hashlib.md5(content).hexdigest() == FashionMNIST.resources[
            f"{split}-images-idx3-ubyte"]
        labels = idx_bytes(ds.targets.astype(np.uint8))
        assert hashlib.md5(labels).hexdigest() == FashionMNIST.resources[
            f"{split}-labels-idx1-ubyte"]
