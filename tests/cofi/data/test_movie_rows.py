"""Tests of cofi.data.movie_rows: years, genres, encodings; bad movie rows named by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

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
