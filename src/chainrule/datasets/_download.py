"""Downloading dataset files safely: checksums, atomic writes, safe archive extraction.

Nothing half-written is ever left where a dataset looks for its files: a download goes to a hidden
temporary file in the destination folder, is checked (length announced by the server, gzip
integrity, checksum), and only then renamed into place with ``os.replace`` (atomic on one file
system). On any failure the temporary file is removed and a :class:`DownloadError` says what went
wrong and what to do. Archives are extracted into a temporary folder and the finished folder is
renamed into place the same way.

``urlopen`` below is the one place that touches the network; tests replace it (or give
``file://`` URLs, which ``urllib`` opens too).
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.request
import zlib

_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download or an archive failed its checks; no file was left behind."""


def urlopen(url, timeout):
    """Open ``url`` for reading (``urllib.request.urlopen``; replaced in tests)."""
    request = urllib.request.Request(url, headers={"User-Agent": "chainrule"})
    return urllib.request.urlopen(request, timeout=timeout)


def file_digest(path, algorithm="md5", decompress=False):
    """The hex digest of a file's bytes, or of its decompressed bytes when ``decompress``.

    Raises :class:`DownloadError` when a gzip stream is corrupt or truncated.
    """
    h = hashlib.new(algorithm)
    opener = gzip.open if decompress else open
    try:
        with opener(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DownloadError(f"{path}: corrupt or truncated gzip data ({exc})") from None
    return h.hexdigest()


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def download_file(url, path, *, md5=None, sha256=None, decompressed_md5=None, timeout=60):
    """Download ``url`` to ``path`` atomically, verifying it before it appears there.

    Args:
        url: http(s) or file URL.
        path: the final file path (its folder is created).
        md5, sha256: expected digest of the downloaded bytes, if known.
        decompressed_md5: expected MD5 of the gunzipped content (for .gz files whose compressed
            bytes may legitimately differ between mirrors).
        timeout: seconds for the connection.

    Raises:
        DownloadError: connection failure, a body shorter than its Content-Length, a corrupt
            gzip stream or a checksum mismatch. No file is left at ``path`` or beside it.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".part",
                               dir=folder)
    try:
        got = {}
        hashers = {name: hashlib.new(name) for name, want in (("md5", md5), ("sha256", sha256))
                   if want}
        size = 0
        with os.fdopen(fd, "wb") as out:
            try:
                with urlopen(url, timeout) as resp:
                    expected = resp.headers.get("Content-Length") if resp.headers else None
                    while chunk := resp.read(_CHUNK):
                        out.write(chunk)
                        size += len(chunk)
                        for hsh in hashers.values():
                            hsh.update(chunk)
            except OSError as exc:  # URLError, HTTPError, timeouts, connection resets
                raise DownloadError(f"downloading {url} failed after {size} bytes: {exc}") from None
        if expected is not None and int(expected) != size:
            raise DownloadError(f"downloading {url}: truncated, got {size} of {int(expected)} "
                                f"bytes (connection dropped?); try again")
        for name, hsh in hashers.items():
            got[name] = hsh.hexdigest()
        if decompressed_md5:
            got["decompressed md5"] = file_digest(tmp, "md5", decompress=True)
        wanted = {"md5": md5, "sha256": sha256, "decompressed md5": decompressed_md5}
        for name, value in got.items():
            if value != wanted[name]:
                raise DownloadError(f"downloading {url}: {name} is {value}, expected "
                                    f"{wanted[name]}; the file is corrupt or not the official one. "
                                    f"Nothing was saved; try again or another mirror")
        os.replace(tmp, path)
    except DownloadError as exc:
        _remove(tmp)
        raise DownloadError(str(exc).replace(tmp, url)) from None
    except BaseException:
        _remove(tmp)
        raise
    return path


def download_from_mirrors(mirrors, filename, path, **checks):
    """Try ``mirror + filename`` for each mirror in turn until one downloads and verifies.

    Raises :class:`DownloadError` listing every mirror's failure when none works.
    """
    errors = []
    for mirror in mirrors:
        url = mirror + filename
        print(f"Downloading {url} to {path}", file=sys.stderr)
        try:
            return download_file(url, path, **checks)
        except DownloadError as exc:
            errors.append(f"  {url}: {exc}")
    raise DownloadError(f"could not download {filename} from any mirror:\n" + "\n".join(errors)
                        + f"\nDownload it by hand into {os.path.dirname(path)} and try again.")


def _safe_members(tar, archive):
    for m in tar.getmembers():
        parts = m.name.replace("\\", "/").split("/")
        if m.name.startswith("/") or ".." in parts or not (m.isfile() or m.isdir()):
            raise DownloadError(f"{archive}: refusing to extract the unsafe member {m.name!r} "
                                f"(absolute path, '..', link or device)")
        yield m


def extract_tar(archive, root, folder):
    """Extract the member folder ``folder`` of a tar archive into ``root/folder`` atomically.

    The archive is unpacked into a temporary folder inside ``root``; only when it is complete and
    contains ``folder`` is that folder renamed to ``root/folder``. Links, absolute paths and
    ``..`` members are refused.
    """
    tmp = tempfile.mkdtemp(prefix=".extract-", dir=root)
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(tmp, members=list(_safe_members(tar, archive)), **safe)
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise DownloadError(f"{archive}: corrupt or truncated archive ({exc}); delete it and "
                                f"download again with download=True") from None
        src = os.path.join(tmp, folder)
        if not os.path.isdir(src):
            raise DownloadError(f"{archive}: the archive has no folder {folder!r}; it is not the "
                                f"expected dataset archive")
        os.replace(src, os.path.join(root, folder))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
