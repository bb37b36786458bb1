"""Ingest a GroupLens dataset into typed Parquet with a manifest, and read an ingest back.

:func:`ingest` streams the ratings block by block, validates every row and writes
``ratings.parquet``, ``movies.parquet`` and ``manifest.json`` atomically: a failed ingest leaves
nothing behind and keeps an earlier good output untouched. Every rejected row is reported with its
file and 1-based physical line (counting the header); nothing is dropped silently.

Parquet has no seconds unit for timestamps, so ``ratings.parquet`` stores them as milliseconds;
read it with :func:`read_ratings` (or ``pq.read_table(path, schema=RATINGS_SCHEMA)``) to get
exactly ``RATINGS_SCHEMA`` back.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cofi.data.digests import sha256_of_files
from cofi.data.folder_or_zip import FolderOrZip
from cofi.data.layouts import LAYOUTS, Layout, locate
from cofi.data.movie_rows import read_movies_file
from cofi.data.quarantine import BadRow, write_quarantine
from cofi.data.rating_rows import RatingsJob, write_ratings
from cofi.data.reading import check_header
from cofi.data.schema import MOVIES_SCHEMA, RATINGS_SCHEMA, SCHEMA_VERSION, RatingScale
from cofi.errors import CofiError, DataError
from cofi.outputs.publish import UMASK, replace_dir

logger = logging.getLogger("cofi")

__all__ = [
    "FOLDER_SHA256_RULE",
    "MANIFEST_FILE",
    "MOVIES_FILE",
    "QUARANTINE_FILE",
    "RATINGS_FILE",
    "IngestResult",
    "ingest",
    "read_manifest",
    "read_movies",
    "read_ratings",
]

RATINGS_FILE = "ratings.parquet"
MOVIES_FILE = "movies.parquet"
MANIFEST_FILE = "manifest.json"
QUARANTINE_FILE = "quarantine.csv"

#: How ``source_sha256`` is computed for a folder (for a zip it is the SHA-256 of the zip file).
FOLDER_SHA256_RULE = "sha256 of the ratings file's bytes followed by the movies file's bytes"


@dataclass(frozen=True)
class IngestResult:
    """What :func:`ingest` wrote.

    Attributes:
        out_dir: folder with ratings.parquet, movies.parquet, manifest.json (and quarantine.csv
            when ingesting with ``quarantine=True``).
        n_ratings: ratings written (after quarantine).
        n_movies: movies written.
        n_users: distinct users among the ratings written.
        n_quarantined: rows written to quarantine.csv (0 without quarantine).
        source_sha256: SHA-256 of the zip file, or for a folder see ``FOLDER_SHA256_RULE``.
        reused: True when ``out_dir`` already held this ingest and nothing was read again.
    """

    out_dir: Path
    ratings_path: Path
    movies_path: Path
    manifest_path: Path
    n_ratings: int
    n_movies: int
    n_users: int
    n_quarantined: int
    source_sha256: str
    reused: bool = False

    @classmethod
    def of_manifest(
        cls, out_dir: Path, manifest: dict[str, Any], *, reused: bool = False
    ) -> IngestResult:
        """The result of the ingest in ``out_dir`` that wrote ``manifest``."""
        return cls(
            out_dir=out_dir,
            ratings_path=out_dir / RATINGS_FILE,
            movies_path=out_dir / MOVIES_FILE,
            manifest_path=out_dir / MANIFEST_FILE,
            n_ratings=manifest["n_ratings"],
            n_movies=manifest["n_movies"],
            n_users=manifest["n_users"],
            n_quarantined=manifest["n_quarantined"],
            source_sha256=manifest["source_sha256"],
            reused=reused,
        )


def _check_replaceable(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise CofiError(f"{out_dir} exists and is not a folder; refusing to replace it")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MANIFEST_FILE).exists():
        raise CofiError(
            f"{out_dir} is a non-empty folder without {MANIFEST_FILE}, not an earlier ingest; "
            "refusing to replace it"
        )


@dataclass(frozen=True)
class _Written:
    """What :func:`_write_tables` wrote, in the manifest's terms."""

    n_ratings: int
    n_movies: int
    n_users: int
    n_quarantined: int
    files: dict[str, dict[str, int]]
    source_rows: dict[str, int]


def _write_tables(
    container: FolderOrZip,
    layout: Layout,
    prefix: str,
    folder: Path,
    *,
    scale: RatingScale,
    quarantine: bool,
    block_size: int,
) -> _Written:
    """Reads, checks and writes movies.parquet and ratings.parquet (and quarantine.csv)."""
    spec = LAYOUTS[layout]
    problems: list[BadRow] = []
    movies, n_movie_rows_read = read_movies_file(container, layout, prefix, quarantine, problems)
    pq.write_table(movies, folder / MOVIES_FILE)
    job = RatingsJob(
        container=container,
        member=posixpath.join(prefix, spec.ratings_name),
        layout=layout,
        scale=scale,
        known_movie_ids=np.sort(movies.column("movie_id").to_numpy().astype(np.int64)),
        movies_label=container.label(posixpath.join(prefix, spec.movies_name)),
        block_size=block_size,
    )
    stats = write_ratings(job, folder / RATINGS_FILE, quarantine, problems)
    files = {RATINGS_FILE: {"rows": stats.n_ratings}, MOVIES_FILE: {"rows": movies.num_rows}}
    if quarantine:
        write_quarantine(folder / QUARANTINE_FILE, problems)
        files[QUARANTINE_FILE] = {"rows": len(problems)}
    return _Written(
        n_ratings=stats.n_ratings,
        n_movies=movies.num_rows,
        n_users=stats.n_users,
        n_quarantined=len(problems),
        files=files,
        source_rows={"ratings": stats.n_rows_read, "movies": n_movie_rows_read},
    )


def ingest(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    scale: RatingScale | None = None,
    quarantine: bool = False,
    block_size: int = 16 << 20,
    reuse: bool = False,
) -> IngestResult:
    """Reads a GroupLens dataset, validates it and writes typed Parquet files with a manifest.

    Args:
        source: a folder or ``.zip`` archive in one of the layouts (see
            :func:`cofi.data.layouts.detect_layout`).
        out_dir: the folder to write; replaced as a whole, and only once all checks passed.
        scale: the allowed ratings; by default whole stars for ``100k`` and half stars otherwise
            (pass ``KNOWN_DATASETS[name].scale`` when the dataset is known).
        quarantine: write row-level problems to ``quarantine.csv`` and keep going, instead of
            raising at the first one. File-level problems still raise.
        block_size: bytes of the ratings file read per block; bounds memory use.
        reuse: when ``out_dir`` already holds an ingest of a source with the same SHA-256,
            scale and quarantine option (and this schema version), return it without reading
            the source again (``IngestResult.reused`` is then True).

    Returns:
        An IngestResult with paths and counts.

    Raises:
        DataError: a missing, empty, corrupt or malformed file, or (without quarantine) a bad row;
            the message names the file and 1-based physical line.
        CofiError: out_dir exists and is not an earlier ingest output.
    """
    source = Path(source)
    out_dir = Path(out_dir)
    _check_replaceable(out_dir)
    with FolderOrZip(source) as container:
        layout, prefix = locate(container)
        spec = LAYOUTS[layout]
        scale = scale or spec.default_scale
        ratings_member = posixpath.join(prefix, spec.ratings_name)
        movies_member = posixpath.join(prefix, spec.movies_name)
        source_sha256 = _source_sha256(container, [ratings_member, movies_member])
        options = {"scale": [scale.minimum, scale.maximum, scale.step], "quarantine": quarantine}
        if reuse:
            earlier = _reusable(out_dir, source_sha256, options)
            if earlier is not None:
                return earlier
        if spec.ratings_header:
            check_header(container, ratings_member, spec.ratings_header)

        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
        tmp_dir.chmod(0o777 & ~UMASK)
        try:
            written = _write_tables(
                container,
                layout,
                prefix,
                tmp_dir,
                scale=scale,
                quarantine=quarantine,
                block_size=block_size,
            )
            manifest = {
                "schema_version": SCHEMA_VERSION,
                "layout": layout.value,
                "source": str(source.resolve()),
                "source_sha256": source_sha256,
                "source_sha256_of": "zip file" if container.is_zip else FOLDER_SHA256_RULE,
                "ratings_source": container.label(ratings_member),
                "movies_source": container.label(movies_member),
                "n_ratings": written.n_ratings,
                "n_movies": written.n_movies,
                "n_users": written.n_users,
                "n_quarantined": written.n_quarantined,
                "rating_scale": {
                    "minimum": scale.minimum,
                    "maximum": scale.maximum,
                    "step": scale.step,
                },
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "options": options,
                "files": written.files,
                "source_rows": written.source_rows,
            }
            (tmp_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
            replace_dir(tmp_dir, out_dir)
        except BaseException:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise
    logger.info(
        "ingested %s (%s): %d ratings, %d movies, %d users, %d quarantined -> %s",
        source,
        layout.value,
        written.n_ratings,
        written.n_movies,
        written.n_users,
        written.n_quarantined,
        out_dir,
    )
    return IngestResult.of_manifest(out_dir, manifest)


def _source_sha256(container: FolderOrZip, members: list[str]) -> str:
    """The zip file's SHA-256, or for a folder see ``FOLDER_SHA256_RULE``."""
    paths = [container.path] if container.is_zip else [container.file_path(m) for m in members]
    try:
        return sha256_of_files(paths)
    except OSError as exc:
        raise DataError(exc.filename or container.path, f"cannot be read ({exc.strerror})") from exc


def _reusable(out_dir: Path, source_sha256: str, options: dict[str, Any]) -> IngestResult | None:
    """The earlier ingest in ``out_dir`` if it came from the same bytes with the same options."""
    try:
        manifest = read_manifest(out_dir)
    except DataError:
        return None
    same = manifest.get("source_sha256") == source_sha256 and manifest.get("options") == options
    if not same or not all((out_dir / name).is_file() for name in (RATINGS_FILE, MOVIES_FILE)):
        return None
    logger.info("%s already holds this source (sha256 %s): reusing it", out_dir, source_sha256[:12])
    return IngestResult.of_manifest(out_dir, manifest, reused=True)


def read_manifest(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest.json of an ingested dataset.

    Raises:
        DataError: there is no manifest, it is not JSON, or its schema_version is not this cofi's.
    """
    path = Path(out_dir) / MANIFEST_FILE
    if not path.is_file():
        raise DataError(path, "not found: the folder is not an ingested MovieLens dataset")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(path, f"is not valid JSON: {exc.msg}", exc.lineno) from exc
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise DataError(
            path,
            f"schema_version {manifest.get('schema_version')!r}, but this cofi reads "
            f"{SCHEMA_VERSION}; ingest the dataset again",
        )
    return manifest


def read_ratings(out_dir: str | os.PathLike[str]) -> pa.Table:
    """The ratings of an ingested dataset, typed exactly as ``RATINGS_SCHEMA``."""
    return pq.read_table(Path(out_dir) / RATINGS_FILE, schema=RATINGS_SCHEMA)


def read_movies(out_dir: str | os.PathLike[str]) -> pa.Table:
    """The movies of an ingested dataset, typed exactly as ``MOVIES_SCHEMA``."""
    return pq.read_table(Path(out_dir) / MOVIES_FILE, schema=MOVIES_SCHEMA)
