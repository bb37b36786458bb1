"""Tests of cofi.data.reading: rows read in blocks keep their exact lines; "::" split across reads;
blank lines and long lines cost no memory."""

from __future__ import annotations

import io
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cofi.data import reading
from cofi.data.ingest import ingest
from cofi.data.reading import ByteStream
from cofi.errors import DataError
from tests.cofi.data.samples import CSV_FILES, CSV_HEADER, rating_rows, write_source


def test_small_blocks_give_the_same_result(tmp_path: Path) -> None:
    lines = ["userId,movieId,rating,timestamp"]
    expected = []
    for user_id in range(1, 41):
        for movie_id in (1, 2, 3):
            lines.append(f"{user_id},{movie_id},{(user_id % 10 + 1) / 2},{1000 + user_id}")
            expected.append((user_id, movie_id, (user_id % 10 + 1) / 2, 1000 + user_id))
    files = {**CSV_FILES, "ratings.csv": ("\r\n".join(lines) + "\r\n").encode()}
    result = ingest(write_source(tmp_path, files, "zip"), tmp_path / "out", block_size=64)
    assert rating_rows(tmp_path / "out") == expected
    assert result.n_users == 40
    assert pq.ParquetFile(result.ratings_path).num_row_groups > 1


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    ratings = b"userId,movieId,rating,timestamp\r\n1,1,4.0,1\r\n\r\n1,2,4.0,2\r\n2,9,4.0,3\r\n"
    files = {**CSV_FILES, "ratings.csv": ratings}
    with pytest.raises(DataError) as caught:
        ingest(write_source(tmp_path, files, "folder"), tmp_path / "out")
    assert caught.value.line == 5
    assert "movie_id 9" in caught.value.problem


class _Trickle(io.RawIOBase):
    """Returns at most one chunk size per read, to split '::' across reads."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self._data = data
        self._sizes = sizes
        self._read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        step = self._sizes[self._read % len(self._sizes)] if self._sizes else size
        chunk = self._data[:step]
        self._data = self._data[step:]
        self._read += 1
        return chunk


def _without_blank_lines(data: bytes) -> tuple[bytes, list[int]]:
    """data without its blank lines ("\\n" or "\\r\\n" alone), and the line each kept line was on."""
    *ended, last = data.split(b"\n")
    kept = [(number, line) for number, line in enumerate(ended, 1) if line not in (b"", b"\r")]
    text = b"".join(line + b"\n" for _, line in kept) + last
    return text, [number for number, _ in kept] + ([len(ended) + 1] if last else [])


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=60).map(lambda b: bytes(b"a:\r\n"[x % 4] for x in b)),
    sizes=st.lists(st.integers(1, 5), min_size=1, max_size=6),
)
def test_double_colon_and_blank_lines_across_chunk_boundaries(
    data: bytes, sizes: list[int]
) -> None:
    stream = ByteStream(
        _Trickle(data, sizes), "test", replace_double_colon=True, drop_blank_lines=True
    )
    out = b""
    while chunk := stream.read(3):
        out += chunk
    expected, physical = _without_blank_lines(data)
    assert out == expected.replace(b"::", b"\t")
    handed_on = np.arange(1, len(physical) + 1)
    assert stream.physical_lines(handed_on).tolist() == physical


def _zip(
    path: Path,
    files: dict[str, bytes],
    name: str,
    head: bytes,
    filler: bytes,
    n: int,
    tail: bytes = b"",
) -> Path:
    """A flat zip of files, with ``name`` written as head, filler n times, tail and a newline."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file_name, data in files.items():
            if file_name != name:
                archive.writestr(file_name, data)
        with archive.open(name, "w") as member:
            member.write(head)
            for _ in range(n):
                member.write(filler)
            member.write(tail + b"\n")
    return path


MIB = 1 << 20
BLANK_MIB = b"\n" * MIB


def _ingest_traced(source: Path, out_dir: Path) -> tuple[DataError, float, int]:
    """The DataError ingesting source raises, the seconds it took and the peak of traced memory."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(DataError) as caught:
            ingest(source, out_dir)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return caught.value, time.perf_counter() - started, peak


def test_blank_lines_in_ratings_cost_no_memory(tmp_path: Path) -> None:
    head = CSV_HEADER + b"1,1,4.0,1\r\n"
    source = _zip(tmp_path / "blank.zip", CSV_FILES, "ratings.csv", head, BLANK_MIB, 24, b"1,9,4,2")
    error, seconds, peak = _ingest_traced(source, tmp_path / "out")
    assert error.line == 3 + 24 * MIB
    assert "movie_id 9" in error.problem
    assert peak < 100 * MIB  # pyarrow never sees them, numpy works a MiB at a time
    assert seconds < 20


def test_blank_lines_then_a_bad_row_keep_its_line(tmp_path: Path) -> None:
    ratings = CSV_HEADER + b"1,1,4.0,1\r\n" + b"\r\n" * 3000 + b"\n" * 3000 + b"1,9,4.0,2\r\n"
    source = write_source(tmp_path, {**CSV_FILES, "ratings.csv": ratings}, "zip")
    with pytest.raises(DataError) as caught:
        ingest(source, tmp_path / "out", block_size=4096)
    assert caught.value.line == 6003
    assert "movie_id 9" in caught.value.problem


def test_a_zip_of_blank_lines_is_refused_fast_with_little_memory(tmp_path: Path) -> None:
    for name in ("ratings.csv", "movies.csv"):
        head = b"movieId,title,genres\n" if name == "movies.csv" else CSV_HEADER
        source = _zip(tmp_path / f"{name}.zip", CSV_FILES, name, head, BLANK_MIB, 24)
        error, seconds, peak = _ingest_traced(source, tmp_path / "out")
        assert error.file.endswith(f"!{name}")
        assert error.problem == "has no data rows"
        assert peak < 100 * MIB
        assert seconds < 20


@pytest.mark.parametrize("name", ["ratings.csv", "movies.csv"])
def test_a_huge_line_is_refused_fast_naming_it(tmp_path: Path, name: str) -> None:
    head = b"movieId,title,genres\n1,A (1995),Drama\n" if name == "movies.csv" else CSV_HEADER
    source = _zip(tmp_path / "long.zip", CSV_FILES, name, head + b"\n2,", b"x" * MIB, 24)
    error, seconds, peak = _ingest_traced(source, tmp_path / "out")
    assert error.file.endswith(f"!{name}")
    assert error.line == (4 if name == "movies.csv" else 3)
    assert error.problem == f"line is longer than {reading.MAX_LINE_BYTES} bytes"
    assert peak < 100 * MIB
    assert seconds < 20


@pytest.mark.parametrize("name", ["ratings.csv", "movies.csv"])
@pytest.mark.parametrize("where", ["inside a read", "across reads"])
def test_the_line_cap_holds_wherever_the_line_falls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, where: str
) -> None:
    monkeypatch.setattr(reading, "MAX_LINE_BYTES", 100)
    if where == "across reads":
        monkeypatch.setattr(reading, "_READ_BYTES", 64)
    long_line = b"1,Long " + b"y" * 100 + b" (1995),Drama\n"
    if name == "ratings.csv":
        data = CSV_HEADER + b"1,1,4.0,1\n\n1,2," + b"5" * 101 + b",2\n"
    else:
        data = b"movieId,title,genres\n\n2,B (1995),Drama\n" + long_line
    source = write_source(tmp_path, {**CSV_FILES, name: data}, "folder")
    with pytest.raises(DataError, match="line is longer than 100 bytes") as caught:
        ingest(source, tmp_path / "out")
    assert caught.value.line == 4
