"""The one trainer: a compiled ``tf.GradientTape`` + ``keras.optimizers.Adam`` step, and one loop.

The trainer knows nothing about models beyond "a cost of some variables over batches of data":
objectives (:mod:`cofi.models.objectives`) supply the cost. Full batch is one batch per epoch,
mini-batches are many, fold-in is the same loop with only the new users' rows trainable.
Stopping, logging and progress are callbacks (:class:`Callback`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from cofi.data.matrices import DENSE_CELL_LIMIT, RatingTriples
from cofi.errors import TrainingError
from cofi.models.config import MINIBATCH_MIN_RATINGS, TrainConfig
from cofi.models.objectives import objective_for

logger = logging.getLogger("cofi")

ProgressCallback = Callable[[int, int, float], None]
"""Called as ``callback(step, steps, loss)`` at every check (see :class:`Report`)."""


# Callbacks ------------------------------------------------------------------------------------


class Callback:
    """Hooks of the training loop. A check is every ``check_every`` epochs and the last one."""

    def on_steps(self, count: int) -> None:
        """``count`` optimizer steps were taken."""

    def on_check(self, epoch: int, loss: float) -> bool:
        """At a check, with the epoch's mean cost; return True to stop."""
        return False

    def on_end(self) -> None:
        """After the last step, stopped early or not."""


class Report(Callback):
    """Keeps the (epoch, cost) history, logs it and passes it to a user's callback."""

    def __init__(self, total: int, label: str, callback: ProgressCallback | None = None) -> None:
        self.total, self.label, self.callback = total, label, callback
        self.history: list[tuple[int, float]] = []

    def on_check(self, epoch: int, loss: float) -> bool:
        self.history.append((epoch, loss))
        logger.info("%s %d/%d: cost %.4f", self.label, epoch, self.total, loss)
        if self.callback is not None:
            self.callback(epoch, self.total, loss)
        return False


class ProgressBar(Callback):
    """A progress bar on an interactive terminal, nothing elsewhere (logs, CI, Prefect workers)."""

    def __init__(self, total_steps: int) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=total_steps, desc="training", unit="step", leave=False, disable=None,
            dynamic_ncols=True,
        )  # fmt: skip

    def on_steps(self, count: int) -> None:
        self.bar.update(count)

    def on_check(self, epoch: int, loss: float) -> bool:
        self.bar.set_postfix(cost=f"{loss:.4g}")
        return False

    def on_end(self) -> None:
        self.bar.close()


class Tolerance(Callback):
    """Stops once the cost fell, by less than ``tolerance`` (a share), since the last check.

    A rise is not convergence: Adam's first steps from a warm start can push the cost up.
    """

    def __init__(self, tolerance: float) -> None:
        self.tolerance = tolerance
        self.previous = math.inf

    def on_check(self, epoch: int, loss: float) -> bool:
        previous, self.previous = self.previous, loss
        converged = math.isfinite(previous) and 0 <= previous - loss < self.tolerance * abs(
            previous
        )
        if converged:
            logger.info("step %d: converged (tolerance %g)", epoch, self.tolerance)
        return converged


class EarlyStopping(Callback):
    """Tracks the RMSE on validation ratings, keeps the best parameters, says when to stop.

    Args:
        validation: the ratings set aside, centred like the training targets.
        export: returns the model's current arrays (X, W, b, movie_bias).
        variables: the tf.Variables, snapshotted at the best check and restored at the end.
        patience: checks without improvement before stopping.
    """

    def __init__(
        self,
        validation: RatingTriples,
        export: Callable[[], dict[str, np.ndarray]],
        variables: dict,
        patience: int,
    ) -> None:
        self.validation, self.export, self.variables = validation, export, variables
        self.patience = patience
        self.history: list[tuple[int, float]] = []
        self.best_step: int | None = None
        self.best_rmse = math.inf
        self.best_values: dict[str, np.ndarray] | None = None
        self.checks_since_best = 0

    def on_check(self, epoch: int, loss: float) -> bool:
        rmse = centred_rmse(self.export(), self.validation)
        self.history.append((epoch, rmse))
        if rmse < self.best_rmse:
            self.best_rmse, self.best_step, self.checks_since_best = rmse, epoch, 0
            self.best_values = {name: v.numpy().copy() for name, v in self.variables.items()}
            logger.info("step %d: validation RMSE %.4f (best so far)", epoch, rmse)
            return False
        self.checks_since_best += 1
        logger.info(
            "step %d: validation RMSE %.4f (best %.4f at %s)",
            epoch, rmse, self.best_rmse, self.best_step,
        )  # fmt: skip
        return self.checks_since_best >= self.patience

    def on_end(self) -> None:
        if self.best_values is not None:
            for name, value in self.best_values.items():
                self.variables[name].assign(value)


class Monitor(Callback):
    """Records the RMSE on held-out ratings at every check, changing nothing: a learning curve's
    held-out line (unlike :class:`EarlyStopping`, it neither stops nor restores).

    Args:
        monitored: the held-out ratings, centred like the training targets.
        export: returns the model's current arrays (X, W, b, movie_bias).
    """

    def __init__(
        self, monitored: RatingTriples, export: Callable[[], dict[str, np.ndarray]]
    ) -> None:
        self.monitored, self.export = monitored, export
        self.history: list[tuple[int, float]] = []

    def on_check(self, epoch: int, loss: float) -> bool:
        self.history.append((epoch, centred_rmse(self.export(), self.monitored)))
        return False


def centred_rmse(values: dict[str, np.ndarray], triples: RatingTriples) -> float:
    """The RMSE of the arrays ``values`` (X, W, b, movie_bias) on centred ``triples``.

    Computed :data:`RMSE_CHUNK` ratings at a time, so that the gathered rows stay in cache: on
    2.5M ratings at 64 features, 0.3 s instead of 2.6-3.5 s at once (once per check).
    """
    if len(triples) == 0:
        return math.nan
    X, W, b, movie_bias = values["X"], values["W"], values["b"][0], values["movie_bias"]
    squares = 0.0
    for start in range(0, len(triples), RMSE_CHUNK):
        movie = triples.movie_index[start : start + RMSE_CHUNK]
        user = triples.user_index[start : start + RMSE_CHUNK]
        error = (
            np.einsum("ij,ij->i", X[movie], W[user])
            + b[user]
            + movie_bias[movie]
            - triples.rating[start : start + RMSE_CHUNK]
        ).astype(np.float64)
        squares += float(np.dot(error, error))
    return math.sqrt(squares / len(triples))


#: Ratings per chunk of :func:`centred_rmse`.
RMSE_CHUNK = 1 << 15


# The step and the loop ------------------------------------------------------------------------


def optimize(
    cost: Callable,
    variables: Sequence,
    optimizer,
    batches: Sequence[tuple],
    *,
    epochs: int,
    check_every: int = 1,
    callbacks: Sequence[Callback] = (),
    jit_compile: bool = True,
    rng: np.random.Generator | None = None,
    where: str = "epoch",
    hint: str = "try a lower learning_rate or float64",
) -> int:
    """Minimize ``cost(*batch)`` over ``variables`` with ``optimizer``: the one training loop.

    Each epoch takes one step per batch, in a seeded random order; at every ``check_every``-th
    epoch and the last, the callbacks see the epoch's mean cost and may stop the loop.

    Args:
        cost: a function of one batch's tensors returning the scalar cost.
        variables: the tf.Variables to train (others the cost reads stay fixed).
        optimizer: a Keras optimizer (Adam).
        batches: tuples of tensors, the arguments of ``cost``.
        epochs: passes over ``batches``.
        jit_compile: compile the step with XLA (it fuses the gathers, products and segment
            sums: 1.6 to 2 times the ratings per second on 2 CPU cores,
            benchmarks/train_formulations.py).
        rng: draws the batch order (default: seeded with 0).
        where: what an epoch is called in a divergence error ("iteration" for full batch).
        hint: what the divergence error suggests.

    Returns:
        The number of epochs run.

    Raises:
        TrainingError: the cost became NaN or infinite.
    """
    import tensorflow as tf

    # Costs hold no control flow on tensors, so AutoGraph (a second or more of tracing at
    # scale) has nothing to convert.
    @tf.function(jit_compile=jit_compile, reduce_retracing=True, autograph=False)
    def step(*batch):
        with tf.GradientTape() as tape:
            loss = cost(*batch)
        # A gathered variable's gradient comes as IndexedSlices, which Keras' Adam densifies
        # once per moment; densified here once, a mini-batch step took 26 ms instead of 38 (5M
        # ratings' shape, batches of 62,500; the same sums, in another order).
        gradients = [
            None if gradient is None else tf.convert_to_tensor(gradient)
            for gradient in tape.gradient(loss, variables)
        ]
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return loss

    rng = rng or np.random.default_rng(0)
    epoch = 0
    try:
        for epoch in range(1, epochs + 1):
            order = rng.permutation(len(batches)) if len(batches) > 1 else range(1)
            losses = [step(*batches[which]) for which in order]
            for callback in callbacks:
                callback.on_steps(len(losses))
            loss = float(tf.add_n(losses)) / len(losses)
            if not math.isfinite(loss):
                raise TrainingError(
                    f"the loss became {loss} at {where} {epoch} of {epochs}; {hint}"
                )
            if epoch % check_every == 0 or epoch == epochs:
                # every callback sees the check, even when an earlier one asks to stop
                stops = [callback.on_check(epoch, loss) for callback in callbacks]
                if any(stops):
                    break
    finally:
        for callback in callbacks:
            callback.on_end()
    return epoch


# Training a model -----------------------------------------------------------------------------


@dataclass
class TrainResult:
    """Learned parameters and how training went.

    Attributes:
        X: (n_movies, n_features) movie features.
        W: (n_users, n_features) user vectors (for ``svdpp``, with the implicit term added).
        b: (1, n_users) user biases (zeros for objectives without them).
        movie_bias: (n_movies,) movie biases (zeros for objectives without them).
        loss_history: (iteration, cost) pairs, one every ``log_every`` iterations and the last
            (for mini-batches: (epoch, mean batch cost) pairs).
        validation_history: (iteration or epoch, RMSE) on the validation ratings, when
            ``validation_fraction > 0``, else on the ``monitor`` ratings when given.
        best_step: the iteration or epoch whose parameters were kept.
        method: "dense", "sparse" or "minibatch", as actually used.
        seconds: wall time of the optimization loop (graph tracing included).
        steps: iterations or epochs run.
    """

    X: np.ndarray
    W: np.ndarray
    b: np.ndarray
    movie_bias: np.ndarray
    loss_history: list[tuple[int, float]] = field(default_factory=list)
    validation_history: list[tuple[int, float]] = field(default_factory=list)
    best_step: int | None = None
    method: str = "sparse"
    seconds: float = 0.0
    steps: int = 0


def choose_method(
    config: TrainConfig,
    n_movies: int,
    n_users: int,
    n_ratings: int | None = None,
    *,
    dense_form: bool = True,
) -> str:
    """Pick the formulation for ``config.method == "auto"``, by estimated time.

    The dense step touches every cell (a few elementwise passes plus the matmul, which grows
    with ``n_features``); the sparse step (XLA-compiled) gathers ``n_features`` floats per
    rating, after a fixed overhead. Fitted to timings on 2 CPU cores (ml-100k and
    ml-latest-small, 10 to 100 features), in nanoseconds per iteration:
    ``cells * (6.2 + 0.031 * n_features)`` against ``9e6 + n_ratings * 6.3 * n_features``.
    Above ``DENSE_CELL_LIMIT`` cells dense is never picked, nor for an objective without a
    dense form of its own (``dense_form``, :attr:`Objective.dense_form
    <cofi.models.objectives.base.Objective.dense_form>`), and from ``MINIBATCH_MIN_RATINGS``
    ratings on mini-batches are.
    """
    if config.method != "auto":
        return config.method
    if n_ratings is not None and n_ratings >= MINIBATCH_MIN_RATINGS:
        return "minibatch"
    cells = n_movies * n_users
    if cells > DENSE_CELL_LIMIT or not dense_form:
        return "sparse"
    if n_ratings is None:
        return "dense"
    dense_cost = cells * (6.2 + 0.031 * config.n_features)
    sparse_cost = 9e6 + n_ratings * 6.3 * config.n_features
    return "dense" if dense_cost < sparse_cost else "sparse"


def train(
    triples: RatingTriples,
    config: TrainConfig | None = None,
    *,
    callback: ProgressCallback | None = None,
    validation: RatingTriples | None = None,
    initial: dict[str, np.ndarray] | None = None,
    monitor: RatingTriples | None = None,
) -> TrainResult:
    """Fit the objective ``config.objective`` to centred targets by minimizing its cost with Adam.

    Args:
        triples: the training targets, centred as the objective asks
            (:meth:`~cofi.models.objectives.base.Objective.centre`).
        config: hyperparameters; defaults to ``TrainConfig()``.
        callback: receives ``(iteration, iterations, loss)`` every ``config.log_every``
            iterations (every epoch for mini-batches).
        validation: targets centred like ``triples`` to stop early on; by default
            ``config.validation_fraction`` of ``triples`` is set aside (seeded).
        initial: starting values by variable name, e.g. from
            :func:`cofi.models.warm.warm_start_parameters`; the rest start seeded as usual.
        monitor: held-out targets, centred like ``triples``, whose RMSE is recorded at every
            check (``validation_history``) without changing training; ignored when stopping
            early on ``validation``.

    Returns:
        The learned parameters as NumPy arrays, and the loss history.

    Raises:
        TrainingError: no ratings, a bad initial shape, an objective that cannot train on
            mini-batches asked to, or the loss became NaN or infinite.
    """
    import keras
    import tensorflow as tf

    config = config or TrainConfig()
    if len(triples) == 0:
        raise TrainingError("no ratings to train on")
    objective = objective_for(config)
    if validation is None:
        triples, validation = split_validation(triples, config)
    method = choose_method(
        config, triples.n_movies, triples.n_users, len(triples), dense_form=objective.dense_form
    )
    if method == "minibatch" and not objective.minibatch:
        raise TrainingError(
            f"objective {config.objective!r} trains full-batch only (its cost sums every rating "
            "of a user); use method='sparse' or another objective"
        )
    values = objective.initial_values(triples.n_movies, triples.n_users)
    for name, value in (initial or {}).items():
        if name not in values:
            continue
        if value.shape != values[name].shape:
            raise TrainingError(
                f"initial {name} has shape {value.shape}, expected {values[name].shape}"
            )
        values[name] = value.astype(config.dtype, copy=False)
    params = {name: tf.Variable(tf.constant(value), name=name) for name, value in values.items()}
    objective.prepare(triples)
    started = time.perf_counter()
    dtype = tf.as_dtype(config.dtype)
    # A stream of its own, so that the batch order never changes the initialization.
    order_rng = np.random.default_rng([config.seed, 1])
    if method == "dense":
        Y, R = (tf.constant(matrix) for matrix in triples.to_dense(np.dtype(config.dtype)))
        batches = [(Y, R)]

        def cost(*batch):
            return objective.dense_cost(params, *batch)

    else:
        batches = _batches(triples, config, method, dtype, order_rng)

        def cost(*batch):
            return objective.cost(params, objective_batch(*batch))

    full_batch = method != "minibatch"
    epochs = config.iterations if full_batch else config.epochs
    steps_per_epoch = len(batches)
    report = Report(epochs, "iteration" if full_batch else "epoch", callback)
    callbacks: list[Callback] = [report, ProgressBar(epochs * steps_per_epoch)]
    stopper = None
    if validation is not None:
        stopper = EarlyStopping(
            validation,
            lambda: objective.export(params),
            params,
            config.patience,
        )
        callbacks.append(stopper)
    watcher = None
    if monitor is not None and len(monitor) and stopper is None:
        watcher = Monitor(monitor, lambda: objective.export(params))
        callbacks.append(watcher)
    if config.tolerance > 0:
        callbacks.append(Tolerance(config.tolerance))
    optimizer = keras.optimizers.Adam(
        # Keras accepts a schedule here; its annotation says float only
        learning_rate=_learning_rate(config, epochs * steps_per_epoch, method)  # pyright: ignore[reportArgumentType]
    )
    steps = optimize(
        cost,
        list(params.values()),
        optimizer,
        batches,
        epochs=epochs,
        check_every=config.log_every if full_batch else 1,
        callbacks=callbacks,
        jit_compile=method != "dense",
        rng=order_rng,
        where="iteration" if full_batch else "epoch",
        hint=(
            f"learning_rate={config.learning_rate}, lambda_={config.lambda_}; "
            "try a lower learning_rate or float64"
        ),
    )
    # The loss reported at a step is the cost before its update: check the final state too.
    final = objective.export(params)
    if not all(np.isfinite(array).all() for array in final.values()):
        raise TrainingError("training produced non-finite parameters; try a lower learning_rate")
    return TrainResult(
        final["X"],
        final["W"],
        final["b"],
        final["movie_bias"],
        loss_history=report.history,
        validation_history=stopper.history if stopper else watcher.history if watcher else [],
        best_step=stopper.best_step if stopper else None,
        method=method,
        seconds=time.perf_counter() - started,
        steps=steps,
    )


def objective_batch(movie_index, user_index, target, weight):
    """The :class:`~cofi.models.objectives.base.Batch` of one step's tensors."""
    from cofi.models.objectives.base import Batch

    return Batch(movie_index, user_index, target, weight)


def _batches(
    triples: RatingTriples, config: TrainConfig, method: str, dtype, rng: np.random.Generator
) -> list[tuple]:
    """The ratings as one batch (full batch) or seeded, shuffled mini-batches.

    Each batch's weight is n / batch, so its cost is an unbiased estimate of the full cost J and
    lambda keeps its full-batch meaning. The ratings are shuffled once into
    ``ceil(n / batch_size)`` batches of near-equal size (two shapes at most, so XLA compiles
    twice at most); every epoch visits them in a fresh random order. A full reshuffle each
    epoch cost a third of the epoch's time and did not change the accuracy. Within a batch the
    ratings are sorted by user (a batch's cost is a sum, so its order changes only rounding):
    the user rows are then gathered, and their gradients summed, in memory order, about three
    times faster than at random (benchmarks/floor.py).
    """
    import tensorflow as tf

    n = len(triples)
    n_batches = 1 if method != "minibatch" else -(-n // min(config.batch_size, n))
    bounds = np.linspace(0, n, n_batches + 1).astype(np.int64)
    if n_batches == 1:
        order = np.arange(n)
    else:
        # batch k holds the ratings at positions bounds[k]:bounds[k + 1] of a permutation; two
        # stable sorts (the second a radix sort of small batch numbers) order them by user
        batch_of = np.empty(n, dtype=np.uint16 if n_batches < 2**16 else np.int64)
        batch_of[rng.permutation(n)] = np.repeat(np.arange(n_batches), np.diff(bounds))
        by_user = np.argsort(triples.user_index, kind="stable")
        order = by_user[np.argsort(batch_of[by_user], kind="stable")]
    movie_index = triples.movie_index[order]
    user_index = triples.user_index[order]
    rating = triples.rating[order].astype(config.dtype)
    return [
        (
            tf.constant(movie_index[start:end]),
            tf.constant(user_index[start:end]),
            tf.constant(rating[start:end]),
            tf.constant(n / (end - start), dtype=dtype),
        )
        for start, end in zip(bounds[:-1], bounds[1:], strict=True)
    ]


def _learning_rate(config: TrainConfig, total_steps: int, method: str):
    schedule = config.schedule
    if schedule == "auto":
        schedule = "cosine" if method == "minibatch" else "constant"
    if schedule == "constant":
        return config.learning_rate
    import keras

    return keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=total_steps, alpha=0.05
    )


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
    chosen = np.random.default_rng([config.seed, 2]).choice(
        len(triples), n_validation, replace=False
    )
    is_validation[chosen] = True

    def part(mask: np.ndarray) -> RatingTriples:
        return RatingTriples(
            triples.movie_index[mask],
            triples.user_index[mask],
            triples.rating[mask],
            triples.n_movies,
            triples.n_users,
        )

    return part(~is_validation), part(is_validation)
