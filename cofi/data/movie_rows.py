"""The movies file of each layout, parsed and validated into a ``MOVIES_SCHEMA`` table.

A quoted ``movies.csv`` title may hold a line break (RFC 4180): the row is read whole, and each
break with the spaces around it becomes one space, since a title is shown on one line.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from cofi.data.folder_or_zip import FolderOrZip
from cofi.data.layouts import (
    LAYOUTS,
    ML_100K_FIELDS_BEFORE_FLAGS,
    ML_100K_GENRES,
    NO_GENRES,
    Layout,
)
from cofi.data.quarantine import BadRow
from cofi.data.reading import check_header_text, csv_records, quoted, text_lines
from cofi.data.schema import MAX_ID, MOVIES_SCHEMA
from cofi.errors import DataError

# "(1995)", "(2006-2007)", "(2006–2007)" or "(2006-)" at the end of a title, then maybe spaces.
_YEAR_PATTERN = re.compile(r"\((\d{4})(?:\s*[-\u2013]\s*(?:\d{4})?)?\)\s*$")
_LINE_BREAK = re.compile(r"\s*\n\s*")


@dataclass(frozen=True)
class _MovieRow:
    """One movies-file row split into fields, before its id is checked."""

    line: int
    movie_id_text: str
    title: str
    genres: str
    text: str


def parse_year(title: str) -> int | None:
    """The (first) year in parentheses at the end of ``title``, or None."""
    match = _YEAR_PATTERN.search(title)
    return int(match.group(1)) if match else None


def _read_genre_names(container: FolderOrZip, prefix: str) -> tuple[str, ...]:
    name = posixpath.join(prefix, "u.genre")
    if name not in container.names:
        return ML_100K_GENRES
    label = container.label(name)
    by_index: dict[int, str] = {}
    for line, text in text_lines(container, name, ("latin-1",)):
        genre, sep, index_text = text.rpartition("|")
        if not sep or not index_text.isdigit() or int(index_text) in by_index:
            raise DataError(
                label, f"expected 'name|index' with a new index, found {quoted(text)}", line
            )
        by_index[int(index_text)] = genre
    if sorted(by_index) != list(range(len(by_index))) or not by_index:
        raise DataError(label, f"genre indices must run 0..n-1, found {sorted(by_index)}")
    return tuple(by_index[i] for i in range(len(by_index)))


def _movie_rows(
    container: FolderOrZip, layout: Layout, prefix: str, field_problems: list[BadRow]
) -> Iterator[_MovieRow]:
    """The movies file's rows; rows with the wrong number of fields go to ``problems``."""
    spec = LAYOUTS[layout]
    name = posixpath.join(prefix, spec.movies_name)
    label = container.label(name)
    if layout is Layout.CSV:
        records = csv_records(container, name)
        first = next(records, None)
        check_header_text(
            label, first.text if first and first.line == 1 else None, spec.movies_header or ()
        )
        for record in records:
            fields = record.fields
            if len(fields) != 3:
                field_problems.append(
                    BadRow(label, record.line, f"has {len(fields)} fields, expected 3", record.text)
                )
                continue
            title = _LINE_BREAK.sub(" ", fields[1])
            yield _MovieRow(record.line, fields[0], title, fields[2], record.text)
    elif layout is Layout.DAT:
        for line, text in text_lines(container, name, ("utf-8", "latin-1")):
            fields = text.split("::")
            if len(fields) != 3:
                field_problems.append(
                    BadRow(label, line, f"has {len(fields)} fields, expected 3", text)
                )
                continue
            yield _MovieRow(line, fields[0], fields[1], fields[2], text)
    else:
        genre_names = _read_genre_names(container, prefix)
        n_fields = ML_100K_FIELDS_BEFORE_FLAGS + len(genre_names)
        for line, text in text_lines(container, name, ("latin-1",)):
            fields = text.split("|")
            if len(fields) != n_fields:
                field_problems.append(
                    BadRow(label, line, f"has {len(fields)} fields, expected {n_fields}", text)
                )
                continue
            flags = fields[ML_100K_FIELDS_BEFORE_FLAGS:]
            bad_flags = [
                (g, f) for g, f in zip(genre_names, flags, strict=True) if f not in ("0", "1")
            ]
            if bad_flags:
                genre, flag = bad_flags[0]
                field_problems.append(
                    BadRow(
                        label,
                        line,
                        f"genre flag {genre!r} is {quoted(flag)}, expected 0 or 1",
                        text,
                    )
                )
                continue
            genres = "|".join(g for g, f in zip(genre_names, flags, strict=True) if f == "1")
            yield _MovieRow(line, fields[0], fields[1], genres or NO_GENRES, text)


def read_movies_file(
    container: FolderOrZip, layout: Layout, prefix: str, quarantine: bool, problems: list[BadRow]
) -> tuple[pa.Table, int]:
    """Reads and validates the movies file of ``layout`` in ``container``'s folder ``prefix``.

    Args:
        container: the source.
        layout: its layout (see :func:`cofi.data.layouts.locate`).
        prefix: the folder inside the source holding the files ("" or one sub-folder).
        quarantine: collect bad rows into ``problems`` instead of raising at the first one.
        problems: where bad rows go when quarantining.

    Returns:
        ``(movies, n_rows_read)``: the valid movies in ``MOVIES_SCHEMA`` and the data rows met.

    Raises:
        DataError: a bad row (without quarantine), an empty file, or no valid movie at all.
    """
    label = container.label(posixpath.join(prefix, LAYOUTS[layout].movies_name))
    field_problems: list[BadRow] = []
    row_problems: list[BadRow] = []
    first_line_by_id: dict[int, int] = {}
    movie_ids: list[int] = []
    titles: list[str] = []
    genres: list[str] = []
    years: list[int | None] = []
    n_rows_read = 0
    for row in _movie_rows(container, layout, prefix, field_problems):
        n_rows_read += 1
        if not re.fullmatch(r"[0-9]{1,10}", row.movie_id_text) or not (
            0 < int(row.movie_id_text) <= MAX_ID
        ):
            row_problems.append(
                BadRow(
                    label,
                    row.line,
                    f"movie_id {quoted(row.movie_id_text)} is not a positive 32-bit integer",
                    row.text,
                )
            )
            continue
        movie_id = int(row.movie_id_text)
        if movie_id in first_line_by_id:
            row_problems.append(
                BadRow(
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
        years.append(parse_year(row.title))
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
