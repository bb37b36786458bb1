"""Time the training formulations on one dataset and print seconds per epoch and hold-out RMSE.

Each variant trains the same sparse cost (cofi.models.cost.cofi_cost_sparse) with Keras Adam; they differ
in batch size, whether the step is compiled by XLA and whether each batch is sorted by user (as
cofi's trainer sorts them). Used to choose cofi's mini-batch defaults. A variant is
``batch:learning_rate:xla[:sorted]``.

    python -m cofi.data.synthetic /tmp/syn5m --ratings 5000000
    python benchmarks/train_formulations.py /tmp/syn5m --features 32 --epochs 3
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

from cofi.data.ingest import ingest  # noqa: E402
from cofi.data.matrices import build_triples, normalize_triples  # noqa: E402
from cofi.evaluation.holdout import rmse, split_random  # noqa: E402
from cofi.models.cost import cofi_cost_sparse  # noqa: E402


def run(
    triples, mean, test, config: dict, epochs: int, n_features: int, lambda_: float, seed: int = 0
):
    rng = np.random.default_rng(seed)
    X = tf.Variable(rng.normal(0, 0.1, (triples.n_movies, n_features)).astype(np.float32))
    W = tf.Variable(rng.normal(0, 0.1, (triples.n_users, n_features)).astype(np.float32))
    b = tf.Variable(np.zeros((1, triples.n_users), np.float32))
    variables = [X, W, b]
    n, batch = len(triples), min(config["batch"], len(triples))
    steps = -(-n // batch)
    optimizer = keras.optimizers.Adam(
        keras.optimizers.schedules.CosineDecay(config["lr"], decay_steps=epochs * steps, alpha=0.05)
    )

    @tf.function(jit_compile=config["xla"], reduce_retracing=True)
    def step(movie, user, rating, weight):
        with tf.GradientTape() as tape:
            loss = cofi_cost_sparse(X, W, b, movie, user, rating, lambda_, weight)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    times = []
    for _ in range(epochs):
        order = rng.permutation(n)
        started = time.perf_counter()
        for start in range(0, n, batch):
            index = order[start : start + batch]
            if config["sorted"]:
                index = index[np.argsort(triples.user_index[index], kind="stable")]
            loss = step(
                triples.movie_index[index],
                triples.user_index[index],
                triples.rating[index],
                tf.constant(n / len(index), tf.float32),
            )
        float(loss)
        times.append(time.perf_counter() - started)
    movie_index, user_index = test
    prediction = (
        np.einsum("ij,ij->i", X.numpy()[movie_index], W.numpy()[user_index])
        + b.numpy()[0, user_index]
        + mean[movie_index]
    )
    return times, prediction


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("source", type=Path)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lambda", dest="lambda_", type=float, default=10.0)
    parser.add_argument(
        "--variants",
        default="20000:0.01:0,100000:0.02:1,250000:0.05:1:0,250000:0.05:1:1,500000:0.05:1",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        result = ingest(args.source, Path(work) / "d")
        ratings = pd.read_parquet(result.ratings_path, columns=["user_id", "movie_id", "rating"])
    train, test = split_random(ratings, 0.1, seed=0)
    triples, movies, users = build_triples(train)
    normalized, mean = normalize_triples(triples)
    test = test[test["user_id"].isin(users.ids) & test["movie_id"].isin(movies.ids)]
    test_index = (movies.position_of(test["movie_id"]), users.position_of(test["user_id"]))
    print(
        f"{len(train):,} training ratings, {triples.n_movies:,} movies, {triples.n_users:,} users, {args.features} features, {args.epochs} epochs"
    )
    for variant in args.variants.split(","):
        batch, lr, xla, *sort = variant.split(":")
        config = {
            "batch": int(batch),
            "lr": float(lr),
            "xla": xla == "1",
            "sorted": sort == ["1"],
        }
        times, prediction = run(
            normalized, mean, test_index, config, args.epochs, args.features, args.lambda_
        )
        error = rmse(test["rating"], np.clip(prediction, 0.5, 5.0))
        steady = np.mean(times[1:]) if len(times) > 1 else times[0]
        print(
            f"batch {config['batch']:>8,} lr {config['lr']:<5} xla {config['xla']!s:<5} "
            f"sorted {config['sorted']!s:<5}  first epoch {times[0]:6.2f} s  "
            f"then {steady:6.2f} s/epoch  ({len(train) / steady / 1e6:5.2f} M ratings/s)  rmse {error:.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
