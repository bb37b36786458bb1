"""Scale benchmark: generate MovieLens-shaped data, run the pipeline on it, print what it cost.

Prints wall time per stage, ratings per second, peak RSS and hold-out RMSE of
``python -m flows.pipeline --source FOLDER``; with ``--surprise``, fits Surprise's SVD
(scikit-surprise, the ``bench`` extra) on the very same train/test split for comparison.

    python benchmarks/scale.py --ratings 25000000              # the ML-25M-sized target
    python benchmarks/scale.py --ratings 5000000 --surprise    # cofi beside Surprise SVD
    python benchmarks/scale.py --ratings 200000 --surprise     # a quick check that it works

Extra arguments after ``--`` go to ``flows.pipeline`` (e.g. ``-- --n-features 16 --lambda 5``).
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
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from cofi.data.synthetic import generate  # noqa: E402
from cofi.evaluation.holdout import mae, rmse  # noqa: E402


def peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def run_surprise(train_path: Path, test_path: Path, seed: int) -> dict:
    from surprise import SVD, Dataset, Reader

    train = pd.read_parquet(train_path)
    test = pd.read_parquet(test_path)
    started = time.perf_counter()
    data = Dataset.load_from_df(
        train[["user_id", "movie_id", "rating"]], Reader(rating_scale=(0.5, 5.0))
    )
    trainset = data.build_full_trainset()
    built = time.perf_counter()
    algorithm = SVD(random_state=seed)
    algorithm.fit(trainset)
    fitted = time.perf_counter()
    predicted = np.array(
        [
            algorithm.predict(u, m).est
            for u, m in zip(test["user_id"], test["movie_id"], strict=True)
        ]
    )
    return {
        "build_seconds": built - started,
        "fit_seconds": fitted - built,
        "rmse": rmse(test["rating"], predicted),
        "mae": mae(test["rating"], predicted),
        "updates_per_second": 20 * len(train) / (fitted - built),
    }


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
    parser.add_argument("pipeline_args", nargs="*", help="passed to flows.pipeline (after --)")
    args = parser.parse_args()

    source = args.out / f"synthetic-{args.ratings}-seed{args.seed}"
    if not (source / "ratings.csv").is_file():
        summary = generate(source, n_ratings=args.ratings, seed=args.seed)
        print(f"generated {summary.n_ratings:,} ratings in {summary.seconds:.1f} s -> {source}")
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
    summary = json.loads((data_dir / "latest" / "summary.json").read_text())
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
        epochs = json.loads((Path(summary["holdout_model_dir"]) / "model.json").read_text())[
            "loss_history"
        ]
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
        result = run_surprise(Path(summary["train_path"]), Path(summary["test_path"]), args.seed)
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
