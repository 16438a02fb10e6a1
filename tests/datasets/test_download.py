import gzip
import hashlib
import io
import os
import tarfile

import pytest

from chainrule.datasets import _download
from chainrule.datasets._download import (DownloadError, download_file, download_from_mirrors,
                                          extract_tar, file_digest)

PAYLOAD = bytes(range(256)) * 100


def _url(path):
    return "file://" + os.path.abspath(path)


def _serve(tmp_path, data, name="src.bin"):
    src = tmp_path / "server"
    src.mkdir(exist_ok=True)
    (src / name).write_bytes(data)
    return src / name


def _listing(folder):
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_success_writes_the_verified_file(tmp_path):
    src = _serve(tmp_path, PAYLOAD)
    dest = tmp_path / "cache" / "file.bin"
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    assert download_file(_url(src), dest, md5=md5, sha256=sha) == dest
    assert dest.read_bytes() == PAYLOAD
    assert _listing(dest.parent) == ["file.bin"]          # no temporary file left
    assert file_digest(dest) == md5


def test_checksum_mismatch_leaves_nothing(tmp_path):
    src = _serve(tmp_path, PAYLOAD)
    dest = tmp_path / "cache" / "file.bin"
    with pytest.raises(DownloadError, match="md5 is .* expected 0+"):
        download_file(_url(src), dest, md5="0" * 32)
    assert _listing(dest.parent) == []


def test_decompressed_checksum_and_truncated_gzip(tmp_path):
    gz = gzip.compress(PAYLOAD)
    good = hashlib.md5(PAYLOAD).hexdigest()
    dest = tmp_path / "cache" / "x.gz"
    download_file(_url(_serve(tmp_path, gz, "x.gz")), dest, decompressed_md5=good)
    assert gzip.decompress(dest.read_bytes()) == PAYLOAD
    os.remove(dest)
    cut = _serve(tmp_path, gz[: len(gz) // 2], "cut.gz")
    with pytest.raises(DownloadError, match="truncated gzip") as err:
        download_file(_url(cut), dest, decompressed_md5=good)
    assert _url(cut) in str(err.value)                   # names the URL, not the temp file
    assert _listing(dest.parent) == []


class _FakeResponse(io.BytesIO):
    def __init__(self, data, length=None, fail_after=None):
        super().__init__(data)
        self.headers = {"Content-Length": str(length if length is not None else len(data))}
        self.fail_after = fail_after

    def read(self, n=-1):
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise ConnectionResetError("connection reset by peer")
        return super().read(min(n, 1000) if n > 0 else 1000)


def test_short_body_is_a_truncated_download(tmp_path, monkeypatch):
    monkeypatch.setattr(_download, "urlopen", lambda url, timeout: _FakeResponse(PAYLOAD[:5000],
                                                                                  length=25600))
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError, match="truncated, got 5000 of 25600 bytes"):
        download_file("https://example.invalid/f.bin", dest)
    assert _listing(tmp_path) == []


def test_connection_drop_midway_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(_download, "urlopen",
                        lambda url, timeout: _FakeResponse(PAYLOAD, fail_after=3000))
    with pytest.raises(DownloadError, match="failed after 3000 bytes: connection reset"):
        download_file("https://example.invalid/f.bin", tmp_path / "f.bin")
    assert _listing(tmp_path) == []


def test_mirrors_fall_back_then_report_every_failure(tmp_path):
    _serve(tmp_path, PAYLOAD, "data.bin")
    good = "file://" + str(tmp_path / "server") + "/"
    bad = "file://" + str(tmp_path / "nowhere") + "/"
    dest = tmp_path / "cache" / "data.bin"
    download_from_mirrors([bad, good], "data.bin", dest, md5=hashlib.md5(PAYLOAD).hexdigest())
    assert dest.read_bytes() == PAYLOAD
    with pytest.raises(DownloadError, match=r"(?s)any mirror.*nowhere.*nowhere2.*by hand"):
        download_from_mirrors([bad, bad[:-1] + "2/"], "data.bin", tmp_path / "c2" / "data.bin")
    assert _listing(tmp_path / "c2") == []


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_extract_tar_is_atomic_and_safe(tmp_path):
    arc = tmp_path / "a.tar.gz"
    _tar(arc, {"pkg/one": b"1", "pkg/sub/two": b"22"})
    extract_tar(arc, tmp_path, "pkg")
    assert (tmp_path / "pkg" / "sub" / "two").read_bytes() == b"22"
    assert _listing(tmp_path) == ["a.tar.gz", "pkg"]

    evil = tmp_path / "evil.tar.gz"
    _tar(evil, {"other/ok": b"1", "other/../../escape": b"x"})
    with pytest.raises(DownloadError, match="unsafe member"):
        extract_tar(evil, tmp_path, "other")
    assert _listing(tmp_path) == ["a.tar.gz", "evil.tar.gz", "pkg"]

    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(arc.read_bytes()[:40])
    with pytest.raises(DownloadError, match="corrupt or truncated archive"):
        extract_tar(cut, tmp_path, "pkg2")
    with pytest.raises(DownloadError, match="no folder 'missing'"):
        extract_tar(arc, tmp_path / "pkg", "missing")
    assert _listing(tmp_path / "pkg") == ["one", "sub"] and len(_listing(tmp_path)) == 4
