import numpy as np
import pytest

import chainrule as cr
from chainrule.data import ConcatDataset, Dataset, Subset, TensorDataset, random_split


def _ds(n=10):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n, dtype=np.int64)
    return TensorDataset(cr.tensor(x), cr.tensor(y))


def test_tensor_dataset_items_and_batches():
    ds = _ds()
    assert len(ds) == 10
    x, y = ds[4]
    np.testing.assert_array_equal(x.data, [12, 13, 14])
    assert y.shape == () and y.item() == 4 and y.dtype == np.int64
    xb, yb = ds.__getitems__([7, 0, 7])
    assert isinstance(xb, cr.Tensor) and xb.shape == (3, 3) and xb.dtype == np.float32
    np.testing.assert_array_equal(yb.data, [7, 0, 7])
    np.testing.assert_array_equal(xb.data[0], [21, 22, 23])


def test_tensor_dataset_accepts_numpy_and_shares_memory():
    x = np.zeros((4, 2), np.float32)
    ds = TensorDataset(x)
    x[1] = 5
    assert ds[1][0].tolist() == [5.0, 5.0]


def test_tensor_dataset_size_mismatch_names_the_sizes():
    with pytest.raises(ValueError, match=r"\[10, 9\]"):
        TensorDataset(cr.zeros(10, 3), cr.zeros(9))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()
    with pytest.raises(ValueError, match="0-d"):
        TensorDataset(cr.tensor(1.0))
    with pytest.raises(TypeError, match="list"):
        TensorDataset([1, 2, 3])


def test_dataset_base_needs_getitem():
    with pytest.raises(NotImplementedError, match="__getitem__"):
        Dataset()[0]


class _Plain(Dataset):
    def __getitem__(self, i):
        return np.full(2, i, np.float32), i

    def __len__(self):
        return 6


def test_subset_items_and_batch_hook():
    sub = Subset(_ds(), [9, 2, 5])
    assert len(sub) == 3
    assert sub[1][1].item() == 2
    xb, yb = sub.__getitems__([2, 0])          # forwarded as one fancy index
    np.testing.assert_array_equal(yb.data, [5, 9])
    plain = Subset(_Plain(), [3, 1]).__getitems__([0, 1])
    assert isinstance(plain, list) and [s[1] for s in plain] == [3, 1]


def test_concat_dataset_indexing():
    a, b = _Plain(), _ds(4)
    cat = a + b
    assert isinstance(cat, ConcatDataset) and len(cat) == 10 and cat.cumulative_sizes == [6, 10]
    assert cat[5][1] == 5
    assert cat[6][1].item() == 0 and cat[9][1].item() == 3
    assert cat[-1][1].item() == 3 and cat[-10][1] == 0
    with pytest.raises(IndexError, match="out of range"):
        cat[10]
    with pytest.raises(IndexError):
        cat[-11]
    with pytest.raises(ValueError, match="empty"):
        ConcatDataset([])


def test_random_split_ints_partition_the_dataset():
    parts = random_split(_ds(10), [3, 7], generator=np.random.default_rng(0))
    assert [len(p) for p in parts] == [3, 7]
    idx = sorted(parts[0].indices + parts[1].indices)
    assert idx == list(range(10))


def test_random_split_fractions_deal_the_remainder():
    assert [len(p) for p in random_split(_ds(10), [0.5, 0.3, 0.2])] == [5, 3, 2]
    assert [len(p) for p in random_split(_ds(11), [0.5, 0.5])] == [6, 5]
    assert [len(p) for p in random_split(_ds(10), [0.33, 0.33, 0.34])] == [4, 3, 3]


def test_random_split_is_seeded():
    cr.manual_seed(3)
    a = random_split(_ds(20), [10, 10])[0].indices
    cr.manual_seed(3)
    b = random_split(_ds(20), [10, 10])[0].indices
    c = random_split(_ds(20), [10, 10], generator=np.random.default_rng(3))[0].indices
    d = random_split(_ds(20), [10, 10], generator=np.random.default_rng(3))[0].indices
    assert a == b and c == d and a != list(range(10))


def test_random_split_bad_lengths():
    with pytest.raises(ValueError, match="sum to 9"):
        random_split(_ds(10), [4, 5])
    with pytest.raises(ValueError, match="fractions summing to 1"):
        random_split(_ds(10), [0.5, 0.2])
