"""Scale benchmark: generate MovieLens-shaped data, run the pipeline on it, print what it cost.

Prints wall time per stage, ratings per second, peak RSS and hold-out RMSE of
``python -m flows.pipeline --source FOLDER``; with ``--surprise``, fits Surprise's SVD
(scikit-surprise, the ``bench`` extra) on the very same train/test split for comparison.

    python benchmarks/scale.py --ratings 25000000              # the ML-25M-sized target
    python benchmarks/scale.py --ratings 5000000 --surprise    # cofi beside Surprise SVD
    python benchmarks/scale.py --ratings 200000 --surprise     # a quick check that it works

Extra arguments after ``--`` go to ``flows.pipeline`` (e.g. ``-- --n-features 16 --lambda 5``).

``--direct`` leaves the pipeline out: one process splits the ratings at random 90/10, then fits
``cofi.fit`` (its defaults, or ``--cofi '{"epochs": 8}'``) and Surprise's SVD (its defaults) on
the same training part, in turn, ``--repeats`` times, and prints each fit's seconds and test
RMSE, cofi's epoch time beside the floor of an epoch (benchmarks/floor.py) and its ratings/s:

    python benchmarks/scale.py --ratings 5000000 --direct --repeats 3
    python benchmarks/scale.py --direct --ratings-file /tmp/ing/ratings.parquet
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from cofi.data.synthetic import generate  # noqa: E402
from cofi.evaluation.holdout import mae, rmse  # noqa: E402


def peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def surprise_fit(train: pd.DataFrame, test: pd.DataFrame, seed: int) -> dict:
    """Surprise's SVD with its defaults; test predictions computed as ``SVD.estimate`` does,
    in one vectorized pass (unknown users or movies drop their terms), clipped to the scale."""
    from surprise import SVD, Dataset, Reader

    started = time.perf_counter()
    data = Dataset.load_from_df(
        train[["user_id", "movie_id", "rating"]], Reader(rating_scale=(0.5, 5.0))
    )
    trainset = data.build_full_trainset()
    built = time.perf_counter()
    algorithm = SVD(random_state=seed)
    algorithm.fit(trainset)
    fitted = time.perf_counter()
    user = np.array([trainset._raw2inner_id_users.get(u, -1) for u in test["user_id"]])
    movie = np.array([trainset._raw2inner_id_items.get(m, -1) for m in test["movie_id"]])
    known_user, known_movie = user >= 0, movie >= 0
    both = known_user & known_movie
    estimate = np.full(len(test), trainset.global_mean)
    estimate[known_user] += algorithm.bu[user[known_user]]
    estimate[known_movie] += algorithm.bi[movie[known_movie]]
    estimate[both] += np.einsum("ij,ij->i", algorithm.qi[movie[both]], algorithm.pu[user[both]])
    estimate = np.clip(estimate, 0.5, 5.0)
    return {
        "build_seconds": built - started,
        "fit_seconds": fitted - built,
        "rmse": rmse(test["rating"].to_numpy(), estimate),
        "mae": mae(test["rating"].to_numpy(), estimate),
        "updates_per_second": 20 * len(train) / (fitted - built),  # 20 epochs, one per rating
    }


def cofi_fit(train: pd.DataFrame, test: pd.DataFrame, hyperparameters: dict) -> dict:
    """``cofi.fit`` timed whole, with the wall time of each epoch (between progress calls)."""
    import cofi

    stamps: list[float] = []
    started = time.perf_counter()
    model = cofi.fit(
        train, callback=lambda *_: stamps.append(time.perf_counter()), **hyperparameters
    )
    seconds = time.perf_counter() - started
    epochs = np.diff(stamps)
    predicted = model.predict(test["user_id"].to_numpy(), test["movie_id"].to_numpy())
    return {
        "fit_seconds": seconds,
        "epochs": len(stamps),
        # the first epoch also compiles the step; the steady ones are what the floor bounds
        "epoch_seconds": float(np.median(epochs)) if len(epochs) else seconds,
        "rmse": rmse(test["rating"].to_numpy(), predicted),
        "config": model.config,
    }


def read_ratings(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path, columns=["user_id", "movie_id", "rating"])
    ratings = pd.read_csv(path, usecols=["userId", "movieId", "rating"])
    return ratings.rename(columns={"userId": "user_id", "movieId": "movie_id"})


def direct(ratings: pd.DataFrame, args: argparse.Namespace) -> None:
    """cofi.fit and Surprise's SVD side by side in this process, on one random 90/10 split."""
    sys.path.insert(0, str(Path(__file__).parent))
    from cofi.runtime import import_tensorflow

    import_tensorflow()  # its start-up is not charged to the first fit
    from floor import describe, measure_floor

    from cofi.evaluation.holdout import split_random

    train, test = split_random(ratings, 0.1, seed=args.seed)
    hyperparameters = json.loads(args.cofi)
    print(
        f"{len(train):,} training and {len(test):,} test ratings, "
        f"{train['user_id'].nunique():,} users, {train['movie_id'].nunique():,} movies; "
        f"cofi.fit({hyperparameters or 'defaults'}) beside Surprise SVD (defaults)",
        flush=True,
    )
    cofi_runs, surprise_runs = [], []
    for repeat in range(args.repeats):
        # alternate who goes first, so that neither always meets the other's leftovers
        for who in ("cofi", "surprise") if repeat % 2 == 0 else ("surprise", "cofi"):
            if who == "cofi":
                run = cofi_fit(train, test, hyperparameters)
                cofi_runs.append(run)
                print(
                    f"  cofi.fit      {run['fit_seconds']:6.1f} s  RMSE {run['rmse']:.4f}  "
                    f"{run['epochs']} epochs, {run['epoch_seconds']:.2f} s/epoch "
                    f"({len(train) / run['epoch_seconds'] / 1e6:.2f} M ratings/s)",
                    flush=True,
                )
            else:
                run = surprise_fit(train, test, args.seed)
                surprise_runs.append(run)
                print(
                    f"  Surprise SVD  {run['fit_seconds']:6.1f} s  RMSE {run['rmse']:.4f}  "
                    f"(build {run['build_seconds']:.1f} s; "
                    f"{run['updates_per_second'] / 1e6:.2f} M updates/s)",
                    flush=True,
                )
    config = cofi_runs[-1]["config"]
    floor = measure_floor(
        len(train),
        train["movie_id"].nunique(),
        train["user_id"].nunique(),
        config.n_features,
        config.batch_size,
    )
    print(f"{describe(floor)} ({config.n_features} features, batch {config.batch_size:,})")

    def spread(runs: list[dict], key: str) -> str:
        values = [run[key] for run in runs]
        return f"{min(values):.4g}..{max(values):.4g}"

    ratios = [
        c["fit_seconds"] / s["fit_seconds"] for c, s in zip(cofi_runs, surprise_runs, strict=True)
    ]
    print(
        f"cofi fit {spread(cofi_runs, 'fit_seconds')} s, RMSE {spread(cofi_runs, 'rmse')}; "
        f"Surprise fit {spread(surprise_runs, 'fit_seconds')} s, "
        f"RMSE {spread(surprise_runs, 'rmse')}; "
        f"cofi / Surprise fit time {min(ratios):.2f}..{max(ratios):.2f}; "
        f"epoch / floor {min(r['epoch_seconds'] for r in cofi_runs) / floor.epoch:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=25_000_000)
    parser.add_argument(
        "--out", type=Path, default=Path("data/bench"), help="where data and runs go"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--surprise", action="store_true", help="also fit Surprise SVD on the same split"
    )
    parser.add_argument(
        "--direct", action="store_true", help="cofi.fit beside Surprise, no pipeline"
    )
    parser.add_argument(
        "--ratings-file", type=Path, help="--direct: ratings.csv or an ingested ratings.parquet"
    )
    parser.add_argument("--repeats", type=int, default=2, help="--direct: fits of each")
    parser.add_argument(
        "--cofi", default="{}", help="--direct: cofi.fit keywords as JSON (default: none)"
    )
    parser.add_argument("pipeline_args", nargs="*", help="passed to flows.pipeline (after --)")
    args = parser.parse_args()

    source = args.out / f"synthetic-{args.ratings}-seed{args.seed}"
    if args.direct and args.ratings_file is not None:
        direct(read_ratings(args.ratings_file), args)
        return
    if not (source / "ratings.csv").is_file():
        summary = generate(source, n_ratings=args.ratings, seed=args.seed)
        print(f"generated {summary.n_ratings:,} ratings in {summary.seconds:.1f} s -> {source}")
    if args.direct:
        direct(read_ratings(source / "ratings.csv"), args)
        return
    data_dir = args.out / f"runs-{args.ratings}"
    command = [
        sys.executable,
        "-m",
        "flows.pipeline",
        "--source",
        str(source),
        "--data-dir",
        str(data_dir),
        "--seed",
        str(args.seed),
        *args.pipeline_args,
    ]
    print("running:", " ".join(command), flush=True)
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        print(completed.stdout[-5000:], completed.stderr[-5000:], sep="\n")
        raise SystemExit(f"the pipeline failed with exit code {completed.returncode}")
    run_dir = (data_dir / "latest").resolve()
    summary = json.loads((run_dir / "summary.json").read_text())

    def at(key: str) -> Path:
        # The record's paths are relative to the run folder.
        return run_dir / summary[key]

    stages = summary["stage_seconds"]
    report = summary["evaluation"]
    n = summary["n_ratings"]
    print(f"\n{n:,} ratings, {summary['n_users']:,} users, {summary['n_movies']:,} movies")
    print(
        f"pipeline wall {wall:.1f} s (including Prefect's temporary server), peak RSS {peak_rss_mb(resource.RUSAGE_CHILDREN):,.0f} MB"
    )
    for stage, seconds in stages.items():
        print(f"  {stage:<16} {seconds:8.1f} s")
    print(f"  ingest         {n / stages['ingest'] / 1e6:8.2f} M ratings/s")
    if report:
        epochs = json.loads((at("holdout_model_dir") / "model.json").read_text())["loss_history"]
        steps = len(epochs)
        print(
            f"  fit (hold-out) {report['fit_seconds']:8.1f} s, {steps} epochs/logs, {report['n_train'] * steps / report['fit_seconds'] / 1e6:.2f} M rating-updates/s"
        )
        for name, values in report["metrics"].items():
            print(f"  {name:<14} RMSE {values['rmse']:.4f}  MAE {values['mae']:.4f}")
    scores = summary["n_users"] * summary["n_movies"]
    print(
        f"  scoring        {scores / stages['recommend'] / os.cpu_count() / 1e6:8.1f} M scores/s per core ({os.cpu_count()} cores, all users x all movies)"
    )
    if args.surprise and report:
        result = surprise_fit(
            pd.read_parquet(at("train_path")), pd.read_parquet(at("test_path")), args.seed
        )
        print(
            f"\nSurprise SVD (100 factors, 20 epochs): build {result['build_seconds']:.1f} s, fit {result['fit_seconds']:.1f} s "
            f"({result['updates_per_second'] / 1e6:.2f} M updates/s), RMSE {result['rmse']:.4f}, MAE {result['mae']:.4f}"
        )
        print(
            f"cofi fit / Surprise fit = {report['fit_seconds'] / result['fit_seconds']:.2f}; "
            f"RMSE cofi {report['metrics']['model']['rmse']:.4f} vs Surprise {result['rmse']:.4f}"
        )


if __name__ == "__main__":
    main()
