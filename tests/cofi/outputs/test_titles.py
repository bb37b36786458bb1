"""Fuzzy title lookup."""

from __future__ import annotations

import pandas as pd
import pytest

from cofi.errors import CofiError
from cofi.outputs.titles import TitleIndex, normalize_title


@pytest.mark.parametrize(
    "title, normalized",
    [
        ("Matrix, The (1999)", "the matrix 1999"),
        ("Toy Story (1995)", "toy story 1995"),
        (
            "Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)",
            "amelie fabuleux destin damelie poulain le 2001",
        ),
        ("Star Wars: Episode IV - A New Hope (1977)", "star wars episode iv a new hope 1977"),
        ("  toy   STORY ", "toy story"),
        ("Babylon 5 (1993-1998)", "babylon 5 1993"),
        (
            "Harry Potter and the Sorcerer's Stone (2001)",
            "harry potter and the sorcerers stone 2001",
        ),
    ],
)
def test_normalize_title(title, normalized) -> None:
    assert normalize_title(title) == normalized


@pytest.fixture
def index() -> TitleIndex:
    movies = pd.DataFrame(
        {
            "movie_id": [1, 2, 3, 4, 5, 6],
            "title": [
                "Toy Story (1995)",
                "Toy Story 2 (1999)",
                "Matrix, The (1999)",
                "Matrix Reloaded, The (2003)",
                "Godfather, The (1972)",
                "Godfather: Part II, The (1974)",
            ],
        }
    )
    # the sequels are made the more popular, so only the match rule can pick the originals
    return TitleIndex(movies, pd.Series({1: 5, 2: 50, 3: 5, 4: 50, 5: 5, 6: 50}))


@pytest.mark.parametrize(
    "query, movie_id",
    [
        ("Toy Story", 1),
        ("toy story 2", 2),
        ("the matrix", 3),
        ("MATRIX", 3),
        ("matrix reloaded", 4),
        ("Godfather", 5),
        ("godfather part ii", 6),
        ("Toy Story (1995)", 1),
    ],
)
def test_find_forgives_case_articles_years_and_typos(index, query, movie_id) -> None:
    assert index.find(query)[0] == movie_id


def test_equal_scores_go_to_the_more_rated_movie() -> None:
    movies = pd.DataFrame({"movie_id": [1, 2], "title": ["Alien (1979)", "Alien (2020)"]})
    assert TitleIndex(movies, pd.Series({1: 3, 2: 9})).find("alien")[0] == 2
    assert TitleIndex(movies, pd.Series({1: 9, 2: 3})).find("alien")[0] == 1


def test_no_match_names_the_closest_titles(index) -> None:
    with pytest.raises(CofiError, match=r"no movie title matches 'xyzzy' \(closest: '"):
        index.find("xyzzy")
    assert index.search("", limit=3).empty
    assert list(index.search("toy", limit=2)["movie_id"]) == [2, 1]


@pytest.mark.parametrize("query", ["a", "x", "The", "leon", "1999", "123"])
def test_find_refuses_queries_that_only_match_by_accident(query) -> None:
    movies = pd.DataFrame(
        {
            "movie_id": [1, 2, 3, 4],
            "title": ["Saw (2004)", "Leonard Part 6 (1987)", "Matrix, The (1999)", "13th (2016)"],
        }
    )
    with pytest.raises(CofiError, match="no movie title matches"):
        TitleIndex(movies).find(query)


def test_typos_and_partial_titles() -> None:
    movies = pd.DataFrame(
        {
            "movie_id": [1, 2, 3, 4],
            "title": [
                "Toy Story (1995)",
                "Harry Potter and the Chamber of Secrets (2002)",
                "Harry Potter and the Sorcerer's Stone (a.k.a. Harry Potter and the Philosopher's Stone) (2001)",
                "Harry Potter and the Order of the Phoenix (2007)",
            ],
        }
    )
    index = TitleIndex(movies, pd.Series({1: 1, 2: 9, 3: 1, 4: 9}))
    assert index.find("toy stroy")[0] == 1
    # more of the typed words beats more ratings; apostrophes do not matter
    assert index.find("harry potter sorcerers stone")[0] == 3
    assert index.find("harry potter")[0] in {2, 4}
