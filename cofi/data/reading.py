"""Reading the raw rows of GroupLens files, each with its 1-based physical line.

Every file is streamed, never read whole. The ratings file goes block by block as string columns
(pyarrow's CSV reader; ``::`` is turned into one separator byte and blank lines are dropped on the
way in, their lines still counted); headers are checked; the movies files are read line by line,
blank lines skipped. A line longer than ``MAX_LINE_BYTES`` is an error naming it. Typing and
validating the values is left to :mod:`cofi.data.rating_rows` and :mod:`cofi.data.movie_rows`.
"""

from __future__ import annotations

import csv
import io
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from cofi.data.folder_or_zip import ZIP_ERRORS, FolderOrZip, corrupt_archive
from cofi.data.layouts import LAYOUTS, Layout
from cofi.data.quarantine import BadRow
from cofi.errors import CofiError, DataError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

#: The longest line (or quoted row over several lines) any file may hold. GroupLens lines are under
#: 1 KiB; a longer one means a corrupt or hostile file, and the cap keeps it from filling memory.
MAX_LINE_BYTES = 1 << 20

#: How much of a file's content an error message quotes.
QUOTE_CHARS = 80

_RATING_COLUMNS = ("user_id", "movie_id", "rating", "timestamp")
_DAT_SEPARATOR_BYTE = b"\t"  # stands in for "::", which pyarrow cannot take as a delimiter
_READ_BYTES = 1 << 20  # read per call when streaming lines
_NON_BLANK = re.compile(rb"\S[^\n]*")  # from a line's first non-space byte to its end


def quoted(text: str) -> str:
    """``repr(text)``, cut to about ``QUOTE_CHARS`` characters for an error message."""
    if len(text) <= QUOTE_CHARS:
        return repr(text)
    return f"{text[:QUOTE_CHARS]!r}... ({len(text)} characters)"


def _too_long(label: str, line: int) -> DataError:
    return DataError(label, f"line is longer than {MAX_LINE_BYTES} bytes", line)


class ByteStream(io.RawIOBase):
    """A read-only byte stream over ``raw``; what it hands on, pyarrow parses.

    On the way it refuses a line longer than ``MAX_LINE_BYTES``, can turn ``::`` into one separator
    byte, and can drop blank lines (``\\n`` or ``\\r\\n`` alone), which would otherwise cost pyarrow
    a row each: :meth:`physical_lines` maps the lines it handed on back to the file's lines.

    Its first error (a line too long, a corrupt zip member) is kept in ``error`` as a DataError
    naming ``label``: pyarrow re-raises it in its own words, and the caller raises ``error``.
    """

    def __init__(
        self,
        raw: IO[bytes],
        label: str,
        *,
        replace_double_colon: bool = False,
        drop_blank_lines: bool = False,
    ) -> None:
        super().__init__()
        self._raw = raw
        self._label = label
        self._replace = replace_double_colon
        self._drop_blank = drop_blank_lines
        self._pending = b""
        self._offset = 0  # of the next byte of _pending to hand out
        self._carry = b""  # a last byte held back: half of "::" or the "\r" of a blank "\r\n"
        self._eof = False
        self._newlines = 0  # in the file, so far
        self._line_length = 0  # bytes of the line not yet ended
        self._newlines_out = 0  # handed on, so far
        # Runs of dropped blank lines: (first line handed on after the run, dropped up to it).
        self._runs = np.empty((2, 0), np.int64)
        self._dropped_before_runs = 0
        self._lock = threading.Lock()  # pyarrow may read on another thread than the caller's
        self.error: DataError | None = None
        self.saw_quote = False  # a '"' anywhere so far: only then can a value span lines

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        size = len(view)
        while self._offset >= len(self._pending) and not self._eof:
            self._offset = 0
            try:
                chunk = self._raw.read(max(size, 1 << 16))
            except ZIP_ERRORS as exc:
                self.error = corrupt_archive(self._label, exc)
                raise self.error from exc
            except OSError as exc:
                self.error = DataError(self._label, f"cannot be read ({exc})")
                raise self.error from exc
            data = self._carry + chunk
            self._carry = b""
            self._eof = not chunk
            if chunk and self._holds_back(data):
                data, self._carry = data[:-1], data[-1:]
            self._pending = self._process(data)
        taken = self._pending[self._offset : self._offset + size]
        self._offset += len(taken)
        view[: len(taken)] = taken
        return len(taken)

    def _holds_back(self, data: bytes) -> bool:
        """Whether the last byte must wait for the next chunk to be judged."""
        if self._drop_blank and data.endswith(b"\r"):
            return True
        # "::" is replaced left to right: an odd run of colons keeps its last one back.
        return self._replace and (len(data) - len(data.rstrip(b":"))) % 2 == 1

    def _process(self, data: bytes) -> bytes:
        self.saw_quote = self.saw_quote or b'"' in data
        # In pieces of whole lines, so that numpy's arrays stay small however long ``data`` is.
        pieces = []
        start = 0
        while start < len(data):
            end = min(start + _READ_BYTES, len(data))
            if end < len(data):
                end = data.rfind(b"\n", start, end) + 1 or end
            pieces.append(self._process_lines(data[start:end]))
            start = end
        data = b"".join(pieces)
        if self._replace:
            data = data.replace(b"::", _DAT_SEPARATOR_BYTE)
        return data

    def _process_lines(self, data: bytes) -> bytes:
        array = np.frombuffer(data, np.uint8)
        newlines = np.flatnonzero(array == ord("\n"))
        # Bytes of each line ended in data, before its "\n"; the first goes on from earlier.
        lengths = np.diff(newlines, prepend=-1) - 1
        if len(lengths):
            lengths[0] += self._line_length
            tail = len(data) - int(newlines[-1]) - 1
        else:
            tail = self._line_length + len(data)
        too_long = np.flatnonzero(lengths > MAX_LINE_BYTES)
        if len(too_long) or tail > MAX_LINE_BYTES:
            index = int(too_long[0]) if len(too_long) else len(newlines)
            self.error = _too_long(self._label, self._newlines + index + 1)
            raise self.error
        self._newlines += len(newlines)
        self._line_length = tail
        if not self._drop_blank:
            return data
        after_cr = (newlines >= 1) & (array[np.maximum(newlines - 1, 0)] == ord("\r"))
        crlf_blank = (lengths == 1) & after_cr
        blank = (lengths == 0) | crlf_blank
        if blank.any():
            kept = np.ones(len(array), bool)
            kept[newlines[blank]] = False
            kept[newlines[crlf_blank] - 1] = False
            self._note_dropped(blank)
            data = array[kept].tobytes()
        self._newlines_out += int(np.count_nonzero(~blank))
        return data

    def _note_dropped(self, blank: np.ndarray) -> None:
        """Notes runs of dropped lines (``blank``: which lines of the data are dropped)."""
        # The line handed on after each dropped line: 1 + the lines handed on before it.
        not_blank = (~blank).astype(np.int64)
        kept_before = np.cumsum(not_blank) - not_blank
        next_line = self._newlines_out + 1 + kept_before[blank]
        starts, counts = np.unique(next_line, return_counts=True)
        with self._lock:
            runs = self._runs
            dropped_so_far = runs[1, -1] if runs.shape[1] else self._dropped_before_runs
            dropped = dropped_so_far + np.cumsum(counts)
            self._runs = np.concatenate([runs, np.stack([starts, dropped])], axis=1)

    def physical_lines(self, lines: np.ndarray) -> np.ndarray:
        """The file's lines of ``lines``, lines as handed on (shape kept)."""
        with self._lock:
            starts, dropped = self._runs
            if not len(starts):
                return lines + self._dropped_before_runs
            run = np.searchsorted(starts, lines, side="right") - 1
            before = np.where(run >= 0, dropped[np.maximum(run, 0)], self._dropped_before_runs)
        return lines + before

    def forget_before(self, line: int) -> None:
        """Forgets the runs of blank lines before ``line``: later questions are about later lines."""
        with self._lock:
            starts, dropped = self._runs
            done = int(np.searchsorted(starts, line, side="right"))
            if done:
                self._dropped_before_runs = int(dropped[done - 1])
                self._runs = self._runs[:, done:]

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
        stream = ByteStream(
            self.container.open(self.member),
            label,
            replace_double_colon=self.layout is Layout.DAT,
            drop_blank_lines=True,
        )

        def on_invalid_row(row: pa_csv.InvalidRow) -> str:
            if row.number is None:  # only with parallel parsing, which streaming does not do
                raise CofiError(f"{label}: pyarrow did not report the line of a bad row")
            line_map.skipped.append(row.number)
            text = row.text.replace("\t", "::") if self.layout is Layout.DAT else row.text
            line = int(stream.physical_lines(np.array([row.number]))[0])
            self.field_problems.append(
                BadRow(
                    label,
                    line,
                    f"has {row.actual_columns} fields, expected {row.expected_columns}",
                    text,
                )
            )
            self.n_rows_read += 1
            return "skip"

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
                    # A blank line the stream let through ("\r" alone) is an all-empty row.
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
            # pyarrow.compute makes its kernels at import time, out of pyright's sight.
            equal = pc.equal  # pyright: ignore[reportAttributeAccessIssue]
            has_substring = pc.match_substring  # pyright: ignore[reportAttributeAccessIssue]
            for batch in reader:
                handed_on = line_map.lines(n_parsed, batch.num_rows)
                lines = stream.physical_lines(handed_on)
                if len(handed_on):
                    stream.forget_before(int(handed_on[-1]))
                n_parsed += batch.num_rows
                blank = np.ones(batch.num_rows, bool)
                for column in batch.columns:
                    blank &= equal(column, "").to_numpy(zero_copy_only=False)
                    if self.layout is Layout.CSV and stream.saw_quote:
                        _refuse_line_breaks(label, has_substring(column, "\n"), lines)
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
                raise stream.error from exc
            if isinstance(exc, pa.ArrowInvalid):
                raise DataError(
                    label, f"cannot be read as {self.layout.value} ratings: {_clip(str(exc))}"
                ) from exc
            raise
        finally:
            stream.close()


def _refuse_line_breaks(label: str, has_line_break: pa.Array, lines: np.ndarray) -> None:
    """A quoted value over two lines would put every later line number off: refused."""
    found = np.flatnonzero(has_line_break.to_numpy(zero_copy_only=False))
    if len(found):
        raise DataError(
            label,
            "a quoted value holds a line break (a ratings row is one line)",
            int(lines[found[0]]),
        )


def _clip(message: str) -> str:
    return message if len(message) <= 2 * QUOTE_CHARS else message[: 2 * QUOTE_CHARS] + "..."


def check_header_text(label: str, text: str | None, expected: tuple[str, ...]) -> None:
    """Checks line 1 of a csv file (None when the file is empty)."""
    if text is None or not text.strip():
        raise DataError(label, f"is empty: no header, expected {','.join(expected)!r}", 1)
    try:
        found = tuple(next(csv.reader([text.removeprefix("\ufeff")])))
    except csv.Error:
        found = ()
    if found != expected:
        raise DataError(
            label, f"wrong header: expected {','.join(expected)!r}, found {quoted(text)}", 1
        )


def check_header(container: FolderOrZip, member: str, expected: tuple[str, ...]) -> None:
    label = container.label(member)
    with container.open(member) as stream:
        try:
            first = stream.readline(1 << 16)
        except ZIP_ERRORS as exc:
            raise corrupt_archive(label, exc) from exc
        except OSError as exc:
            raise DataError(label, f"cannot be read ({exc})") from exc
    text = first.decode("utf-8", errors="replace").rstrip("\r\n") if first else None
    check_header_text(label, text, expected)


def _open_file(path: Path) -> IO[bytes]:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise DataError(path, "no such file") from None
    except IsADirectoryError:
        raise DataError(path, "is a folder, not a file") from None
    except OSError as exc:  # unreadable
        raise DataError(path, f"cannot be read ({exc.strerror or exc})") from None


_Opener = Callable[[], IO[bytes]]


def _non_blank_lines(open_stream: _Opener, label: str) -> Iterator[tuple[int, bytes]]:
    """(physical line, bytes without the line end) of each line holding a non-space byte.

    Streamed: runs of blank lines are skipped at the speed of a regex, holding no memory.
    """
    with open_stream() as stream:
        number = 1  # the line data[0] is on
        rest = b""  # the start of a line that goes on in the next read
        while True:
            try:
                chunk = stream.read(_READ_BYTES)
            except ZIP_ERRORS as exc:
                raise corrupt_archive(label, exc) from exc
            except OSError as exc:
                raise DataError(label, f"cannot be read ({exc})") from exc
            data = rest + chunk
            end = data.rfind(b"\n") + 1 if chunk else len(data)  # whole lines, or the last
            position = 0
            for match in _NON_BLANK.finditer(data, 0, end):
                start = data.rfind(b"\n", position, match.start()) + 1 or position
                number += data.count(b"\n", position, start)
                position = start
                if match.end() - start > MAX_LINE_BYTES:
                    raise _too_long(label, number)
                yield number, data[start : match.end()].removesuffix(b"\r")
            number += data.count(b"\n", position, end)
            rest = data[end:]
            if len(rest) > MAX_LINE_BYTES:
                raise _too_long(label, number)
            if not chunk:
                return


def _decoded_lines(
    open_stream: _Opener, label: str, encodings: tuple[str, ...]
) -> Iterator[tuple[int, str]]:
    # The first encoding the whole file decodes in, else the last, whose errors are reported.
    *first_choices, encoding = encodings
    for choice in first_choices:
        try:
            for _, data in _non_blank_lines(open_stream, label):
                data.decode(choice)
        except UnicodeDecodeError:
            continue
        encoding = choice
        break
    for number, data in _non_blank_lines(open_stream, label):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise DataError(label, f"is not valid {encoding}: {exc.reason}", number) from exc
        if text.strip():
            yield number, text


def text_lines(
    container: FolderOrZip, name: str, encodings: tuple[str, ...]
) -> Iterator[tuple[int, str]]:
    """(physical line, text) of each non-blank line, decoded with the first encoding that fits.

    Lines end at "\n" only (and lose a "\r" before it): str.splitlines would also split on \x85
    and \u2028 and miscount lines.
    """
    return _decoded_lines(lambda: container.open(name), container.label(name), encodings)


class _RecordLines:
    """Feeds csv.reader numbered lines, keeping those of the record being read."""

    def __init__(self, label: str, lines: Iterator[tuple[int, str]]) -> None:
        self._label = label
        self._lines = lines
        self.taken: list[tuple[int, str]] = []
        self._size = 0

    def __iter__(self) -> _RecordLines:
        return self

    def __next__(self) -> str:
        number, text = next(self._lines)
        if self.taken:
            self._size += len(text)
            if self._size > MAX_LINE_BYTES:
                raise DataError(
                    self._label,
                    f"a quoted row goes on for more than {MAX_LINE_BYTES} bytes: "
                    "is a quote left open?",
                    self.taken[0][0],
                )
        else:
            self._size = len(text)
        self.taken.append((number, text))
        return text + "\n"


def _csv_records(label: str, lines: Iterator[tuple[int, str]]) -> Iterator[CsvRecord]:
    record_lines = _RecordLines(label, lines)
    reader = csv.reader(record_lines)
    while True:
        record_lines.taken = []
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = record_lines.taken[0][0] if record_lines.taken else None
            raise DataError(label, f"is not valid CSV: {exc}", line) from exc
        taken = record_lines.taken
        yield CsvRecord(taken[0][0], fields, "\n".join(text for _, text in taken))


@dataclass(frozen=True)
class CsvRecord:
    """One row of a csv file: the physical line it starts on, its fields, its text as written."""

    line: int
    fields: list[str]
    text: str


def csv_records(container: FolderOrZip, name: str) -> Iterator[CsvRecord]:
    """The rows of a UTF-8 csv file in ``container``, streamed; blank lines are skipped.

    A quoted value may hold line breaks (RFC 4180): its row keeps the line it starts on, and the
    rows after it keep theirs. Blank lines within a quoted value are skipped too.
    """
    label = container.label(name)
    return _csv_records(label, text_lines(container, name, ("utf-8",)))


def csv_file_records(path: Path) -> Iterator[CsvRecord]:
    """The rows of the UTF-8 csv file ``path``, as :func:`csv_records` reads them."""
    return _csv_records(str(path), _decoded_lines(lambda: _open_file(path), str(path), ("utf-8",)))
