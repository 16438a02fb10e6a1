"""``chainrule.save`` / ``chainrule.load``: weights and checkpoints in the safetensors format.

One format for everything: a `safetensors <https://github.com/huggingface/safetensors>`_ file.

* Every array found in the saved object (a ``Tensor``, a NumPy array or a NumPy scalar) is one
  safetensors tensor, with its exact dtype and shape. Its name is its path in the object, levels
  joined by ``/``: a state dict ``{"0.weight": w}`` stores ``0.weight``; a checkpoint
  ``{"model": {"0.weight": w}, "optimizer": {"state": {0: {"exp_avg": m}}}}`` stores
  ``model/0.weight`` and ``optimizer/state/0/exp_avg``. So a saved ``model.state_dict()`` opens as
  a plain state dict in any safetensors reader (``safetensors.numpy.load_file``,
  ``safetensors.torch.load_file``), and a checkpoint's arrays are all visible too.
* Everything else (nested dicts, lists, tuples, ints of any size, floats, bools, strings, None)
  is kept as JSON in the header's ``__metadata__`` under ``chainrule.tree``; arrays appear there
  as ``{"__tensor__": name}``, ``{"__ndarray__": name}`` or ``{"__scalar__": name}``. Floats are
  written with ``repr`` (exact round trip), non-finite ones as ``{"__float__": "nan"}``, tuples
  as ``{"__tuple__": [...]}``, dicts whose keys are not all plain strings (e.g. the int keys of an
  optimizer's ``state``) as ``{"__dict__": [[key, value], ...]}``.
* ``chainrule.sha256`` in the metadata is a SHA-256 over every array's name, dtype, shape and
  bytes; ``load`` checks it, so a damaged file is an error, never silently wrong weights.

Nothing is pickled: loading a file runs no code, whoever wrote it. Any other object raises a
``TypeError`` naming where it was found. Arrays that share memory are stored (and loaded) as
separate copies.

Writes are atomic: the bytes go to a temporary file in the same directory, are flushed and
fsync'ed, and then ``os.replace`` puts the file in place. A failed write (disk full, permissions,
an interrupt) removes the temporary file and leaves any previous file at the path untouched.

Example::

    cr.save(model.state_dict(), "mlp.safetensors")
    model.load_state_dict(cr.load("mlp.safetensors"))
"""
from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import struct
import tempfile

import numpy as np

from . import backend
from .tensor import Tensor

FORMAT = "chainrule"
VERSION = "1"
_TAGS = ("__tensor__", "__ndarray__", "__scalar__", "__float__", "__tuple__", "__dict__")


class CorruptFileError(ValueError):
    """A file that ``chainrule.load`` can't read: truncated, damaged, or not safetensors."""


def _safetensors_numpy():
    try:
        import safetensors.numpy
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("chainrule.save/load need the 'safetensors' package: "
                          "pip install safetensors") from e
    return safetensors.numpy


# ---- object tree <-> (arrays, JSON) ----------------------------------------------------------

def _encode(obj, path, arrays):
    """The JSON form of ``obj``; the arrays inside go into ``arrays`` under unique names."""

    def store(arr, tag):
        name = path or "value"
        unique, i = name, 1
        while unique in arrays:
            unique, i = f"{name}#{i}", i + 1
        if arr.dtype.kind not in "biufc":
            raise TypeError(f"chainrule.save: can't store an array of dtype {arr.dtype} at "
                            f"'{name}' (only bool, integer, float and complex arrays)")
        arr = arr.astype(arr.dtype.newbyteorder("="), copy=False)  # native byte order
        arrays[unique] = arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)
        return {tag: unique}

    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, Tensor):  # a device tensor is saved as its host copy (loads on the CPU)
        return store(backend.to_host(obj.data), "__tensor__")
    if isinstance(obj, np.ndarray):
        return store(obj, "__ndarray__")
    if not backend.is_host(obj):  # a device array (e.g. an optimizer's state on the GPU)
        return store(backend.to_host(obj), "__ndarray__")
    if isinstance(obj, np.generic):
        return store(np.asarray(obj), "__scalar__")
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else {"__float__": repr(float(obj))}
    if isinstance(obj, (list, tuple)):
        items = [_encode(v, f"{path}/{i}" if path else str(i), arrays) for i, v in enumerate(obj)]
        return items if isinstance(obj, list) else {"__tuple__": items}
    if isinstance(obj, dict):
        def child(k):
            return f"{path}/{k}" if path else str(k)
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, child(k), arrays) for k, v in obj.items()}
        return {"__dict__": [[_encode(k, f"{child(k)}(key)", arrays), _encode(v, child(k), arrays)]
                             for k, v in obj.items()]}
    raise TypeError(f"chainrule.save: can't store an object of type {type(obj).__name__} at "
                    f"'{path or '(root)'}'; allowed are Tensor, numpy arrays and scalars, dict, "
                    f"list, tuple, str, int, float, bool and None")


def _decode(node, arrays):
    """The object that ``_encode`` turned into ``node``."""
    if isinstance(node, list):
        return [_decode(v, arrays) for v in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (tag, val), = node.items()
        if tag == "__tensor__":
            return Tensor._make(arrays[val], False, None, 0)
        if tag == "__ndarray__":
            return arrays[val]
        if tag == "__scalar__":
            return arrays[val][()]
        if tag == "__float__":
            return float(val)
        if tag == "__tuple__":
            return tuple(_decode(v, arrays) for v in val)
        if tag == "__dict__":
            return {_decode(k, arrays): _decode(v, arrays) for k, v in val}
    return {k: _decode(v, arrays) for k, v in node.items()}


def _checksum(arrays):
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = arrays[name]
        h.update(f"{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(np.ascontiguousarray(a.reshape(-1)).view(np.uint8).data)
    return h.hexdigest()


# ---- atomic write ----------------------------------------------------------------------------

def _atomic_write(path, data: bytes, who="chainrule.save"):
    """Write ``data`` to ``path`` so that the file is either the old one or the whole new one."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, f"{who}: the directory '{directory}' of "
                                              f"'{path}' does not exist", path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as f:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(f.fileno(), 0o666 & ~umask)  # mkstemp makes 0600; give the usual mode
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        reason = "no space left on device" if e.errno == errno.ENOSPC else (
            e.strerror or str(e))
        kept = "the previous file was left as it was" if os.path.exists(path) else \
            "no file was written"
        raise OSError(e.errno, f"{who}: could not write '{path}': {reason}; {kept}",
                      path) from e
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
    try:  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(dfd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(dfd)


# ---- public API ------------------------------------------------------------------------------

def save(obj, f) -> None:
    """Save a state dict, a tensor, or a nested checkpoint dict to ``f`` (safetensors format).

    Args:
        obj: a Tensor or array, or dicts/lists/tuples of them mixed with numbers, strings,
            bools and None (see the module docstring for the layout).
        f: a path (str or os.PathLike), written atomically, or a binary file-like object.

    Raises:
        TypeError: an object of another type inside ``obj`` (its path is named).
        OSError: the file could not be written (the previous file at ``f`` is intact).

    Example:
        >>> cr.save({"w": cr.ones(2)}, "w.safetensors")
        >>> cr.load("w.safetensors")["w"]
        tensor([1., 1.])
    """
    arrays = {}
    tree = _encode(obj, "", arrays)
    metadata = {"format": FORMAT, "chainrule.version": VERSION,
                "chainrule.tree": json.dumps(tree, allow_nan=False, separators=(",", ":")),
                "chainrule.sha256": _checksum(arrays)}
    data = _safetensors_numpy().save(arrays, metadata=metadata)
    if hasattr(f, "write"):
        f.write(data)
    else:
        _atomic_write(f, data)


def _read_header(data: bytes, name: str) -> dict:
    """The safetensors JSON header, with a clear error for a truncated or foreign file."""

    def bad(reason):
        return CorruptFileError(f"chainrule.load: '{name}' is not a readable safetensors file: "
                                f"{reason}")

    if len(data) < 8:
        raise bad(f"it has {len(data)} bytes, fewer than the 8-byte header size (truncated or "
                  f"empty)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise bad(f"its header size field says {n} bytes but only {len(data) - 8} follow "
                  f"(truncated, or not a safetensors file)")
    try:
        header = json.loads(data[8:8 + n])
    except (UnicodeDecodeError, ValueError) as e:
        raise bad(f"its header is not valid JSON ({e}); the file is corrupt") from None
    if not isinstance(header, dict):
        raise bad("its header is not a JSON object; the file is corrupt")
    try:
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"),
                  default=0)
    except (TypeError, KeyError, IndexError, ValueError):
        raise bad("a tensor entry of its header has no valid data_offsets; the file is "
                  "corrupt") from None
    if end > len(data) - 8 - n:
        raise bad(f"its arrays need {end} bytes of data but the file holds only "
                  f"{len(data) - 8 - n} (truncated)")
    return header


def load(f, map_location=None):
    """Load what :func:`save` wrote (or any safetensors file) from a path or binary file.

    Returns the saved object with its structure and exact dtypes; arrays come back as Tensors or
    NumPy arrays as they were saved. A safetensors file written by another tool loads as a dict
    name -> Tensor.

    Args:
        f: a path or a binary file-like object.
        map_location: accepted for PyTorch compatibility; only None or 'cpu'.

    Raises:
        FileNotFoundError: no such file.
        CorruptFileError (a ValueError): the file is truncated, damaged or not safetensors; the
            message names the file and what is wrong.
    """
    if map_location not in (None, "cpu"):
        raise ValueError(f"chainrule.load: map_location must be None or 'cpu', got "
                         f"{map_location!r}")
    if hasattr(f, "read"):
        name, data = getattr(f, "name", "<file object>"), f.read()
    else:
        name = os.fspath(f)
        with open(name, "rb") as fh:
            data = fh.read()
    header = _read_header(data, name)
    try:
        arrays = _safetensors_numpy().load(data)
    except Exception as e:  # SafetensorError does not derive from a standard exception
        raise CorruptFileError(f"chainrule.load: '{name}' is not a readable safetensors file: "
                               f"{e}") from None
    arrays = {k: a if a.flags.writeable else a.copy() for k, a in arrays.items()}
    meta = header.get("__metadata__") or {}
    if meta.get("format") != FORMAT or "chainrule.tree" not in meta:
        return {k: Tensor._make(a, False, None, 0) for k, a in arrays.items()}
    if meta.get("chainrule.sha256") != _checksum(arrays):
        raise CorruptFileError(f"chainrule.load: '{name}' is corrupt: the checksum of its arrays "
                               f"does not match the one stored when it was saved")
    try:
        return _decode(json.loads(meta["chainrule.tree"]), arrays)
    except (ValueError, KeyError, TypeError) as e:
        raise CorruptFileError(f"chainrule.load: '{name}' is corrupt: its chainrule.tree "
                               f"metadata can't be read ({type(e).__name__}: {e})") from None


# ---- safetensors files written by other tools (PyTorch, ...) --------------------------------

_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
              "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}


def load_safetensors(path) -> dict:
    """Every tensor of a safetensors file, as a dict name -> Tensor (names as stored).

    For weights saved by another framework, e.g. PyTorch::

        safetensors.torch.save_file(torch_model.state_dict(), "w.safetensors")   # in PyTorch
        model.load_state_dict(chainrule.load_safetensors("w.safetensors"))        # here

    The names are those of the file (a PyTorch state dict's ``features.0.weight`` ...), so a
    chainrule model with the same architecture and names (``nn.Linear``, ``nn.Conv2d``,
    ``nn.LSTM``, ``nn.BatchNorm2d`` ... follow PyTorch's) loads them directly. Dtypes are kept
    (F64, F32, F16, integers, BOOL), except BF16, which NumPy lacks: it becomes float32 exactly
    (a bfloat16 is the top 16 bits of a float32). A file written by ``chainrule.save`` gives its
    arrays flat, named by their paths (``model/0.weight``); use ``chainrule.load`` for the tree.
    Every array is a fresh, writable copy (nothing maps the file), and no code is run.

    Raises:
        FileNotFoundError: no such file.
        CorruptFileError (a ValueError): truncated, damaged or not safetensors, or a tensor whose
            byte range does not fit its dtype and shape; the message names the file and tensor.
        TypeError: a tensor of a dtype NumPy can't hold (the float8 kinds); names the tensor.
    """
    name = os.fspath(path)
    with open(name, "rb") as fh:
        data = fh.read()
    header = _read_header(data, name)  # checks the header and that the data is all there
    base = 8 + struct.unpack("<Q", data[:8])[0]
    out = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        try:
            code, shape = info["dtype"], [int(s) for s in info["shape"]]
            start, end = (int(o) for o in info["data_offsets"])
        except (TypeError, KeyError, ValueError):
            raise CorruptFileError(f"load_safetensors: '{name}': the header entry of tensor "
                                   f"'{key}' lacks a valid dtype, shape or data_offsets") from None
        if code == "BF16":
            dt = np.dtype("<u2")
        elif code in _ST_DTYPES:
            dt = np.dtype(_ST_DTYPES[code])
        else:
            raise TypeError(f"load_safetensors: '{name}': tensor '{key}' has dtype {code}, which "
                            f"NumPy can't hold (supported: {', '.join(_ST_DTYPES)}, BF16)")
        count = int(np.prod(shape, dtype=np.int64))
        if end - start != count * dt.itemsize or start < 0 or min(shape, default=0) < 0:
            raise CorruptFileError(f"load_safetensors: '{name}': tensor '{key}' ({code}, shape "
                                   f"{tuple(shape)}) needs {count * dt.itemsize} bytes but its "
                                   f"data_offsets [{start}, {end}] give {end - start}")
        arr = np.frombuffer(data, dt, count, base + start).reshape(shape)
        if code == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        else:
            arr = arr.astype(dt.newbyteorder("="), copy=True)  # native order, writable
        out[key] = Tensor._make(arr, False, None, 0)
    return out
