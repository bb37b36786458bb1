"""Tests of finding and downloading datasets, against a local HTTP server."""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cofi.data.download import download, resolve_source
from cofi.data.ingest import ingest
from cofi.data.schema import KNOWN_DATASETS, DatasetInfo
from cofi.errors import ChecksumError, CofiError, DataError

RATINGS_CSV = b"userId,movieId,rating,timestamp\r\n1,1,4.0,964982703\r\n2,1,3.5,964981247\r\n"
MOVIES_CSV = b'movieId,title,genres\r\n1,"American President, The (1995)",Comedy\r\n'


def _zip_bytes(folder: Path) -> bytes:
    path = folder / "build.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ml-test/ratings.csv", RATINGS_CSV)
        archive.writestr("ml-test/movies.csv", MOVIES_CSV)
    data = path.read_bytes()
    path.unlink()
    return data


@dataclass
class Server:
    """A local server over ``root``; ``requests`` lists the paths asked for."""

    root: Path
    base_url: str
    zip_bytes: bytes
    requests: list[str] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    root = tmp_path / "served"
    root.mkdir()
    data = _zip_bytes(tmp_path)
    md5 = hashlib.md5(data).hexdigest()
    (root / "ml-test.zip").write_bytes(data)
    (root / "ml-test.zip.md5").write_text(f"{md5}  ml-test.zip\n")
    (root / "bsd.zip").write_bytes(data)
    (root / "bsd.zip.md5").write_text(f"MD5 (bsd.zip) = {md5}\n")
    (root / "tampered.zip").write_bytes(data)
    (root / "tampered.zip.md5").write_text("0" * 32 + "\n")
    (root / "unsigned.zip").write_bytes(data)
    requests: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(root, f"http://127.0.0.1:{httpd.server_address[1]}", data, requests)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_url_source_is_downloaded_verified_and_cached(server: Server, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    path = resolve_source(source=server.url("ml-test.zip"), cache_dir=cache_dir)

    assert path.name == "ml-test.zip"
    assert path.is_relative_to(cache_dir / "downloads")
    assert path.read_bytes() == server.zip_bytes
    assert server.requests == ["/ml-test.zip.md5", "/ml-test.zip"]
    assert _files_under(cache_dir) == [path]

    again = resolve_source(source=server.url("ml-test.zip"), cache_dir=cache_dir)
    assert again == path
    assert len(server.requests) == 2
    assert ingest(path, tmp_path / "out").n_ratings == 2


def test_download_with_expected_sha256_skips_the_sidecar(server: Server, tmp_path: Path) -> None:
    sha256 = hashlib.sha256(server.zip_bytes).hexdigest()
    dest = download(server.url("ml-test.zip"), tmp_path / "d" / "x.zip", expected_sha256=sha256)
    assert dest.read_bytes() == server.zip_bytes
    assert server.requests == ["/ml-test.zip"]


def test_bsd_style_md5_sidecar(server: Server, tmp_path: Path) -> None:
    dest = download(server.url("bsd.zip"), tmp_path / "bsd.zip", require_checksum=True)
    assert dest.read_bytes() == server.zip_bytes


def test_md5_mismatch_leaves_nothing(server: Server, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    with pytest.raises(ChecksumError) as caught:
        resolve_source(source=server.url("tampered.zip"), cache_dir=cache_dir)
    message = str(caught.value)
    assert server.url("tampered.zip") in message
    assert "0" * 32 in message
    assert hashlib.md5(server.zip_bytes).hexdigest() in message
    assert _files_under(cache_dir) == []


def test_sha256_mismatch_leaves_nothing(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "d" / "x.zip"
    with pytest.raises(ChecksumError, match="SHA-256 mismatch, expected f{64}"):
        download(server.url("ml-test.zip"), dest, expected_sha256="f" * 64)
    assert _files_under(tmp_path / "d") == []


def test_404_is_a_clear_error(server: Server, tmp_path: Path) -> None:
    url = server.url("missing.zip")
    with pytest.raises(CofiError, match="HTTP 404") as caught:
        resolve_source(source=url, cache_dir=tmp_path / "cache")
    assert not isinstance(caught.value, ChecksumError)
    assert url in str(caught.value)
    assert _files_under(tmp_path / "cache") == []


def test_unverified_url_download_warns(
    server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="cofi"):
        path = resolve_source(source=server.url("unsigned.zip"), cache_dir=tmp_path / "cache")
    assert path.read_bytes() == server.zip_bytes
    assert any("unsigned.zip" in r.getMessage() for r in caplog.records)


def test_local_source_is_returned_or_named_when_missing(tmp_path: Path) -> None:
    folder = tmp_path / "ml-test"
    folder.mkdir()
    assert resolve_source(source=folder, cache_dir=tmp_path / "cache") == folder
    with pytest.raises(DataError) as caught:
        resolve_source(source=tmp_path / "gone.zip", cache_dir=tmp_path / "cache")
    assert caught.value.file == str(tmp_path / "gone.zip")


def test_dataset_from_movielens_dir(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "local"
    local.mkdir()
    (local / "ml-latest-small.zip").write_bytes(server.zip_bytes)
    monkeypatch.setenv("COFI_MOVIELENS_DIR", str(local))

    path = resolve_source(dataset="ml-latest-small", cache_dir=tmp_path / "cache")
    assert path == local / "ml-latest-small.zip"

    (local / "ml-latest-small").mkdir()
    assert resolve_source(dataset="ml-latest-small", cache_dir=tmp_path / "cache") == (
        local / "ml-latest-small"
    )
    assert server.requests == []
    assert not (tmp_path / "cache").exists()


def test_dataset_falls_through_to_a_verified_download(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "local"
    empty.mkdir()
    monkeypatch.setenv("COFI_MOVIELENS_DIR", str(empty))
    monkeypatch.setenv("COFI_DATA_DIR", str(tmp_path / "data"))
    info = KNOWN_DATASETS["ml-latest-small"]
    monkeypatch.setitem(
        KNOWN_DATASETS, info.name, DatasetInfo(info.name, server.url("ml-test.zip"), info.scale)
    )

    path = resolve_source(dataset="ml-latest-small")
    assert path == tmp_path / "data" / "movielens" / "ml-latest-small.zip"
    assert path.read_bytes() == server.zip_bytes
    assert server.requests == ["/ml-test.zip.md5", "/ml-test.zip"]

    assert resolve_source(dataset="ml-latest-small") == path
    assert len(server.requests) == 2


def test_known_dataset_requires_its_sidecar(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = KNOWN_DATASETS["ml-100k"]
    monkeypatch.setitem(
        KNOWN_DATASETS, info.name, DatasetInfo(info.name, server.url("unsigned.zip"), info.scale)
    )
    with pytest.raises(ChecksumError, match="checksum file is missing"):
        resolve_source(dataset="ml-100k", cache_dir=tmp_path / "cache", movielens_dir=None)
    assert server.requests == ["/unsigned.zip.md5"]
    assert _files_under(tmp_path / "cache") == []


def test_cached_dataset_is_reused(server: Server, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    (cache_dir / "ml-1m.zip").write_bytes(server.zip_bytes)
    path = resolve_source(dataset="ml-1m", cache_dir=cache_dir, movielens_dir=tmp_path)
    assert path == cache_dir / "ml-1m.zip"
    assert server.requests == []


def test_unknown_dataset_lists_known_names(tmp_path: Path) -> None:
    with pytest.raises(CofiError, match="unknown dataset 'ml-7'.*ml-100k.*ml-latest-small"):
        resolve_source(dataset="ml-7", cache_dir=tmp_path)
    with pytest.raises(CofiError, match="give a dataset name or a source"):
        resolve_source(cache_dir=tmp_path)
