"""Warm start against cold start when new ratings arrive: steps to converge, time, accuracy.

The ratings are ordered by time. "Yesterday's" model is fitted on all but the newest
``--new-fraction`` of them; "today" all ratings are there, and today's model is fitted twice:
from scratch and warm-started from yesterday's model. Both stop once the cost falls by less than
``--tolerance`` between checks (every ``--log-every`` steps). A seeded 10% of all ratings is held
out of every fit and scored at the end.

    COFI_MOVIELENS_DIR=../shared/movielens python benchmarks/warm_start.py [--dataset ml-100k]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pandas as pd  # noqa: E402

import cofi  # noqa: E402
from cofi.data.checks import infer_scale  # noqa: E402
from cofi.data.download import resolve_source  # noqa: E402
from cofi.data.ingest import ingest  # noqa: E402
from cofi.data.schema import KNOWN_DATASETS  # noqa: E402
from cofi.evaluation.holdout import rmse, split_random  # noqa: E402
from cofi.models.config import WARM_START_DEFAULTS  # noqa: E402


def load(dataset: str, source: str | None, work: Path) -> pd.DataFrame:
    scale = KNOWN_DATASETS[dataset].scale if dataset in KNOWN_DATASETS else None
    result = ingest(resolve_source(dataset=dataset, source=source), work / "ingest", scale=scale)
    return pd.read_parquet(result.ratings_path)


def steps_to_reach(history: list[tuple[int, float]], target: float) -> int | None:
    """The first logged step whose cost is at most ``target``."""
    return next((step for step, cost in history if cost <= target), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-latest-small")
    parser.add_argument("--source", help="a folder or zip instead of the named dataset")
    parser.add_argument("--new-fraction", type=float, default=0.05)
    parser.add_argument("--tolerance", type=float, default=WARM_START_DEFAULTS["tolerance"])
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--log-every", type=int, default=5)
    parser.add_argument(
        "--warm-learning-rate", type=float, default=WARM_START_DEFAULTS["learning_rate"]
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as work:
        ratings = load(args.dataset, args.source, Path(work))
    train, test = split_random(ratings, 0.1, seed=0)
    cutoff = ratings["timestamp"].quantile(1 - args.new_fraction)
    yesterday = train[train["timestamp"] < cutoff]
    # biased MF: the objective warm starts are for (cofi.fit's default for small data, blend,
    # cannot be warm-started)
    settings = dict(
        objective="biased", iterations=args.iterations, log_every=args.log_every, seed=0
    )
    scale = infer_scale(ratings["rating"].to_numpy())
    movie_ids = ratings["movie_id"].unique()
    previous = cofi.fit(yesterday, scale=scale, movie_ids=movie_ids, **settings)
    print(
        f"{args.dataset}: {len(ratings):,} ratings; yesterday {len(yesterday):,} training ratings "
        f"({yesterday['user_id'].nunique():,} users), today {len(train):,} "
        f"({train['user_id'].nunique():,} users); {len(test):,} held out"
    )
    full = cofi.fit(train, scale=scale, movie_ids=movie_ids, **settings)
    final_cost = full.loss_history[-1][1]
    target = final_cost * 1.01
    print(
        f"cold start, full run ({full.loss_history[-1][0]} steps or epochs): final cost "
        f"{final_cost:,.1f}; "
        f"target = within 1% of it: {target:,.1f}"
    )
    print()
    print("| start | learning rate | steps run | steps to target | fit seconds | held-out RMSE |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = {}
    for name, warm, learning_rate in [
        ("cold", None, cofi.TrainConfig().learning_rate),
        ("warm", previous, args.warm_learning_rate),
    ]:
        options = dict(settings, warm_start=warm, learning_rate=learning_rate)
        started = time.perf_counter()
        model = cofi.fit(
            train, scale=scale, movie_ids=movie_ids, tolerance=args.tolerance, **options
        )
        seconds = time.perf_counter() - started
        steps = model.loss_history[-1][0]
        # The same start run for every step, to see when it first comes within 1% of the end.
        untold = cofi.fit(train, scale=scale, movie_ids=movie_ids, **options)
        reached = steps_to_reach(untold.loss_history, target)
        error = rmse(test["rating"], model.predict(test["user_id"], test["movie_id"]))
        rows[name] = (steps, seconds)
        print(
            f"| {name} | {learning_rate:g} | {steps} | {reached if reached is not None else 'never'} | "
            f"{seconds:.2f} | {error:.4f} |"
        )
    print()
    print(
        f"warm start ran {rows['warm'][0]} steps against {rows['cold'][0]} "
        f"({rows['warm'][0] / rows['cold'][0]:.2f}x) with tolerance {args.tolerance:g}"
    )


if __name__ == "__main__":
    main()
