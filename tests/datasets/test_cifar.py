import hashlib
import os
import pickle
import tarfile

import numpy as np
import pytest

from chainrule.data import DataLoader
from chainrule.datasets import CIFAR10
from chainrule.datasets._download import DownloadError
from chainrule.datasets.cifar import load_batch

NAMES = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
         "test_batch"]


def write_batches(folder, per_batch=4, seed=0):
    """Six small batches in the official layout; returns {name: (data (n, 3072), labels)}."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    out = {}
    for k, name in enumerate(NAMES):
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [(k * per_batch + i) % 10 for i in range(per_batch)]
        raw = pickle.dumps({b"batch_label": name.encode(), b"data": data, b"labels": labels,
                            b"filenames": [b"x.png"] * per_batch}, protocol=2)
        # the official files name NumPy 1's module, as here (NumPy 2 writes numpy._core)
        raw = raw.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
        with open(os.path.join(folder, name), "wb") as f:
            f.write(raw)
        out[name] = (data, labels)
    return out


def test_loads_train_and_test_in_the_official_layout(tmp_path):
    ref = write_batches(tmp_path / "cifar-10-batches-py")
    train, test = CIFAR10(tmp_path), CIFAR10(tmp_path, train=False)
    assert len(train) == 20 and len(test) == 4
    assert train.data.shape == (20, 32, 32, 3) and train.data.dtype == np.uint8
    assert train.targets.dtype == np.int64 and train.targets.tolist() == [i % 10 for i in range(20)]
    row = ref["data_batch_2"][0][1]                       # sample 5: batch 2, row 1
    img, label = train[5]
    assert img.shape == (3, 32, 32) and img.dtype == np.float32 and label == 5
    for c in range(3):                                    # 1024 red, then green, then blue
        np.testing.assert_allclose(img.data[c], row[c * 1024:(c + 1) * 1024].reshape(32, 32) / 255,
                                   rtol=1e-6)
    np.testing.assert_array_equal(train.data[5, :, :, 0], row[:1024].reshape(32, 32))
    xb, yb = next(iter(DataLoader(train, batch_size=6)))
    assert xb.shape == (6, 3, 32, 32)
    np.testing.assert_array_equal(xb.data[5], img.data)
    x = train.as_tensor_dataset(flatten=True, normalize=True).tensors[0]
    assert x.shape == (20, 3072)
    np.testing.assert_allclose(x.data[5, 1024:2048], (row[1024:2048] / 255 - 0.4822) / 0.2435,
                               rtol=1e-5, atol=1e-5)
    assert train.classes[0] == "airplane" and len(train.classes) == 10


def test_transform_receives_hwc_uint8(tmp_path):
    write_batches(tmp_path / "cifar-10-batches-py")
    ds = CIFAR10(tmp_path, transform=lambda im: (im.dtype, im.shape))
    assert ds[0][0] == (np.uint8, (32, 32, 3))


def test_truncated_or_bad_batches_name_the_file(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_batches(folder)
    path = folder / "data_batch_3"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValueError, match=r"data_batch_3: not a readable CIFAR batch.*truncated"):
        CIFAR10(tmp_path)
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(ValueError, match=r"data_batch_3: 'data' must be uint8 \(N, 3072\)"):
        CIFAR10(tmp_path)
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}, f)
    with pytest.raises(ValueError, match="labels must lie in 0..9"):
        load_batch(path)


def test_the_unpickler_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil"
    path.write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(ValueError, match="refusing to load"):
        load_batch(path)


def test_missing_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_batch_1.*download=True"):
        CIFAR10(tmp_path)


def _archive(tmp_path):
    src = tmp_path / "src"
    write_batches(src / "cifar-10-batches-py")
    arc = tmp_path / "server" / "cifar-10-python.tar.gz"
    arc.parent.mkdir()
    with tarfile.open(arc, "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return arc, hashlib.md5(arc.read_bytes()).hexdigest()


def test_download_verifies_and_extracts_atomically(tmp_path):
    arc, md5 = _archive(tmp_path)

    class Tiny(CIFAR10):
        url = "file://" + str(arc)
        tgz_md5 = md5

    root = tmp_path / "root"
    ds = Tiny(root, download=True)
    assert len(ds) == 20
    assert sorted(os.listdir(root)) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]
    assert sorted(os.listdir(root / "cifar-10-batches-py")) == sorted(NAMES)
    assert len(Tiny(root, train=False, download=True)) == 4     # found, nothing fetched


def test_corrupt_archive_leaves_nothing(tmp_path):
    arc, _ = _archive(tmp_path)

    class Tiny(CIFAR10):
        url = "file://" + str(arc)

    assert Tiny.tgz_md5 == "c58f30108f718f92721af3b95e74349a"  # the published one: no match
    root = tmp_path / "root"
    with pytest.raises(DownloadError, match="md5 is .* expected c58f3010"):
        Tiny(root, download=True)
    assert os.listdir(root) == []
