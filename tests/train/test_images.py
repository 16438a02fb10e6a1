"""train.images: grid layout, value mapping, PNG bytes, and latent interpolation."""
import struct
import zlib

import numpy as np
import pytest

import chainrule as cr
from chainrule.train.images import interpolate, make_grid, save_image_grid


def _read_png(path):
    """Decode the 8-bit RGB, filter-0 PNGs that save_image_grid writes."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        tag, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF
        if tag == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif tag == b"IDAT":
            idat += body
        pos += 12 + n
    w, h = size
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + 3 * w)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:].reshape(h, w, 3)


def test_grid_places_each_image_in_row_major_order():
    imgs = np.arange(5, dtype=np.float64).reshape(5, 1, 1, 1) / 4  # constant images 0, .25, ...
    imgs = np.broadcast_to(imgs, (5, 1, 3, 2)).copy()
    g = make_grid(imgs, nrow=3, padding=1, pad_value=0.5)
    assert g.shape == (3, 2 * (3 + 1) + 1, 3 * (2 + 1) + 1)
    for k in range(5):
        r, c = divmod(k, 3)
        tile = g[:, 1 + r * 4:1 + r * 4 + 3, 1 + c * 3:1 + c * 3 + 2]
        assert np.all(tile == k / 4)
    # the empty sixth slot and the gaps are padding
    assert np.all(g[:, 5:8, 7:9] == 0.5) and np.all(g[:, 0, :] == 0.5)


def test_grid_value_range_clips_and_maps_and_keeps_rgb():
    x = cr.tensor(np.array([[[[-1.0, 0.0], [1.0, 3.0]]]], np.float32))
    g = make_grid(x, padding=0, value_range=(-1, 1))
    np.testing.assert_allclose(g[0], [[0.0, 0.5], [1.0, 1.0]])
    rgb = np.random.default_rng(0).random((2, 3, 4, 4))
    g = make_grid(rgb, nrow=2, padding=0)
    np.testing.assert_allclose(g[:, :, 4:], rgb[1])


@pytest.mark.parametrize("bad, msg", [(np.zeros((2, 2, 4, 4)), "C = 1 or 3"),
                                      (np.zeros((0, 1, 4, 4)), "N >= 1"),
                                      (np.zeros((4, 4)), "got shape")])
def test_grid_rejects_bad_shapes(bad, msg):
    with pytest.raises(ValueError, match=msg):
        make_grid(bad)


def test_grid_rejects_bad_settings():
    with pytest.raises(ValueError, match="nrow >= 1"):
        make_grid(np.zeros((1, 1, 2, 2)), nrow=0)
    with pytest.raises(ValueError, match="hi > lo"):
        make_grid(np.zeros((1, 1, 2, 2)), value_range=(1, 1))


def test_save_image_grid_writes_a_png_that_decodes_to_the_grid(tmp_path):
    imgs = np.random.default_rng(1).random((6, 1, 5, 4))
    path = save_image_grid(imgs, tmp_path / "g.png", nrow=3, padding=1, scale=2)
    pixels = _read_png(path)
    grid = make_grid(imgs, nrow=3, padding=1)
    expect = np.round(grid.transpose(1, 2, 0) * 255).astype(np.uint8)
    expect = expect.repeat(2, axis=0).repeat(2, axis=1)
    np.testing.assert_array_equal(pixels, expect)
    assert not [p for p in tmp_path.iterdir() if p.name != "g.png"]  # no temporary file left
    with pytest.raises(ValueError, match="scale must be >= 1"):
        save_image_grid(imgs, tmp_path / "h.png", scale=0)


def test_linear_interpolation_has_both_ends_and_equal_steps():
    h0, h1 = np.zeros(3), np.array([1.0, 2.0, 4.0])
    z = interpolate(h0, h1, 5)
    assert z.shape == (5, 3) and z.dtype == np.float32
    np.testing.assert_allclose(z[0], h0)
    np.testing.assert_allclose(z[-1], h1)
    np.testing.assert_allclose(np.diff(z, axis=0), np.tile(h1 / 4, (4, 1)), rtol=1e-6)


def test_slerp_stays_on_the_circle_between_unit_vectors():
    h0, h1 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    z = interpolate(h0, h1, 7, kind="slerp")
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(z[3], [np.sqrt(0.5)] * 2, rtol=1e-6)
    # parallel codes fall back to the line
    np.testing.assert_allclose(interpolate(h0, 2 * h0, 3, kind="slerp")[1], [1.5, 0.0])


def test_interpolate_errors():
    with pytest.raises(ValueError, match="same shape"):
        interpolate(np.zeros(2), np.zeros(3), 3)
    with pytest.raises(ValueError, match="steps >= 2"):
        interpolate(np.zeros(2), np.zeros(2), 1)
    with pytest.raises(ValueError, match="'linear' or 'slerp'"):
        interpolate(np.zeros(2), np.zeros(2), 3, kind="cubic")
