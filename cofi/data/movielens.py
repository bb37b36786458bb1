"""Find, download and ingest GroupLens MovieLens datasets into typed Parquet.

Three GroupLens layouts are read, from a folder or a zip archive (possibly one sub-folder deep):

- ``csv`` (ml-latest-small, ml-20m, ml-25m, ml-32m, ml-latest): ``ratings.csv`` and ``movies.csv``
  with headers, UTF-8, titles quoted when they hold a comma.
- ``100k`` (ml-100k): ``u.data`` (tab-separated) and ``u.item`` (``|``-separated, Latin-1, 19 genre
  flags named by ``u.genre``).
- ``dat`` (ml-1m, ml-10m): ``ratings.dat`` and ``movies.dat``, ``::``-separated, no header.

:func:`ingest` streams the ratings block by block (memory does not grow with the file, apart from
one int64 key per rating for the duplicate check), validates every row and writes
``ratings.parquet``, ``movies.parquet`` and ``manifest.json`` atomically: a failed ingest leaves
nothing behind and keeps an earlier good output untouched. Every rejected row is reported with its
file and 1-based physical line (counting the header); nothing is dropped silently.

Parquet has no seconds unit for timestamps, so ``ratings.parquet`` stores them as milliseconds;
read it with :func:`read_ratings` (or ``pq.read_table(path, schema=RATINGS_SCHEMA)``) to get
exactly ``RATINGS_SCHEMA`` back.
"""

from __future__ import annotations

import csv
import enum
import hashlib
import io
import json
import logging
import os
import posixpath
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from cofi import settings
from cofi.data.schema import (
    HALF_STARS,
    KNOWN_DATASETS,
    MOVIES_SCHEMA,
    RATINGS_SCHEMA,
    SCHEMA_VERSION,
    WHOLE_STARS,
    RatingScale,
)
from cofi.errors import ChecksumError, CofiError, DataError
from cofi.outputs.publish import UMASK, replace_dir

logger = logging.getLogger("cofi")

__all__ = [
    "FROM_SETTINGS",
    "IngestResult",
    "Layout",
    "detect_layout",
    "download",
    "ingest",
    "read_manifest",
    "read_movies",
    "read_ratings",
    "resolve_source",
]

RATINGS_FILE = "ratings.parquet"
MOVIES_FILE = "movies.parquet"
MANIFEST_FILE = "manifest.json"
QUARANTINE_FILE = "quarantine.csv"
QUARANTINE_COLUMNS = ("file", "line", "problem", "text")

#: How ``source_sha256`` is computed for a folder (for a zip it is the SHA-256 of the zip file).
FOLDER_SHA256_RULE = "sha256 of the ratings file's bytes followed by the movies file's bytes"


# --------------------------------------------------------------------------------------------
# Layouts


class Layout(enum.StrEnum):
    """The GroupLens file layouts cofi reads."""

    CSV = "csv"
    ML_100K = "100k"
    DAT = "dat"


@dataclass(frozen=True)
class _LayoutSpec:
    ratings_name: str
    movies_name: str
    separator: str  # as written in the file
    ratings_header: tuple[str, ...] | None
    movies_header: tuple[str, ...] | None
    default_scale: RatingScale
    datasets: str  # for error messages


_LAYOUTS: dict[Layout, _LayoutSpec] = {
    Layout.CSV: _LayoutSpec(
        "ratings.csv",
        "movies.csv",
        ",",
        ("userId", "movieId", "rating", "timestamp"),
        ("movieId", "title", "genres"),
        HALF_STARS,
        "ml-latest-small, ml-20m, ml-25m, ml-32m, ml-latest",
    ),
    Layout.ML_100K: _LayoutSpec("u.data", "u.item", "\t", None, None, WHOLE_STARS, "ml-100k"),
    Layout.DAT: _LayoutSpec(
        "ratings.dat", "movies.dat", "::", None, None, HALF_STARS, "ml-1m, ml-10m"
    ),
}

#: The ml-100k genres, in flag order, used when ``u.genre`` is absent.
ML_100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
NO_GENRES = "(no genres listed)"
_ML_100K_FIELDS_BEFORE_FLAGS = 5  # id, title, release date, video release date, IMDb URL

_RATING_COLUMNS = ("user_id", "movie_id", "rating", "timestamp")
_DAT_SEPARATOR_BYTE = b"\t"  # stands in for "::", which pyarrow cannot take as a delimiter
_INT32_MAX = 2**31 - 1

_ID_PATTERN = r"^[0-9]{1,10}$"
_RATING_PATTERN = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?$"
_TIMESTAMP_PATTERN = r"^-?[0-9]{1,15}$"
# "(1995)", "(2006-2007)", "(2006–2007)" or "(2006-)" at the end of a title, then maybe spaces.
_YEAR_PATTERN = re.compile(r"\((\d{4})(?:\s*[-\u2013]\s*(?:\d{4})?)?\)\s*$")


def _expected_files() -> str:
    return "; ".join(
        f"{spec.ratings_name} + {spec.movies_name} ({layout.value}: {spec.datasets})"
        for layout, spec in _LAYOUTS.items()
    )


# --------------------------------------------------------------------------------------------
# Folders and zip archives


class _Container:
    """A folder or a zip archive whose files are named by '/'-separated relative paths."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        if path.is_dir():
            self.names = sorted(
                p.relative_to(path).as_posix()
                for pattern in ("*", "*/*")
                for p in path.glob(pattern)
                if p.is_file()
            )
        elif path.is_file():
            try:
                self._zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise DataError(
                    path, f"is not a readable zip archive: corrupt or truncated ({exc})"
                ) from exc
            self.names = sorted(
                info.filename
                for info in self._zip.infolist()
                if not info.is_dir()
                and not info.filename.startswith("__MACOSX/")
                and info.filename.count("/") <= 1
            )
        else:
            raise DataError(path, "does not exist (expected a folder or a .zip archive)")

    @property
    def is_zip(self) -> bool:
        return self._zip is not None

    def label(self, name: str) -> str:
        """How errors name a member: ``archive.zip!dir/file`` or the file's path."""
        return f"{self.path}!{name}" if self._zip is not None else str(self.path / name)

    def open(self, name: str) -> BinaryIO:
        if self._zip is None:
            return open(self.path / name, "rb")
        try:
            return self._zip.open(name)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
            raise _corrupt(self.label(name), exc) from exc

    def read_bytes(self, name: str) -> bytes:
        try:
            with self.open(name) as stream:
                return stream.read()
        except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as exc:
            raise _corrupt(self.label(name), exc) from exc

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> _Container:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _corrupt(label: str, exc: BaseException) -> DataError:
    return DataError(label, f"zip archive is corrupt or truncated ({type(exc).__name__}: {exc})")


def _locate(container: _Container) -> tuple[Layout, str]:
    """Find the layout and the folder ("" or one sub-folder) that holds its two files."""
    names_by_dir: dict[str, set[str]] = {}
    for name in container.names:
        directory, base = posixpath.split(name)
        names_by_dir.setdefault(directory, set()).add(base)
    by_depth = sorted(names_by_dir, key=lambda d: (d != "", d))
    complete: list[tuple[str, Layout]] = []
    partial: list[str] = []
    for directory in by_depth:
        bases = names_by_dir[directory]
        for layout, spec in _LAYOUTS.items():
            has_ratings = spec.ratings_name in bases
            has_movies = spec.movies_name in bases
            if has_ratings and has_movies:
                complete.append((directory, layout))
                break
            if has_ratings or has_movies:
                found, missing = (
                    (spec.ratings_name, spec.movies_name)
                    if has_ratings
                    else (spec.movies_name, spec.ratings_name)
                )
                where = f"{directory}/" if directory else "the top level"
                partial.append(f"found {found} but not {missing} in {where}")
    if complete:
        shallowest = [c for c in complete if (c[0] == "") == (complete[0][0] == "")]
        if len(shallowest) > 1:
            folders = ", ".join(f"{d or '.'} ({layout.value})" for d, layout in shallowest)
            raise DataError(container.path, f"holds more than one MovieLens dataset: {folders}")
        directory, layout = complete[0]
        return layout, directory
    if partial:
        raise DataError(
            container.path,
            f"missing file: {'; '.join(partial)}. Expected one of: {_expected_files()}",
        )
    raise DataError(
        container.path,
        f"unknown layout, no MovieLens files found. Expected one of: {_expected_files()}",
    )


def detect_layout(source: str | os.PathLike[str]) -> Layout:
    """Which GroupLens layout a folder or zip archive holds.

    Args:
        source: a folder or ``.zip`` archive; the files may sit one sub-folder deep.

    Returns:
        The layout (``Layout.CSV``, ``Layout.ML_100K`` or ``Layout.DAT``; they compare equal to
        ``"csv"``, ``"100k"`` and ``"dat"``).

    Raises:
        DataError: the source is missing, not a readable zip, or holds no complete layout.
    """
    with _Container(Path(source)) as container:
        return _locate(container)[0]


# --------------------------------------------------------------------------------------------
# Reading rows


@dataclass(frozen=True)
class _BadRow:
    """A row-level problem: raised at once, or written to quarantine.csv."""

    file: str
    line: int
    problem: str
    text: str


class _ByteStream(io.RawIOBase):
    """A read-only byte stream over ``raw`` that can turn ``::`` into one separator byte.

    It also keeps the first zip error it meets: pyarrow re-raises it, and the caller turns it
    into a DataError naming the archive.
    """

    def __init__(self, raw: BinaryIO, replace_double_colon: bool) -> None:
        super().__init__()
        self._raw = raw
        self._replace = replace_double_colon
        self._pending = b""
        self._offset = 0  # of the next byte of _pending to hand out
        self._carry = b""  # a trailing run of ':' that may go on in the next chunk
        self._eof = False
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        size = len(buffer)
        while self._offset >= len(self._pending) and not self._eof:
            self._offset = 0
            try:
                chunk = self._raw.read(max(size, 1 << 16))
            except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as exc:
                self.error = exc
                raise
            if not self._replace:
                self._pending = chunk
                self._eof = not chunk
            elif not chunk:
                self._eof = True
                self._pending = self._carry.replace(b"::", _DAT_SEPARATOR_BYTE)
                self._carry = b""
            else:
                data = self._carry + chunk
                # Runs of colons are replaced left to right: hold one back until it is complete.
                end = len(data.rstrip(b":"))
                self._carry = data[end:]
                self._pending = data[:end].replace(b"::", _DAT_SEPARATOR_BYTE)
        taken = self._pending[self._offset : self._offset + size]
        self._offset += len(taken)
        buffer[: len(taken)] = taken
        return len(taken)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _LineMap:
    """Maps the ordinal of a parsed row to its physical line, given the lines pyarrow skipped."""

    def __init__(self, header_lines: int) -> None:
        self.header_lines = header_lines
        self.skipped: list[int] = []
        self._offsets = np.empty(0, np.int64)

    def lines(self, first_ordinal: int, n_rows: int) -> np.ndarray:
        """Physical lines, shape (n_rows,), of the parsed rows ``first_ordinal...``."""
        if len(self._offsets) != len(self.skipped):
            skipped = np.asarray(self.skipped, np.int64)
            # Rows parsed before the i-th skipped line (0-based): its line - header - 1 - i.
            self._offsets = skipped - self.header_lines - 1 - np.arange(len(skipped))
        ordinals = np.arange(first_ordinal, first_ordinal + n_rows, dtype=np.int64)
        n_skipped_before = np.searchsorted(self._offsets, ordinals, side="right")
        return self.header_lines + 1 + ordinals + n_skipped_before


@dataclass
class _RatingsReader:
    """Streams the ratings file as string columns with the physical line of each row."""

    container: _Container
    member: str
    layout: Layout
    block_size: int
    field_problems: list[_BadRow] = field(default_factory=list)
    n_rows_read: int = 0  # data rows met, blank lines excluded

    def __iter__(self) -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
        """Yields (batch of 4 string columns, physical lines of shape (batch.num_rows,))."""
        spec = _LAYOUTS[self.layout]
        label = self.container.label(self.member)
        header_lines = 1 if spec.ratings_header else 0
        line_map = _LineMap(header_lines)
        separator = "\t" if self.layout is Layout.DAT else spec.separator

        def on_invalid_row(row: pa_csv.InvalidRow) -> str:
            if row.number is None:  # only with parallel parsing, which streaming does not do
                raise CofiError(f"{label}: pyarrow did not report the line of a bad row")
            line_map.skipped.append(row.number)
            text = row.text.replace("\t", "::") if self.layout is Layout.DAT else row.text
            self.field_problems.append(
                _BadRow(
                    label,
                    row.number,
                    f"has {row.actual_columns} fields, expected {row.expected_columns}",
                    text,
                )
            )
            self.n_rows_read += 1
            return "skip"

        stream = _ByteStream(self.container.open(self.member), self.layout is Layout.DAT)
        try:
            reader = pa_csv.open_csv(
                stream,
                read_options=pa_csv.ReadOptions(
                    column_names=list(_RATING_COLUMNS),
                    skip_rows=header_lines,
                    block_size=self.block_size,
                    use_threads=False,
                ),
                parse_options=pa_csv.ParseOptions(
                    delimiter=separator,
                    quote_char='"' if self.layout is Layout.CSV else False,
                    # Blank lines then come through as all-empty rows, so line numbers stay exact.
                    ignore_empty_lines=False,
                    invalid_row_handler=on_invalid_row,
                ),
                convert_options=pa_csv.ConvertOptions(
                    column_types={name: pa.string() for name in _RATING_COLUMNS},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            n_parsed = 0
            for batch in reader:
                lines = line_map.lines(n_parsed, batch.num_rows)
                n_parsed += batch.num_rows
                blank = np.ones(batch.num_rows, bool)
                for column in batch.columns:
                    blank &= pc.equal(column, "").to_numpy(zero_copy_only=False)
                if blank.any():
                    keep = ~blank
                    batch = batch.filter(pa.array(keep))
                    lines = lines[keep]
                self.n_rows_read += batch.num_rows
                yield batch, lines
        except DataError:
            raise
        except Exception as exc:
            if stream.error is not None:
                raise _corrupt(label, stream.error) from exc
            if isinstance(exc, pa.ArrowInvalid):
                raise DataError(
                    label, f"cannot be read as {self.layout.value} ratings: {exc}"
                ) from exc
            raise
        finally:
            stream.close()


def _check_header_text(label: str, text: str | None, expected: tuple[str, ...]) -> None:
    """Checks line 1 of a csv file (None when the file is empty)."""
    if text is None or not text.strip():
        raise DataError(label, f"is empty: no header, expected {','.join(expected)!r}", 1)
    found = tuple(next(csv.reader([text.removeprefix("\ufeff")])))
    if found != expected:
        raise DataError(label, f"wrong header: expected {','.join(expected)!r}, found {text!r}", 1)


def _check_header(container: _Container, member: str, expected: tuple[str, ...]) -> None:
    label = container.label(member)
    try:
        with container.open(member) as stream:
            first = stream.readline(1 << 16)
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise _corrupt(label, exc) from exc
    text = first.decode("utf-8", errors="replace").rstrip("\r\n") if first else None
    _check_header_text(label, text, expected)


def _text_lines(data: bytes, label: str, encodings: tuple[str, ...]) -> Iterator[tuple[int, str]]:
    """(physical line, text) of each non-blank line, decoded with the first encoding that fits."""
    for encoding in encodings:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError as exc:
            if encoding == encodings[-1]:
                line = data[: exc.start].count(b"\n") + 1
                raise DataError(label, f"is not valid {encoding}: {exc.reason}", line) from exc
    # Split on "\n" only: str.splitlines also splits on \x85 and \u2028 and would miscount lines.
    for number, line_text in enumerate(text.split("\n"), start=1):
        line_text = line_text.removesuffix("\r")
        if line_text.strip():
            yield number, line_text


# --------------------------------------------------------------------------------------------
# Movies


@dataclass(frozen=True)
class _MovieRow:
    line: int
    movie_id_text: str
    title: str
    genres: str
    text: str


def _parse_year(title: str) -> int | None:
    match = _YEAR_PATTERN.search(title)
    return int(match.group(1)) if match else None


def _read_genre_names(container: _Container, prefix: str) -> tuple[str, ...]:
    name = posixpath.join(prefix, "u.genre")
    if name not in container.names:
        return ML_100K_GENRES
    label = container.label(name)
    by_index: dict[int, str] = {}
    for line, text in _text_lines(container.read_bytes(name), label, ("latin-1",)):
        genre, sep, index_text = text.rpartition("|")
        if not sep or not index_text.isdigit() or int(index_text) in by_index:
            raise DataError(label, f"expected 'name|index' with a new index, found {text!r}", line)
        by_index[int(index_text)] = genre
    if sorted(by_index) != list(range(len(by_index))) or not by_index:
        raise DataError(label, f"genre indices must run 0..n-1, found {sorted(by_index)}")
    return tuple(by_index[i] for i in range(len(by_index)))


def _movie_rows(
    container: _Container, layout: Layout, prefix: str, field_problems: list[_BadRow]
) -> Iterator[_MovieRow]:
    """The movies file's rows; rows with the wrong number of fields go to ``problems``."""
    spec = _LAYOUTS[layout]
    name = posixpath.join(prefix, spec.movies_name)
    label = container.label(name)
    data = container.read_bytes(name)
    if layout is Layout.CSV:
        lines = _text_lines(data, label, ("utf-8",))
        first = next(lines, None)
        _check_header_text(
            label, first[1] if first and first[0] == 1 else None, spec.movies_header or ()
        )
        for line, text in lines:
            fields = next(csv.reader([text]))
            if len(fields) != 3:
                field_problems.append(
                    _BadRow(label, line, f"has {len(fields)} fields, expected 3", text)
                )
                continue
            yield _MovieRow(line, fields[0], fields[1], fields[2], text)
    elif layout is Layout.DAT:
        for line, text in _text_lines(data, label, ("utf-8", "latin-1")):
            fields = text.split("::")
            if len(fields) != 3:
                field_problems.append(
                    _BadRow(label, line, f"has {len(fields)} fields, expected 3", text)
                )
                continue
            yield _MovieRow(line, fields[0], fields[1], fields[2], text)
    else:
        genre_names = _read_genre_names(container, prefix)
        n_fields = _ML_100K_FIELDS_BEFORE_FLAGS + len(genre_names)
        for line, text in _text_lines(data, label, ("latin-1",)):
            fields = text.split("|")
            if len(fields) != n_fields:
                field_problems.append(
                    _BadRow(label, line, f"has {len(fields)} fields, expected {n_fields}", text)
                )
                continue
            flags = fields[_ML_100K_FIELDS_BEFORE_FLAGS:]
            bad_flags = [
                (g, f) for g, f in zip(genre_names, flags, strict=True) if f not in ("0", "1")
            ]
            if bad_flags:
                genre, flag = bad_flags[0]
                field_problems.append(
                    _BadRow(label, line, f"genre flag {genre!r} is {flag!r}, expected 0 or 1", text)
                )
                continue
            genres = "|".join(g for g, f in zip(genre_names, flags, strict=True) if f == "1")
            yield _MovieRow(line, fields[0], fields[1], genres or NO_GENRES, text)


def _read_movies(
    container: _Container, layout: Layout, prefix: str, quarantine: bool, problems: list[_BadRow]
) -> tuple[pa.Table, int]:
    """Returns (movies table in MOVIES_SCHEMA, data rows read)."""
    label = container.label(posixpath.join(prefix, _LAYOUTS[layout].movies_name))
    field_problems: list[_BadRow] = []
    row_problems: list[_BadRow] = []
    first_line_by_id: dict[int, int] = {}
    movie_ids: list[int] = []
    titles: list[str] = []
    genres: list[str] = []
    years: list[int | None] = []
    n_rows_read = 0
    for row in _movie_rows(container, layout, prefix, field_problems):
        n_rows_read += 1
        if not re.fullmatch(r"[0-9]{1,10}", row.movie_id_text) or not (
            0 < int(row.movie_id_text) <= _INT32_MAX
        ):
            row_problems.append(
                _BadRow(
                    label,
                    row.line,
                    f"movie_id {row.movie_id_text!r} is not a positive 32-bit integer",
                    row.text,
                )
            )
            continue
        movie_id = int(row.movie_id_text)
        if movie_id in first_line_by_id:
            row_problems.append(
                _BadRow(
                    label,
                    row.line,
                    f"duplicate movie_id {movie_id}: first on line {first_line_by_id[movie_id]}",
                    row.text,
                )
            )
            continue
        first_line_by_id[movie_id] = row.line
        movie_ids.append(movie_id)
        titles.append(row.title)
        genres.append(row.genres)
        years.append(_parse_year(row.title))
    n_rows_read += len(field_problems)
    row_problems += field_problems
    if row_problems:
        row_problems.sort(key=lambda p: p.line)
        if not quarantine:
            first = row_problems[0]
            raise DataError(first.file, first.problem, first.line)
        problems.extend(row_problems)
    if n_rows_read == 0:
        raise DataError(label, "has no data rows")
    if not movie_ids:
        raise DataError(label, f"no valid movies: all {n_rows_read} data rows were quarantined")
    table = pa.Table.from_arrays(
        [
            pa.array(movie_ids, pa.int32()),
            pa.array(titles, pa.string()),
            pa.array(genres, pa.string()),
            pa.array(years, pa.int16()),
        ],
        schema=MOVIES_SCHEMA,
    )
    return table, n_rows_read


# --------------------------------------------------------------------------------------------
# Ratings


@dataclass
class _CheckedRows:
    """The rows of one batch that passed the per-row checks (all but the duplicate check)."""

    user_ids: np.ndarray  # (n_kept,) int64
    movie_ids: np.ndarray  # (n_kept,) int64
    ratings: np.ndarray  # (n_kept,) float64
    timestamps: np.ndarray  # (n_kept,) int64
    lines: np.ndarray  # (n_kept,) int64, physical lines
    problems: list[_BadRow]


def _row_text(batch: pa.RecordBatch, index: int, separator: str) -> str:
    return separator.join(str(batch.column(k)[index].as_py()) for k in range(batch.num_columns))


def _check_rows(
    batch: pa.RecordBatch,
    lines: np.ndarray,
    *,
    label: str,
    separator: str,
    scale: RatingScale,
    known_movie_ids: np.ndarray,
    movies_label: str,
) -> _CheckedRows:
    """Checks fields, scale and movie ids of a batch of string rows (lines: (num_rows,))."""
    n_rows = batch.num_rows
    valid = np.ones(n_rows, bool)
    problems: list[_BadRow] = []

    def reject(mask: np.ndarray, describe: Callable[[int], str]) -> None:
        for index in np.flatnonzero(mask):
            problems.append(
                _BadRow(
                    label, int(lines[index]), describe(index), _row_text(batch, index, separator)
                )
            )
        valid[mask] = False

    def raw(column: str, index: int) -> str:
        return batch.column(column)[index].as_py()

    patterns = {
        "user_id": (_ID_PATTERN, "a positive integer"),
        "movie_id": (_ID_PATTERN, "a positive integer"),
        "rating": (_RATING_PATTERN, "a number"),
        "timestamp": (_TIMESTAMP_PATTERN, "an integer number of seconds"),
    }
    typed: dict[str, np.ndarray] = {}
    for column, (pattern, kind) in patterns.items():
        strings = batch.column(column)
        matches = pc.match_substring_regex(strings, pattern).to_numpy(zero_copy_only=False)
        reject(valid & ~matches, lambda i, c=column, k=kind: f"{c} {raw(c, i)!r} is not {k}")
        # Bad cells get a harmless placeholder so the whole column casts in one call.
        filled = pc.if_else(pa.array(matches), strings, "0")
        target = pa.float64() if column == "rating" else pa.int64()
        typed[column] = pc.cast(filled, target).to_numpy(zero_copy_only=False)

    for column in ("user_id", "movie_id"):
        values = typed[column]
        reject(
            valid & ((values < 1) | (values > _INT32_MAX)),
            lambda i, c=column: f"{c} {raw(c, i)!r} is not a positive 32-bit integer",
        )
    ratings = typed["rating"]
    in_range, on_step = scale.in_range(ratings), scale.on_step(ratings)
    reject(
        valid & ~in_range,
        lambda i: f"rating {raw('rating', i)} is outside the rating scale ({scale.describe()})",
    )
    reject(
        valid & ~on_step,
        lambda i: (
            f"rating {raw('rating', i)} is not on a step of the rating scale ({scale.describe()})"
        ),
    )
    movie_ids = typed["movie_id"]
    position = np.searchsorted(known_movie_ids, movie_ids)
    known = known_movie_ids[np.minimum(position, len(known_movie_ids) - 1)] == movie_ids
    reject(
        valid & ~known,
        lambda i: f"movie_id {movie_ids[i]} is not in {movies_label}",
    )
    return _CheckedRows(
        user_ids=typed["user_id"][valid],
        movie_ids=movie_ids[valid],
        ratings=ratings[valid],
        timestamps=typed["timestamp"][valid],
        lines=lines[valid],
        problems=problems,
    )


class _SeenPairs:
    """The (user_id, movie_id) pairs kept so far, as sorted int64 keys ``user << 32 | movie``."""

    def __init__(self) -> None:
        self.keys = np.empty(0, np.int64)

    @staticmethod
    def key(user_ids: np.ndarray, movie_ids: np.ndarray) -> np.ndarray:
        return (user_ids.astype(np.int64) << 32) | movie_ids.astype(np.int64)

    def find_duplicates(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For keys (n,) in file order: (seen in an earlier batch: bool (n,),
        index of the first occurrence within this batch: int (n,))."""
        unique_keys, first_index, inverse = np.unique(keys, return_index=True, return_inverse=True)
        first_in_batch = first_index[inverse]
        in_earlier = np.zeros(len(keys), bool)
        if len(self.keys):
            # Sorted queries keep the binary searches cache-friendly: several times faster.
            position = np.searchsorted(self.keys, unique_keys)
            found = self.keys[np.minimum(position, len(self.keys) - 1)] == unique_keys
            in_earlier = found[inverse]
        return in_earlier, first_in_batch

    def add(self, new_keys: np.ndarray) -> None:
        """Adds keys that are neither seen nor repeated among themselves."""
        merged = np.concatenate([self.keys, new_keys])
        merged.sort(kind="stable")  # two sorted runs: a linear merge
        self.keys = merged

    def n_users(self) -> int:
        if not len(self.keys):
            return 0
        users = self.keys >> 32  # sorted, since the user is the high half of the key
        return int(np.count_nonzero(np.diff(users)) + 1)


@dataclass
class _PendingDuplicate:
    """A duplicate of a pair kept in an earlier batch, whose first line is looked up later."""

    key: int
    row: _BadRow


def _duplicate_problem(key: int, first_line: int | None) -> str:
    user_id, movie_id = key >> 32, key & 0xFFFFFFFF
    where = f"first on line {first_line}" if first_line is not None else "seen earlier"
    return f"duplicate rating for user_id {user_id}, movie_id {movie_id}: {where}"


@dataclass(frozen=True)
class _RatingsJob:
    container: _Container
    member: str
    layout: Layout
    scale: RatingScale
    known_movie_ids: np.ndarray  # sorted int64
    movies_label: str
    block_size: int

    @property
    def label(self) -> str:
        return self.container.label(self.member)

    def reader(self) -> _RatingsReader:
        return _RatingsReader(self.container, self.member, self.layout, self.block_size)

    def check(self, batch: pa.RecordBatch, lines: np.ndarray) -> _CheckedRows:
        return _check_rows(
            batch,
            lines,
            label=self.label,
            separator=_LAYOUTS[self.layout].separator,
            scale=self.scale,
            known_movie_ids=self.known_movie_ids,
            movies_label=self.movies_label,
        )


def _first_kept_lines(job: _RatingsJob, wanted_keys: np.ndarray) -> dict[int, int]:
    """Second pass: the line of the first kept rating of each wanted (user, movie) key.

    Only needed for duplicates across batches; keeping a line per rating instead would grow
    memory with the file.
    """
    wanted = np.unique(wanted_keys)
    found: dict[int, int] = {}
    for batch, lines in job.reader():
        checked = job.check(batch, lines)
        keys = _SeenPairs.key(checked.user_ids, checked.movie_ids)
        position = np.minimum(np.searchsorted(wanted, keys), len(wanted) - 1)
        for index in np.flatnonzero(wanted[position] == keys):
            found.setdefault(int(keys[index]), int(checked.lines[index]))
        if len(found) == len(wanted):
            break
    return found


@dataclass(frozen=True)
class _RatingsStats:
    n_ratings: int
    n_users: int
    n_rows_read: int


def _write_ratings(
    job: _RatingsJob, path: Path, quarantine: bool, problems: list[_BadRow]
) -> _RatingsStats:
    """Streams, checks and writes the ratings; bad rows raise or go to ``problems``."""
    seen = _SeenPairs()
    pending: list[_PendingDuplicate] = []
    n_ratings = 0
    reader = job.reader()
    with pq.ParquetWriter(path, RATINGS_SCHEMA) as writer:
        for batch, lines in reader:
            checked = job.check(batch, lines)
            batch_problems = checked.problems
            keys = seen.key(checked.user_ids, checked.movie_ids)
            in_earlier, first_in_batch = seen.find_duplicates(keys)
            repeated = first_in_batch != np.arange(len(keys))
            for index in np.flatnonzero(in_earlier | repeated):
                key = int(keys[index])
                first_line = (
                    None if in_earlier[index] else int(checked.lines[first_in_batch[index]])
                )
                row = _BadRow(
                    job.label,
                    int(checked.lines[index]),
                    _duplicate_problem(key, first_line),
                    _row_text_from_values(checked, index, _LAYOUTS[job.layout].separator),
                )
                if first_line is None:
                    pending.append(_PendingDuplicate(key, row))
                else:
                    batch_problems.append(row)
            # Field-count problems pyarrow met up to the end of this batch belong here too.
            last_line = int(lines[-1]) if len(lines) else 0
            batch_problems += [p for p in reader.field_problems if p.line <= last_line]
            reader.field_problems = [p for p in reader.field_problems if p.line > last_line]
            if not quarantine:
                _raise_first(job, batch_problems, pending)
            problems.extend(batch_problems)
            keep = ~(in_earlier | repeated)
            seen.add(keys[keep])
            n_ratings += int(np.count_nonzero(keep))
            writer.write_batch(_ratings_batch(checked, keep))
    if not quarantine:
        _raise_first(job, reader.field_problems, pending)
    problems.extend(reader.field_problems)
    if pending:
        first_lines = _first_kept_lines(job, np.array([p.key for p in pending], np.int64))
        for duplicate in pending:
            problem = _duplicate_problem(duplicate.key, first_lines.get(duplicate.key))
            problems.append(
                _BadRow(duplicate.row.file, duplicate.row.line, problem, duplicate.row.text)
            )
    if reader.n_rows_read == 0:
        raise DataError(job.label, "has no data rows")
    if n_ratings == 0:
        raise DataError(
            job.label, f"no valid ratings: all {reader.n_rows_read} data rows were quarantined"
        )
    return _RatingsStats(n_ratings, seen.n_users(), reader.n_rows_read)


def _row_text_from_values(checked: _CheckedRows, index: int, separator: str) -> str:
    values = (
        checked.user_ids[index],
        checked.movie_ids[index],
        f"{checked.ratings[index]:g}",
        checked.timestamps[index],
    )
    return separator.join(str(v) for v in values)


def _raise_first(
    job: _RatingsJob, problems: list[_BadRow], pending: list[_PendingDuplicate]
) -> None:
    """Raises the problem on the earliest line, if any (looking up a duplicate's first line)."""
    candidates = [(p.line, p.problem, None) for p in problems]
    candidates += [(p.row.line, p.row.problem, p.key) for p in pending]
    if not candidates:
        return
    line, problem, key = min(candidates, key=lambda c: c[0])
    if key is not None:
        first_line = _first_kept_lines(job, np.array([key], np.int64)).get(key)
        problem = _duplicate_problem(key, first_line)
    raise DataError(job.label, problem, line)


def _ratings_batch(checked: _CheckedRows, keep: np.ndarray) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [
            pa.array(checked.user_ids[keep].astype(np.int32)),
            pa.array(checked.movie_ids[keep].astype(np.int32)),
            pa.array(checked.ratings[keep].astype(np.float32)),
            pc.cast(pa.array(checked.timestamps[keep]), pa.timestamp("s", tz="UTC")),
        ],
        schema=RATINGS_SCHEMA,
    )


# --------------------------------------------------------------------------------------------
# Ingest


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


def _sha256_of_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _check_replaceable(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise CofiError(f"{out_dir} exists and is not a folder; refusing to replace it")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MANIFEST_FILE).exists():
        raise CofiError(
            f"{out_dir} is a non-empty folder without {MANIFEST_FILE}, not an earlier ingest; "
            "refusing to replace it"
        )


def _write_quarantine(path: Path, problems: list[_BadRow]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(QUARANTINE_COLUMNS)
        for problem in sorted(problems, key=lambda p: (p.file, p.line)):
            writer.writerow([problem.file, problem.line, problem.problem, problem.text])


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
        source: a folder or ``.zip`` archive in one of the layouts (see :func:`detect_layout`).
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
    with _Container(source) as container:
        layout, prefix = _locate(container)
        spec = _LAYOUTS[layout]
        scale = scale or spec.default_scale
        ratings_member = posixpath.join(prefix, spec.ratings_name)
        movies_member = posixpath.join(prefix, spec.movies_name)
        if container.is_zip:
            source_sha256 = _sha256_of_files([source])
        else:
            source_sha256 = _sha256_of_files([source / ratings_member, source / movies_member])
        options = {"scale": [scale.minimum, scale.maximum, scale.step], "quarantine": quarantine}
        if reuse:
            earlier = _reusable(out_dir, source_sha256, options)
            if earlier is not None:
                return earlier
        if spec.ratings_header:
            _check_header(container, ratings_member, spec.ratings_header)

        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
        tmp_dir.chmod(0o777 & ~UMASK)
        try:
            problems: list[_BadRow] = []
            movies, n_movie_rows_read = _read_movies(
                container, layout, prefix, quarantine, problems
            )
            pq.write_table(movies, tmp_dir / MOVIES_FILE)
            job = _RatingsJob(
                container=container,
                member=ratings_member,
                layout=layout,
                scale=scale,
                known_movie_ids=np.sort(movies.column("movie_id").to_numpy().astype(np.int64)),
                movies_label=container.label(movies_member),
                block_size=block_size,
            )
            stats = _write_ratings(job, tmp_dir / RATINGS_FILE, quarantine, problems)
            files = {
                RATINGS_FILE: {"rows": stats.n_ratings},
                MOVIES_FILE: {"rows": movies.num_rows},
            }
            if quarantine:
                _write_quarantine(tmp_dir / QUARANTINE_FILE, problems)
                files[QUARANTINE_FILE] = {"rows": len(problems)}
            manifest = {
                "schema_version": SCHEMA_VERSION,
                "layout": layout.value,
                "source": str(source.resolve()),
                "source_sha256": source_sha256,
                "source_sha256_of": "zip file" if container.is_zip else FOLDER_SHA256_RULE,
                "ratings_source": container.label(ratings_member),
                "movies_source": container.label(movies_member),
                "n_ratings": stats.n_ratings,
                "n_movies": movies.num_rows,
                "n_users": stats.n_users,
                "n_quarantined": len(problems),
                "rating_scale": {
                    "minimum": scale.minimum,
                    "maximum": scale.maximum,
                    "step": scale.step,
                },
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "options": options,
                "files": files,
                "source_rows": {
                    "ratings": stats.n_rows_read,
                    "movies": n_movie_rows_read,
                },
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
        stats.n_ratings,
        movies.num_rows,
        stats.n_users,
        len(problems),
        out_dir,
    )
    return IngestResult(
        out_dir=out_dir,
        ratings_path=out_dir / RATINGS_FILE,
        movies_path=out_dir / MOVIES_FILE,
        manifest_path=out_dir / MANIFEST_FILE,
        n_ratings=stats.n_ratings,
        n_movies=movies.num_rows,
        n_users=stats.n_users,
        n_quarantined=len(problems),
        source_sha256=source_sha256,
    )


def _reusable(out_dir: Path, source_sha256: str, options: dict) -> IngestResult | None:
    """The earlier ingest in ``out_dir`` if it came from the same bytes with the same options."""
    try:
        manifest = read_manifest(out_dir)
    except DataError:
        return None
    same = manifest.get("source_sha256") == source_sha256 and manifest.get("options") == options
    if not same or not all((out_dir / name).is_file() for name in (RATINGS_FILE, MOVIES_FILE)):
        return None
    logger.info("%s already holds this source (sha256 %s): reusing it", out_dir, source_sha256[:12])
    return IngestResult(
        out_dir=out_dir,
        ratings_path=out_dir / RATINGS_FILE,
        movies_path=out_dir / MOVIES_FILE,
        manifest_path=out_dir / MANIFEST_FILE,
        n_ratings=manifest["n_ratings"],
        n_movies=manifest["n_movies"],
        n_users=manifest["n_users"],
        n_quarantined=manifest["n_quarantined"],
        source_sha256=source_sha256,
        reused=True,
    )


def read_manifest(out_dir: str | os.PathLike[str]) -> dict:
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


# --------------------------------------------------------------------------------------------
# Finding and downloading datasets


class _Default(enum.Enum):
    FROM_SETTINGS = "from settings"


#: Default of ``resolve_source(movielens_dir=...)``: read ``COFI_MOVIELENS_DIR`` at call time.
FROM_SETTINGS = _Default.FROM_SETTINGS

_MD5_PATTERN = re.compile(r"\b([0-9a-fA-F]{32})\b")


def _open_url(url: str, timeout: float):  # -> http.client.HTTPResponse
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
    if expected_sha256 is None or _sha256_of_files([path]) == expected_sha256.lower():
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
