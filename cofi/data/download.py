"""Find a GroupLens dataset by name, keep a download cache, and download URLs verified.

:func:`resolve_source` turns a dataset name, a local path or a URL into a local folder or zip;
:func:`download` streams a URL to a file and keeps it only once it matches a checksum.

Every download is verified, and the checksum never comes from an unauthenticated server: it is the
digest pinned for a GroupLens dataset (``cofi.data.schema.KNOWN_DATASETS``), a SHA-256 the caller
gives, or the MD5 published beside the file at ``<url>.md5`` when both are fetched over https.
URLs must be https (plain http only when the caller allows it), and redirects are followed only to
https (or http when allowed). A download that fails leaves nothing at its destination.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import os
import re
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPMessage, HTTPResponse
from pathlib import Path
from typing import IO

from cofi import settings
from cofi.data.digests import sha256_of_files
from cofi.data.schema import KNOWN_DATASETS
from cofi.errors import ChecksumError, CofiError, DataError

logger = logging.getLogger("cofi")

__all__ = ["FROM_SETTINGS", "download", "resolve_source"]


class _Default(enum.Enum):
    """A default that stands for "look it up when called"."""

    FROM_SETTINGS = "from settings"


#: Default of ``resolve_source(movielens_dir=...)``: read ``COFI_MOVIELENS_DIR`` at call time.
FROM_SETTINGS = _Default.FROM_SETTINGS

_MD5_PATTERN = re.compile(r"\b([0-9a-fA-F]{32})\b")
_URL_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

#: How many characters of text a server sent (a reason phrase, a redirect, a checksum file) an
#: error message quotes.
_QUOTED_CHARS = 80

_SHA256_HINT = "pass --sha256 (expected_sha256) with the file's SHA-256 to verify it"


def _excerpt(text: object, limit: int = _QUOTED_CHARS) -> str:
    """``text`` on one line and cut to ``limit`` characters, for quoting in an error message."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else f"{flat[: limit - 3]}..."


def _allowed_schemes(allow_http: bool) -> tuple[str, ...]:
    return ("https", "http") if allow_http else ("https",)


def _require_allowed_scheme(url: str, allow_http: bool) -> None:
    """Refuses (CofiError) a URL that is not https, or http when ``allow_http``."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme in _allowed_schemes(allow_http):
        return
    if scheme == "http":
        raise CofiError(
            f"refusing to download {url}: plain http can be tampered with on the way; use an "
            "https:// URL, or allow http (--allow-http) and pass --sha256"
        )
    raise CofiError(f"refusing to download {url}: only https:// URLs are downloaded")


class _AllowedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to https (or http when allowed): never to ftp or anything else.

    Args:
        url: the URL first asked for, which error messages name.
        allow_http: also follow redirects to plain http.
    """

    def __init__(self, url: str, allow_http: bool) -> None:
        super().__init__()
        self.url = url
        self.allow_http = allow_http

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        scheme = urllib.parse.urlsplit(newurl).scheme.lower()
        if scheme not in _allowed_schemes(self.allow_http):
            fp.close()
            raise CofiError(
                f"download of {self.url} refused: it redirects to {_excerpt(newurl)!r}, and only "
                f"{' or '.join(_allowed_schemes(self.allow_http))} redirects are followed"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _open_url(url: str, timeout: float, allow_http: bool) -> HTTPResponse:
    """The open response to a GET of ``url``; a failure names the URL and status.

    Raises:
        CofiError: a scheme or redirect that is not allowed, an HTTP or network error.
    """
    _require_allowed_scheme(url, allow_http)
    # A fresh context reads the trusted certificates (and SSL_CERT_FILE) at each call.
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=ssl.create_default_context()),
        _AllowedRedirects(url, allow_http),
    )
    request = urllib.request.Request(url, headers={"User-Agent": "cofi"})
    try:
        return opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise CofiError(
            f"download of {url} failed: HTTP {exc.code} {_excerpt(exc.reason)}"
        ) from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CofiError(f"download of {url} failed: {_excerpt(reason, 200)}") from exc


def _fetch_md5_sidecar(url: str, timeout: float) -> str:
    """The digest in ``<url>.md5`` (``<md5>  <file>``, ``MD5 (<file>) = <md5>`` or bare).

    Only called for an https ``url``: the sidecar is fetched over https from the same server.

    Raises:
        ChecksumError: the sidecar cannot be fetched or holds no MD5 digest.
    """
    sidecar = f"{url}.md5"
    try:
        with _open_url(sidecar, timeout, allow_http=False) as response:
            text = response.read(1 << 16).decode("utf-8", errors="replace")
    except CofiError as exc:
        raise ChecksumError(
            f"cannot verify {url}: its checksum file is missing ({exc}); {_SHA256_HINT}"
        ) from exc
    tokens = text.split()
    if tokens and re.fullmatch(r"[0-9a-fA-F]{32}", tokens[0]):
        return tokens[0].lower()
    match = _MD5_PATTERN.search(text)
    if match is None:
        raise ChecksumError(
            f"cannot verify {url}: {sidecar} holds no MD5 digest: {_excerpt(text)!r}"
        )
    return match.group(1).lower()


def download(
    url: str,
    dest: str | os.PathLike[str],
    *,
    expected_sha256: str | None = None,
    expected_md5: str | None = None,
    md5_sidecar: bool = True,
    allow_http: bool = False,
    timeout: float = 60,
) -> Path:
    """Downloads ``url`` to ``dest``, verified, atomically.

    The body is streamed into a temporary ``.part`` file beside ``dest`` while being hashed; only
    a verified file is renamed to ``dest``, so a failed or mismatched download leaves nothing
    there. Without an explicit checksum, the MD5 published at ``<url>.md5`` is fetched (when
    ``md5_sidecar``), but only for an https URL: over plain http the checksum file could be
    forged along with the file. With no checksum to be had, nothing is downloaded.

    Args:
        url: an https URL (or http with ``allow_http``).
        dest: where the file goes; its folder is created.
        expected_sha256: hex SHA-256 the file must have.
        expected_md5: hex MD5 the file must have.
        md5_sidecar: fetch ``<url>.md5`` when no checksum is given.
        allow_http: accept a plain http ``url`` and redirects to http. Its checksum must then be
            given: an http ``.md5`` is not trusted.
        timeout: seconds to wait on the network.

    Returns:
        ``dest``.

    Raises:
        ChecksumError: a digest does not match, or there is no checksum to verify against.
        CofiError: a URL or redirect that is not https (or http when allowed), a digest that is
            not hex of the right length, an HTTP or network error (naming the URL and status).
    """
    dest = Path(dest)
    _require_allowed_scheme(url, allow_http)
    for name, expected, n_digits in (("SHA-256", expected_sha256, 64), ("MD5", expected_md5, 32)):
        if expected is not None and not re.fullmatch(f"[0-9a-fA-F]{{{n_digits}}}", expected):
            raise CofiError(
                f"cannot verify {url}: the expected {name} must be {n_digits} hex digits, "
                f"got {_excerpt(expected)!r}"
            )
    if expected_sha256 is None and expected_md5 is None:
        if urllib.parse.urlsplit(url).scheme.lower() != "https":
            raise ChecksumError(
                f"cannot verify {url}: over plain http its .md5 could be forged with it; "
                f"{_SHA256_HINT}"
            )
        if not md5_sidecar:
            raise ChecksumError(f"cannot verify {url}: no checksum given; {_SHA256_HINT}")
        expected_md5 = _fetch_md5_sidecar(url, timeout)
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, part_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    part = Path(part_name)
    try:
        md5 = hashlib.md5(usedforsecurity=False)
        sha256 = hashlib.sha256()
        n_bytes = 0
        logger.info("downloading %s to %s", url, dest)
        with os.fdopen(handle, "wb") as out, _open_url(url, timeout, allow_http) as response:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                md5.update(chunk)
                sha256.update(chunk)
                n_bytes += len(chunk)
            length = response.headers.get("Content-Length")
        if length is not None and length.isdigit() and n_bytes != int(length):
            raise CofiError(f"download of {url} failed: got {n_bytes} of {length} bytes")
        for name, expected, actual in (
            ("SHA-256", expected_sha256, sha256.hexdigest()),
            ("MD5", expected_md5, md5.hexdigest()),
        ):
            if expected is not None and expected.lower() != actual:
                raise ChecksumError(
                    f"{url}: {name} mismatch, expected {expected.lower()}, got {actual}"
                )
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return dest


def _is_url(text: str) -> bool:
    return _URL_PATTERN.match(text) is not None


def _url_cache_path(cache_dir: Path, url: str) -> Path:
    """Where a download of ``url`` is cached: ``cache_dir/downloads/<sha256 of url>.zip``.

    The name is a digest of the whole URL, never taken from its path, so no URL (an encoded
    ``../`` in its file name, say) can place or pick a file outside the cache.
    """
    return cache_dir / "downloads" / f"{hashlib.sha256(url.encode()).hexdigest()}.zip"


def _cached_is_good(path: Path, expected_sha256: str | None) -> bool:
    if not path.is_file():
        return False
    if expected_sha256 is None or sha256_of_files([path]) == expected_sha256.lower():
        return True
    logger.warning("cached %s does not match the expected SHA-256; downloading it again", path)
    return False


def resolve_source(
    dataset: str | None = None,
    source: str | os.PathLike[str] | None = None,
    *,
    cache_dir: Path | None = None,
    movielens_dir: Path | None | _Default = FROM_SETTINGS,
    expected_sha256: str | None = None,
    allow_http: bool = False,
) -> Path:
    """A local folder or zip holding a GroupLens dataset, downloading it when needed.

    ``source`` wins when given: a local folder or zip is returned as is, a URL is downloaded to
    ``cache_dir/downloads/<sha256 of url>.zip`` (reused when already there) and verified against
    ``expected_sha256`` or, for an https URL, the MD5 at ``<url>.md5``. Otherwise ``dataset`` is
    looked up, in order, as ``movielens_dir/<name>/``, ``movielens_dir/<name>.zip``,
    ``cache_dir/<name>.zip``, and finally downloaded from GroupLens (over https) into that cache,
    verified against the digest pinned in ``KNOWN_DATASETS``; ml-latest and ml-latest-small,
    which GroupLens updates in place, have no pinned digest and are verified against the MD5
    that files.grouplens.org publishes beside them, fetched over https.

    Files already in the cache were verified when they were downloaded; they are checked again
    only against ``expected_sha256``.

    Args:
        dataset: a name in ``cofi.data.schema.KNOWN_DATASETS``.
        source: a local folder, ``.zip`` path, or https URL.
        cache_dir: the download cache (default ``cofi.settings.data_dir() / "movielens"``).
        movielens_dir: a folder of local datasets; by default ``COFI_MOVIELENS_DIR``, None for none.
        expected_sha256: the SHA-256 the downloaded (or cached) zip must have.
        allow_http: accept a plain http ``source`` URL (and redirects to http); it then needs
            ``expected_sha256``.

    Returns:
        The path of a folder or zip archive.

    Raises:
        DataError: a local ``source`` does not exist.
        CofiError: neither argument given, an unknown dataset name, a URL that is not allowed, or
            a failed download.
        ChecksumError: a download does not match its checksum, or has none to be checked against.
    """
    if cache_dir is None:
        cache_dir = settings.data_dir() / "movielens"
    cache_dir = Path(cache_dir)
    if source is not None:
        text = os.fspath(source)
        if _is_url(text):
            _require_allowed_scheme(text, allow_http)
            dest = _url_cache_path(cache_dir, text)
            if _cached_is_good(dest, expected_sha256):
                return dest
            return download(text, dest, expected_sha256=expected_sha256, allow_http=allow_http)
        path = Path(text).expanduser()
        if not path.exists():
            raise DataError(path, "does not exist (expected a folder, a .zip file or a URL)")
        return path
    if dataset is None:
        raise CofiError("give a dataset name or a source (a folder, .zip file or URL)")
    if dataset not in KNOWN_DATASETS:
        raise CofiError(
            f"unknown dataset {dataset!r}; known datasets: {', '.join(sorted(KNOWN_DATASETS))}"
        )
    if movielens_dir is FROM_SETTINGS:
        movielens_dir = settings.movielens_dir()
    if isinstance(movielens_dir, Path | str):
        local_dir = Path(movielens_dir)
        if (local_dir / dataset).is_dir():
            return local_dir / dataset
        if (local_dir / f"{dataset}.zip").is_file():
            return local_dir / f"{dataset}.zip"
    cached = cache_dir / f"{dataset}.zip"
    if _cached_is_good(cached, expected_sha256):
        return cached
    info = KNOWN_DATASETS[dataset]
    if expected_sha256 is not None and info.sha256 is not None:
        if expected_sha256.lower() != info.sha256:
            raise ChecksumError(
                f"{dataset}: the given SHA-256 {expected_sha256.lower()} is not the one pinned "
                f"for {info.url}, {info.sha256}"
            )
    return download(
        info.url,
        cached,
        expected_sha256=expected_sha256 or info.sha256,
        expected_md5=info.md5,
        allow_http=allow_http,
    )
