"""Training: tf.Variables, a cost function, tf.GradientTape and the Keras Adam optimizer.

The loop knows nothing about the model beyond "a cost of (X, W, b) and some data"; the cost
functions live in :mod:`cofi.models.cost`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cofi.data.matrices import DENSE_CELL_LIMIT, RatingTriples
from cofi.errors import TrainingError
from cofi.models.config import TrainConfig

logger = logging.getLogger("cofi")

ProgressCallback = Callable[[int, int, float], None]
"""Called as ``callback(iteration, iterations, loss)`` every ``log_every`` iterations."""


@dataclass
class TrainResult:
    """Learned parameters and how training went.

    Attributes:
        X: (n_movies, n_features) movie features.
        W: (n_users, n_features) user vectors (for ``svdpp``, with the implicit term added).
        b: (1, n_users) user biases.
        movie_bias: (n_movies,) movie biases (zeros for variants without them).
        loss_history: (iteration, loss) pairs, one every ``log_every`` iterations and the last
            (for mini-batches: (epoch, mean batch cost) pairs).
        validation_history: (iteration or epoch, RMSE) on the validation ratings, when
            ``validation_fraction > 0``.
        best_step: the iteration or epoch whose parameters were kept.
        method: "dense", "sparse" or "minibatch", as actually used.
        seconds: wall time of the optimization loop (graph tracing included).
    """

    X: np.ndarray
    W: np.ndarray
    b: np.ndarray
    movie_bias: np.ndarray | None = None
    loss_history: list[tuple[int, float]] = field(default_factory=list)
    validation_history: list[tuple[int, float]] = field(default_factory=list)
    best_step: int | None = None
    method: str = "sparse"
    seconds: float = 0.0


#: From this many ratings on, "auto" trains on mini-batches: a full-batch step costs about as
#: much as a whole mini-batch epoch, and mini-batches converge in far fewer epochs.
MINIBATCH_MIN_RATINGS = 1_000_000


def choose_method(
    config: TrainConfig, n_movies: int, n_users: int, n_ratings: int | None = None
) -> str:
    """Pick the formulation for ``config.method == "auto"``, by estimated time.

    The dense step touches every cell (a few elementwise passes plus the matmul, which grows
    with ``n_features``); the sparse step (XLA-compiled) gathers ``n_features`` floats per
    rating, after a fixed overhead. Fitted to timings on 2 CPU cores (ml-100k and
    ml-latest-small, 10 to 100 features), in nanoseconds per iteration:
    ``cells * (6.2 + 0.031 * n_features)`` against ``9e6 + n_ratings * 6.3 * n_features``.
    Above ``DENSE_CELL_LIMIT`` cells dense is never picked, and from ``MINIBATCH_MIN_RATINGS``
    ratings on mini-batches are.
    """
    if config.method != "auto":
        return config.method
    if n_ratings is not None and n_ratings >= MINIBATCH_MIN_RATINGS:
        return "minibatch"
    cells = n_movies * n_users
    if cells > DENSE_CELL_LIMIT:
        return "sparse"
    if n_ratings is None:
        return "dense"
    dense_cost = cells * (6.2 + 0.031 * config.n_features)
    sparse_cost = 9e6 + n_ratings * 6.3 * config.n_features
    return "dense" if dense_cost < sparse_cost else "sparse"


def initial_parameters(config: TrainConfig, n_movies: int, n_users: int) -> dict[str, np.ndarray]:
    """Seeded normal X and W (and implicit factors), zero biases, in the configured dtype."""
    from cofi.models.objectives import VARIANTS

    rng = np.random.default_rng(config.seed)
    values = {
        "X": rng.normal(0.0, config.init_scale, size=(n_movies, config.n_features)),
        "W": rng.normal(0.0, config.init_scale, size=(n_users, config.n_features)),
        "b": np.zeros((1, n_users)),
        "movie_bias": np.zeros(n_movies),
    }
    if "implicit" in VARIANTS[config.objective].variables:
        values["implicit"] = rng.normal(
            0.0, config.init_scale / 10, size=(n_movies, config.n_features)
        )
    return {name: value.astype(config.dtype) for name, value in values.items()}


def train(
    triples: RatingTriples,
    config: TrainConfig | None = None,
    *,
    callback: ProgressCallback | None = None,
    validation: RatingTriples | None = None,
    initial: dict[str, np.ndarray] | None = None,
) -> TrainResult:
    """Fit X, W and b to (normalized) ratings by minimizing the cofi cost with Adam.

    Args:
        triples: the observed ratings, usually mean-normalized (see
            :func:`cofi.data.matrices.normalize_triples`).
        config: hyperparameters; defaults to ``TrainConfig()``.
        callback: receives ``(iteration, iterations, loss)`` every ``config.log_every`` iterations.
        validation: ratings (centred like ``triples``) to stop early on; by default
            ``config.validation_fraction`` of ``triples`` is set aside (seeded).
        initial: starting values by variable name (``X``, ``W``, ``b``, ``movie_bias``), e.g.
            from :func:`cofi.models.warm.warm_start_parameters`; the rest start seeded as usual.

    Returns:
        The learned parameters as NumPy arrays, and the loss history.

    Raises:
        TrainingError: the loss became NaN or infinite; no parameters are returned.
    """
    import keras
    import tensorflow as tf

    from cofi.models import objectives as variants
    from cofi.models.objectives import VARIANTS

    config = config or TrainConfig()
    if len(triples) == 0:
        raise TrainingError("no ratings to train on")
    variant = VARIANTS[config.objective]
    if validation is None:
        triples, validation = split_validation(triples, config)
    method = choose_method(config, triples.n_movies, triples.n_users, len(triples))
    if method == "minibatch" and not variant.minibatch:
        raise TrainingError(
            f"objective {config.objective!r} trains full-batch only (its implicit term sums every "
            "rating of a user); use method='sparse' or another objective"
        )
    dtype = tf.float64 if config.dtype == "float64" else tf.float32
    initial = {**initial_parameters(config, triples.n_movies, triples.n_users), **(initial or {})}
    for name, value in initial.items():
        expected = _shape_of(name, config, triples)
        if value.shape != expected:
            raise TrainingError(f"initial {name} has shape {value.shape}, expected {expected}")
        initial[name] = value.astype(config.dtype, copy=False)
    params = {name: tf.Variable(initial[name], name=name) for name in variant.variables}
    variables = list(params.values())
    started = time.perf_counter()
    optimizer = keras.optimizers.Adam(learning_rate=_learning_rate(config, method, len(triples)))
    options = dict(
        lambda_=config.lambda_,
        regularization=config.regularization,
        unobserved_weight=config.unobserved_weight,
    )
    if "implicit" in params:
        # The implicit-feedback term reads which movies each user rated: all training ratings.
        implicit_movies = tf.constant(triples.movie_index)
        implicit_users = tf.constant(triples.user_index)

    def user_vectors():
        return variants.user_vectors_sparse(
            params, implicit_movies, implicit_users, triples.n_users
        )

    if method == "dense":
        Y_np, R_np = triples.to_dense(np.dtype(config.dtype))
        Y, R = tf.constant(Y_np), tf.constant(R_np)

        def cost() -> tf.Tensor:
            return variants.dense_cost(config.objective, params, Y, R, **options)

    elif method == "sparse":
        movie_index = tf.constant(triples.movie_index)
        user_index = tf.constant(triples.user_index)
        rating = tf.constant(triples.rating, dtype=dtype)

        def cost() -> tf.Tensor:
            users = user_vectors() if "implicit" in params else None
            return variants.sparse_cost(
                config.objective,
                params,
                movie_index,
                user_index,
                rating,
                weight=1.0,
                users=users,
                **options,
            )

    stopper = _EarlyStopping(validation, lambda: _current(params, user_vectors), params, config)
    if method == "minibatch":

        def batch_cost(movie_index, user_index, rating, weight):
            return variants.sparse_cost(
                config.objective, params, movie_index, user_index, rating, weight=weight, **options
            )

        step_batch = _batch_step(variables, optimizer, batch_cost)
        history = _minibatch_loop(triples, config, step_batch, dtype, callback, stopper)
    else:

        @tf.function(jit_compile=method == "sparse")
        def step() -> tf.Tensor:
            with tf.GradientTape() as tape:
                loss = cost()
            gradients = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(gradients, variables, strict=True))
            return loss

        history = _full_batch_loop(config, step, callback, stopper)
    stopper.restore()
    # The loss reported at step k is the cost before that step's update: check the final state too.
    final = _current(params, user_vectors)
    if not all(np.isfinite(array).all() for array in final.values()):
        raise TrainingError("training produced non-finite parameters; try a lower learning_rate")
    return TrainResult(
        final["X"],
        final["W"],
        final["b"],
        final["movie_bias"],
        loss_history=history,
        validation_history=stopper.history,
        best_step=stopper.best_step,
        method=method,
        seconds=time.perf_counter() - started,
    )


def _shape_of(name: str, config: TrainConfig, triples: RatingTriples) -> tuple[int, ...]:
    return {
        "X": (triples.n_movies, config.n_features),
        "W": (triples.n_users, config.n_features),
        "b": (1, triples.n_users),
        "movie_bias": (triples.n_movies,),
        "implicit": (triples.n_movies, config.n_features),
    }[name]


def _converged(history: list[tuple[int, float]], tolerance: float) -> bool:
    """Whether the cost fell, by less than ``tolerance`` (a share), between the last two checks.

    A rise is not convergence: Adam's first steps from a warm start can push the cost up.
    """
    if tolerance <= 0 or len(history) < 2:
        return False
    previous, latest = history[-2][1], history[-1][1]
    return 0 <= previous - latest < tolerance * abs(previous)


def _current(params: dict, user_vectors) -> dict[str, np.ndarray]:
    """The parameters a Model needs, as NumPy arrays: for svdpp W includes the implicit term."""
    X = params["X"].numpy()
    W = (user_vectors() if "implicit" in params else params["W"]).numpy()
    n_movies, n_users = X.shape[0], W.shape[0]
    b = params["b"].numpy() if "b" in params else np.zeros((1, n_users), X.dtype)
    movie_bias = (
        params["movie_bias"].numpy() if "movie_bias" in params else np.zeros(n_movies, X.dtype)
    )
    return {"X": X, "W": W, "b": b, "movie_bias": movie_bias}


def _learning_rate(config: TrainConfig, method: str, n_ratings: int):
    schedule = config.schedule
    if schedule == "auto":
        schedule = "cosine" if method == "minibatch" else "constant"
    if schedule == "constant":
        return config.learning_rate
    import keras

    if method == "minibatch":
        steps = config.epochs * -(-n_ratings // min(config.batch_size, n_ratings))
    else:
        steps = config.iterations
    return keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=steps, alpha=0.05
    )


def _check_finite(loss: float, where: str, config: TrainConfig) -> None:
    if not math.isfinite(loss):
        raise TrainingError(
            f"the loss became {loss} at {where} "
            f"(learning_rate={config.learning_rate}, lambda_={config.lambda_}); "
            "try a lower learning_rate or float64"
        )


def _full_batch_loop(
    config: TrainConfig, step, callback: ProgressCallback | None, stopper: _EarlyStopping
) -> list[tuple[int, float]]:
    history: list[tuple[int, float]] = []
    with _progress(config.iterations, "training") as bar:
        for iteration in range(1, config.iterations + 1):
            loss = float(step())
            _check_finite(loss, f"iteration {iteration} of {config.iterations}", config)
            bar.update(1)
            if iteration % config.log_every == 0 or iteration == config.iterations:
                history.append((iteration, loss))
                bar.set_postfix(cost=f"{loss:.4g}")
                logger.info("iteration %d/%d: cost %.4f", iteration, config.iterations, loss)
                if callback is not None:
                    callback(iteration, config.iterations, loss)
                if stopper.should_stop(iteration):
                    break
                if _converged(history, config.tolerance):
                    logger.info(
                        "iteration %d: converged (tolerance %g)", iteration, config.tolerance
                    )
                    break
    return history


def _batch_step(variables: list, optimizer, cost):
    """An Adam step on one mini-batch of a sparse cost, compiled by XLA.

    XLA fuses the gathers, products and segment sums: 1.6 to 2 times the ratings per second of
    the plain graph on 2 CPU cores (benchmarks/train_formulations.py).
    """
    import tensorflow as tf

    @tf.function(jit_compile=True, reduce_retracing=True)
    def step(movie_index, user_index, rating, weight):
        with tf.GradientTape() as tape:
            loss = cost(movie_index, user_index, rating, weight)
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return loss

    return step


def _minibatch_loop(
    triples: RatingTriples,
    config: TrainConfig,
    step,
    dtype,
    callback: ProgressCallback | None,
    stopper: _EarlyStopping,
) -> list[tuple[int, float]]:
    """Epochs of seeded, shuffled mini-batches.

    Each batch's error term is scaled by n / batch, so its cost is an unbiased estimate of the
    full cost J and lambda keeps its full-batch meaning. The ratings are shuffled once into
    ``ceil(n / batch_size)`` batches of near-equal size (two shapes at most, so XLA compiles
    twice at most); every epoch visits the batches in a fresh random order. A full reshuffle
    each epoch cost a third of the epoch's time and did not change the accuracy.
    """
    import tensorflow as tf

    n = len(triples)
    n_batches = -(-n // min(config.batch_size, n))
    # A stream of its own, so that the batch order never changes the initialization.
    rng = np.random.default_rng([config.seed, 1])
    order = rng.permutation(n)
    movie_index = triples.movie_index[order]
    user_index = triples.user_index[order]
    rating = triples.rating[order].astype(config.dtype)
    bounds = np.linspace(0, n, n_batches + 1).astype(np.int64)
    batches = [
        (
            tf.constant(movie_index[start:end]),
            tf.constant(user_index[start:end]),
            tf.constant(rating[start:end]),
            tf.constant(n / (end - start), dtype=dtype),
        )
        for start, end in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    del movie_index, user_index, rating
    history: list[tuple[int, float]] = []
    with _progress(config.epochs * n_batches, "training") as bar:
        for epoch in range(1, config.epochs + 1):
            losses = []
            for which in rng.permutation(n_batches):
                losses.append(step(*batches[which]))
                bar.update(1)
            loss = float(tf.add_n(losses)) / n_batches
            _check_finite(loss, f"epoch {epoch} of {config.epochs}", config)
            history.append((epoch, loss))
            bar.set_postfix(epoch=epoch, cost=f"{loss:.4g}")
            logger.info("epoch %d/%d: cost %.4f", epoch, config.epochs, loss)
            if callback is not None:
                callback(epoch, config.epochs, loss)
            if stopper.should_stop(epoch):
                break
            if _converged(history, config.tolerance):
                logger.info("epoch %d: converged (tolerance %g)", epoch, config.tolerance)
                break
    return history


def _progress(total: int, label: str):
    """A progress bar on an interactive terminal, nothing elsewhere (logs, CI, Prefect workers)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=label, unit="step", leave=False, disable=None, dynamic_ncols=True)


def split_validation(
    triples: RatingTriples, config: TrainConfig
) -> tuple[RatingTriples, RatingTriples | None]:
    """Set ``validation_fraction`` of the ratings aside, seeded, for early stopping."""
    n_validation = int(round(config.validation_fraction * len(triples)))
    if n_validation == 0:
        return triples, None
    if n_validation >= len(triples):
        raise TrainingError(
            f"validation_fraction {config.validation_fraction} leaves no ratings to train on"
        )
    is_validation = np.zeros(len(triples), dtype=bool)
    is_validation[
        np.random.default_rng([config.seed, 2]).choice(len(triples), n_validation, replace=False)
    ] = True

    def part(mask: np.ndarray) -> RatingTriples:
        return RatingTriples(
            triples.movie_index[mask],
            triples.user_index[mask],
            triples.rating[mask],
            triples.n_movies,
            triples.n_users,
        )

    return part(~is_validation), part(is_validation)


class _EarlyStopping:
    """Tracks the RMSE on validation ratings, keeps the best parameters, says when to stop.

    For ``objective="ranking"`` the validation targets are 1 (a rated pair), as in training.

    Args:
        validation: the ratings set aside, or None when early stopping is off.
        current: returns the model's current arrays (X, W, b, movie_bias) for scoring.
        params: the tf.Variables, snapshotted at the best check and restored at the end.
        config: patience and objective.
    """

    def __init__(
        self, validation: RatingTriples | None, current, params: dict, config: TrainConfig
    ) -> None:
        self.validation = validation
        self.current = current
        self.params = params
        self.patience = config.patience
        self.ranking = config.objective == "ranking"
        self.history: list[tuple[int, float]] = []
        self.best_step: int | None = None
        self.best_rmse = math.inf
        self.best_values: dict[str, np.ndarray] | None = None
        self.checks_since_best = 0

    def rmse(self, values: dict[str, np.ndarray]) -> float:
        movie, user = self.validation.movie_index, self.validation.user_index
        target = 1.0 if self.ranking else self.validation.rating
        error = (
            np.einsum("ij,ij->i", values["X"][movie], values["W"][user])
            + values["b"][0, user]
            + values["movie_bias"][movie]
            - target
        )
        return float(np.sqrt(np.mean(np.square(error, dtype=np.float64))))

    def should_stop(self, step: int) -> bool:
        if self.validation is None:
            return False
        rmse = self.rmse(self.current())
        self.history.append((step, rmse))
        if rmse < self.best_rmse:
            self.best_rmse, self.best_step, self.checks_since_best = rmse, step, 0
            self.best_values = {
                name: variable.numpy().copy() for name, variable in self.params.items()
            }
            logger.info("step %d: validation RMSE %.4f (best so far)", step, rmse)
            return False
        self.checks_since_best += 1
        logger.info(
            "step %d: validation RMSE %.4f (best %.4f at %d)",
            step,
            rmse,
            self.best_rmse,
            self.best_step,
        )
        return self.checks_since_best >= self.patience

    def restore(self) -> None:
        if self.best_values is not None:
            for name, value in self.best_values.items():
                self.params[name].assign(value)
