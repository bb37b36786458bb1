"""The three GroupLens file layouts, and which one a folder or zip archive holds.

- ``csv`` (ml-latest-small, ml-20m, ml-25m, ml-32m, ml-latest): ``ratings.csv`` and ``movies.csv``
  with headers, UTF-8, titles quoted when they hold a comma.
- ``100k`` (ml-100k): ``u.data`` (tab-separated) and ``u.item`` (``|``-separated, Latin-1, 19 genre
  flags named by ``u.genre``).
- ``dat`` (ml-1m, ml-10m): ``ratings.dat`` and ``movies.dat``, ``::``-separated, no header.
"""

from __future__ import annotations

import enum
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from cofi.data.folder_or_zip import FolderOrZip
from cofi.data.schema import HALF_STARS, WHOLE_STARS, RatingScale
from cofi.errors import DataError

__all__ = [
    "LAYOUTS",
    "ML_100K_GENRES",
    "NO_GENRES",
    "Layout",
    "LayoutSpec",
    "detect_layout",
    "locate",
]


class Layout(enum.StrEnum):
    """The GroupLens file layouts cofi reads."""

    CSV = "csv"
    ML_100K = "100k"
    DAT = "dat"


@dataclass(frozen=True)
class LayoutSpec:
    """What a layout's two files are called and how they are written."""

    ratings_name: str
    movies_name: str
    separator: str  # as written in the file
    ratings_header: tuple[str, ...] | None
    movies_header: tuple[str, ...] | None
    default_scale: RatingScale
    datasets: str  # for error messages


LAYOUTS: dict[Layout, LayoutSpec] = {
    Layout.CSV: LayoutSpec(
        "ratings.csv",
        "movies.csv",
        ",",
        ("userId", "movieId", "rating", "timestamp"),
        ("movieId", "title", "genres"),
        HALF_STARS,
        "ml-latest-small, ml-20m, ml-25m, ml-32m, ml-latest",
    ),
    Layout.ML_100K: LayoutSpec("u.data", "u.item", "\t", None, None, WHOLE_STARS, "ml-100k"),
    Layout.DAT: LayoutSpec(
        "ratings.dat", "movies.dat", "::", None, None, HALF_STARS, "ml-1m, ml-10m"
    ),
}

#: The ml-100k genres, in flag order, used when ``u.genre`` is absent.
ML_100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
NO_GENRES = "(no genres listed)"
ML_100K_FIELDS_BEFORE_FLAGS = 5  # id, title, release date, video release date, IMDb URL


def _expected_files() -> str:
    return "; ".join(
        f"{spec.ratings_name} + {spec.movies_name} ({layout.value}: {spec.datasets})"
        for layout, spec in LAYOUTS.items()
    )


def locate(container: FolderOrZip) -> tuple[Layout, str]:
    """Find the layout and the folder ("" or one sub-folder) that holds its two files."""
    names_by_dir: dict[str, set[str]] = {}
    for name in container.names:
        directory, base = posixpath.split(name)
        names_by_dir.setdefault(directory, set()).add(base)
    by_depth = sorted(names_by_dir, key=lambda d: (d != "", d))
    complete: list[tuple[str, Layout]] = []
    partial: list[str] = []
    for directory in by_depth:
        bases = names_by_dir[directory]
        for layout, spec in LAYOUTS.items():
            has_ratings = spec.ratings_name in bases
            has_movies = spec.movies_name in bases
            if has_ratings and has_movies:
                complete.append((directory, layout))
                break
            if has_ratings or has_movies:
                found, missing = (
                    (spec.ratings_name, spec.movies_name)
                    if has_ratings
                    else (spec.movies_name, spec.ratings_name)
                )
                where = f"{directory}/" if directory else "the top level"
                partial.append(f"found {found} but not {missing} in {where}")
    if complete:
        shallowest = [c for c in complete if (c[0] == "") == (complete[0][0] == "")]
        if len(shallowest) > 1:
            folders = ", ".join(f"{d or '.'} ({layout.value})" for d, layout in shallowest)
            raise DataError(container.path, f"holds more than one MovieLens dataset: {folders}")
        directory, layout = complete[0]
        return layout, directory
    if partial:
        raise DataError(
            container.path,
            f"missing file: {'; '.join(partial)}. Expected one of: {_expected_files()}",
        )
    raise DataError(
        container.path,
        f"unknown layout, no MovieLens files found. Expected one of: {_expected_files()}",
    )


def detect_layout(source: str | os.PathLike[str]) -> Layout:
    """Which GroupLens layout a folder or zip archive holds.

    Args:
        source: a folder or ``.zip`` archive; the files may sit one sub-folder deep.

    Returns:
        The layout (``Layout.CSV``, ``Layout.ML_100K`` or ``Layout.DAT``; they compare equal to
        ``"csv"``, ``"100k"`` and ``"dat"``).

    Raises:
        DataError: the source is missing, not a readable zip, or holds no complete layout.
    """
    with FolderOrZip(Path(source)) as container:
        return locate(container)[0]
