"""One user's ratings from a CSV file, checked line by line against a model's movies.

A file has a ``rating`` column and a ``movie_id`` or ``title`` column (or both, as
``cofi rate --save-ratings`` writes them beside ``user_id``). Every problem is a
:class:`cofi.errors.DataError` naming the file and the line (1-based, the header is line 1).

The file is streamed as text (:func:`cofi.data.reading.csv_file_records`), so every value is
checked as written: an id too large for any integer type is named, not rounded or overflowed.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from cofi.data.reading import QUOTE_CHARS, csv_file_records, quoted
from cofi.data.schema import MAX_ID, RatingScale
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


_DIGITS = re.compile(r"[+-]?[0-9]+(?:\.0*)?")  # a whole number, also as written like 42.0
_NUMBER_SHOWN_BARE = 20  # a number up to this long is shown as written, longer ones quoted


def _shown(text: str) -> str:
    """``text`` for a message: bare when it is a short number, else quoted."""
    try:
        float(text)
    except ValueError:
        return quoted(text)
    return text if len(text) <= _NUMBER_SHOWN_BARE else quoted(text)


def _listed(columns: list[str]) -> str:
    shown = str(columns)
    return shown if len(shown) <= 2 * QUOTE_CHARS else f"{shown[: 2 * QUOTE_CHARS]}..."


def _whole_number(text: str) -> int | None:
    """The whole number ``text`` holds exactly (``"7"``, ``"7.0"``, ``"7e2"``), or None."""
    if _DIGITS.fullmatch(text):
        digits = text.split(".")[0]
        # Beyond any id, and int() refuses strings of more than 4300 digits.
        if len(digits.lstrip("+-0")) > _NUMBER_SHOWN_BARE:
            return -1 if digits.startswith("-") else MAX_ID + 1
        return int(digits)
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if math.isfinite(number) and number.is_integer() else None


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
    records = csv_file_records(path)
    header = next(records, None)
    if header is None:
        raise DataError(path, "not a readable CSV file: it is empty")
    columns = [
        name.removeprefix("\ufeff") if i == 0 else name for i, name in enumerate(header.fields)
    ]
    if "rating" not in columns or not {"movie_id", "title"} & set(columns):
        raise DataError(
            path,
            f"needs a 'rating' column and a 'movie_id' or 'title' column; "
            f"it has {_listed(columns)}",
        )
    title_of = movies.set_index("movie_id")["title"]
    movie_ids: list[int] = []
    ratings: list[float] = []
    for record in records:
        line = record.line
        if len(record.fields) > len(columns):
            raise DataError(
                path, f"has {len(record.fields)} fields, the header has {len(columns)}", line
            )
        row = dict(zip(columns, record.fields, strict=False))
        title = row.get("title", "").strip()
        raw_id = row.get("movie_id", "").strip()
        if raw_id:
            movie_id = _whole_number(raw_id)
            if movie_id is None:
                raise DataError(path, f"movie_id {_shown(raw_id)} is not a whole number", line)
            if not 0 < movie_id <= MAX_ID:
                raise DataError(
                    path, f"movie_id {_shown(raw_id)} is not a positive 32-bit integer", line
                )
            if movie_id not in title_of.index:
                raise DataError(path, f"movie id {movie_id} is not in the model", line)
            named = title_of[movie_id]
            if title and not same_movie(title, named):
                raise DataError(
                    path,
                    f"movie_id {movie_id} is {named!r} but the title says {quoted(title)}",
                    line,
                )
        elif title:
            if titles is None:
                titles = TitleIndex(movies)
            try:
                movie_id, _ = titles.find(title)
            except CofiError as error:  # no title matches well enough
                raise DataError(path, str(error), line) from None
        else:
            raise DataError(path, "no movie_id or title", line)
        raw_rating = row.get("rating", "")
        rating = parse_rating(raw_rating, scale)
        if rating is None:
            raise DataError(
                path,
                f"rating {_shown(raw_rating.strip())} is not on the scale {scale.describe()}",
                line,
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
