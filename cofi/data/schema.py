"""The typed schema of cofi's Parquet tables, rating scales and the known GroupLens datasets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from cofi.errors import CofiError

#: Bumped whenever the layout of the Parquet tables or the manifest changes.
SCHEMA_VERSION = 2

#: User and movie ids are positive 32-bit integers: 1 to MAX_ID.
MAX_ID = 2**31 - 1

RATINGS_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.int32(), nullable=False),
        pa.field("movie_id", pa.int32(), nullable=False),
        pa.field("rating", pa.float32(), nullable=False),
        pa.field("timestamp", pa.timestamp("s", tz="UTC"), nullable=False),
    ]
)

MOVIES_SCHEMA = pa.schema(
    [
        pa.field("movie_id", pa.int32(), nullable=False),
        pa.field("title", pa.string(), nullable=False),
        pa.field("genres", pa.string(), nullable=False),
        pa.field("year", pa.int16(), nullable=True),
    ]
)

RECOMMENDATIONS_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.int32(), nullable=False),
        pa.field("rank", pa.int16(), nullable=False),
        pa.field("movie_id", pa.int32(), nullable=False),
        pa.field("title", pa.string(), nullable=True),
        pa.field("predicted_rating", pa.float32(), nullable=False),
        # The ranking model's score, the order of each list (predicted_rating is the rating model's).
        pa.field("score", pa.float32(), nullable=False),
        # True where the user had too few ratings and got the popular list (cold start).
        pa.field("fallback", pa.bool_(), nullable=False),
        pa.field("model_id", pa.string(), nullable=False),
    ]
)


#: Each movie's nearest movies (:mod:`cofi.outputs.similar`): ``score`` is the cosine similarity,
#: or the squared distance for the lab's metric.
SIMILAR_SCHEMA = pa.schema(
    [
        pa.field("movie_id", pa.int32(), nullable=False),
        pa.field("rank", pa.int16(), nullable=False),
        pa.field("similar_movie_id", pa.int32(), nullable=False),
        pa.field("similar_title", pa.string(), nullable=True),
        pa.field("score", pa.float32(), nullable=False),
        pa.field("model_id", pa.string(), nullable=False),
    ]
)


@dataclass(frozen=True)
class RatingScale:
    """The allowed ratings: ``minimum`` to ``maximum`` inclusive, in steps of ``step``."""

    minimum: float
    maximum: float
    step: float

    def __post_init__(self) -> None:
        if not (self.step > 0 and self.minimum < self.maximum):
            raise ValueError(f"invalid rating scale {self}: need step > 0 and minimum < maximum")

    def describe(self) -> str:
        return f"{self.minimum:g} to {self.maximum:g} in steps of {self.step:g}"

    def in_range(self, values) -> np.ndarray:
        """Which of ``values`` lie from ``minimum`` to ``maximum`` (NaN does not)."""
        values = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            return (values >= self.minimum) & (values <= self.maximum)

    def on_step(self, values, tolerance: float = 1e-6) -> np.ndarray:
        """Which of ``values`` lie on a step ``minimum + k * step`` (within ``tolerance`` steps)."""
        values = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            steps = (values - self.minimum) / self.step
            return np.abs(steps - np.round(steps)) <= tolerance

    def contains(self, values, tolerance: float = 1e-6) -> np.ndarray:
        """Which of ``values`` are allowed ratings: in range and on a step."""
        return self.in_range(values) & self.on_step(values, tolerance)


WHOLE_STARS = RatingScale(1.0, 5.0, 1.0)
HALF_STARS = RatingScale(0.5, 5.0, 0.5)


@dataclass(frozen=True)
class DatasetInfo:
    """A GroupLens MovieLens release: where it is published, its rating scale and its digest.

    Attributes:
        name: the release's name, e.g. ``"ml-25m"``.
        url: the https URL of its zip archive.
        scale: its rating scale.
        sha256: the hex SHA-256 its zip is pinned to, or None.
        md5: the hex MD5 its zip is pinned to, where no SHA-256 is pinned, or None. A release
            with neither (ml-latest, ml-latest-small: GroupLens updates them in place) is
            checked against the MD5 that files.grouplens.org publishes beside it, over https.
    """

    name: str
    url: str
    scale: RatingScale
    sha256: str | None = None
    md5: str | None = None


GROUPLENS_BASE_URL = "https://files.grouplens.org/datasets/movielens"


def _release(
    name: str, scale: RatingScale, *, sha256: str | None = None, md5: str | None = None
) -> DatasetInfo:
    return DatasetInfo(name, f"{GROUPLENS_BASE_URL}/{name}.zip", scale, sha256=sha256, md5=md5)


# Pinned digests of the fixed releases. The SHA-256s are TensorFlow Datasets' recorded checksums
# (tensorflow/datasets, tensorflow_datasets/url_checksums/movielens.txt). The MD5s of ml-10m and
# ml-32m, which TFDS does not record, are the ones GroupLens publishes at
# files.grouplens.org/datasets/movielens/<name>.zip.md5, as quoted by several public projects
# (e.g. eli-osherovich/papers_with_code, datasets/movielens/dl_config.py, for ml-10m).
KNOWN_DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in [
        _release("ml-latest-small", HALF_STARS),
        _release(
            "ml-100k",
            WHOLE_STARS,
            sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        ),
        _release(
            "ml-1m",
            WHOLE_STARS,
            sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        ),
        _release("ml-10m", HALF_STARS, md5="ce571fd55effeba0271552578f2648bd"),
        _release(
            "ml-20m",
            HALF_STARS,
            sha256="96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
        ),
        _release(
            "ml-25m",
            HALF_STARS,
            sha256="8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
        ),
        _release("ml-32m", HALF_STARS, md5="d472be332d4daa821edc399621853b57"),
        _release("ml-latest", HALF_STARS),
    ]
}


def require_columns(frame: pd.DataFrame | pa.Table, columns: Iterable[str], what: str) -> None:
    """Checks that ``frame`` has each of ``columns``; other columns are allowed.

    Args:
        frame: a pandas DataFrame or a pyarrow Table.
        columns: the column names it must have.
        what: how the message names ``frame``, e.g. ``"ratings"`` or ``"the movies table"``.

    Raises:
        CofiError: ``"{what} lacks column(s) [...]; it has [...]"``, the missing ones in the
            order of ``columns``.
    """
    present = frame.column_names if isinstance(frame, pa.Table) else list(frame.columns)
    missing = [column for column in columns if column not in present]
    if missing:
        raise CofiError(f"{what} lacks column(s) {missing}; it has {present}")
