"""cofi beside Surprise, EASE and implicit on identical splits: rating and top-10 ranking metrics.

Protocol (the same for every row of a table):

- Split: a seeded 75/25 per-user random split (``cofi.evaluation.splits.split_per_user_random``,
  ``test_fraction=0.25``, ``seed``, ``min_train=1``), so every test user has training ratings;
  with ``--split temporal`` each user's latest 25% instead (``split_per_user_temporal``).
- Rating metrics (RMSE, MAE): on every held-out rating. Predictions are clipped to the dataset's
  rating scale, as ``Model.predict`` and Surprise's ``predict`` both do. Unknown movies fall back
  as each library does (cofi: global mean + user bias; Surprise: global mean + user bias).
- Ranking metrics (P@10, R@10, NDCG@10, ``cofi.evaluation.metrics.ranking_report``): every user
  with held-out ratings gets a top-10 list; relevant = all of the user's held-out movies
  (threshold None). Coverage: the share of the training split's movies in some list.
  Candidates are the movies of the training split (cofi: ``min_ratings=1``), minus the movies
  the user rated in training. Ties go to the lower movie id.
- Surprise (scikit-surprise, the ``bench`` extra): ``SVD`` and ``SVDpp`` with default
  parameters and ``random_state=seed``. Scoring every unseen movie with ``algo.predict`` one
  pair at a time is too slow, so scores come from Surprise's learned ``bu, bi, pu, qi`` (and
  ``yj``) through the trainset's inner ids, the same formula as its ``estimate``; each run
  checks these against ``algo.predict`` on a sample of pairs. Lists are ranked by the unclipped
  estimate, as cofi ranks by its unclipped score: ranking clipped ratings would tie every movie
  predicted above the top of the scale.
- cofi: ``cofi.fit(train, scale=..., seed=seed)`` with its defaults, and with
  ``objective="biased"``, ``"svdpp"``, ``"ranking"``, ``"ials"``, ``"mnar"``, ``"autorec"`` and
  ``"blend"`` (each with its
  own defaults, chosen on validation ratings carved from a training part by
  benchmarks/choose_ranking.py); nothing is tuned on these test sets. The one-class objectives
  (ranking, ials) score preference, not ratings, so their RMSE/MAE are "-".
- EASE (``cofi.evaluation.baselines.fit_ease``, lambda ``DEFAULT_EASE_LAMBDA``, chosen on
  validation) and the ``implicit`` package's ALS and BPR (the ``bench`` extra; 64 factors, its
  other defaults, ``random_state=seed``, on the binary rated/unrated matrix): top-10 lists only.
  Rows of a package that is not installed are "-".
- Baselines: the training global mean, each movie's training mean (global mean for a movie
  without training ratings; its lists rank movies by mean rating) and popularity
  (``cofi.evaluation.metrics.popularity_recommendations``: the most-rated unseen training movies).
- Fit seconds: wall time of the fit call only (cofi's includes TensorFlow graph tracing and
  building its index; Surprise's excludes building its trainset). Single process, 2 CPU cores.

With ``--folds``, ml-100k's predefined 5-fold cross-validation (``u1``..``u5`` via
``cofi.evaluation.splits.split_predefined``) adds the RMSE of each rating model per fold, their
mean and the mean fit seconds, cofi's rows beside Surprise SVD and SVD++; ``--folds u1`` runs the
fold papers report alone (GC-MC, GLocal-K), ``--datasets`` empty skips the other tables.

    COFI_MOVIELENS_DIR=../shared/movielens python benchmarks/compare_libraries.py \\
        [--datasets ml-latest-small ml-100k] [--folds [u1 ...]] [--seed 0] [--split random|temporal]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import cofi  # noqa: E402
from cofi.data.checks import infer_scale  # noqa: E402
from cofi.data.download import resolve_source  # noqa: E402
from cofi.data.ingest import ingest  # noqa: E402
from cofi.data.schema import KNOWN_DATASETS, RatingScale  # noqa: E402
from cofi.errors import CofiError  # noqa: E402
from cofi.evaluation.baselines import DEFAULT_EASE_LAMBDA, fit_ease  # noqa: E402
from cofi.evaluation.metrics import popularity_recommendations, ranking_report, rating_report  # noqa: E402
from cofi.evaluation.splits import (  # noqa: E402
    split_per_user_random,
    split_per_user_temporal,
    split_predefined,
)

DATASETS = ["ml-latest-small", "ml-100k"]
TEST_FRACTION = 0.25
K = 10
COLUMNS = ["RMSE", "MAE", f"P@{K}", f"R@{K}", f"NDCG@{K}", "coverage", "fit seconds"]
ROWS = [
    "global mean",
    "movie mean",
    "popularity",
    "Surprise SVD",
    "Surprise SVD++",
    "EASE",
    "implicit ALS",
    "implicit BPR",
    "cofi defaults",
    'cofi objective="biased"',
    'cofi objective="svdpp"',
    'cofi objective="ranking"',
    'cofi objective="ials"',
    'cofi objective="ials", sequence_weight=0',
    'cofi objective="mnar"',
    'cofi objective="autorec"',
    'cofi objective="blend"',
]
#: The rating models of the cross-validation table: row name -> cofi objective or Surprise class.
FOLD_ROWS = [
    "cofi defaults",
    'cofi objective="biased"',
    'cofi objective="svdpp"',
    'cofi objective="autorec"',
    'cofi objective="blend"',
    "Surprise SVD",
    "Surprise SVD++",
]
FOLDS = ("u1", "u2", "u3", "u4", "u5")
#: Row name -> the settings ``cofi.fit`` gets (none: its defaults).
COFI_OBJECTIVES: dict[str, dict] = {
    "cofi defaults": {},
    'cofi objective="biased"': {"objective": "biased"},
    'cofi objective="svdpp"': {"objective": "svdpp"},
    'cofi objective="ranking"': {"objective": "ranking"},
    'cofi objective="ials"': {"objective": "ials"},
    # ials's lists without the sequence-neighbour term (cofi.models.sequence)
    'cofi objective="ials", sequence_weight=0': {"objective": "ials", "sequence_weight": 0.0},
    'cofi objective="mnar"': {"objective": "mnar"},
    'cofi objective="autorec"': {"objective": "autorec"},
    'cofi objective="blend"': {"objective": "blend"},
}
#: Factors of implicit's ALS and BPR.
IMPLICIT_FACTORS = 64
#: Pairs compared between the vectorized Surprise scores and ``algo.predict``, per model.
CHECK_PAIRS = 300
#: The vectorized scores must equal ``predict``'s to this (float64 sums in another order).
CHECK_TOLERANCE = 1e-9
#: Users scored at once when ranking; bounds memory to this many users x movies.
BLOCK_USERS = 1024

ScoreBlock = Callable[[np.ndarray], np.ndarray]
"""Maps (n_block,) user positions to (n_block, n_movies) scores."""


# --------------------------------------------------------------------------------------------
# Shared ranking


def top_k_lists(
    user_ids: np.ndarray,
    movie_ids: np.ndarray,
    train: pd.DataFrame,
    score_block: ScoreBlock,
    k: int = K,
) -> pd.DataFrame:
    """Top-``k`` unseen movies for each user from a scoring function, ties to the lower movie id.

    Args:
        user_ids: (n_users,) the users to recommend for, all present in ``train``.
        movie_ids: (n_movies,) the candidate movies, strictly increasing.
        train: training ratings with ``user_id`` and ``movie_id``; a user's own are excluded.
        score_block: the scores of a block of positions into ``user_ids``, (n_block, n_movies).
        k: list length.

    Returns:
        ``user_id``, ``rank`` (1..k), ``movie_id``, sorted by user then rank; a user with fewer
        than ``k`` candidates gets a shorter list.
    """
    user_position = pd.Series(np.arange(len(user_ids)), index=user_ids)
    wanted = train["user_id"].isin(user_ids).to_numpy()
    seen_users = user_position.loc[train["user_id"].to_numpy()[wanted]].to_numpy()
    seen_movies = np.searchsorted(movie_ids, train["movie_id"].to_numpy()[wanted])
    blocks = []
    for start in range(0, len(user_ids), BLOCK_USERS):
        block = np.arange(start, min(start + BLOCK_USERS, len(user_ids)))
        scores = np.asarray(score_block(block), dtype=np.float64).copy()
        in_block = (seen_users >= start) & (seen_users < block[-1] + 1)
        scores[seen_users[in_block] - start, seen_movies[in_block]] = -np.inf
        # A stable sort of the negated scores keeps equal scores in movie-id order.
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        valid = np.isfinite(np.take_along_axis(scores, top, axis=1))
        rank = np.broadcast_to(np.arange(1, top.shape[1] + 1), top.shape)
        users = np.broadcast_to(user_ids[block][:, None], top.shape)
        blocks.append(
            pd.DataFrame(
                {
                    "user_id": users[valid].astype(np.int32),
                    "rank": rank[valid].astype(np.int16),
                    "movie_id": movie_ids[top[valid]].astype(np.int32),
                }
            )
        )
    return pd.concat(blocks, ignore_index=True)


def ranking_scores(
    recommendations: pd.DataFrame, test: pd.DataFrame, n_catalog: int
) -> dict[str, float]:
    """P@K, R@K and NDCG@K against every held-out movie of each test user, and the share of
    the ``n_catalog`` candidate movies the lists cover."""
    report = ranking_report(recommendations, test, k=K, threshold=None, n_catalog=n_catalog)
    return {
        f"P@{K}": report["precision_at_k"],
        f"R@{K}": report["recall_at_k"],
        f"NDCG@{K}": report["ndcg_at_k"],
        "coverage": report["catalog_coverage"],
    }


def rating_scores(test: pd.DataFrame, predicted: np.ndarray) -> dict[str, float]:
    report = rating_report(test["rating"].to_numpy(), predicted)
    return {"RMSE": report["rmse"], "MAE": report["mae"]}


# --------------------------------------------------------------------------------------------
# Baselines


def baseline_rows(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, dict[str, float]]:
    """The global mean, movie mean and popularity rows."""
    test_users = pd.unique(test["user_id"].to_numpy())
    n_catalog = train["movie_id"].nunique()
    rows = {}

    started = time.perf_counter()
    global_mean = float(train["rating"].mean())
    seconds = time.perf_counter() - started
    rows["global mean"] = {
        **rating_scores(test, np.full(len(test), global_mean)),
        "fit seconds": seconds,
    }

    started = time.perf_counter()
    movie_mean = train.groupby("movie_id")["rating"].mean().sort_index()
    seconds = time.perf_counter() - started
    predicted = test["movie_id"].map(movie_mean).fillna(global_mean).to_numpy()
    means = movie_mean.to_numpy(np.float64)
    lists = top_k_lists(
        test_users,
        movie_mean.index.to_numpy(),
        train,
        lambda block: np.broadcast_to(means, (len(block), len(means))),
    )
    rows["movie mean"] = {
        **rating_scores(test, predicted),
        **ranking_scores(lists, test, n_catalog),
        "fit seconds": seconds,
    }

    started = time.perf_counter()
    lists = popularity_recommendations(train, test_users, k=K, min_ratings=1)
    rows["popularity"] = {
        **ranking_scores(lists, test, n_catalog),
        "fit seconds": time.perf_counter() - started,
    }
    return rows


# --------------------------------------------------------------------------------------------
# Surprise


class SurpriseScorer:
    """Surprise's ``estimate`` for many pairs at once, from the learned arrays.

    ``mu + bu[u] + bi[i] + qi[i] . (pu[u] + |I_u|^-1/2 sum_{j in I_u} yj[j])`` (the ``yj`` term
    for SVD++ only); an unknown user drops ``bu`` and the dot product, an unknown movie ``bi``
    and the dot product, as in ``SVD.estimate`` and ``SVDpp.estimate``.

    Args:
        algo: a fitted ``surprise.SVD`` or ``surprise.SVDpp``.
    """

    def __init__(self, algo) -> None:
        trainset = algo.trainset
        self.algo = algo
        self.global_mean = float(trainset.global_mean)
        self.lowest, self.highest = trainset.rating_scale
        self.user_ids = np.array(
            [trainset.to_raw_uid(inner) for inner in range(trainset.n_users)], np.int64
        )
        self.movie_ids = np.array(
            [trainset.to_raw_iid(inner) for inner in range(trainset.n_items)], np.int64
        )
        self.user_order = np.argsort(self.user_ids)
        self.movie_order = np.argsort(self.movie_ids)
        user_vectors = np.array(algo.pu, np.float64)
        if hasattr(algo, "yj"):
            inner_users, inner_items = (
                np.array(column, np.int64)
                for column in zip(*((u, i) for u, i, _ in trainset.all_ratings()), strict=True)
            )
            implicit = np.zeros_like(user_vectors)
            np.add.at(implicit, inner_users, np.asarray(algo.yj, np.float64)[inner_items])
            counts = np.bincount(inner_users, minlength=trainset.n_users)
            user_vectors = user_vectors + implicit / np.sqrt(counts)[:, None]
        self.user_vectors = user_vectors
        self.user_bias = np.asarray(algo.bu, np.float64)
        self.item_vectors = np.asarray(algo.qi, np.float64)
        self.item_bias = np.asarray(algo.bi, np.float64)

    def inner_users(self, user_ids) -> np.ndarray:
        """Surprise's inner ids of raw user ids; -1 for users not in the trainset."""
        return _lookup(self.user_ids, self.user_order, user_ids)

    def inner_movies(self, movie_ids) -> np.ndarray:
        """Surprise's inner ids of raw movie ids; -1 for movies not in the trainset."""
        return _lookup(self.movie_ids, self.movie_order, movie_ids)

    def estimate(self, user_ids, movie_ids) -> np.ndarray:
        """(n,) unclipped estimates for pairs of raw ids, as ``algo.estimate`` on inner ids."""
        users, movies = self.inner_users(user_ids), self.inner_movies(movie_ids)
        known_user, known_movie = users >= 0, movies >= 0
        both = known_user & known_movie
        estimate = np.full(len(users), self.global_mean)
        estimate[known_user] += self.user_bias[users[known_user]]
        estimate[known_movie] += self.item_bias[movies[known_movie]]
        estimate[both] += np.einsum(
            "ij,ij->i", self.item_vectors[movies[both]], self.user_vectors[users[both]]
        )
        return estimate

    def predict(self, user_ids, movie_ids) -> np.ndarray:
        """(n,) estimates clipped to the rating scale, as ``algo.predict(...).est``."""
        return np.clip(self.estimate(user_ids, movie_ids), self.lowest, self.highest)

    def recommend(self, user_ids: np.ndarray, train: pd.DataFrame) -> pd.DataFrame:
        """Top-K lists over the trainset's movies, ranked by the unclipped estimate."""
        movie_ids = self.movie_ids[self.movie_order]
        items = self.item_vectors[self.movie_order]
        item_bias = self.item_bias[self.movie_order]
        users = self.inner_users(user_ids)
        if (users < 0).any():
            raise ValueError("every user to recommend for must be in the trainset")

        def score_block(block: np.ndarray) -> np.ndarray:
            inner = users[block]
            return (
                self.global_mean
                + self.user_bias[inner][:, None]
                + item_bias[None, :]
                + self.user_vectors[inner] @ items.T
            )

        return top_k_lists(user_ids, movie_ids, train, score_block)

    def check_against_predict(self, test: pd.DataFrame, user_ids: np.ndarray, seed: int) -> float:
        """Largest difference from ``algo.predict`` and ``algo.estimate`` on a sample of pairs.

        The sample mixes held-out pairs (which may hold movies unknown to the trainset) with
        (user, trainset movie) pairs of the kind the lists are built from.

        Raises:
            AssertionError: a difference exceeds :data:`CHECK_TOLERANCE`.
        """
        rng = np.random.default_rng(seed)
        held_out = rng.choice(len(test), size=min(CHECK_PAIRS // 2, len(test)), replace=False)
        pair_users = np.r_[
            test["user_id"].to_numpy()[held_out], rng.choice(user_ids, CHECK_PAIRS // 2)
        ].astype(np.int64)
        pair_movies = np.r_[
            test["movie_id"].to_numpy()[held_out], rng.choice(self.movie_ids, CHECK_PAIRS // 2)
        ].astype(np.int64)
        expected = np.array(
            [
                self.algo.predict(int(u), int(m)).est
                for u, m in zip(pair_users, pair_movies, strict=True)
            ]
        )
        worst = float(np.max(np.abs(self.predict(pair_users, pair_movies) - expected)))
        # The lists rank by the unclipped estimate: check it too, where both ids are known.
        users, movies = self.inner_users(pair_users), self.inner_movies(pair_movies)
        known = (users >= 0) & (movies >= 0)
        unclipped = np.array(
            [
                self.algo.estimate(int(u), int(m))
                for u, m in zip(users[known], movies[known], strict=True)
            ]
        )
        worst = max(
            worst,
            float(
                np.max(
                    np.abs(self.estimate(pair_users[known], pair_movies[known]) - unclipped),
                    initial=0.0,
                )
            ),
        )
        assert worst <= CHECK_TOLERANCE, f"vectorized Surprise scores differ by {worst}"
        return worst


def _lookup(sorted_ids_of: np.ndarray, order: np.ndarray, ids) -> np.ndarray:
    """Positions in ``sorted_ids_of`` (unsorted, ``order`` sorts it) of ``ids``; -1 if absent."""
    query = np.asarray(ids, np.int64).reshape(-1)
    sorted_ids = sorted_ids_of[order]
    at = np.minimum(np.searchsorted(sorted_ids, query), len(sorted_ids) - 1)
    return np.where(sorted_ids[at] == query, order[at], -1)


def fit_surprise(name: str, train: pd.DataFrame, scale: RatingScale, seed: int):
    """A fitted Surprise model (default parameters) and its fit seconds."""
    from surprise import SVD, Dataset, Reader, SVDpp

    algorithm = {"Surprise SVD": SVD, "Surprise SVD++": SVDpp}[name](random_state=seed)
    data = Dataset.load_from_df(
        train[["user_id", "movie_id", "rating"]].astype({"user_id": "int64", "movie_id": "int64"}),
        Reader(rating_scale=(scale.minimum, scale.maximum)),
    )
    trainset = data.build_full_trainset()
    started = time.perf_counter()
    algorithm.fit(trainset)
    return algorithm, time.perf_counter() - started


def surprise_row(
    name: str, train: pd.DataFrame, test: pd.DataFrame, scale: RatingScale, seed: int
) -> tuple[dict[str, float], float]:
    """One Surprise row, and the largest difference of its vectorized scores from ``predict``."""
    algo, seconds = fit_surprise(name, train, scale, seed)
    scorer = SurpriseScorer(algo)
    test_users = pd.unique(test["user_id"].to_numpy()).astype(np.int64)
    difference = scorer.check_against_predict(test, test_users, seed)
    predicted = scorer.predict(test["user_id"].to_numpy(), test["movie_id"].to_numpy())
    lists = scorer.recommend(test_users, train)
    row = {
        **rating_scores(test, predicted),
        **ranking_scores(lists, test, train["movie_id"].nunique()),
        "fit seconds": seconds,
    }
    return row, difference


# --------------------------------------------------------------------------------------------
# EASE and implicit: top-N lists only


def ease_row(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, float]:
    """EASE at its validation-chosen lambda; an empty row for a catalog it refuses."""
    test_users = pd.unique(test["user_id"].to_numpy())
    started = time.perf_counter()
    try:
        model = fit_ease(train)
    except CofiError:
        return {}
    seconds = time.perf_counter() - started
    lists = model.recommend(test_users, n=K)
    return {**ranking_scores(lists, test, len(model.movies)), "fit seconds": seconds}


def implicit_row(name: str, train: pd.DataFrame, test: pd.DataFrame, seed: int) -> dict[str, float]:
    """implicit's ALS or BPR on the binary user x movie matrix; empty if implicit is absent."""
    try:
        from implicit.cpu.als import AlternatingLeastSquares
        from implicit.cpu.bpr import BayesianPersonalizedRanking
        from scipy.sparse import csr_matrix
        from threadpoolctl import threadpool_limits
    except ImportError:
        return {}
    users = np.unique(train["user_id"].to_numpy())
    movies = np.unique(train["movie_id"].to_numpy())
    user_items = csr_matrix(
        (
            np.ones(len(train), np.float32),
            (
                np.searchsorted(users, train["user_id"].to_numpy()),
                np.searchsorted(movies, train["movie_id"].to_numpy()),
            ),
        ),
        shape=(len(users), len(movies)),
    )
    # implicit asks for single-threaded BLAS: it parallelizes over users itself.
    with threadpool_limits(1, "blas"):
        if name == "implicit ALS":
            model = AlternatingLeastSquares(factors=IMPLICIT_FACTORS, random_state=seed)
        else:
            model = BayesianPersonalizedRanking(factors=IMPLICIT_FACTORS, random_state=seed)
        started = time.perf_counter()
        model.fit(user_items, show_progress=False)
        seconds = time.perf_counter() - started
    test_users = pd.unique(test["user_id"].to_numpy())
    rows = np.searchsorted(users, test_users)
    top, _ = model.recommend(rows, user_items[rows], N=K, filter_already_liked_items=True)
    lists = pd.DataFrame(
        {
            "user_id": np.repeat(test_users, top.shape[1]),
            "rank": np.tile(np.arange(1, top.shape[1] + 1), len(test_users)),
            "movie_id": movies[np.maximum(top, 0)].reshape(-1),
            "valid": (top >= 0).reshape(-1),
        }
    )
    lists = lists[lists.pop("valid")].reset_index(drop=True)
    return {**ranking_scores(lists, test, len(movies)), "fit seconds": seconds}


# --------------------------------------------------------------------------------------------
# cofi


def fit_cofi(
    name: str, train: pd.DataFrame, scale: RatingScale, seed: int
) -> tuple[cofi.Model, float]:
    """cofi with its defaults, or with the row's objective; and its fit seconds."""
    started = time.perf_counter()
    model = cofi.fit(train, scale=scale, seed=seed, log_every=1_000_000, **COFI_OBJECTIVES[name])
    return model, time.perf_counter() - started


def cofi_row(
    name: str, train: pd.DataFrame, test: pd.DataFrame, scale: RatingScale, seed: int
) -> dict[str, float]:
    model, seconds = fit_cofi(name, train, scale, seed)
    test_users = pd.unique(test["user_id"].to_numpy())
    lists = model.recommend(user_ids=test_users, n=K, min_ratings=1)
    n_catalog = int((model.movie_count >= 1).sum())
    row = {**ranking_scores(lists, test, n_catalog), "fit seconds": seconds}
    if model.predicts_ratings:
        row.update(rating_scores(test, model.predict(test["user_id"].to_numpy(), test["movie_id"])))
    return row


# --------------------------------------------------------------------------------------------
# The comparison


def compare(
    ratings: pd.DataFrame,
    scale: RatingScale | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    split: str = "random",
) -> pd.DataFrame:
    """Every row of the protocol on one seeded per-user 75/25 split of ``ratings``.

    Args:
        ratings: ``user_id``, ``movie_id``, ``rating`` (and ``timestamp`` for the temporal
            split); one row per (user, movie).
        scale: the rating scale predictions are clipped to; inferred from ``ratings`` if omitted.
        seed: seeds the split, cofi, Surprise and implicit.
        log: receives a line as each row is done (None: silent).
        split: "random" (per user, seeded) or "temporal" (each user's latest ratings).

    Returns:
        One row per name in :data:`ROWS` (index), the columns :data:`COLUMNS`; NaN where a
        metric does not apply (ranking of the global mean, ratings of popularity and of the
        ranking objective).
    """
    scale = scale or infer_scale(ratings["rating"].to_numpy())
    if split == "temporal":
        train, test = split_per_user_temporal(ratings, TEST_FRACTION)
    else:
        train, test = split_per_user_random(ratings, TEST_FRACTION, seed=seed)
    # cofi's ranking lists order each user's ratings by time (cofi.models.sequence); the other
    # rows see the three columns.
    timed_train = train
    train, test = (part[["user_id", "movie_id", "rating"]] for part in (train, test))
    log = log or (lambda line: None)
    log(
        f"  split: {len(train):,} train / {len(test):,} test ratings, "
        f"{test['user_id'].nunique():,} test users, {train['movie_id'].nunique():,} candidate movies"
    )
    rows = baseline_rows(train, test)
    for name in ("Surprise SVD", "Surprise SVD++"):
        rows[name], difference = surprise_row(name, train, test, scale, seed)
        log(
            f"  {name}: {rows[name]['fit seconds']:.1f} s fit; vectorized scores vs predict/"
            f"estimate on {CHECK_PAIRS} pairs: max |difference| {difference:.1e}"
        )
    rows["EASE"] = ease_row(train, test)
    log("  EASE: " + (f"{rows['EASE']['fit seconds']:.1f} s fit" if rows["EASE"] else "refused"))
    for name in ("implicit ALS", "implicit BPR"):
        rows[name] = implicit_row(name, train, test, seed)
        log(
            f"  {name}: "
            + (
                f"{rows[name]['fit seconds']:.1f} s fit"
                if rows[name]
                else "skipped (implicit is not installed: pip install -e '.[bench]')"
            )
        )
    for name in COFI_OBJECTIVES:
        rows[name] = cofi_row(name, timed_train, test, scale, seed)
        log(f"  {name}: {rows[name]['fit seconds']:.1f} s fit")
    return pd.DataFrame.from_dict(rows, orient="index").reindex(index=ROWS, columns=COLUMNS)


def cross_validate(
    source: str | os.PathLike[str], seed: int = 0, folds: tuple[str, ...] = FOLDS
) -> pd.DataFrame:
    """RMSE of each rating model on ml-100k's predefined folds (``u1``..``u5``), and their mean.

    Args:
        source: the ml-100k folder or zip.
        seed: seeds cofi and Surprise.
        folds: which of ``u1``..``u5`` (``("u1",)``: the fold papers report alone).

    Returns:
        One row per name in :data:`FOLD_ROWS`, a column per fold, ``mean`` (over ``folds``) and
        ``fit seconds`` (mean over ``folds``).
    """
    scale = KNOWN_DATASETS["ml-100k"].scale
    table, seconds = {}, {name: [] for name in FOLD_ROWS}
    for fold in folds:
        train, test = split_predefined(source, fold)
        column = {}
        for name in FOLD_ROWS:
            if name.startswith("Surprise"):
                algo, fit_seconds = fit_surprise(name, train, scale, seed)
                predicted = SurpriseScorer(algo).predict(test["user_id"], test["movie_id"])
            else:
                model, fit_seconds = fit_cofi(name, train, scale, seed)
                predicted = model.predict(test["user_id"].to_numpy(), test["movie_id"].to_numpy())
            column[name] = rating_scores(test, predicted)["RMSE"]
            seconds[name].append(fit_seconds)
        table[fold] = column
        print(f"  {fold}: " + ", ".join(f"{n} {v:.4f}" for n, v in column.items()), flush=True)
    frame = pd.DataFrame(table).reindex(FOLD_ROWS)
    frame["mean"] = frame.mean(axis=1)
    frame["fit seconds"] = [float(np.mean(seconds[name])) for name in FOLD_ROWS]
    return frame


def format_table(table: pd.DataFrame) -> str:
    """The table as text: metrics to 4 decimals, seconds to 2, "-" where a metric does not apply."""
    shown = pd.DataFrame(index=table.index)
    for column in table.columns:
        digits = 2 if column == "fit seconds" else 4
        shown[column] = [
            "-" if pd.isna(value) else f"{value:.{digits}f}" for value in table[column]
        ]
    return shown.to_string()


def load(name: str, work: Path) -> pd.DataFrame:
    """The validated ratings of a MovieLens dataset (ingested into ``work``)."""
    result = ingest(resolve_source(dataset=name), work / name, scale=KNOWN_DATASETS[name].scale)
    return pd.read_parquet(
        result.ratings_path, columns=["user_id", "movie_id", "rating", "timestamp"]
    )


def protocol_lines(seed: int, split: str = "random") -> list[str]:
    how = (
        f"per-user random {1 - TEST_FRACTION:.0%}/{TEST_FRACTION:.0%} split "
        f"(split_per_user_random, seed {seed})"
        if split == "random"
        else f"per-user temporal split, each user's latest {TEST_FRACTION:.0%} held out "
        "(split_per_user_temporal)"
    )
    return [
        f"Protocol: {how} for every row.",
        "RMSE/MAE on all held-out ratings (predictions clipped to the rating scale).",
        f"P@{K}/R@{K}/NDCG@{K}: relevant = all of a user's held-out movies (threshold None); "
        "candidates = training-split movies not rated by the user in training; ties to lower id; "
        "coverage = share of the training-split movies in some list.",
        f"Surprise SVD/SVD++: default parameters, random_state={seed}; ranked by the unclipped "
        "estimate from its learned arrays, checked against algo.predict.",
        f"cofi: cofi.fit defaults (seed {seed}) and objective=biased/svdpp/ranking/ials/mnar/"
        "autorec/blend "
        "with their own defaults; no tuning on test. '-': metric does not apply.",
        f"EASE: lambda {DEFAULT_EASE_LAMBDA:g} (chosen on validation); implicit ALS/BPR: "
        f"{IMPLICIT_FACTORS} factors, other defaults, binary matrix.",
        "fit seconds: the fit call only, one process, 2 CPU cores.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--datasets", nargs="*", default=DATASETS, choices=DATASETS)
    parser.add_argument(
        "--folds",
        nargs="*",
        choices=FOLDS,
        default=None,
        help="also run ml-100k's predefined folds (RMSE): all five, or those named (u1 alone)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", choices=["random", "temporal"], default="random")
    args = parser.parse_args()
    # Import TensorFlow (quietly) before any timing, so its start-up is not charged to the
    # first cofi fit.
    from cofi.runtime import import_tensorflow

    import_tensorflow()

    started = time.perf_counter()
    for line in protocol_lines(args.seed, args.split):
        print(line)
    with tempfile.TemporaryDirectory() as work:
        for name in args.datasets:
            print(f"\n{name}:", flush=True)
            table = compare(
                load(name, Path(work)),
                KNOWN_DATASETS[name].scale,
                args.seed,
                log=lambda line: print(line, flush=True),
                split=args.split,
            )
            print(f"\n{name} (k={K})\n{format_table(table)}", flush=True)
    if args.folds is not None:
        chosen = tuple(args.folds) or FOLDS
        print(f"\nml-100k predefined folds ({', '.join(chosen)}), RMSE:", flush=True)
        folds = cross_validate(resolve_source(dataset="ml-100k"), args.seed, chosen)
        print("\n" + folds.to_string(float_format=lambda value: f"{value:.4f}"))
    print(f"\ntotal wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
