import collections
import gc
import threading
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule import backend
from chainrule.data import BatchSampler, DataLoader, Dataset, TensorDataset, default_collate


def _ds(n=10):
    return TensorDataset(cr.tensor(np.arange(n * 2, dtype=np.float32).reshape(n, 2)),
                         cr.arange(n))


class _PerItem(Dataset):
    """No batch hook: the loader calls ds[i] per sample."""

    def __init__(self, n=10, fail_at=None):
        self.n, self.fail_at = n, fail_at

    def __getitem__(self, i):
        if i == self.fail_at:
            raise KeyError(f"bad sample {i}")
        return np.array([2 * i, 2 * i + 1], np.float32), i

    def __len__(self):
        return self.n


def _labels(loader):
    return [yb.tolist() for _, yb in loader]


@pytest.mark.parametrize("make", [_ds, _PerItem])
def test_batches_shapes_and_last_batch(make):
    loader = DataLoader(make(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    assert batches[0][0].dtype == np.float32 and batches[0][1].dtype == np.int64
    np.testing.assert_array_equal(batches[2][0].data, [[16, 17], [18, 19]])
    assert _labels(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    dropped = DataLoader(make(10), batch_size=4, drop_last=True)
    assert len(dropped) == 2 and _labels(dropped) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_fast_path_and_per_item_path_agree():
    cr.manual_seed(1)
    fast = [(x.data, y.data) for x, y in DataLoader(_ds(23), batch_size=5, shuffle=True)]
    cr.manual_seed(1)
    slow = [(x.data, y.data) for x, y in DataLoader(_PerItem(23), batch_size=5, shuffle=True)]
    assert len(fast) == len(slow) == 5
    for (xf, yf), (xs, ys) in zip(fast, slow):
        np.testing.assert_array_equal(xf, xs)
        np.testing.assert_array_equal(yf, ys)


def test_shuffle_covers_each_index_once_and_changes_between_epochs():
    loader = DataLoader(_ds(100), batch_size=7, shuffle=True)
    epochs = [sum(_labels(loader), []) for _ in range(3)]
    for order in epochs:
        assert sorted(order) == list(range(100))
    assert epochs[0] != epochs[1] != epochs[2] and epochs[0] != list(range(100))


def test_same_seed_same_order_and_rng_state_resume():
    loader = DataLoader(_ds(50), batch_size=8, shuffle=True)
    cr.manual_seed(7)
    a = _labels(loader)
    state = backend.get_rng_state()          # what a checkpoint saves after epoch 1
    a2 = _labels(loader)
    cr.manual_seed(7)
    assert _labels(loader) == a
    backend.set_rng_state(state)             # resume: epoch 2 comes out the same
    assert _labels(loader) == a2


def test_explicit_generator_is_independent_of_the_global_one():
    orders = []
    for _ in range(2):
        loader = DataLoader(_ds(30), batch_size=30, shuffle=True,
                            generator=np.random.default_rng(11))
        cr.manual_seed(np.random.randint(1000))
        orders.append(_labels(loader))
    assert orders[0] == orders[1]


def test_default_collate_of_containers_and_numbers():
    Point = collections.namedtuple("Point", "x y")
    batch = default_collate([
        {"img": np.zeros((2, 2), np.uint8), "label": 1, "w": 0.5, "ok": True, "name": "a",
         "pt": Point(cr.tensor([1.0]), 2), "pair": [np.float64(1.5), 3]},
        {"img": np.ones((2, 2), np.uint8), "label": 2, "w": 1.5, "ok": False, "name": "b",
         "pt": Point(cr.tensor([3.0]), 4), "pair": [np.float64(2.5), 4]},
    ])
    assert batch["img"].shape == (2, 2, 2) and batch["img"].dtype == np.uint8
    assert batch["label"].dtype == np.int64 and batch["label"].tolist() == [1, 2]
    assert batch["w"].dtype == np.float32 and batch["w"].tolist() == [0.5, 1.5]
    assert batch["ok"].dtype == np.bool_ and batch["name"] == ["a", "b"]
    assert isinstance(batch["pt"], Point) and batch["pt"].x.shape == (2, 1)
    assert batch["pt"].y.tolist() == [2, 4]
    assert isinstance(batch["pair"], list) and batch["pair"][0].dtype == np.float64
    tup = default_collate([(1, 2.0), (3, 4.0)])
    assert isinstance(tup, tuple) and tup[0].tolist() == [1, 3]


def test_default_collate_errors():
    with pytest.raises(ValueError, match=r"different shapes \[\(2,\), \(3,\)\]"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError, match="different lengths"):
        default_collate([(1, 2), (3,)])
    with pytest.raises(TypeError, match="object"):
        default_collate([object(), object()])
    with pytest.raises(ValueError, match="empty"):
        default_collate([])


def test_custom_collate_receives_samples():
    seen = []

    def collate(samples):
        seen.append(len(samples))
        return [s[1].item() for s in samples]

    assert list(DataLoader(_ds(5), batch_size=2, collate_fn=collate)) == [[0, 1], [2, 3], [4]]
    assert seen == [2, 2, 1]


def test_getitems_returning_a_list_is_collated():
    class ListHook(_PerItem):
        def __getitems__(self, indices):
            return [self[i] for i in indices]

    (xb, yb), = DataLoader(ListHook(3), batch_size=3)
    assert xb.shape == (3, 2) and yb.tolist() == [0, 1, 2]


def test_no_batching_and_batch_sampler():
    items = list(DataLoader(_PerItem(3), batch_size=None))
    assert len(items) == 3 and isinstance(items[1][0], cr.Tensor) and items[1][1] == 1
    loader = DataLoader(_ds(6), batch_sampler=[[5, 0], [1, 2, 3]])
    assert _labels(loader) == [[5, 0], [1, 2, 3]] and len(loader) == 2
    loader = DataLoader(_ds(6), batch_sampler=BatchSampler(range(6), 4, False))
    assert len(loader) == 2


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(_ds(), batch_size=0)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(_ds(), sampler=range(10), shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler"):
        DataLoader(_ds(), batch_size=4, batch_sampler=[[0]])
    with pytest.raises(TypeError, match="Generator"):
        DataLoader(_ds(), shuffle=True, generator=0)
    with pytest.raises(ValueError, match="prefetch"):
        DataLoader(_ds(), prefetch=-1)


def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "chainrule-DataLoader-prefetch"]


@pytest.mark.parametrize("make", [_ds, _PerItem])
def test_prefetch_gives_the_same_batches(make):
    cr.manual_seed(2)
    plain = [(x.data, y.data) for x, y in DataLoader(make(37), batch_size=5, shuffle=True)]
    cr.manual_seed(2)
    pre = [(x.data, y.data) for x, y in DataLoader(make(37), batch_size=5, shuffle=True,
                                                   prefetch=True)]
    assert len(pre) == len(plain) == 8
    for (a, b), (c, d) in zip(plain, pre):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    assert DataLoader(make(4), num_workers=2).prefetch == 2


@pytest.mark.parametrize("prefetch", [False, True])
def test_exceptions_reach_the_caller(prefetch):
    loader = DataLoader(_PerItem(10, fail_at=6), batch_size=3, prefetch=prefetch)
    it = iter(loader)
    assert next(it)[1].tolist() == [0, 1, 2]
    with pytest.raises(KeyError, match="bad sample 6"):
        for _ in it:
            pass
    del it
    gc.collect()
    assert not _prefetch_threads()


def test_early_break_stops_the_prefetch_thread():
    loader = DataLoader(_ds(1000), batch_size=2, prefetch=True)
    start = time.perf_counter()
    for k, _ in enumerate(loader):
        if k == 3:
            break
    gc.collect()
    for _ in range(100):                     # the thread notices within ~0.05 s
        if not _prefetch_threads():
            break
        time.sleep(0.01)
    assert not _prefetch_threads() and time.perf_counter() - start < 2


def test_fashion_mnist_sized_epoch_is_fast():
    x = np.random.default_rng(0).random((60000, 784), dtype=np.float32)
    y = np.random.default_rng(0).integers(0, 10, 60000)
    loader = DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True)
    list(loader)                             # warm up
    start = time.perf_counter()
    n = sum(len(yb) for _, yb in loader)
    elapsed = time.perf_counter() - start
    assert n == 60000 and len(loader) == 469
    assert elapsed < 1.0, f"epoch took {elapsed:.3f} s"
