"""Reading the raw rows of GroupLens files, each with its 1-based physical line.

The ratings file is streamed block by block as string columns (pyarrow's CSV reader; ``::`` is
turned into one separator byte on the way in); headers are checked; small text files are read as
numbered lines. Typing and validating the values is left to :mod:`cofi.data.rating_rows` and
:mod:`cofi.data.movie_rows`.
"""

from __future__ import annotations

import csv
import io
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from cofi.data.folder_or_zip import FolderOrZip, corrupt_archive
from cofi.data.layouts import LAYOUTS, Layout
from cofi.data.quarantine import BadRow
from cofi.errors import CofiError, DataError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

_RATING_COLUMNS = ("user_id", "movie_id", "rating", "timestamp")
_DAT_SEPARATOR_BYTE = b"\t"  # stands in for "::", which pyarrow cannot take as a delimiter


class ByteStream(io.RawIOBase):
    """A read-only byte stream over ``raw`` that can turn ``::`` into one separator byte.

    It also keeps the first zip error it meets: pyarrow re-raises it, and the caller turns it
    into a DataError naming the archive.
    """

    def __init__(self, raw: IO[bytes], replace_double_colon: bool) -> None:
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

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        size = len(view)
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
        view[: len(taken)] = taken
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
class RatingsReader:
    """Streams the ratings file as string columns with the physical line of each row."""

    container: FolderOrZip
    member: str
    layout: Layout
    block_size: int
    field_problems: list[BadRow] = field(default_factory=list)
    n_rows_read: int = 0  # data rows met, blank lines excluded

    def __iter__(self) -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
        """Yields (batch of 4 string columns, physical lines of shape (batch.num_rows,))."""
        spec = LAYOUTS[self.layout]
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
                BadRow(
                    label,
                    row.number,
                    f"has {row.actual_columns} fields, expected {row.expected_columns}",
                    text,
                )
            )
            self.n_rows_read += 1
            return "skip"

        stream = ByteStream(self.container.open(self.member), self.layout is Layout.DAT)
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
                    # pyarrow.compute makes its kernels at import time, out of pyright's sight.
                    is_empty = pc.equal(column, "")  # pyright: ignore[reportAttributeAccessIssue]
                    blank &= is_empty.to_numpy(zero_copy_only=False)
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
                raise corrupt_archive(label, stream.error) from exc
            if isinstance(exc, pa.ArrowInvalid):
                raise DataError(
                    label, f"cannot be read as {self.layout.value} ratings: {exc}"
                ) from exc
            raise
        finally:
            stream.close()


def check_header_text(label: str, text: str | None, expected: tuple[str, ...]) -> None:
    """Checks line 1 of a csv file (None when the file is empty)."""
    if text is None or not text.strip():
        raise DataError(label, f"is empty: no header, expected {','.join(expected)!r}", 1)
    found = tuple(next(csv.reader([text.removeprefix("\ufeff")])))
    if found != expected:
        raise DataError(label, f"wrong header: expected {','.join(expected)!r}, found {text!r}", 1)


def check_header(container: FolderOrZip, member: str, expected: tuple[str, ...]) -> None:
    label = container.label(member)
    try:
        with container.open(member) as stream:
            first = stream.readline(1 << 16)
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise corrupt_archive(label, exc) from exc
    text = first.decode("utf-8", errors="replace").rstrip("\r\n") if first else None
    check_header_text(label, text, expected)


def _decode(data: bytes, label: str, encodings: tuple[str, ...]) -> str:
    """``data`` decoded with the first of ``encodings`` that fits; else an error naming the line."""
    *first_choices, last = encodings
    for encoding in first_choices:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            pass
    try:
        return data.decode(last)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(label, f"is not valid {last}: {exc.reason}", line) from exc


def text_lines(data: bytes, label: str, encodings: tuple[str, ...]) -> Iterator[tuple[int, str]]:
    """(physical line, text) of each non-blank line, decoded with the first encoding that fits."""
    text = _decode(data, label, encodings)
    # Split on "\n" only: str.splitlines also splits on \x85 and \u2028 and would miscount lines.
    for number, line_text in enumerate(text.split("\n"), start=1):
        line_text = line_text.removesuffix("\r")
        if line_text.strip():
            yield number, line_text
