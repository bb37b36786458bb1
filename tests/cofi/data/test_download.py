"""Tests of finding and downloading datasets, against local HTTP and HTTPS servers."""

from __future__ import annotations

import datetime
import functools
import hashlib
import ipaddress
import ssl
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
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
    """A local server over ``root``; ``requests`` lists the paths asked for.

    ``redirects`` maps a path to the Location it answers with (302); ``reasons`` maps a path to
    the reason phrase of the 500 it answers with; ``short`` paths get half the zip while their
    Content-Length promises all of it.
    """

    root: Path
    base_url: str
    zip_bytes: bytes
    requests: list[str] = field(default_factory=list)
    redirects: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    short: set[str] = field(default_factory=set)

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.zip_bytes).hexdigest()


def _fill(root: Path, data: bytes) -> None:
    md5 = hashlib.md5(data).hexdigest()
    root.mkdir()
    (root / "ml-test.zip").write_bytes(data)
    (root / "ml-test.zip.md5").write_text(f"{md5}  ml-test.zip\n")
    (root / "bsd.zip").write_bytes(data)
    (root / "bsd.zip.md5").write_text(f"MD5 (bsd.zip) = {md5}\n")
    (root / "tampered.zip").write_bytes(data)
    (root / "tampered.zip.md5").write_text("0" * 32 + "\n")
    (root / "unsigned.zip").write_bytes(data)
    (root / "garbled.zip").write_bytes(data)
    (root / "garbled.zip.md5").write_text("<html>\n" + "no digest here " * 40 + "\n</html>\n")


@contextmanager
def _serve(root: Path, data: bytes, tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    scheme = "https" if tls is not None else "http"
    server = Server(root, "", data)

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            server.requests.append(self.path)
            if self.path in server.redirects:
                self.send_response(302)
                self.send_header("Location", server.redirects[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif self.path in server.reasons:
                self.send_response(500, server.reasons[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif self.path in server.short:
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
            else:
                super().do_GET()

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    server.base_url = f"{scheme}://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A plain http server."""
    data = _zip_bytes(tmp_path)
    _fill(tmp_path / "served-http", data)
    with _serve(tmp_path / "served-http", data) as served:
        yield served


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files)."""
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def https_server(
    tmp_path: Path, tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Server]:
    """An https server whose self-signed certificate the client trusts (via SSL_CERT_FILE)."""
    cert_path, key_path = tls_files
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    data = _zip_bytes(tmp_path)
    _fill(tmp_path / "served-https", data)
    with _serve(tmp_path / "served-https", data, tls=context) as served:
        yield served


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _patch_dataset(
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    url: str,
    sha256: str | None = None,
    md5: str | None = None,
) -> None:
    info = KNOWN_DATASETS[name]
    monkeypatch.setitem(KNOWN_DATASETS, name, DatasetInfo(name, url, info.scale, sha256, md5))


# Verified downloads and the cache.


def test_https_source_is_verified_by_its_sidecar_and_cached(
    https_server: Server, tmp_path: Path
) -> None:
    cache_dir = tmp_path / "cache"
    url = https_server.url("ml-test.zip")
    path = resolve_source(source=url, cache_dir=cache_dir)

    assert path == cache_dir / "downloads" / f"{hashlib.sha256(url.encode()).hexdigest()}.zip"
    assert path.read_bytes() == https_server.zip_bytes
    assert https_server.requests == ["/ml-test.zip.md5", "/ml-test.zip"]
    assert _files_under(cache_dir) == [path]

    again = resolve_source(source=url, cache_dir=cache_dir)
    assert again == path
    assert len(https_server.requests) == 2
    assert ingest(path, tmp_path / "out").n_ratings == 2


def test_download_with_expected_sha256_skips_the_sidecar(server: Server, tmp_path: Path) -> None:
    dest = download(
        server.url("ml-test.zip"),
        tmp_path / "d" / "x.zip",
        expected_sha256=server.sha256,
        allow_http=True,
    )
    assert dest.read_bytes() == server.zip_bytes
    assert server.requests == ["/ml-test.zip"]


def test_bsd_style_md5_sidecar(https_server: Server, tmp_path: Path) -> None:
    dest = download(https_server.url("bsd.zip"), tmp_path / "bsd.zip")
    assert dest.read_bytes() == https_server.zip_bytes


def test_md5_mismatch_leaves_nothing(https_server: Server, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    with pytest.raises(ChecksumError) as caught:
        resolve_source(source=https_server.url("tampered.zip"), cache_dir=cache_dir)
    message = str(caught.value)
    assert https_server.url("tampered.zip") in message
    assert "0" * 32 in message
    assert hashlib.md5(https_server.zip_bytes).hexdigest() in message
    assert _files_under(cache_dir) == []


def test_sha256_mismatch_leaves_nothing(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "d" / "x.zip"
    with pytest.raises(ChecksumError, match="SHA-256 mismatch, expected f{64}"):
        download(server.url("ml-test.zip"), dest, expected_sha256="f" * 64, allow_http=True)
    assert _files_under(tmp_path / "d") == []


def test_user_sha256_is_verified_for_a_url_source(https_server: Server, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    url = https_server.url("unsigned.zip")
    with pytest.raises(ChecksumError) as caught:
        resolve_source(source=url, cache_dir=cache_dir, expected_sha256="A" * 64)
    message = str(caught.value)
    assert "\n" not in message
    assert url in message and "a" * 64 in message and https_server.sha256 in message
    assert _files_under(cache_dir) == []

    path = resolve_source(source=url, cache_dir=cache_dir, expected_sha256=https_server.sha256)
    assert path.read_bytes() == https_server.zip_bytes
    assert "/unsigned.zip.md5" not in https_server.requests


def test_a_malformed_sha256_is_refused_before_downloading(
    https_server: Server, tmp_path: Path
) -> None:
    with pytest.raises(CofiError, match="64 hex digits"):
        download(https_server.url("ml-test.zip"), tmp_path / "x.zip", expected_sha256="abc")
    assert https_server.requests == []


def test_404_is_a_clear_error(server: Server, tmp_path: Path) -> None:
    url = server.url("missing.zip")
    with pytest.raises(CofiError, match="HTTP 404") as caught:
        resolve_source(
            source=url, cache_dir=tmp_path / "cache", expected_sha256="0" * 64, allow_http=True
        )
    assert not isinstance(caught.value, ChecksumError)
    assert url in str(caught.value)
    assert _files_under(tmp_path / "cache") == []


def test_a_truncated_download_leaves_nothing(https_server: Server, tmp_path: Path) -> None:
    https_server.short.add("/ml-test.zip")
    cache_dir = tmp_path / "cache"
    with pytest.raises(CofiError, match="failed") as caught:
        resolve_source(
            source=https_server.url("ml-test.zip"),
            cache_dir=cache_dir,
            expected_sha256=https_server.sha256,
        )
    assert https_server.url("ml-test.zip") in str(caught.value)
    assert _files_under(cache_dir) == []


# Where a download lands: inside the cache, whatever the URL says.


def test_encoded_dot_dots_in_a_url_cannot_write_outside_the_cache(
    server: Server, tmp_path: Path
) -> None:
    # The server maps /../../../victim/x.zip to its own root/victim/x.zip.
    (server.root / "victim").mkdir()
    (server.root / "victim" / "x.zip").write_bytes(server.zip_bytes)
    cache_dir = tmp_path / "cache"
    url = server.url("..%2F..%2F..%2Fvictim%2Fx.zip")

    path = resolve_source(
        source=url, cache_dir=cache_dir, expected_sha256=server.sha256, allow_http=True
    )
    assert path.resolve().parent == (cache_dir / "downloads").resolve()
    assert path.read_bytes() == server.zip_bytes
    assert not (tmp_path / "victim").exists()
    assert _files_under(tmp_path) == sorted([*_files_under(server.root), path])


def test_a_file_at_a_traversing_path_is_not_taken_for_the_download(
    https_server: Server, tmp_path: Path
) -> None:
    planted = tmp_path / "victim" / "x.zip"
    planted.parent.mkdir()
    planted.write_bytes(b"not what the server has")
    served = https_server.root / "victim"
    served.mkdir()
    (served / "x.zip").write_bytes(https_server.zip_bytes)
    (served / "x.zip.md5").write_text(hashlib.md5(https_server.zip_bytes).hexdigest())
    cache_dir = tmp_path / "cache"

    path = resolve_source(
        source=https_server.url("..%2F..%2F..%2Fvictim%2Fx.zip"), cache_dir=cache_dir
    )
    assert path.resolve().parent == (cache_dir / "downloads").resolve()
    assert path.read_bytes() == https_server.zip_bytes
    assert https_server.requests == [
        "/..%2F..%2F..%2Fvictim%2Fx.zip.md5",
        "/..%2F..%2F..%2Fvictim%2Fx.zip",
    ]
    assert planted.read_bytes() == b"not what the server has"


# What is trusted: https, a pinned or given digest, an https sidecar.


def test_an_http_source_is_refused_unless_allowed(server: Server, tmp_path: Path) -> None:
    url = server.url("ml-test.zip")
    with pytest.raises(CofiError, match="http") as caught:
        resolve_source(source=url, cache_dir=tmp_path / "cache")
    assert url in str(caught.value) and "--allow-http" in str(caught.value)
    with pytest.raises(CofiError, match="http"):
        download(url, tmp_path / "x.zip", expected_sha256=server.sha256)
    assert server.requests == []
    assert _files_under(tmp_path / "cache") == []


def test_an_allowed_http_source_needs_a_sha256_not_its_sidecar(
    server: Server, tmp_path: Path
) -> None:
    url = server.url("ml-test.zip")
    with pytest.raises(ChecksumError, match="--sha256") as caught:
        resolve_source(source=url, cache_dir=tmp_path / "cache", allow_http=True)
    assert url in str(caught.value)
    assert server.requests == []
    assert _files_under(tmp_path / "cache") == []

    path = resolve_source(
        source=url, cache_dir=tmp_path / "cache", expected_sha256=server.sha256, allow_http=True
    )
    assert path.read_bytes() == server.zip_bytes
    assert server.requests == ["/ml-test.zip"]


def test_other_schemes_are_refused(tmp_path: Path) -> None:
    for url in ["ftp://127.0.0.1/x.zip", "file:///etc/passwd"]:
        with pytest.raises(CofiError, match="only https") as caught:
            resolve_source(source=url, cache_dir=tmp_path / "cache", allow_http=True)
        assert not isinstance(caught.value, DataError)
        assert url in str(caught.value)


def test_an_https_source_without_a_checksum_is_refused(
    https_server: Server, tmp_path: Path
) -> None:
    url = https_server.url("unsigned.zip")
    with pytest.raises(ChecksumError, match="checksum file is missing.*--sha256") as caught:
        resolve_source(source=url, cache_dir=tmp_path / "cache")
    assert url in str(caught.value)
    assert https_server.requests == ["/unsigned.zip.md5"]
    assert _files_under(tmp_path / "cache") == []


def test_pinned_digests_of_the_fixed_releases() -> None:
    for name, info in KNOWN_DATASETS.items():
        assert info.url == f"https://files.grouplens.org/datasets/movielens/{name}.zip"
        if name in ("ml-latest", "ml-latest-small"):
            assert info.sha256 is None and info.md5 is None
        else:
            assert (info.sha256 is not None and len(info.sha256) == 64) or (
                info.md5 is not None and len(info.md5) == 32
            )


def test_a_pinned_dataset_is_checked_against_its_pin_not_the_sidecar(
    https_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = https_server.url("ml-test.zip")
    _patch_dataset(monkeypatch, "ml-100k", url, sha256=KNOWN_DATASETS["ml-100k"].sha256)
    cache_dir = tmp_path / "cache"
    with pytest.raises(ChecksumError, match="SHA-256 mismatch") as caught:
        resolve_source(dataset="ml-100k", cache_dir=cache_dir, movielens_dir=None)
    assert url in str(caught.value)
    assert https_server.requests == ["/ml-test.zip"]
    assert _files_under(cache_dir) == []

    _patch_dataset(monkeypatch, "ml-10m", url, md5=hashlib.md5(https_server.zip_bytes).hexdigest())
    path = resolve_source(dataset="ml-10m", cache_dir=cache_dir, movielens_dir=None)
    assert path == cache_dir / "ml-10m.zip"
    assert path.read_bytes() == https_server.zip_bytes
    assert https_server.requests == ["/ml-test.zip", "/ml-test.zip"]


def test_a_given_sha256_must_agree_with_the_pin(tmp_path: Path) -> None:
    with pytest.raises(ChecksumError, match="ml-25m.*pinned"):
        resolve_source(
            dataset="ml-25m", cache_dir=tmp_path, movielens_dir=None, expected_sha256="0" * 64
        )


def test_dataset_falls_through_to_a_verified_download(
    https_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "local"
    empty.mkdir()
    monkeypatch.setenv("COFI_MOVIELENS_DIR", str(empty))
    monkeypatch.setenv("COFI_DATA_DIR", str(tmp_path / "data"))
    _patch_dataset(monkeypatch, "ml-latest-small", https_server.url("ml-test.zip"))

    path = resolve_source(dataset="ml-latest-small")
    assert path == tmp_path / "data" / "movielens" / "ml-latest-small.zip"
    assert path.read_bytes() == https_server.zip_bytes
    assert https_server.requests == ["/ml-test.zip.md5", "/ml-test.zip"]

    assert resolve_source(dataset="ml-latest-small") == path
    assert len(https_server.requests) == 2


def test_an_unpinned_dataset_requires_its_https_sidecar(
    https_server: Server, server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _patch_dataset(monkeypatch, "ml-latest", https_server.url("unsigned.zip"))
    with pytest.raises(ChecksumError, match="checksum file is missing"):
        resolve_source(dataset="ml-latest", cache_dir=tmp_path / "cache", movielens_dir=None)
    assert https_server.requests == ["/unsigned.zip.md5"]

    # Over http (even allowed) its sidecar is not trusted.
    _patch_dataset(monkeypatch, "ml-latest", server.url("ml-test.zip"))
    with pytest.raises(ChecksumError, match="--sha256"):
        resolve_source(
            dataset="ml-latest", cache_dir=tmp_path / "cache", movielens_dir=None, allow_http=True
        )
    assert server.requests == []
    assert _files_under(tmp_path / "cache") == []


# Redirects: only to https (or http when allowed).


def test_an_https_to_https_redirect_is_followed(https_server: Server, tmp_path: Path) -> None:
    https_server.redirects["/moved.zip"] = "/ml-test.zip"
    path = resolve_source(
        source=https_server.url("moved.zip"),
        cache_dir=tmp_path / "cache",
        expected_sha256=https_server.sha256,
    )
    assert path.read_bytes() == https_server.zip_bytes
    assert https_server.requests == ["/moved.zip", "/ml-test.zip"]


def test_an_https_to_http_redirect_is_refused(
    https_server: Server, server: Server, tmp_path: Path
) -> None:
    https_server.redirects["/moved.zip"] = server.url("ml-test.zip")
    url = https_server.url("moved.zip")
    with pytest.raises(CofiError, match="redirects to.*only https redirects") as caught:
        resolve_source(
            source=url, cache_dir=tmp_path / "cache", expected_sha256=https_server.sha256
        )
    assert url in str(caught.value) and server.url("ml-test.zip") in str(caught.value)
    assert server.requests == []
    assert _files_under(tmp_path / "cache") == []


@pytest.mark.parametrize("allow_http", [False, True])
def test_a_redirect_to_ftp_is_refused(
    https_server: Server, server: Server, tmp_path: Path, allow_http: bool
) -> None:
    for served in (https_server, server):
        served.redirects["/moved.zip"] = "ftp://127.0.0.1:1/ml-test.zip"
    sources = [https_server.url("moved.zip")] + ([server.url("moved.zip")] if allow_http else [])
    for url in sources:
        with pytest.raises(CofiError, match="redirects to 'ftp://.*only https") as caught:
            resolve_source(
                source=url,
                cache_dir=tmp_path / "cache",
                expected_sha256=server.sha256,
                allow_http=allow_http,
            )
        assert url in str(caught.value)
    assert _files_under(tmp_path / "cache") == []


# Messages: one line, naming the URL, quoting little of what a server sent.


def test_server_text_in_messages_is_one_short_line(https_server: Server, tmp_path: Path) -> None:
    https_server.reasons["/error.zip"] = "x" * 500
    https_server.redirects["/moved.zip"] = "ftp://127.0.0.1/" + "y" * 500
    cases = [("error.zip", "x"), ("moved.zip", "y"), ("garbled.zip", "no digest here")]
    for name, sent in cases:
        sha256 = None if name == "garbled.zip" else https_server.sha256
        with pytest.raises(CofiError) as caught:
            download(https_server.url(name), tmp_path / "d" / "x.zip", expected_sha256=sha256)
        message = str(caught.value)
        assert "\n" not in message
        assert https_server.url(name) in message
        assert sent in message and "x" * 81 not in message and "y" * 81 not in message
        assert len(message) < 2 * len(https_server.url(name)) + 150
    assert _files_under(tmp_path / "d") == []


# Local sources and names.


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
