"""The last published run of a data folder (``<data>/latest``), and what can be asked of it.

The ``cofi`` command's verbs other than ``run`` are questions to this object: a user's picks, a new
user's picks from a few ratings (fold-in), movies like a movie, and the run's held-out ranking
metrics. Every problem a user can cause or fix is a :class:`cofi.errors.CofiError` saying what to do.
Nothing heavy is loaded before it is needed: the model (and TensorFlow) on first use.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cofi.errors import CofiError
from cofi.outputs.record import RECORD_NAME, RunRecord

if TYPE_CHECKING:
    from cofi import Model
    from cofi.outputs.similar import Metric
    from cofi.outputs.titles import TitleIndex

__all__ = ["NewUserPicks", "PublishedRun"]


@dataclass(frozen=True)
class NewUserPicks:
    """A new user folded into the published models, and their top picks.

    Attributes:
        user_id: the new user's id.
        steps: Adam steps the fold-in took (into the rating and the ranking model together).
        fold_seconds: wall seconds of the fold-in.
        score_seconds: wall seconds of scoring every movie for the picks.
        picks: the recommendations table (see :meth:`PublishedRun.recommend`), with ``title``.
    """

    user_id: int
    steps: int
    fold_seconds: float
    score_seconds: float
    picks: pd.DataFrame


@dataclass
class PublishedRun:
    """The run ``<data_dir>/latest`` points at: its record, model and movies.

    Args:
        data_dir: the data folder the pipeline writes to.
    """

    data_dir: Path

    @property
    def latest(self) -> Path:
        return Path(self.data_dir) / "latest"

    @cached_property
    def record(self) -> RunRecord:
        """The published run's record, read from the folder ``latest`` pointed at when first asked:
        everything after comes from that one run, even if another is published meanwhile."""
        path = self.latest.resolve() / RECORD_NAME
        if not path.is_file():
            raise CofiError(
                f"no published run in {self.data_dir} (no {path}); run `cofi run` first"
            )
        try:
            return RunRecord.read(path)
        except CofiError as error:
            # A run written before the record took its present shape: a new run replaces it.
            raise CofiError(f"{error}; run `cofi run` again") from None

    @cached_property
    def model(self) -> Model:
        from cofi import load_model

        return load_model(self.record.model_dir)

    @cached_property
    def ranking_model(self) -> Model:
        """The model that ranks the published lists: the run's ``ranking-model/``, or the
        rating model for a run without one."""
        from cofi import load_model

        if self.record.ranking_model_dir is None:
            return self.model
        return load_model(self.record.ranking_model_dir)

    @cached_property
    def movies(self) -> pd.DataFrame:
        """``movie_id`` and ``title`` of every movie of the run's dataset."""
        path = self.record.movies_path
        if not path.is_file():
            raise CofiError(f"the published run's movies table {path} is gone; run `cofi run`")
        return pd.read_parquet(path, columns=["movie_id", "title"])

    @cached_property
    def known_movies(self) -> pd.DataFrame:
        """The movies the model knows: only these can be rated or looked up."""
        return self.movies[self.movies["movie_id"].isin(self.model.movies.ids)]

    @cached_property
    def titles(self) -> TitleIndex:
        from cofi.outputs.titles import TitleIndex

        counts = pd.Series(self.model.movie_count, index=self.model.movies.ids)
        return TitleIndex(self.known_movies, counts)

    @property
    def min_user_ratings(self) -> int:
        """Ratings a user needs to be recommended by taste (fewer: the popular fallback)."""
        return self.record.min_user_ratings

    @property
    def min_movie_ratings(self) -> int:
        """Ratings a movie needs to be recommended."""
        return self.record.min_movie_ratings

    @property
    def learning_curve(self) -> Path | None:
        """The run's learning-curve and metrics plot, if it has one."""
        plot = self.record.run_dir / "learning-curve.png"
        return plot if plot.is_file() else None

    def with_titles(self, table: pd.DataFrame, column: str = "movie_id") -> pd.DataFrame:
        """``table`` with a ``title`` column: the title of each row's ``column``."""
        return table.assign(title=table[column].map(self.movies.set_index("movie_id")["title"]))

    # Known users -------------------------------------------------------------------------------

    def recommend(self, user_id: int, n: int = 10) -> pd.DataFrame:
        """A known user's top ``n`` with titles: their rows of the published table, or, for more
        than the table holds, scored the same way (:func:`cofi.outputs.recommendations.published_recommendations`).

        Raises:
            CofiError: the user is not in the model.
        """
        model = self.model
        if model.users.position_of([user_id])[0] < 0:
            ids = model.users.ids
            raise CofiError(
                f"user {user_id} is not in model {model.model_id} ({len(ids):,} users, ids "
                f"{ids.min()} to {ids.max()}); `cofi rate` adds a new user"
            )
        table = self._published_rows(user_id, n)
        if table is None:
            table = self._scored([user_id], n, self.ranking_model, model)
        return self.with_titles(table)

    def _published_rows(self, user_id: int, n: int) -> pd.DataFrame | None:
        """The user's first ``n`` rows of the published table; None when the table is missing
        or holds fewer (a longer list is then scored the same way)."""
        path = self.record.recommendations
        if not path.is_file():
            return None
        rows = pd.read_parquet(
            path,
            columns=["user_id", "rank", "movie_id", "predicted_rating", "score", "fallback"],
            filters=[("user_id", "==", user_id)],
        )
        if len(rows) < n:
            return None
        return rows.sort_values("rank").head(n).reset_index(drop=True)

    def _scored(
        self,
        user_ids: list[int],
        n: int,
        ranker: Model,
        rater: Model,
        min_user_ratings: int | None = None,
    ) -> pd.DataFrame:
        from cofi.outputs.recommendations import published_recommendations

        return published_recommendations(
            ranker,
            np.asarray(user_ids, dtype=np.int64),
            n=n,
            min_ratings=self.min_movie_ratings,
            min_user_ratings=self.min_user_ratings
            if min_user_ratings is None
            else min_user_ratings,
            rating_model=None if ranker is rater else rater,
        )

    # New users ---------------------------------------------------------------------------------

    def title_matches(self, query: str, limit: int = 5) -> pd.DataFrame:
        """The known movies whose titles match ``query`` well enough, best first."""
        from cofi.outputs.titles import MIN_SCORE

        matches = self.titles.search(query, limit=limit)
        return matches[matches["score"] >= MIN_SCORE]

    def read_ratings_file(self, path: Path) -> pd.DataFrame:
        """A new user's ratings of known movies from CSV (:func:`cofi.data.ratings_file.read_ratings_file`)."""
        from cofi.data.ratings_file import read_ratings_file

        return read_ratings_file(path, self.known_movies, self.model.scale, self.titles)

    def new_user_id(self, user_id: int | None = None) -> int:
        """``user_id``, or one past the largest id, checked to be new to the model."""
        model = self.model
        user = user_id if user_id is not None else int(model.users.ids.max()) + 1
        if model.users.position_of([user])[0] >= 0:
            raise CofiError(f"user {user} is already in the model; choose a new --user-id")
        return user

    def popular(self, user_id: int, n: int = 10) -> pd.DataFrame:
        """The cold-start fallback for a user with no ratings: popular, well-rated movies."""
        table = self._scored([user_id], n, self.ranking_model, self.model, min_user_ratings=1)
        return self.with_titles(table)

    def fold_in(self, user_id: int, ratings: pd.DataFrame, n: int = 10) -> NewUserPicks:
        """Fold a new user in from ``ratings`` (``movie_id``, ``rating``) and pick their top ``n``.

        With fewer than :attr:`min_user_ratings` ratings the picks are the popular fallback,
        without the movies rated.
        """
        from cofi.runtime import import_tensorflow

        import_tensorflow()  # loaded first, so the timings are the work itself
        from cofi.models.foldin import fold_in

        started = time.perf_counter()
        new_ratings = ratings.assign(user_id=user_id)
        result = fold_in(self.model, new_ratings)
        # The ranking model, when the run has one, ranks the picks: the new user goes in there too.
        ranked = (
            fold_in(self.ranking_model, new_ratings)
            if self.record.ranking_model_dir is not None
            else result
        )
        fold_seconds = time.perf_counter() - started
        started = time.perf_counter()
        table = self._scored([user_id], n, ranked.model, result.model)
        score_seconds = time.perf_counter() - started
        steps = result.steps + (ranked.steps if ranked is not result else 0)
        return NewUserPicks(user_id, steps, fold_seconds, score_seconds, self.with_titles(table))

    # Movies ------------------------------------------------------------------------------------

    def similar(
        self, query: str, n: int = 10, metric: Metric = "cosine"
    ) -> tuple[str, pd.DataFrame]:
        """The movie best matching ``query`` and the ``n`` most like it by learned features.

        Returns:
            The movie's title, and :func:`cofi.outputs.similar.similar_movies`'s table with the
            ``title`` of each ``similar_movie_id``.

        Raises:
            CofiError: no title matches, or the movie has too few ratings for its features to
                mean something.
        """
        from cofi.outputs.similar import similar_movies

        movie_id, title = self.titles.find(query)
        model = self.model
        count = int(model.movie_count[model.movies.position_of([movie_id])[0]])
        if count < self.min_movie_ratings:
            # Features learned from a rating or two are mostly the prior: their neighbours are noise.
            raise CofiError(
                f"{title} has {count} rating(s), fewer than the {self.min_movie_ratings} a movie "
                "needs for its features to mean something"
            )
        table = similar_movies(
            model, [movie_id], n=n, metric=metric, min_ratings=self.min_movie_ratings
        )
        return title, self.with_titles(table, "similar_movie_id")

    # Evaluation --------------------------------------------------------------------------------

    def rating_evaluation(self) -> dict:
        """The run's held-out rating report (:func:`cofi.evaluation.holdout.evaluate`).

        Raises:
            CofiError: the run held nothing out.
        """
        if not self.record.evaluation:
            raise CofiError("the published run held nothing out (--holdout 0): nothing to evaluate")
        return self.record.evaluation

    def list_evaluation(self, k: int | None = None, threshold: float | None = None) -> dict:
        """The published list's held-out ranking metrics beside popularity's.

        Read from the run record when it holds them for this ``k`` (default: the run's list
        length) and ``threshold`` (default None: every held-out movie is relevant); otherwise
        computed the same way on the run's test split
        (:func:`cofi.evaluation.comparison.published_list_report`).

        Raises:
            CofiError: the run held nothing out, or kept no held-out model or split.
        """
        from cofi import load_model
        from cofi.evaluation.comparison import published_list_report

        record = self.record
        self.rating_evaluation()
        stored = record.published_list
        if stored is not None and (k in (None, stored.k)) and threshold == stored.threshold:
            return stored.model_dump()
        if record.holdout_model_dir is None or record.test_path is None:
            raise CofiError(
                "the published run kept no held-out model or test split; run `cofi run`"
            )
        model = load_model(record.holdout_model_dir)
        ranker = (
            load_model(record.ranking_holdout_model_dir)
            if record.ranking_holdout_model_dir is not None
            else model
        )
        train = pd.read_parquet(record.train_path, columns=["user_id", "movie_id"])
        test = pd.read_parquet(record.test_path, columns=["user_id", "movie_id", "rating"])
        return published_list_report(
            ranker,
            train,
            test,
            k=k or (stored.k if stored else 10),
            threshold=threshold,
            min_ratings=self.min_movie_ratings,
            min_user_ratings=self.min_user_ratings,
            rating_model=None if ranker is model else model,
        )
