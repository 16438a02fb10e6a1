"""chainrule.save / chainrule.load: round trips, the safetensors layout, atomic writes, errors."""
import errno
import io
import os

import numpy as np
import pytest

import chainrule as cr
from chainrule import serialization
from chainrule.serialization import CorruptFileError

safetensors_numpy = pytest.importorskip("safetensors.numpy")


def _state_dict():
    rng = np.random.default_rng(0)
    return {
        "0.weight": cr.tensor(rng.standard_normal((4, 3)).astype(np.float32)),
        "0.bias": cr.tensor(rng.standard_normal(4), dtype=cr.float64),
        "bn.num_batches_tracked": cr.tensor(7),
        "table": cr.tensor(np.arange(12, dtype=np.int64).reshape(3, 4)),
        "pixels": cr.tensor(np.arange(5, dtype=np.uint8)),
        "mask": cr.tensor(np.array([True, False, True])),
    }


def _files(d):
    return sorted(p.name for p in d.iterdir())


def test_state_dict_round_trip_keeps_names_dtypes_and_bits(tmp_path):
    sd = _state_dict()
    cr.save(sd, tmp_path / "w.safetensors")
    back = cr.load(tmp_path / "w.safetensors")
    assert list(back) == list(sd)
    for k, t in sd.items():
        assert isinstance(back[k], cr.Tensor)
        assert back[k].dtype == t.dtype and back[k].shape == t.shape
        np.testing.assert_array_equal(back[k].data, t.data)
    assert back["0.weight"].dtype == np.float32 and back["0.bias"].dtype == np.float64
    assert back["table"].dtype == np.int64
    back["0.weight"].data += 1  # loaded arrays are writable (optimizers update them in place)


def test_state_dict_is_a_plain_safetensors_file(tmp_path):
    sd = _state_dict()
    cr.save(sd, tmp_path / "w.safetensors")
    raw = safetensors_numpy.load_file(str(tmp_path / "w.safetensors"))
    assert set(raw) == set(sd)
    np.testing.assert_array_equal(raw["0.weight"], sd["0.weight"].data)


def test_weights_open_in_torch(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    sd = _state_dict()
    cr.save(sd, tmp_path / "w.safetensors")
    raw = st_torch.load_file(str(tmp_path / "w.safetensors"))
    assert raw["0.bias"].dtype == torch.float64
    np.testing.assert_array_equal(raw["0.weight"].numpy(), sd["0.weight"].data)


def test_foreign_safetensors_file_loads_as_tensors(tmp_path):
    safetensors_numpy.save_file({"w": np.ones((2, 2), np.float16)}, str(tmp_path / "f.st"))
    back = cr.load(tmp_path / "f.st")
    assert isinstance(back["w"], cr.Tensor) and back["w"].dtype == np.float16


def test_nested_checkpoint_round_trip(tmp_path):
    cr.manual_seed(3)
    ckpt = {
        "model": _state_dict(),
        "optimizer": {"state": {0: {"step": np.float32(3.0), "exp_avg": np.zeros(4, np.float32)},
                                1: {"step": 2, "momentum_buffer": None}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8,
                                        "params": [0, 1], "nesterov": False}]},
        "scheduler": {"last_epoch": 4, "base_lrs": [0.1], "best": float("inf"),
                      "mode": "min", "gap": float("nan"), "neg": float("-inf")},
        "epoch": 4,
        "rng": cr.backend.get_rng_state(),  # holds 128-bit integers
        "history": [{"epoch": 1, "train_loss": 0.1 + 0.2, "val_acc": None}],
        "tied": (1, "a", (2.5, True)),
        "__odd": {"__tensor__": "not a tag"},
    }
    cr.save(ckpt, tmp_path / "c.ckpt")
    back = cr.load(tmp_path / "c.ckpt")
    for k in ("0.weight", "table", "pixels"):
        np.testing.assert_array_equal(back["model"][k].data, ckpt["model"][k].data)
        assert back["model"][k].dtype == ckpt["model"][k].dtype
    st = back["optimizer"]["state"]
    assert set(st) == {0, 1}  # int keys stay ints
    assert isinstance(st[0]["step"], np.float32) and st[0]["step"] == 3.0
    assert isinstance(st[0]["exp_avg"], np.ndarray) and st[0]["exp_avg"].dtype == np.float32
    assert st[1] == {"step": 2, "momentum_buffer": None}
    assert back["optimizer"]["param_groups"] == ckpt["optimizer"]["param_groups"]
    sch = back["scheduler"]
    assert sch["best"] == float("inf") and sch["neg"] == float("-inf") and np.isnan(sch["gap"])
    assert back["history"][0]["train_loss"] == 0.1 + 0.2  # floats are exact
    assert back["tied"] == (1, "a", (2.5, True))
    assert back["__odd"] == {"__tensor__": "not a tag"}
    assert back["rng"] == ckpt["rng"]
    a = cr.rand(5).data
    cr.backend.set_rng_state(back["rng"])
    np.testing.assert_array_equal(cr.rand(5).data, a)


def test_arrays_keep_layout_and_path_names(tmp_path):
    x = np.arange(12.0).reshape(3, 4)
    obj = {"view": x[:, ::2], "fortran": np.asfortranarray(x), "scalar0d": np.array(2.5),
           "big_endian": np.arange(3, dtype=">i4"), "empty": np.zeros((0, 3)),
           "nest": {"inner": [cr.ones(2)]}}
    cr.save(obj, tmp_path / "a.ckpt")
    back = cr.load(tmp_path / "a.ckpt")
    np.testing.assert_array_equal(back["view"], x[:, ::2])
    np.testing.assert_array_equal(back["fortran"], x)
    assert back["scalar0d"].shape == () and back["scalar0d"] == 2.5
    np.testing.assert_array_equal(back["big_endian"], [0, 1, 2])
    assert back["empty"].shape == (0, 3)
    assert "nest/inner/0" in safetensors_numpy.load_file(str(tmp_path / "a.ckpt"))


def test_bare_tensor_and_file_objects():
    buf = io.BytesIO()
    cr.save(cr.arange(4), buf)
    buf.seek(0)
    back = cr.load(buf)
    assert isinstance(back, cr.Tensor) and back.tolist() == [0, 1, 2, 3]


def test_unsupported_objects_are_refused_with_their_path(tmp_path):
    with pytest.raises(TypeError, match=r"object.*at 'optimizer/hook'"):
        cr.save({"optimizer": {"hook": lambda: 0}}, tmp_path / "x")
    with pytest.raises(TypeError, match=r"dtype <U1 at 'names'"):
        cr.save({"names": np.array(["a", "b"])}, tmp_path / "x")
    assert _files(tmp_path) == []


def test_map_location():
    buf = io.BytesIO()
    cr.save({"a": cr.ones(1)}, buf)
    buf.seek(0)
    assert cr.load(buf, map_location="cpu")["a"].tolist() == [1.0]
    with pytest.raises(ValueError, match="map_location"):
        cr.load(buf, map_location="cuda")


# ---- atomic writes ---------------------------------------------------------------------------

def test_failed_replace_leaves_previous_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    cr.save({"v": cr.tensor([1.0])}, path)

    def broken_replace(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(serialization.os, "replace", broken_replace)
    with pytest.raises(OSError, match=r"could not write '.*last.ckpt'.*previous file"):
        cr.save({"v": cr.tensor([2.0])}, path)
    monkeypatch.undo()
    assert cr.load(path)["v"].tolist() == [1.0]
    assert _files(tmp_path) == ["last.ckpt"]


def test_disk_full_is_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    cr.save({"v": cr.tensor([1.0])}, path)

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(serialization.os, "fsync", full)
    with pytest.raises(OSError, match="no space left on device") as info:
        cr.save({"v": cr.zeros(1000)}, path)
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert cr.load(path)["v"].tolist() == [1.0]
    assert _files(tmp_path) == ["last.ckpt"]


def test_interrupted_write_removes_temp(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(serialization.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cr.save({"v": cr.ones(3)}, path)
    assert _files(tmp_path) == []


def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        cr.save({"v": cr.ones(1)}, tmp_path / "nope" / "w.safetensors")


def test_written_file_gets_normal_permissions(tmp_path):
    cr.save({"v": cr.ones(1)}, tmp_path / "w")
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(tmp_path / "w").st_mode & 0o777 == 0o666 & ~umask


# ---- damaged files ---------------------------------------------------------------------------

@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "c.ckpt"
    cr.save({"model": _state_dict(), "epoch": 3}, path)
    return path


@pytest.mark.parametrize("keep", [0, 5, 20, -10])
def test_truncated_file_names_file_and_problem(saved, keep):
    data = saved.read_bytes()
    saved.write_bytes(data[:keep] if keep >= 0 else data[:keep])
    with pytest.raises(CorruptFileError, match=r"c\.ckpt.*truncated"):
        cr.load(saved)


def test_flipped_byte_in_data_is_detected(saved):
    data = bytearray(saved.read_bytes())
    data[-3] ^= 0xFF
    saved.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=r"c\.ckpt.*checksum"):
        cr.load(saved)


def test_garbage_header(saved):
    data = bytearray(saved.read_bytes())
    data[9] = ord("#")  # inside the JSON header
    saved.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=r"c\.ckpt.*not valid JSON"):
        cr.load(saved)


def test_not_a_safetensors_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a checkpoint at all\n")
    with pytest.raises(CorruptFileError, match=r"notes\.txt.*not a readable safetensors"):
        cr.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        cr.load(tmp_path / "absent.ckpt")
