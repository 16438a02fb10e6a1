"""Files in a distributed run: rank 0 writes them; rank 0 reads them and sends them to the others.

The ranks hold equal weights and optimizer states, so one copy on disk is enough, and only rank 0
touches the disk: the ranks may run on machines that share no file system. Reading works the
same way round: rank 0 reads the file and broadcasts its bytes, and every rank decodes them.
"""
from __future__ import annotations

import io
import os

from ..serialization import load, save
from .process_group import _require
from .reduce import broadcast_object


def save_on_main(obj, path) -> bool:
    """``chainrule.save(obj, path)`` on rank 0 only (atomic write); returns whether this rank
    wrote. Not collective: the other ranks return at once."""
    group = _require("save_on_main")
    if group.rank != 0:
        return False
    save(obj, path)
    return True


def read_bytes_on_main(path, who="load_on_main"):
    """The bytes of ``path`` read by rank 0, on every rank (collective). A missing file raises
    ``FileNotFoundError`` on every rank, naming the path."""
    group = _require(who)
    data = None
    if group.rank == 0:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            data = e
    data = broadcast_object(data) if group.size > 1 else data
    if isinstance(data, OSError):
        if isinstance(data, FileNotFoundError):
            raise FileNotFoundError(f"{who}: no such file on rank 0: '{os.fspath(path)}'")
        raise OSError(f"{who}: rank 0 could not read '{os.fspath(path)}': {data}")
    return data


def load_on_main(path):
    """``chainrule.load(path)`` as read by rank 0, on every rank (collective)."""
    return load(io.BytesIO(read_bytes_on_main(path)))
