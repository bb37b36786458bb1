"""A user's ratings CSV, read and checked line by line (cofi.data.ratings_file)."""

from __future__ import annotations

import pandas as pd
import pytest

from cofi.data import reading
from cofi.data.ratings_file import parse_rating, read_ratings_file, write_ratings_file
from cofi.data.schema import HALF_STARS, WHOLE_STARS
from cofi.errors import DataError

MOVIES = pd.DataFrame(
    {
        "movie_id": [1, 2, 50],
        "title": ["Toy Story (1995)", "Matrix, The (1999)", "Heat (1995)"],
    }
)


def read(tmp_path, text: str, scale=HALF_STARS) -> pd.DataFrame:
    path = tmp_path / "mine.csv"
    path.write_text(text)
    return read_ratings_file(path, MOVIES, scale)


def test_ids_titles_and_both_give_the_same_ratings(tmp_path) -> None:
    by_id = read(tmp_path, "movie_id,rating\n2,4.5\n50,1\n")
    by_title = read(tmp_path, "title,rating\nthe matrix,4.5\nheat,1\n")
    both = read(tmp_path, "user_id,movie_id,title,rating\n9,2,The Matrix,4.5\n9,,Heat,1\n")
    expected = pd.DataFrame({"movie_id": [2, 50], "rating": [4.5, 1.0]})
    for table in (by_id, by_title, both):
        pd.testing.assert_frame_equal(table, expected)


def test_what_write_ratings_file_writes_reads_back(tmp_path) -> None:
    ratings = pd.DataFrame({"movie_id": [50, 1], "rating": [3.5, 5.0]})
    path = write_ratings_file(tmp_path / "saved.csv", 611, ratings)
    assert path.read_text().splitlines() == ["user_id,movie_id,rating", "611,50,3.5", "611,1,5.0"]
    pd.testing.assert_frame_equal(read_ratings_file(path, MOVIES, HALF_STARS), ratings)


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("movie_id,rating\n1,4\nabc,3\n", 3, "movie_id 'abc' is not a whole number"),
        ("movie_id,rating\n1.5,4\n", 2, "movie_id 1.5 is not a whole number"),
        ("movie_id,rating\n7,4\n", 2, "movie id 7 is not in the model"),
        (
            "movie_id,title,rating\n1,Heat,4\n",
            2,
            "movie_id 1 is 'Toy Story (1995)' but the title says 'Heat'",
        ),
        ("title,rating\nToy Story,4\nHeat,6\n", 3, "rating 6 is not on the scale 0.5 to 5"),
        ("title,rating\nToy Story,4\nHeat,x\n", 3, "rating 'x' is not on the scale"),
        ("movie_id,rating\n1,4\n1,3\n", 3, "movie 1 is rated twice"),
        ("title,rating\nToy Story,4\nHeat,4\ntoy story (1995),2\n", 4, "movie 1 is rated twice"),
        ("movie_id,title,rating\n,,4\n", 2, "no movie_id or title"),
        ("title,rating\nqqqzzzz,4\n", 2, "no movie title matches 'qqqzzzz'"),
        (
            "movie_id,rating\n1,4\n99999999999999999999,3\n",
            3,
            "movie_id 99999999999999999999 is not a positive 32-bit integer",
        ),
        (
            "movie_id,rating\n9223372036854775808,3\n",
            2,
            "movie_id 9223372036854775808 is not a positive 32-bit integer",
        ),
        ("movie_id,rating\n2147483648,3\n", 2, "movie_id 2147483648 is not a positive 32-bit"),
        ("movie_id,rating\n-1,3\n", 2, "movie_id -1 is not a positive 32-bit integer"),
        ("movie_id,rating\n1e300,3\n", 2, "movie_id 1e300 is not a positive 32-bit integer"),
        ("movie_id,rating\n" + "9" * 5000 + ",3\n", 2, "movie_id '99999999"),
        ("movie_id,rating\n\n\n1,4\n\n7,4\n", 6, "movie id 7 is not in the model"),
        ('title,rating\n"Toy\nStory",4\n2,4,9\n', 4, "has 3 fields, the header has 2"),
        ("movie_id,rating\n1,4\n2,a\rb\n", 3, "is not valid CSV"),
    ],
)
def test_a_bad_line_is_named(tmp_path, text: str, line: int, problem: str) -> None:
    with pytest.raises(DataError) as error:
        read(tmp_path, text)
    assert error.value.line == line
    assert error.value.file == str(tmp_path / "mine.csv")
    assert error.value.problem.startswith(problem)
    assert str(error.value).startswith(f"{tmp_path / 'mine.csv'}, line {line}: {problem}")


def test_a_bad_file_is_named_without_a_line(tmp_path) -> None:
    with pytest.raises(DataError, match="needs a 'rating' column") as error:
        read(tmp_path, "name,stars\nHeat,4\n")
    assert error.value.line is None
    with pytest.raises(DataError, match="not a readable CSV file"):
        read(tmp_path, "")
    with pytest.raises(DataError, match="no such file"):
        read_ratings_file(tmp_path / "missing.csv", MOVIES, HALF_STARS)


def test_an_unreadable_file_is_named(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataError, match="is a folder, not a file") as error:
        read_ratings_file(tmp_path, MOVIES, HALF_STARS)
    assert error.value.file == str(tmp_path)
    path = tmp_path / "mine.csv"
    path.write_bytes(b"title,rating\nToy Story,4\nCaf\xe9,3\n")
    with pytest.raises(DataError, match="is not valid utf-8") as error:
        read_ratings_file(path, MOVIES, HALF_STARS)
    assert error.value.line == 3

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(reading, "open", refuse, raising=False)
    with pytest.raises(DataError, match=r"cannot be read \(Permission denied\)"):
        read_ratings_file(path, MOVIES, HALF_STARS)


def test_a_long_value_is_quoted_short(tmp_path) -> None:
    with pytest.raises(DataError) as error:
        read(tmp_path, "title,rating\nHeat," + "x" * 5000 + "\n")
    assert len(str(error.value)) < 300
    assert "(5000 characters)" in str(error.value)


def test_the_scale_decides_which_ratings_are_allowed(tmp_path) -> None:
    assert read(tmp_path, "movie_id,rating\n1,4.5\n")["rating"].tolist() == [4.5]
    with pytest.raises(DataError, match=r"rating 4\.5 is not on the scale 1 to 5 in steps of 1"):
        read(tmp_path, "movie_id,rating\n1,4.5\n", scale=WHOLE_STARS)


def test_parse_rating() -> None:
    assert parse_rating(" 3.5 ", HALF_STARS) == 3.5
    assert parse_rating("0.5", HALF_STARS) == 0.5
    assert parse_rating("0.5", WHOLE_STARS) is None
    assert parse_rating("5.5", HALF_STARS) is None
    assert parse_rating("", HALF_STARS) is None
    assert parse_rating("nan", HALF_STARS) is None
