"""Tests of cofi.data.reading: rows read in blocks keep their exact lines; "::" split across reads."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cofi.data.ingest import ingest
from cofi.data.reading import ByteStream
from cofi.errors import DataError
from tests.cofi.data.samples import CSV_FILES, rating_rows, write_source


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


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=60).map(lambda b: bytes(b"a:\n"[x % 3] for x in b)),
    sizes=st.lists(st.integers(1, 5), min_size=1, max_size=6),
)
def test_double_colon_is_replaced_across_chunk_boundaries(data: bytes, sizes: list[int]) -> None:
    stream = ByteStream(_Trickle(data, sizes), replace_double_colon=True)
    out = b""
    while chunk := stream.read(3):
        out += chunk
    assert out == data.replace(b"::", b"\t")
