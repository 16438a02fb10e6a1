"""datasets/transforms.py, augmentation: RandomCrop, RandomHorizontalFlip, TransformDataset."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import backend
from chainrule.data import DataLoader, TensorDataset
from chainrule.datasets.transforms import (Compose, RandomCrop, RandomHorizontalFlip,
                                           TransformDataset)


def _images(n, c=1, h=4, w=4):
    return np.arange(n * c * h * w, dtype=np.float32).reshape(n, c, h, w)


def _offsets(out, x, p, fill):
    """For each output image, the (di, dj) shift of the padded input it equals."""
    n, c, h, w = x.shape
    padded = np.full((n, c, h + 2 * p, w + 2 * p), fill, np.float32)
    padded[:, :, p:p + h, p:p + w] = x
    found = []
    for k in range(n):
        hits = [(i, j) for i in range(2 * p + 1) for j in range(2 * p + 1)
                if np.array_equal(out[k], padded[k, :, i:i + h, j:j + w])]
        assert len(hits) == 1, f"image {k} is no shifted copy of its input"
        found.append(hits[0])
    return found


def test_random_crop_cuts_a_shifted_window_of_each_padded_image():
    x = _images(200, c=2)
    out = RandomCrop(4, padding=1, fill=-7.0)(x)
    assert out.shape == x.shape and out.dtype == np.float32 and isinstance(out, np.ndarray)
    shifts = _offsets(out, x, 1, -7.0)
    assert len(set(shifts)) == 9  # every one of the 3 x 3 positions occurs
    np.testing.assert_array_equal(x, _images(200, c=2))  # the input is left alone
    # both channels of an image move together; the gaps hold the fill value
    k = shifts.index((0, 0))
    np.testing.assert_array_equal(out[k, :, 0, :], -7.0)
    np.testing.assert_array_equal(out[k, :, 1:, 1:], x[k, :, :3, :3])


def test_random_crop_positions_are_uniform():
    x = np.zeros((20000, 1, 3, 3), np.float32)
    x[:, :, 0, 0] = 1  # where the marked pixel lands tells the window's position
    out = RandomCrop(3, padding=2)(x).reshape(len(x), 9)
    images, places = np.nonzero(out == 1)
    # the pixel, at (2, 2) of the 7x7 padded image, stays in the 3x3 window for 9 of the 25
    # positions (i, j); each of them puts it in its own place (2 - i, 2 - j), with P = 1/25
    assert abs(len(images) / len(x) - 9 / 25) < 0.015
    np.testing.assert_allclose(np.bincount(places, minlength=9) / len(x), np.full(9, 1 / 25),
                               atol=0.006)


def test_random_crop_smaller_than_the_image_and_single_images():
    x = _images(50, h=6, w=5)
    out = RandomCrop((3, 2))(x)  # no padding: every window lies inside the image
    assert out.shape == (50, 1, 3, 2)
    for k in range(50):
        hits = [(i, j) for i in range(4) for j in range(4)
                if np.array_equal(out[k, 0], x[k, 0, i:i + 3, j:j + 2])]
        assert len(hits) == 1
    t = RandomCrop(4, padding=2)(cr.tensor(_images(1)[0]))  # one (C, H, W) Tensor
    assert isinstance(t, cr.Tensor) and t.shape == (1, 4, 4)
    assert RandomCrop(2)(np.ones((5, 5))).shape == (2, 2)  # (H, W)
    np.testing.assert_array_equal(RandomCrop(4)(_images(3)), _images(3))  # full size, no pad


def test_random_crop_errors():
    with pytest.raises(ValueError, match=r"RandomCrop\(size=\(9, 9\), padding=2\): the crop is "
                                         r"larger than the padded image 8x8"):
        RandomCrop(9, padding=2)(_images(2))
    with pytest.raises(ValueError, match="RandomCrop: size must be"):
        RandomCrop((0, 3))
    with pytest.raises(ValueError, match="RandomCrop: padding must be"):
        RandomCrop(3, padding=-1)
    with pytest.raises(ValueError, match=r"RandomCrop: expected an image .* got shape \(4,\)"):
        RandomCrop(2)(np.zeros(4))


def test_random_horizontal_flip():
    x = _images(4000, c=3, h=2, w=5)
    out = RandomHorizontalFlip()(x)
    same = np.all(out == x, axis=(1, 2, 3))
    mirrored = np.all(out == x[..., ::-1], axis=(1, 2, 3))
    assert np.all(same ^ mirrored)  # each image whole, either as it was or mirrored
    assert abs(mirrored.mean() - 0.5) < 0.03
    assert abs(np.mean(RandomHorizontalFlip(0.2)(x)[:, 0, 0, 0] != x[:, 0, 0, 0]) - 0.2) < 0.03
    np.testing.assert_array_equal(RandomHorizontalFlip(0.0)(x), x)
    np.testing.assert_array_equal(RandomHorizontalFlip(1.0)(x), x[..., ::-1])
    np.testing.assert_array_equal(x, _images(4000, c=3, h=2, w=5))  # the input is left alone
    t = RandomHorizontalFlip(1.0)(cr.tensor([[1.0, 2.0, 3.0]]))
    assert isinstance(t, cr.Tensor) and t.tolist() == [[3.0, 2.0, 1.0]]
    with pytest.raises(ValueError, match=r"RandomHorizontalFlip: p must be in \[0, 1\]"):
        RandomHorizontalFlip(1.5)


def test_draws_come_from_the_global_generator():
    aug = Compose([RandomCrop(4, padding=1), RandomHorizontalFlip()])
    x = _images(64)
    cr.manual_seed(3)
    a = aug(x)
    state = backend.get_rng_state()
    b = aug(x)
    cr.manual_seed(3)
    np.testing.assert_array_equal(aug(x), a)  # the same seed, the same batch
    backend.set_rng_state(state)
    np.testing.assert_array_equal(aug(x), b)  # a saved state resumes the sequence
    assert not np.array_equal(a, b)


def test_transform_dataset_transforms_whole_batches():
    calls = []

    def double(x):
        calls.append(x.shape)
        return x * 2

    X, y = _images(10), np.arange(10)
    ds = TransformDataset(TensorDataset(X, y), double)
    assert len(ds) == 10
    xb, yb = next(iter(DataLoader(ds, batch_size=4)))
    assert calls == [(4, 1, 4, 4)]  # one call for the batch (the fast path), not four
    np.testing.assert_array_equal(xb.numpy(), 2 * X[:4])
    np.testing.assert_array_equal(yb.numpy(), y[:4])
    x3, y3 = ds[3]  # one sample
    np.testing.assert_array_equal(x3.numpy(), 2 * X[3])
    assert int(y3.item()) == 3
    labels = TransformDataset(TensorDataset(X, y), None, target_transform=lambda t: t + 100)
    assert labels.__getitems__([0, 9])[1].tolist() == [100, 109]
    with pytest.raises(TypeError, match="TransformDataset: transform must be callable"):
        TransformDataset(TensorDataset(X, y), 3)


def test_transform_dataset_over_a_per_sample_dataset():
    class Plain:
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return np.full((1, 2, 2), float(i), np.float32), i

    ds = TransformDataset(Plain(), RandomHorizontalFlip(1.0))
    xb, yb = next(iter(DataLoader(ds, batch_size=3)))
    assert xb.shape == (3, 1, 2, 2) and yb.tolist() == [0, 1, 2]


def test_augmented_epochs_are_reproducible_and_differ_between_epochs():
    X = np.random.default_rng(0).standard_normal((32, 1, 6, 6)).astype(np.float32)
    y = np.arange(32)
    aug = Compose([RandomCrop(6, padding=2), RandomHorizontalFlip()])

    def epoch():
        return [xb.numpy() for xb, _ in DataLoader(TransformDataset(TensorDataset(X, y), aug),
                                                   batch_size=8, shuffle=True)]

    cr.manual_seed(5)
    first, second = epoch(), epoch()
    cr.manual_seed(5)
    again = epoch()
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(np.concatenate(first), np.concatenate(second))


def test_data_transforms_is_the_same_module():
    import chainrule.data.transforms as dt
    from chainrule.data import transforms
    from chainrule.datasets import transforms as original

    assert dt is original and transforms is original
    assert dt.RandomCrop is RandomCrop
