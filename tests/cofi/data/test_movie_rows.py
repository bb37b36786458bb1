"""Tests of cofi.data.movie_rows: years, genres, encodings, quoted line breaks; bad movie rows named
by file and line; files streamed."""

from __future__ import annotations

from pathlib import Path

import pytest

from cofi.data.folder_or_zip import FolderOrZip
from cofi.data.ingest import ingest, read_movies
from cofi.data.movie_rows import parse_year
from tests.cofi.data.samples import (
    CSV_FILES,
    LAYOUT_CASES,
    ML_100K_FILES,
    ML_100K_GENRE_FILE,
    assert_names_file_and_line,
    genre_flags,
    real_dataset,
    with_file,
    write_source,
)


@pytest.mark.parametrize(
    ("title", "year"),
    [
        ("Toy Story (1995)", 1995),
        ("Toy Story (1995) ", 1995),
        ("Death Note (2006-2007)", 2006),
        ("Death Note (2006–2007)", 2006),
        ("Babylon 5", None),
        ("1984 (1984)", 1984),
        ("Wings of Desire (Himmel über Berlin, Der) (1987)", 1987),
        ("Year (19955)", None),
        ("(1995) Remake", None),
    ],
)
def test_parse_year(title: str, year: int | None) -> None:
    assert parse_year(title) == year


def test_u_genre_names_the_flags(tmp_path: Path) -> None:
    files = {**ML_100K_FILES, "u.genre": ML_100K_GENRE_FILE}
    ingest(write_source(tmp_path, files, "zip"), tmp_path / "out")
    genres = read_movies(tmp_path / "out").column("genres").to_pylist()
    assert genres == ["Animation|Kids|Comedy", "Drama|Cowboy", "(no genres listed)"]


def test_real_ml_100k_latin1_title(tmp_path: Path) -> None:
    result = ingest(real_dataset("ml-100k"), tmp_path / "out")
    movies = {r["movie_id"]: r for r in read_movies(result.out_dir).to_pylist()}
    assert movies[543]["title"] == "Misérables, Les (1995)"
    assert movies[543]["year"] == 1995
    assert movies[1]["genres"] == "Animation|Children's|Comedy"


BAD_MOVIES = {
    "wrong movies header": (
        with_file(CSV_FILES, "movies.csv", b"movieId,name,genres\r\n1,A (1995),Drama\r\n"),
        "movies.csv",
        1,
        "wrong header",
    ),
    "empty movies file": (
        with_file(ML_100K_FILES, "u.item", b""),
        "u.item",
        None,
        "has no data rows",
    ),
    "wrong field count in movies": (
        with_file(ML_100K_FILES, "u.item", b"1|Toy Story (1995)|01-Jan-1995\n"),
        "u.item",
        1,
        "has 3 fields, expected 24",
    ),
    "duplicate movie id": (
        with_file(
            LAYOUT_CASES["dat-utf8"][0],
            "movies.dat",
            b"1::A (1995)::Drama\n2::B (1995)::Drama\n1::C (1995)::Drama\n",
        ),
        "movies.dat",
        3,
        "duplicate movie_id 1: first on line 1",
    ),
    "quote left open": (
        with_file(CSV_FILES, "movies.csv", b'movieId,title,genres\n1,"A (1995),Drama\n2,B,C\n'),
        "movies.csv",
        2,
        "has 2 fields, expected 3",
    ),
    "carriage return inside a field": (
        with_file(CSV_FILES, "movies.csv", b"movieId,title,genres\n1,A\rB (1995),Drama\n"),
        "movies.csv",
        2,
        "is not valid CSV: new-line character seen in unquoted field",
    ),
    "field larger than the csv field limit": (
        with_file(
            CSV_FILES, "movies.csv", b'movieId,title,genres\n1,"' + b"x" * 200_000 + b'",Drama\n'
        ),
        "movies.csv",
        2,
        "is not valid CSV: field larger than field limit",
    ),
    "movies.csv not utf-8": (
        with_file(CSV_FILES, "movies.csv", b"movieId,title,genres\n\n1,Caf\xe9 (1995),Drama\n"),
        "movies.csv",
        3,
        "is not valid utf-8",
    ),
    "long bad movie id": (
        with_file(CSV_FILES, "movies.csv", b"movieId,title,genres\n" + b"9" * 500 + b",A,Drama\n"),
        "movies.csv",
        2,
        "... (500 characters) is not a positive 32-bit integer",
    ),
    "bad genre flag": (
        with_file(ML_100K_FILES, "u.item", f"1|A (1995)|||x|{genre_flags()[:-1]}2\n".encode()),
        "u.item",
        1,
        "genre flag 'Western' is '2'",
    ),
}


@pytest.mark.parametrize("kind", ["folder", "zip"])
@pytest.mark.parametrize("case", sorted(BAD_MOVIES))
def test_bad_movies_name_file_and_line(tmp_path: Path, case: str, kind: str) -> None:
    files, file_name, line, problem = BAD_MOVIES[case]
    assert_names_file_and_line(tmp_path, files, kind, file_name, line, problem)


QUOTED_NEWLINE_MOVIES = (
    b"movieId,title,genres\r\n"
    b'1,"Foo\r\nBar (1999)",Drama\r\n'
    b'2,"Two\n\n  breaks (2001)",Comedy\n'
    b"3,C (1995),Drama\n"
    b"x,D (1995),Drama\n"
)


def test_a_quoted_title_may_hold_a_line_break(tmp_path: Path) -> None:
    files = {**CSV_FILES, "movies.csv": QUOTED_NEWLINE_MOVIES[: QUOTED_NEWLINE_MOVIES.index(b"x,")]}
    ingest(write_source(tmp_path, files, "zip"), tmp_path / "out")
    movies = read_movies(tmp_path / "out").to_pylist()
    assert [(m["movie_id"], m["title"], m["year"]) for m in movies] == [
        (1, "Foo Bar (1999)", 1999),
        (2, "Two breaks (2001)", 2001),
        (3, "C (1995)", 1995),
    ]


def test_rows_after_a_quoted_line_break_keep_their_lines(tmp_path: Path) -> None:
    files = with_file(CSV_FILES, "movies.csv", QUOTED_NEWLINE_MOVIES)
    assert_names_file_and_line(tmp_path, files, "folder", "movies.csv", 8, "movie_id 'x'")


def test_movie_files_are_streamed_not_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self, name):
        raise AssertionError(f"{name} read whole")

    monkeypatch.setattr(FolderOrZip, "read_bytes", refuse)
    for case, (files, _, expected_movies) in LAYOUT_CASES.items():
        if case == "100k":
            files = {**files, "u.genre": ML_100K_GENRE_FILE}
        ingest(write_source(tmp_path / case, files, "zip"), tmp_path / case / "out")
        assert len(read_movies(tmp_path / case / "out")) == len(expected_movies)
