"""Tests of quarantine: bad rows set aside with their exact lines, the good ones kept."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from cofi.data.ingest import QUARANTINE_FILE, ingest, read_manifest
from cofi.errors import DataError
from tests.cofi.data.samples import (
    CSV_FILES,
    CSV_HEADER,
    movie_rows,
    rating_rows,
    with_file,
    write_source,
)


def test_quarantine_keeps_the_good_rows(tmp_path: Path) -> None:
    ratings = (
        CSV_HEADER
        + b"1,1,4.0,1\r\n"  # 2 ok
        + b"1,2,9.0,2\r\n"  # 3 out of scale
        + b"1,1,3.0,3\r\n"  # 4 duplicate of line 2
        + b"x,1,4.0,4\r\n"  # 5 bad id
        + b"2,1,4.0\r\n"  # 6 field count
        + b"2,42,4.0,6\r\n"  # 7 unknown movie
        + b"2,2,2.5,7\r\n"  # 8 ok
    )
    files = {**CSV_FILES, "ratings.csv": ratings}
    result = ingest(write_source(tmp_path, files, "zip"), tmp_path / "out", quarantine=True)

    assert (result.n_ratings, result.n_quarantined, result.n_users) == (2, 5, 2)
    assert rating_rows(result.out_dir) == [(1, 1, 4.0, 1), (2, 2, 2.5, 7)]
    with open(result.out_dir / QUARANTINE_FILE, newline="", encoding="utf-8") as stream:
        quarantined = list(csv.DictReader(stream))
    assert [int(r["line"]) for r in quarantined] == [3, 4, 5, 6, 7]
    assert all(r["file"].endswith("ml-test.zip!ml-test/ratings.csv") for r in quarantined)
    assert "outside the rating scale" in quarantined[0]["problem"]
    assert "first on line 2" in quarantined[1]["problem"]
    assert quarantined[3]["text"] == "2,1,4.0"
    manifest = read_manifest(result.out_dir)
    assert manifest["n_quarantined"] == 5
    assert manifest["files"]["quarantine.csv"] == {"rows": 5}
    assert manifest["source_rows"]["ratings"] == 7


def test_quarantine_lines_stay_exact_across_blocks(tmp_path: Path) -> None:
    rows = [f"{u},1,4.0,{u}" for u in range(1, 30)]
    rows[8] = "9,1"  # line 10: wrong field count, skipped by the parser
    rows[13] = ""  # line 15: blank, skipped but counted
    rows += ["3,1,2.0,99", "5,1,1.0,98", "40,1,0.0,97"]  # lines 31-33
    header = CSV_HEADER.decode().strip()
    files = {**CSV_FILES, "ratings.csv": ("\r\n".join([header, *rows]) + "\r\n").encode()}
    result = ingest(
        write_source(tmp_path, files, "folder"), tmp_path / "out", quarantine=True, block_size=64
    )
    assert result.n_ratings == 27
    with open(result.out_dir / QUARANTINE_FILE, newline="", encoding="utf-8") as stream:
        quarantined = list(csv.DictReader(stream))
    lines_and_problems = [(int(r["line"]), r["problem"]) for r in quarantined]
    assert [line for line, _ in lines_and_problems] == [10, 31, 32, 33]
    assert "has 2 fields, expected 4" in lines_and_problems[0][1]
    assert lines_and_problems[1][1].endswith("first on line 4")
    assert lines_and_problems[2][1].endswith("first on line 6")
    assert "rating 0.0 is outside the rating scale" in lines_and_problems[3][1]
    assert read_manifest(result.out_dir)["source_rows"]["ratings"] == 31


def test_quarantine_of_movies_and_empty_quarantine(tmp_path: Path) -> None:
    movies = b"1::A (1995)::Drama\n1::B (1995)::Drama\n2::C (1995)::Drama\n"
    files = {"ratings.dat": b"1::1::5::1\n1::2::3::4\n", "movies.dat": movies}
    result = ingest(write_source(tmp_path, files, "zip"), tmp_path / "out", quarantine=True)
    assert result.n_quarantined == 1
    assert movie_rows(result.out_dir) == [
        (1, "A (1995)", "Drama", 1995),
        (2, "C (1995)", "Drama", 1995),
    ]

    clean = ingest(
        write_source(tmp_path / "b", CSV_FILES, "zip"), tmp_path / "b" / "out", quarantine=True
    )
    assert clean.n_quarantined == 0
    assert (clean.out_dir / QUARANTINE_FILE).read_text().splitlines() == ["file,line,problem,text"]


def test_quarantine_still_raises_file_level_problems(tmp_path: Path) -> None:
    files = with_file(CSV_FILES, "ratings.csv", b"user,movie,rating,timestamp\r\n1,1,4.0,1\r\n")
    with pytest.raises(DataError, match="wrong header"):
        ingest(write_source(tmp_path, files, "zip"), tmp_path / "out", quarantine=True)
    assert not (tmp_path / "out").exists()
