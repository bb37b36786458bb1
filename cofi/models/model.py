"""A trained model: prediction, top-N recommendation, and save/load without pickle."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cofi.data.matrices import IndexMap, RatingTriples
from cofi.data.schema import SCHEMA_VERSION, RatingScale
from cofi.errors import CofiError
from cofi.models import scoring
from cofi.models.config import TrainConfig
from cofi.models.foldin import fold_in
from cofi.models.sequence import SequenceGraph
from cofi.outputs.publish import UMASK, replace_dir

MODEL_FORMAT = "cofi-model"
MODEL_FORMAT_VERSION = 3
_ARRAYS_FILE = "arrays.npz"
_ARRAY_NAMES = (
    "X",
    "W",
    "b",
    "movie_offset",
    "movie_count",
    "movie_bias",
    "movie_ids",
    "user_ids",
    "seen_indptr",
    "seen_movies",
)
#: Arrays a model saves only when it holds a sequence-neighbour graph (format 3).
_SEQUENCE_ARRAYS = ("sequence_indptr", "sequence_indices", "sequence_values")
_META_FILE = "model.json"


@dataclass
class Model:
    """Learned movie features and user parameters, with what is needed to use them.

    Prediction for a known user j and a movie i with training ratings is
    ``x_i . w_j + b_j + movie_mean_i`` clipped to the rating scale. Fallbacks, never an exception:

    - unknown user, known movie: the movie's mean rating (a new user's w and b are 0);
    - known user, movie unknown or without training ratings: global mean + the user's bias b_j;
    - both unknown: the global mean.

    Attributes:
        X: (n_movies, n_features) movie features.
        W: (n_users, n_features) user parameters.
        b: (1, n_users) user biases.
        movie_offset: (n_movies,) what each movie's targets were centred by (the objective's
            :meth:`~cofi.models.objectives.base.Objective.centre`): its mean training rating for ``objective="lab"`` (0 when it has none), the global mean for ``biased``
            and ``svdpp``, 0 for ``ranking``.
        movie_count: (n_movies,) number of training ratings of each movie.
        movies: index map of movie ids to rows of X.
        users: index map of user ids to rows of W.
        seen_indptr: (n_users + 1,) CSR row pointers of the movies each user rated in training.
        seen_movies: (n_training_ratings,) movie rows, grouped by user.
        global_mean: mean of all training ratings.
        scale: the rating scale predictions are clipped to.
        config: the hyperparameters it was trained with.
        loss_history: (iteration, cost) pairs logged during training.
        movie_bias: (n_movies,) learned movie biases c (zeros when the objective has none).
        sequence: the sequence-neighbour graph that joins the model's scores in the top-N
            order with ``config.sequence_weight`` (:mod:`cofi.models.sequence`), or None.

    When its objective does not predict ratings (:attr:`predicts_ratings` false: ``ranking``,
    ``ials``) the model scores preference (1 = would rate), not a rating: :meth:`predict` and
    the ``predicted_rating`` of recommendations are those scores, unclipped.
    """

    X: np.ndarray
    W: np.ndarray
    b: np.ndarray
    movie_offset: np.ndarray
    movie_count: np.ndarray
    movies: IndexMap
    users: IndexMap
    seen_indptr: np.ndarray
    seen_movies: np.ndarray
    global_mean: float
    scale: RatingScale
    config: TrainConfig
    loss_history: list[tuple[int, float]] = field(default_factory=list)
    movie_bias: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    model_id: str = ""
    validation_history: list[tuple[int, float]] = field(default_factory=list)
    sequence: SequenceGraph | None = None

    def __post_init__(self) -> None:
        n_movies, n_users = len(self.movies), len(self.users)
        if self.movie_bias.size == 0 and n_movies > 0:  # not given: the objective has none
            self.movie_bias = np.zeros(n_movies, dtype=self.X.dtype)
        expected = {
            "X": (n_movies, self.config.n_features),
            "W": (n_users, self.config.n_features),
            "b": (1, n_users),
            "movie_offset": (n_movies,),
            "movie_count": (n_movies,),
            "movie_bias": (n_movies,),
            "seen_indptr": (n_users + 1,),
        }
        for name, shape in expected.items():
            actual = getattr(self, name).shape
            if actual != shape:
                raise ValueError(f"Model.{name} must have shape {shape}, got {actual}")
        if self.sequence is not None and (problem := self.sequence.check(n_movies)):
            raise ValueError(f"Model.sequence: {problem}")
        if not self.model_id:
            self.model_id = self._content_id()

    @property
    def n_movies(self) -> int:
        return len(self.movies)

    @property
    def n_users(self) -> int:
        return len(self.users)

    def _content_id(self, format_version: int = MODEL_FORMAT_VERSION) -> str:
        """A digest of everything the model predicts and recommends from.

        Format 1 hashed the learned arrays, the ids and the config; format 2 adds the counts,
        the seen-movies index, the global mean and the scale, so no saved number can change
        unnoticed; format 3 adds the sequence graph, when there is one.
        """
        digest = hashlib.sha256()
        arrays = [
            self.X,
            self.W,
            self.b,
            self.movie_offset,
            self.movie_bias,
            self.movies.ids,
            self.users.ids,
        ]
        if format_version >= 2:
            arrays += [self.movie_count, self.seen_indptr, self.seen_movies]
        if self.sequence is not None:
            arrays += [self.sequence.indptr, self.sequence.indices, self.sequence.values]
        for array in arrays:
            digest.update(np.ascontiguousarray(array).tobytes())
        # A sequence_weight of 0 is left out, so models saved before the field existed keep their id.
        unset = {"sequence_weight"} if self.config.sequence_weight == 0 else None
        digest.update(self.config.model_dump_json(exclude=unset).encode())
        if format_version >= 2:
            scale = (self.scale.minimum, self.scale.maximum, self.scale.step)
            digest.update(repr((float(self.global_mean), scale)).encode())
        return digest.hexdigest()[:16]

    # Prediction ------------------------------------------------------------------------------

    def predict(self, user_ids, movie_ids) -> np.ndarray:
        """Predicted ratings for pairs ``(user_ids[k], movie_ids[k])``, on the rating scale.

        Args:
            user_ids: (n,) external user ids.
            movie_ids: (n,) external movie ids.

        Returns:
            (n,) float32 predictions; unknown ids get the fallbacks in the class docstring.
        """
        user_ids = np.asarray(user_ids).reshape(-1)
        movie_ids = np.asarray(movie_ids).reshape(-1)
        if user_ids.shape != movie_ids.shape:
            raise ValueError(
                f"user_ids {user_ids.shape} and movie_ids {movie_ids.shape} must have the same length"
            )
        return self.predict_positions(
            self.users.position_of(user_ids), self.movies.position_of(movie_ids)
        )

    def predict_positions(self, user_index: np.ndarray, movie_index: np.ndarray) -> np.ndarray:
        """Like :meth:`predict`, with matrix positions; -1 marks an unknown user or movie."""
        known_user = user_index >= 0
        known_movie = movie_index >= 0
        movie_safe = np.where(known_movie, movie_index, 0)
        known_movie &= self.movie_count[movie_safe] > 0
        user_safe = np.where(known_user, user_index, 0)
        both = known_user & known_movie
        prediction = np.full(user_index.shape, self.global_mean, dtype=np.float64)
        movie_term = self.movie_offset + self.movie_bias
        prediction[both] = (
            np.einsum(
                "ij,ij->i", self.X[movie_safe[both]], self.W[user_safe[both]], dtype=np.float64
            )
            + self.b[0, user_safe[both]]
            + movie_term[movie_safe[both]]
        )
        only_movie = known_movie & ~known_user
        prediction[only_movie] = movie_term[movie_safe[only_movie]]
        only_user = known_user & ~known_movie
        prediction[only_user] += self.b[0, user_safe[only_user]]
        return self._on_scale(prediction).astype(np.float32)

    @property
    def predicts_ratings(self) -> bool:
        """Whether predictions are ratings on the scale (else preference scores, unclipped)."""
        from cofi.models.objectives import objective_class

        return objective_class(self.config.objective).predicts_ratings

    def _on_scale(self, values: np.ndarray) -> np.ndarray:
        if not self.predicts_ratings:
            return values
        return np.clip(values, self.scale.minimum, self.scale.maximum)

    # Recommendation --------------------------------------------------------------------------

    def iter_recommendations(
        self,
        user_ids=None,
        n: int = 10,
        *,
        min_ratings: int = 1,
        min_user_ratings: int = 0,
        block_users: int | None = None,
    ) -> Iterator[pd.DataFrame]:
        """Top-``n`` unseen movies for users, one DataFrame per block of users.

        See :func:`cofi.models.scoring.iter_recommendations`.
        """
        return scoring.iter_recommendations(
            self,
            user_ids,
            n,
            min_ratings=min_ratings,
            min_user_ratings=min_user_ratings,
            block_users=block_users,
        )

    def popular_movies(self, n: int = 10, min_ratings: int = 1) -> np.ndarray:
        """The cold-start list (:func:`cofi.models.scoring.popular_movies`): movie positions."""
        return scoring.popular_movies(self, n, min_ratings)

    def recommend(
        self, user_ids=None, n: int = 10, *, min_ratings: int = 1, min_user_ratings: int = 0
    ) -> pd.DataFrame:
        """Top-``n`` movies each user has not rated in training (all users by default).

        Candidates are the movies with at least ``min_ratings`` training ratings. Users with
        fewer than ``min_user_ratings`` ratings get the cold-start fallback (see
        :meth:`iter_recommendations`).

        Returns:
            A DataFrame with ``user_id``, ``rank`` (1..n), ``movie_id``, ``predicted_rating``,
            ``fallback``, in the order of ``user_ids`` (by id for all users), then by rank.
        """
        blocks = list(
            self.iter_recommendations(
                user_ids, n, min_ratings=min_ratings, min_user_ratings=min_user_ratings
            )
        )
        if not blocks:
            return pd.DataFrame(
                {
                    "user_id": np.array([], np.int32),
                    "rank": np.array([], np.int16),
                    "movie_id": np.array([], np.int32),
                    "predicted_rating": np.array([], np.float32),
                    "fallback": np.array([], bool),
                }
            )
        return pd.concat(blocks, ignore_index=True)

    def with_users(
        self, new_users: IndexMap, W_new: np.ndarray, b_new: np.ndarray, rated: RatingTriples
    ) -> Model:
        """This model with the rows of ``new_users`` added to W, b and the seen-movies index.

        Args:
            new_users: ids the model does not hold.
            W_new: (len(new_users), n_features) their vectors.
            b_new: (1, len(new_users)) their biases.
            rated: their ratings, ``user_index`` into ``new_users``.
        """
        users = IndexMap.from_ids(np.concatenate([self.users.ids, new_users.ids]))
        old_rows = users.position_of(self.users.ids)
        new_rows = users.position_of(new_users.ids)
        W = np.empty((len(users), self.W.shape[1]), dtype=self.W.dtype)
        b = np.empty((1, len(users)), dtype=self.b.dtype)
        W[old_rows], W[new_rows] = self.W, W_new
        b[0, old_rows], b[0, new_rows] = self.b[0], b_new[0]
        # The seen-movies CSR, rebuilt over the merged user order.
        old_user_of = np.repeat(old_rows, np.diff(self.seen_indptr))
        user_of = np.concatenate([old_user_of, new_rows[rated.user_index]])
        movie_of = np.concatenate([self.seen_movies, rated.movie_index.astype(np.int32)])
        order = np.argsort(user_of, kind="stable")
        indptr = np.zeros(len(users) + 1, dtype=np.int64)
        np.cumsum(np.bincount(user_of, minlength=len(users)), out=indptr[1:])
        return replace(
            self,
            W=W,
            b=b,
            users=users,
            seen_indptr=indptr,
            seen_movies=movie_of[order],
            model_id="",
        )

    def fold_in(
        self,
        ratings: pd.DataFrame,
        *,
        iterations: int = 300,
        learning_rate: float = 0.1,
        tolerance: float = 1e-7,
        strict: bool = False,
    ) -> Model:
        """This model plus new users fitted from ``ratings``, movies held fixed.

        Ratings of movies the model does not know are set aside (logged), or refused with
        ``strict=True``. See :func:`cofi.models.foldin.fold_in` (which also reports steps, cost,
        time and the ratings set aside).
        """
        return fold_in(
            self,
            ratings,
            iterations=iterations,
            learning_rate=learning_rate,
            tolerance=tolerance,
            strict=strict,
        ).model

    # Persistence -----------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model to folder ``path`` (NumPy ``.npz`` + JSON; no pickle), atomically.

        An existing model at ``path`` is replaced only once the new one is completely written.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        staging.chmod(0o777 & ~UMASK)
        try:
            arrays: dict[str, Any] = {
                "X": self.X,
                "W": self.W,
                "b": self.b,
                "movie_offset": self.movie_offset,
                "movie_count": self.movie_count,
                "movie_bias": self.movie_bias,
                "movie_ids": self.movies.ids,
                "user_ids": self.users.ids,
                "seen_indptr": self.seen_indptr,
                "seen_movies": self.seen_movies,
            }
            if self.sequence is not None:
                arrays["sequence_indptr"] = self.sequence.indptr
                arrays["sequence_indices"] = self.sequence.indices
                arrays["sequence_values"] = self.sequence.values
            np.savez(staging / _ARRAYS_FILE, **arrays)
            meta = {
                "format": MODEL_FORMAT,
                "format_version": MODEL_FORMAT_VERSION,
                "schema_version": SCHEMA_VERSION,
                "model_id": self.model_id,
                "global_mean": self.global_mean,
                "scale": {
                    "minimum": self.scale.minimum,
                    "maximum": self.scale.maximum,
                    "step": self.scale.step,
                },
                "config": self.config.model_dump(),
                "loss_history": self.loss_history,
                "validation_history": self.validation_history,
                "n_movies": self.n_movies,
                "n_users": self.n_users,
            }
            (staging / _META_FILE).write_text(json.dumps(meta, indent=2))
            replace_dir(staging, path)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return path


def load_model(path: str | os.PathLike) -> Model:
    """Read a model written by :meth:`Model.save`.

    Raises:
        CofiError: the folder is missing or does not hold a cofi model of a known version.
    """
    path = Path(path)
    meta_path = path / _META_FILE
    if not meta_path.is_file():
        raise CofiError(f"{path} does not hold a cofi model (no {_META_FILE})")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as error:
        raise CofiError(f"{meta_path}: not valid JSON ({error})") from None
    version = meta.get("format_version")
    if meta.get("format") != MODEL_FORMAT or version not in (1, 2, MODEL_FORMAT_VERSION):
        raise CofiError(
            f"{meta_path}: unsupported model format {meta.get('format')!r} v{meta.get('format_version')}"
        )
    try:
        with np.load(path / _ARRAYS_FILE, allow_pickle=False) as arrays:
            data = {name: arrays[name] for name in arrays.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise CofiError(f"{path / _ARRAYS_FILE}: cannot be read ({error})") from None
    if version == 1 and "movie_mean" in data:  # v1 named the offset after one objective's centring
        data["movie_offset"] = data.pop("movie_mean")
    missing = sorted(set(_ARRAY_NAMES) - set(data))
    if missing:
        raise CofiError(f"{path / _ARRAYS_FILE}: lacks array(s) {missing}")
    _check_arrays(data, path / _ARRAYS_FILE)
    sequence = _sequence_graph(data, path / _ARRAYS_FILE)
    if not meta.get("model_id"):
        raise CofiError(f"{meta_path}: lacks the model_id its contents are checked against")
    try:
        model = Model(
            X=data["X"],
            W=data["W"],
            b=data["b"],
            movie_offset=data["movie_offset"],
            movie_count=data["movie_count"],
            movie_bias=data["movie_bias"],
            movies=IndexMap(data["movie_ids"]),
            users=IndexMap(data["user_ids"]),
            seen_indptr=data["seen_indptr"],
            seen_movies=data["seen_movies"],
            global_mean=float(meta["global_mean"]),
            scale=RatingScale(**meta["scale"]),
            config=TrainConfig(**meta["config"]),
            loss_history=[tuple(pair) for pair in meta.get("loss_history", [])],
            validation_history=[tuple(pair) for pair in meta.get("validation_history", [])],
            model_id=str(meta["model_id"]),
            sequence=sequence,
        )
    except KeyError as error:
        raise CofiError(f"{meta_path}: lacks {error}") from None
    except (TypeError, ValueError) as error:  # pydantic's ValidationError is a ValueError
        reason = str(error).splitlines()[0][:300]
        raise CofiError(f"{path}: not a valid cofi model ({reason})") from None
    if not np.isfinite(model.global_mean):
        raise CofiError(f"{meta_path}: global_mean is {model.global_mean}")
    actual = model._content_id(version)
    if actual != model.model_id:
        raise CofiError(
            f"{path}: its arrays and settings hash to {actual}, not to the model_id "
            f"{model.model_id} it was saved with: the files were changed or damaged"
        )
    return model


#: The arrays of a saved model that hold learned numbers, and those that hold counts or indices.
_FLOAT_ARRAYS = ("X", "W", "b", "movie_offset", "movie_bias")
_INDEX_ARRAYS = ("movie_count", "movie_ids", "user_ids", "seen_indptr", "seen_movies")


def _check_arrays(data: dict[str, np.ndarray], where: Path) -> None:
    """Raise :class:`CofiError` unless a saved model's arrays have usable dtypes and values."""
    for name in _FLOAT_ARRAYS:
        array = data[name]
        if not np.issubdtype(array.dtype, np.floating):
            raise CofiError(f"{where}: {name} has dtype {array.dtype}, expected floating point")
        bad = ~np.isfinite(array)
        if bad.any():
            raise CofiError(f"{where}: {name} holds {int(bad.sum()):,} NaN or infinite value(s)")
    for name in _INDEX_ARRAYS:
        array = data[name]
        if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
            raise CofiError(
                f"{where}: {name} must be a 1-D integer array, got {array.dtype} {array.shape}"
            )
    for name in ("movie_ids", "user_ids"):
        if (np.diff(data[name].astype(np.int64)) <= 0).any():
            raise CofiError(
                f"{where}: {name} must be strictly increasing (an index of distinct ids)"
            )
    indptr, seen, n_movies = data["seen_indptr"], data["seen_movies"], len(data["movie_ids"])
    if (data["movie_count"] < 0).any():
        raise CofiError(f"{where}: movie_count holds negative counts")
    if len(indptr) == 0 or indptr[0] != 0 or indptr[-1] != len(seen) or (np.diff(indptr) < 0).any():
        raise CofiError(f"{where}: seen_indptr is not a CSR index over seen_movies")
    if len(seen) and (seen.min() < 0 or seen.max() >= n_movies):
        raise CofiError(f"{where}: seen_movies names movie rows outside [0, {n_movies})")


def _sequence_graph(data: dict[str, np.ndarray], where: Path) -> SequenceGraph | None:
    """The saved sequence graph, checked, or None when the model has none."""
    present = [name for name in _SEQUENCE_ARRAYS if name in data]
    if not present:
        return None
    if len(present) < len(_SEQUENCE_ARRAYS):
        missing = sorted(set(_SEQUENCE_ARRAYS) - set(present))
        raise CofiError(f"{where}: lacks array(s) {missing}")
    indptr, indices, values = (data[name] for name in _SEQUENCE_ARRAYS)
    for name, array in zip(_SEQUENCE_ARRAYS[:2], (indptr, indices), strict=True):
        if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
            raise CofiError(f"{where}: {name} must be a 1-D integer array, got {array.dtype}")
    if values.ndim != 1 or not np.issubdtype(values.dtype, np.floating):
        raise CofiError(f"{where}: sequence_values must be a 1-D float array, got {values.dtype}")
    graph = SequenceGraph(indptr.astype(np.int64), indices.astype(np.int32), values)
    problem = graph.check(len(data["movie_ids"]))
    if problem:
        raise CofiError(f"{where}: {problem}")
    return graph


def seen_csr(triples: RatingTriples) -> tuple[np.ndarray, np.ndarray]:
    """The movies each user rated, as CSR ``(indptr: (n_users + 1,), movies: (n_ratings,))``."""
    order = np.argsort(triples.user_index, kind="stable")
    counts = np.bincount(triples.user_index, minlength=triples.n_users)
    indptr = np.zeros(triples.n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return indptr, triples.movie_index[order].astype(np.int32)
