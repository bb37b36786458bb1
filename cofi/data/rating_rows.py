"""The ratings file streamed, validated row by row and written to ``ratings.parquet``.

Memory does not grow with the file, apart from one int64 key per kept rating for the duplicate
check. Every rejected row is named by its file and 1-based physical line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cofi.data.folder_or_zip import FolderOrZip
from cofi.data.layouts import LAYOUTS, Layout
from cofi.data.quarantine import BadRow
from cofi.data.reading import QUOTE_CHARS, RatingsReader
from cofi.data.schema import MAX_ID, RATINGS_SCHEMA, RatingScale
from cofi.errors import DataError

_ID_PATTERN = r"^[0-9]{1,10}$"
_RATING_PATTERN = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?$"
_TIMESTAMP_PATTERN = r"^-?[0-9]{1,15}$"


@dataclass
class _CheckedRows:
    """The rows of one batch that passed the per-row checks (all but the duplicate check)."""

    user_ids: np.ndarray  # (n_kept,) int64
    movie_ids: np.ndarray  # (n_kept,) int64
    ratings: np.ndarray  # (n_kept,) float64
    timestamps: np.ndarray  # (n_kept,) int64
    lines: np.ndarray  # (n_kept,) int64, physical lines
    problems: list[BadRow]


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
    problems: list[BadRow] = []

    def reject(mask: np.ndarray, describe: Callable[[int], str]) -> None:
        for index in np.flatnonzero(mask).tolist():
            problems.append(
                BadRow(
                    label, int(lines[index]), describe(index), _row_text(batch, index, separator)
                )
            )
        valid[mask] = False

    def raw(column: str, index: int) -> str:
        """The cell as written, cut for a message."""
        text = batch.column(column)[index].as_py()
        return text if len(text) <= QUOTE_CHARS else f"{text[:QUOTE_CHARS]}..."

    patterns = {
        "user_id": (_ID_PATTERN, "a positive integer"),
        "movie_id": (_ID_PATTERN, "a positive integer"),
        "rating": (_RATING_PATTERN, "a number"),
        "timestamp": (_TIMESTAMP_PATTERN, "an integer number of seconds"),
    }
    typed: dict[str, np.ndarray] = {}
    # pyarrow.compute makes its kernels at import time, out of pyright's sight: hence the ignores.
    match_regex = pc.match_substring_regex  # pyright: ignore[reportAttributeAccessIssue]
    if_else = pc.if_else  # pyright: ignore[reportAttributeAccessIssue]
    for column, (pattern, kind) in patterns.items():
        strings = batch.column(column)
        matches = match_regex(strings, pattern).to_numpy(zero_copy_only=False)
        reject(valid & ~matches, lambda i, c=column, k=kind: f"{c} {raw(c, i)!r} is not {k}")
        # Bad cells get a harmless placeholder so the whole column casts in one call.
        filled = if_else(pa.array(matches), strings, "0")
        target = pa.float64() if column == "rating" else pa.int64()
        typed[column] = pc.cast(filled, target).to_numpy(zero_copy_only=False)

    for column in ("user_id", "movie_id"):
        values = typed[column]
        reject(
            valid & ((values < 1) | (values > MAX_ID)),
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
    row: BadRow


def _duplicate_problem(key: int, first_line: int | None) -> str:
    user_id, movie_id = key >> 32, key & 0xFFFFFFFF
    where = f"first on line {first_line}" if first_line is not None else "seen earlier"
    return f"duplicate rating for user_id {user_id}, movie_id {movie_id}: {where}"


@dataclass(frozen=True)
class RatingsJob:
    """Where the ratings file is and what its rows are checked against.

    Attributes:
        container: the source.
        member: the ratings file's name inside it.
        layout: the source's layout.
        scale: the allowed ratings.
        known_movie_ids: (n_movies,) sorted int64 ids of the valid movies.
        movies_label: how errors name the movies file.
        block_size: bytes of the ratings file read per block.
    """

    container: FolderOrZip
    member: str
    layout: Layout
    scale: RatingScale
    known_movie_ids: np.ndarray
    movies_label: str
    block_size: int

    @property
    def label(self) -> str:
        return self.container.label(self.member)

    def reader(self) -> RatingsReader:
        return RatingsReader(self.container, self.member, self.layout, self.block_size)

    def check(self, batch: pa.RecordBatch, lines: np.ndarray) -> _CheckedRows:
        return _check_rows(
            batch,
            lines,
            label=self.label,
            separator=LAYOUTS[self.layout].separator,
            scale=self.scale,
            known_movie_ids=self.known_movie_ids,
            movies_label=self.movies_label,
        )


def _first_kept_lines(job: RatingsJob, wanted_keys: np.ndarray) -> dict[int, int]:
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
class RatingsStats:
    """What :func:`write_ratings` wrote, and how many data rows it met."""

    n_ratings: int
    n_users: int
    n_rows_read: int


def write_ratings(
    job: RatingsJob, path: Path, quarantine: bool, problems: list[BadRow]
) -> RatingsStats:
    """Streams, checks and writes the ratings to the Parquet file ``path``.

    Args:
        job: the ratings file and what it is checked against.
        path: the ratings.parquet to write (``RATINGS_SCHEMA``).
        quarantine: collect bad rows into ``problems`` instead of raising at the first one.
        problems: where bad rows go when quarantining.

    Returns:
        The counts of ratings kept, distinct users and data rows read.

    Raises:
        DataError: a bad row (without quarantine), an empty file, or no valid rating at all.
    """
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
            for index in np.flatnonzero(in_earlier | repeated).tolist():
                key = int(keys[index])
                first_line = (
                    None if in_earlier[index] else int(checked.lines[first_in_batch[index]])
                )
                row = BadRow(
                    job.label,
                    int(checked.lines[index]),
                    _duplicate_problem(key, first_line),
                    _row_text_from_values(checked, index, LAYOUTS[job.layout].separator),
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
                BadRow(duplicate.row.file, duplicate.row.line, problem, duplicate.row.text)
            )
    if reader.n_rows_read == 0:
        raise DataError(job.label, "has no data rows")
    if n_ratings == 0:
        raise DataError(
            job.label, f"no valid ratings: all {reader.n_rows_read} data rows were quarantined"
        )
    return RatingsStats(n_ratings, seen.n_users(), reader.n_rows_read)


def _row_text_from_values(checked: _CheckedRows, index: int, separator: str) -> str:
    values = (
        checked.user_ids[index],
        checked.movie_ids[index],
        f"{checked.ratings[index]:g}",
        checked.timestamps[index],
    )
    return separator.join(str(v) for v in values)


def _raise_first(job: RatingsJob, problems: list[BadRow], pending: list[_PendingDuplicate]) -> None:
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
