"""The floor of a training epoch on this machine: the bytes it must move, and nothing else.

An epoch of matrix factorization over ``n_ratings`` ratings with ``n_features`` features must
gather a movie row and a user row per rating (``2 x n_ratings x n_features x 4`` bytes), scatter
as many back into the gradients, and, per optimizer step, make one pass over the parameters and
Adam's two moments. This script times exactly that work, compiled by XLA like cofi's step
(random rows, no products, no loss), so that ``epoch seconds / floor`` says how far the trainer is
from the hardware:

    python benchmarks/floor.py                                  # 5M ratings in the ML-25M shape
    python benchmarks/floor.py --ratings 4500000 --movies 27916 --users 32508 --batch 250000

:func:`measure_floor` is what benchmarks/scale.py prints beside cofi's own epoch time.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


@dataclass(frozen=True)
class Floor:
    """Seconds of the memory traffic one epoch cannot avoid.

    Attributes:
        gather_scatter: gathering and scatter-adding both sides' rows for every rating, the
            batch sorted by user as cofi's are (the user side in memory order, the movie side
            at random: no order serves both).
        random_order: the same in random order on both sides.
        adam_pass: one Adam-like pass over parameters, gradient and both moments (per step).
        steps: optimizer steps per epoch.
        bytes_moved: bytes gathered plus scattered per epoch.
    """

    gather_scatter: float
    random_order: float
    adam_pass: float
    steps: int
    bytes_moved: int

    @property
    def epoch(self) -> float:
        return self.gather_scatter + self.steps * self.adam_pass


def measure_floor(
    n_ratings: int,
    n_movies: int,
    n_users: int,
    n_features: int,
    batch_size: int,
    *,
    repeats: int = 3,
    seed: int = 0,
) -> Floor:
    """Time the floor's two parts, the best of ``repeats`` (the floor is a minimum)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    batch = min(batch_size, n_ratings)
    steps = -(-n_ratings // batch)
    movies = tf.constant(rng.integers(0, n_movies, batch, dtype=np.int32))
    users = rng.integers(0, n_users, batch, dtype=np.int32)
    sorted_users, users = tf.constant(np.sort(users)), tf.constant(users)
    X = tf.Variable(tf.constant(rng.normal(0, 0.1, (n_movies, n_features)), tf.float32))
    W = tf.Variable(tf.constant(rng.normal(0, 0.1, (n_users, n_features)), tf.float32))
    moments = [tf.Variable(tf.zeros_like(v)) for v in (X, X, W, W)]

    @tf.function(jit_compile=True)
    def gather_scatter(movies, users):
        movie_rows, user_rows = tf.gather(X, movies), tf.gather(W, users)
        # each side's gradient is the other side's rows, summed per row: the scatter-add
        grad_X = tf.math.unsorted_segment_sum(user_rows, movies, n_movies)
        grad_W = tf.math.unsorted_segment_sum(movie_rows, users, n_users)
        return tf.reduce_sum(grad_X[:1]) + tf.reduce_sum(grad_W[:1])

    @tf.function(jit_compile=True)
    def adam_pass(gradient_X, gradient_W):
        for variable, gradient, m, v in (
            (X, gradient_X, moments[0], moments[1]),
            (W, gradient_W, moments[2], moments[3]),
        ):
            m.assign(0.9 * m + 0.1 * gradient)
            v.assign(0.999 * v + 0.001 * gradient * gradient)
            variable.assign_sub(0.01 * m / (tf.sqrt(v) + 1e-7))
        return X[0, 0]

    gradient_X, gradient_W = tf.ones_like(X), tf.ones_like(W)
    float(gather_scatter(movies, users))  # compile
    float(adam_pass(gradient_X, gradient_W))

    def best(function, *args, count: int) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            results = [function(*args) for _ in range(count)]
            float(results[-1])
            times.append((time.perf_counter() - started) / count)
        return min(times)

    count = max(1, min(steps, 10))
    per_batch = best(gather_scatter, movies, sorted_users, count=count)
    per_random_batch = best(gather_scatter, movies, users, count=count)
    per_step = best(adam_pass, gradient_X, gradient_W, count=20)
    return Floor(
        gather_scatter=per_batch * n_ratings / batch,
        random_order=per_random_batch * n_ratings / batch,
        adam_pass=per_step,
        steps=steps,
        bytes_moved=2 * 2 * n_ratings * n_features * 4,
    )


def describe(floor: Floor) -> str:
    return (
        f"floor {floor.epoch:.3f} s/epoch: gather + scatter-add {floor.gather_scatter:.3f} s "
        f"({floor.bytes_moved / floor.gather_scatter / 1e9:.1f} GB/s), "
        f"{floor.steps} Adam passes x {floor.adam_pass * 1e3:.2f} ms; "
        f"in random order {floor.random_order + floor.steps * floor.adam_pass:.3f} s/epoch"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--ratings", type=int, default=4_500_000, help="training ratings")
    parser.add_argument("--movies", type=int, default=27_916)
    parser.add_argument("--users", type=int, default=32_508)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--batch", type=int, nargs="+", default=[250_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for batch in args.batch:
        floor = measure_floor(
            args.ratings, args.movies, args.users, args.features, batch, repeats=args.repeats
        )
        print(
            f"{args.ratings:,} ratings x {args.features} features, batch {batch:,}: "
            f"{describe(floor)}; {args.ratings / floor.epoch / 1e6:.1f} M ratings/s",
            flush=True,
        )


if __name__ == "__main__":
    main()
