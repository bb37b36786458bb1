"""Find a GroupLens dataset by name, keep a download cache, and download URLs verified.

:func:`resolve_source` turns a dataset name, a local path or a URL into a local folder or zip;
:func:`download` streams a URL to a file, checked against a SHA-256 or the MD5 GroupLens publishes.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import os
import posixpath
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPResponse
from pathlib import Path

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


def _open_url(url: str, timeout: float) -> HTTPResponse:
    """The open response to a GET of the http(s) ``url``; a failure names the URL and status."""
    request = urllib.request.Request(url, headers={"User-Agent": "cofi"})
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise CofiError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CofiError(f"download of {url} failed: {reason}") from exc


def _fetch_md5_sidecar(url: str, timeout: float, required: bool) -> str | None:
    """The digest in ``<url>.md5``: ``<md5>  <file>``, ``MD5 (<file>) = <md5>`` or bare."""
    sidecar = f"{url}.md5"
    try:
        with _open_url(sidecar, timeout) as response:
            text = response.read(1 << 16).decode("utf-8", errors="replace")
    except CofiError as exc:
        if required:
            raise ChecksumError(
                f"cannot verify {url}: its checksum file is missing ({exc})"
            ) from exc
        logger.warning("no checksum for %s (%s); it will not be verified", url, exc)
        return None
    tokens = text.split()
    if tokens and re.fullmatch(r"[0-9a-fA-F]{32}", tokens[0]):
        return tokens[0].lower()
    match = _MD5_PATTERN.search(text)
    if match is None:
        raise ChecksumError(f"cannot verify {url}: {sidecar} holds no MD5 digest: {text[:80]!r}")
    return match.group(1).lower()


def download(
    url: str,
    dest: str | os.PathLike[str],
    *,
    expected_sha256: str | None = None,
    expected_md5: str | None = None,
    md5_sidecar: bool = True,
    require_checksum: bool = False,
    timeout: float = 60,
) -> Path:
    """Downloads ``url`` to ``dest``, verified, atomically.

    The body is streamed into a temporary ``.part`` file beside ``dest`` while being hashed; only
    a verified file is renamed to ``dest``. Without an explicit checksum, the MD5 that GroupLens
    publishes at ``<url>.md5`` is fetched (when ``md5_sidecar``).

    Args:
        url: an http(s) URL.
        dest: where the file goes; its folder is created.
        expected_sha256: hex SHA-256 the file must have.
        expected_md5: hex MD5 the file must have.
        md5_sidecar: fetch ``<url>.md5`` when no checksum is given.
        require_checksum: fail (ChecksumError) when no checksum can be had, instead of logging a
            warning and keeping the unverified file.
        timeout: seconds to wait on the network.

    Returns:
        ``dest``.

    Raises:
        ChecksumError: a digest does not match, or a required checksum is missing.
        CofiError: an HTTP or network error (naming the URL and status).
    """
    dest = Path(dest)
    if expected_sha256 is None and expected_md5 is None and md5_sidecar:
        expected_md5 = _fetch_md5_sidecar(url, timeout, required=require_checksum)
    if expected_sha256 is None and expected_md5 is None:
        if require_checksum:
            raise ChecksumError(f"cannot verify {url}: no checksum given")
        logger.warning("downloading %s without a checksum to verify it against", url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, part_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    part = Path(part_name)
    try:
        md5 = hashlib.md5(usedforsecurity=False)
        sha256 = hashlib.sha256()
        n_bytes = 0
        logger.info("downloading %s to %s", url, dest)
        with os.fdopen(handle, "wb") as out, _open_url(url, timeout) as response:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                md5.update(chunk)
                sha256.update(chunk)
                n_bytes += len(chunk)
            length = response.headers.get("Content-Length")
        if length is not None and n_bytes != int(length):
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
    return text.startswith(("http://", "https://"))


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
) -> Path:
    """A local folder or zip holding a GroupLens dataset, downloading it when needed.

    ``source`` wins when given: a local folder or zip is returned as is, a URL is downloaded to
    ``cache_dir/downloads/<hash of url>/<file name>`` (reused when already there). Otherwise
    ``dataset`` is looked up, in order, as ``movielens_dir/<name>/``, ``movielens_dir/<name>.zip``,
    ``cache_dir/<name>.zip``, and finally downloaded from GroupLens into that cache, verified
    against the published MD5.

    Args:
        dataset: a name in ``cofi.data.schema.KNOWN_DATASETS``.
        source: a local folder, ``.zip`` path, or http(s) URL.
        cache_dir: the download cache (default ``cofi.settings.data_dir() / "movielens"``).
        movielens_dir: a folder of local datasets; by default ``COFI_MOVIELENS_DIR``, None for none.
        expected_sha256: the SHA-256 the downloaded (or cached) zip must have.

    Returns:
        The path of a folder or zip archive.

    Raises:
        DataError: a local ``source`` does not exist.
        CofiError: neither argument given, an unknown dataset name, or a failed download.
        ChecksumError: a download does not match its checksum.
    """
    if cache_dir is None:
        cache_dir = settings.data_dir() / "movielens"
    cache_dir = Path(cache_dir)
    if source is not None:
        text = os.fspath(source)
        if _is_url(text):
            url_path = urllib.parse.urlparse(text).path
            file_name = urllib.parse.unquote(posixpath.basename(url_path)) or "download.zip"
            url_digest = hashlib.sha256(text.encode()).hexdigest()[:12]
            dest = cache_dir / "downloads" / url_digest / file_name
            if _cached_is_good(dest, expected_sha256):
                return dest
            return download(text, dest, expected_sha256=expected_sha256)
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
    return download(
        KNOWN_DATASETS[dataset].url,
        cached,
        expected_sha256=expected_sha256,
        require_checksum=True,
    )
