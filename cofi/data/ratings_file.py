"""One user's ratings from a CSV file, checked line by line against a model's movies.

A file has a ``rating`` column and a ``movie_id`` or ``title`` column (or both, as
``cofi rate --save-ratings`` writes them beside ``user_id``). Every problem is a
:class:`cofi.errors.DataError` naming the file and the line (1-based, the header is line 1).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cofi.data.schema import RatingScale
from cofi.errors import CofiError, DataError
from cofi.outputs.titles import TitleIndex, exact_forms, normalize_title

__all__ = ["parse_rating", "read_ratings_file", "same_movie", "write_ratings_file"]


def parse_rating(text: str, scale: RatingScale) -> float | None:
    """The rating ``text`` holds, or None when it is not a number on ``scale``."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if bool(scale.contains(value, tolerance=1e-9)) else None


def same_movie(typed: str, title: object) -> bool:
    """Whether ``typed`` names ``title``: the same words, give or take year and article."""
    return isinstance(title, str) and bool(
        exact_forms(normalize_title(typed)) & exact_forms(normalize_title(title))
    )


def _whole_number(value: object) -> int | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


def read_ratings_file(
    path: str | Path,
    movies: pd.DataFrame,
    scale: RatingScale,
    titles: TitleIndex | None = None,
) -> pd.DataFrame:
    """A new user's ratings from CSV, each line checked.

    A line's ``movie_id`` must be one of ``movies``; with a title too, the two must name the
    same movie. A line with only a title is matched fuzzily (:meth:`TitleIndex.find`). Ratings
    must lie on ``scale``; a movie may be rated once. Other columns are ignored.

    Args:
        path: the CSV file.
        movies: ``movie_id`` and ``title`` of the movies that can be rated (those the model knows).
        scale: the allowed ratings.
        titles: an index over ``movies`` for title lookups (built from ``movies`` when None).

    Returns:
        ``movie_id`` (int) and ``rating`` (float), one row per line, in file order.

    Raises:
        DataError: the file is missing or unreadable, lacks the columns, or a line is bad.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype={"title": str})
    except FileNotFoundError:
        raise DataError(path, "no such file") from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise DataError(path, f"not a readable CSV file ({error})") from None
    columns = set(table.columns)
    if "rating" not in columns or not {"movie_id", "title"} & columns:
        raise DataError(
            path,
            f"needs a 'rating' column and a 'movie_id' or 'title' column; "
            f"it has {list(table.columns)}",
        )
    title_of = movies.set_index("movie_id")["title"]
    movie_ids: list[int] = []
    ratings: list[float] = []
    for line, row in enumerate(table.to_dict("records"), start=2):
        title = row.get("title")
        raw_id = row.get("movie_id")
        if raw_id is not None and pd.notna(raw_id):
            movie_id = _whole_number(raw_id)
            if movie_id is None:
                raise DataError(path, f"movie_id {raw_id!r} is not a whole number", line)
            if movie_id not in title_of.index:
                raise DataError(path, f"movie id {movie_id} is not in the model", line)
            named = title_of[movie_id]
            if isinstance(title, str) and title.strip() and not same_movie(title, named):
                raise DataError(
                    path, f"movie_id {movie_id} is {named!r} but the title says {title!r}", line
                )
        elif isinstance(title, str):
            if titles is None:
                titles = TitleIndex(movies)
            try:
                movie_id, _ = titles.find(title)
            except CofiError as error:  # no title matches well enough
                raise DataError(path, str(error), line) from None
        else:
            raise DataError(path, "no movie_id or title", line)
        rating = parse_rating(str(row["rating"]), scale)
        if rating is None:
            raise DataError(
                path, f"rating {row['rating']!r} is not on the scale {scale.describe()}", line
            )
        if movie_id in movie_ids:
            raise DataError(path, f"movie {movie_id} is rated twice", line)
        movie_ids.append(movie_id)
        ratings.append(rating)
    return pd.DataFrame({"movie_id": movie_ids, "rating": ratings})


def write_ratings_file(path: str | Path, user_id: int, ratings: pd.DataFrame) -> Path:
    """Write a user's ``ratings`` (``movie_id``, ``rating``) as CSV that :func:`read_ratings_file` reads.

    The columns are ``user_id``, ``movie_id`` and ``rating``, as in MovieLens.
    """
    path = Path(path)
    ratings.assign(user_id=user_id)[["user_id", "movie_id", "rating"]].to_csv(path, index=False)
    return path
