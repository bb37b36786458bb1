"""Tests of cofi.data.rating_rows: each bad rating row is named by file and line; the first wins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cofi.data.folder_or_zip import FolderOrZip
from cofi.data.ingest import ingest
from cofi.data.layouts import Layout
from cofi.data.quarantine import BadRow
from cofi.data.rating_rows import RatingsJob, write_ratings
from cofi.data.schema import HALF_STARS
from cofi.errors import DataError
from tests.cofi.data.samples import (
    CSV_FILES,
    CSV_HEADER,
    LAYOUT_CASES,
    ML_100K_FILES,
    assert_names_file_and_line,
    with_file,
    write_source,
)

BAD_RATINGS = {
    "wrong header": (
        with_file(CSV_FILES, "ratings.csv", b"user,movie,rating,timestamp\r\n1,1,4.0,1\r\n"),
        "ratings.csv",
        1,
        "wrong header",
    ),
    "rating out of scale": (
        with_file(CSV_FILES, "ratings.csv", CSV_HEADER + b"1,1,4.0,1\r\n1,2,5.5,2\r\n"),
        "ratings.csv",
        3,
        "rating 5.5 is outside the rating scale (0.5 to 5 in steps of 0.5)",
    ),
    "rating off step": (
        with_file(CSV_FILES, "ratings.csv", CSV_HEADER + b"1,1,4.0,1\r\n1,2,3.7,2\r\n"),
        "ratings.csv",
        3,
        "rating 3.7 is not on a step",
    ),
    "whole stars off step": (
        with_file(ML_100K_FILES, "u.data", b"1\t1\t5\t1\n1\t2\t4.5\t2\n"),
        "u.data",
        2,
        "(1 to 5 in steps of 1)",
    ),
    "duplicate pair": (
        with_file(
            CSV_FILES, "ratings.csv", CSV_HEADER + b"1,1,4.0,1\r\n1,2,4.0,1\r\n1,1,3.0,2\r\n"
        ),
        "ratings.csv",
        4,
        "duplicate rating for user_id 1, movie_id 1: first on line 2",
    ),
    "non-numeric user id": (
        with_file(CSV_FILES, "ratings.csv", CSV_HEADER + b"1,1,4.0,1\r\nabc,1,4.0,1\r\n"),
        "ratings.csv",
        3,
        "user_id 'abc' is not a positive integer",
    ),
    "zero movie id": (
        with_file(ML_100K_FILES, "u.data", b"1\t1\t5\t1\n1\t0\t4\t2\n"),
        "u.data",
        2,
        "movie_id '0' is not a positive 32-bit integer",
    ),
    "non-numeric rating": (
        with_file(CSV_FILES, "ratings.csv", CSV_HEADER + b"1,1,four,1\r\n"),
        "ratings.csv",
        2,
        "rating 'four' is not a number",
    ),
    "non-numeric timestamp": (
        with_file(
            LAYOUT_CASES["dat-utf8"][0], "ratings.dat", b"1::1::5::978300760\n1::2::3::soon\n"
        ),
        "ratings.dat",
        2,
        "timestamp 'soon' is not an integer",
    ),
    "empty ratings file": (
        with_file(CSV_FILES, "ratings.csv", CSV_HEADER),
        "ratings.csv",
        None,
        "has no data rows",
    ),
    "zero-byte ratings file": (
        with_file(CSV_FILES, "ratings.csv", b""),
        "ratings.csv",
        1,
        "is empty",
    ),
    "unknown movie": (
        with_file(ML_100K_FILES, "u.data", b"1\t1\t5\t1\n1\t2\t4\t2\n2\t77\t4\t2\n"),
        "u.data",
        3,
        "movie_id 77 is not in",
    ),
    "wrong field count": (
        with_file(CSV_FILES, "ratings.csv", CSV_HEADER + b"1,1,4.0,1\r\n1,2,4.0\r\n"),
        "ratings.csv",
        3,
        "has 3 fields, expected 4",
    ),
    "wrong field count in dat": (
        with_file(LAYOUT_CASES["dat-utf8"][0], "ratings.dat", b"1::1::5::1\n1::2::3::4::5\n"),
        "ratings.dat",
        2,
        "has 5 fields, expected 4",
    ),
    "a quoted line break": (
        with_file(CSV_FILES, "ratings.csv", CSV_HEADER + b'1,1,4.0,"1\n"\r\n1,x,4.0,1\r\n'),
        "ratings.csv",
        2,
        "a quoted value holds a line break",
    ),
    "long user id quoted short": (
        with_file(
            CSV_FILES, "ratings.csv", CSV_HEADER + b"1,1,4.0,1\n" + b"u" * 5000 + b",1,4,1\n"
        ),
        "ratings.csv",
        3,
        "user_id '" + "u" * 80 + "...' is not a positive integer",
    ),
    "not utf-8": (
        with_file(CSV_FILES, "ratings.csv", CSV_HEADER + b"1,1,4.0,1\n1,\xff,4.0,1\n"),
        "ratings.csv",
        None,
        "invalid UTF8",
    ),
}


@pytest.mark.parametrize("kind", ["folder", "zip"])
@pytest.mark.parametrize("case", sorted(BAD_RATINGS))
def test_bad_ratings_name_file_and_line(tmp_path: Path, case: str, kind: str) -> None:
    files, file_name, line, problem = BAD_RATINGS[case]
    assert_names_file_and_line(tmp_path, files, kind, file_name, line, problem)


def test_first_bad_line_wins_across_blocks(tmp_path: Path) -> None:
    rows = [f"{u},1,4.0,{u}" for u in range(1, 30)]
    rows[20] = "21,1,4.0"  # line 22: wrong field count
    rows[25] = "26,1,9.0,26"  # line 27: out of scale
    rows.append("3,1,4.0,99")  # line 31: a duplicate of line 4
    files = {
        **CSV_FILES,
        "ratings.csv": ("\r\n".join([CSV_HEADER.decode().strip(), *rows]) + "\r\n").encode(),
    }
    with pytest.raises(DataError) as caught:
        ingest(write_source(tmp_path, files, "zip"), tmp_path / "out", block_size=64)
    assert caught.value.line == 22

    rows[20] = "21,1,4.0,21"
    rows[25] = "26,1,4.0,26"
    files["ratings.csv"] = ("\r\n".join([CSV_HEADER.decode().strip(), *rows]) + "\r\n").encode()
    with pytest.raises(DataError) as caught:
        ingest(write_source(tmp_path / "b", files, "zip"), tmp_path / "out", block_size=64)
    assert caught.value.line == 31
    assert "first on line 4" in caught.value.problem


def test_blank_lines_and_bad_rows_across_small_blocks_keep_their_lines(tmp_path: Path) -> None:
    lines = [CSV_HEADER.decode().strip()]
    for user_id in range(1, 200):
        lines += [f"{user_id},1,4.0,{user_id}"] + [""] * (user_id % 4) + (["\r"] * (user_id % 3))
        if user_id % 50 == 0:
            lines.append(f"{user_id},2")  # a wrong field count
    lines.append("7,9,4.0,1")  # an unknown movie
    ratings = "\n".join(lines).encode() + b"\n"
    files = {**CSV_FILES, "ratings.csv": ratings}
    expected = sorted(
        [(n, "2") for n, line in enumerate(lines, 1) if line.count(",") == 1] + [(len(lines), "9")]
    )
    problems: list[BadRow] = []

    source = write_source(tmp_path, files, "zip")
    with FolderOrZip(source) as container:
        job = RatingsJob(
            container,
            "ml-test/ratings.csv",
            Layout.CSV,
            HALF_STARS,
            np.array([1, 2], np.int64),
            "movies.csv",
            64,
        )
        stats = write_ratings(job, tmp_path / "r.parquet", True, problems)
    assert stats.n_ratings == 199
    assert sorted((p.line, p.text.split(",")[1]) for p in problems) == expected
