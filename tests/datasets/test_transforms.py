import numpy as np
import pytest

import chainrule as cr
from chainrule.datasets.transforms import Compose, Flatten, Lambda, Normalize, ToTensor


def test_to_tensor_scales_uint8_and_moves_channels_first():
    hw = np.arange(12, dtype=np.uint8).reshape(3, 4)
    t = ToTensor()(hw)
    assert t.shape == (1, 3, 4) and t.dtype == np.float32
    np.testing.assert_allclose(t.data[0], hw / 255, rtol=1e-6)
    hwc = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    t = ToTensor()(hwc)
    assert t.shape == (3, 2, 4)
    np.testing.assert_array_equal(t.data[2] * 255, hwc[:, :, 2].astype(np.float32))
    f = ToTensor()(np.full((2, 2), 7.5))
    assert f.dtype == np.float32 and f.data.max() == 7.5
    with pytest.raises(ValueError, match="ToTensor"):
        ToTensor()(np.zeros(5))


def test_normalize_per_channel():
    x = cr.tensor(np.stack([np.full((2, 2), 1.0), np.full((2, 2), 3.0)]).astype(np.float32))
    out = Normalize((0.5, 1.0), (0.5, 2.0))(x)
    np.testing.assert_allclose(out.data[0], 1.0)
    np.testing.assert_allclose(out.data[1], 1.0)
    assert out.dtype == np.float32
    with pytest.raises(ValueError, match="3 means for an image of 2 channels"):
        Normalize((0, 0, 0), (1, 1, 1))(x)
    with pytest.raises(ValueError, match="ToTensor first"):
        Normalize((0,), (1,))(np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="non-zero"):
        Normalize((0,), (0,))


def test_normalize_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).random((3, 5, 4), dtype=np.float32)
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    m, s = torch.tensor(mean)[:, None, None], torch.tensor(std)[:, None, None]
    want = (torch.from_numpy(x) - m) / s
    np.testing.assert_allclose(Normalize(mean, std)(cr.tensor(x)).data, want.numpy(), rtol=1e-6)


def test_compose_flatten_lambda():
    t = Compose([ToTensor(), Normalize((0.5,), (0.5,)), Flatten(), Lambda(lambda v: v * 2)])
    img = np.array([[0, 255], [255, 0]], np.uint8)
    out = t(img)
    assert out.shape == (4,)
    np.testing.assert_allclose(out.data, [-2, 2, 2, -2])
    assert "Normalize" in repr(t)
    with pytest.raises(TypeError, match="callable"):
        Lambda(3)
