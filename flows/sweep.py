"""The ``cofi-sweep`` flow: ingest -> hold-out split -> fit/validation split -> score each trial.

Every trial is fitted on part of the training ratings and scored on the rest; the test ratings
that ``holdout_fraction`` carves out (the same split as ``cofi-pipeline``'s for the same seed)
are never read. Run it ad hoc with ``python -m flows.sweep`` (``--help`` lists the options).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import pandas as pd  # noqa: E402
from prefect import flow, unmapped  # noqa: E402
from prefect.task_runners import ThreadPoolTaskRunner  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from cofi import settings  # noqa: E402
from cofi.data.schema import KNOWN_DATASETS  # noqa: E402
from cofi.evaluation.sweep import METRICS, Metric, SweepSpace, expand  # noqa: E402
from cofi.outputs.publish import new_run_dir  # noqa: E402
from tasks.ingest import dataset_key, ingest_movielens  # noqa: E402
from tasks.matrices import build_matrices  # noqa: E402
from tasks.sweep import prepare_sweep_data, score_trial, write_sweep_results  # noqa: E402

#: The grid swept when none is given: the two hyperparameters that matter most.
DEFAULT_GRID: dict[str, list[Any]] = {"n_features": [10, 30], "lambda_": [5.0, 15.0]}


# One trial at a time by default: a single fit already keeps every core busy, and trials that
# share the CPUs would report inflated fit seconds (the tie-breaker between equal scores).
@flow(name="cofi-sweep", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=1))
def cofi_sweep(
    dataset: str = "ml-latest-small",
    source: str | None = None,
    data_dir: str | None = None,
    grid: dict[str, list[Any]] | None = None,
    random: dict[str, list[Any] | dict[str, Any]] | None = None,
    n_samples: int | None = None,
    seed: int = 0,
    metric: Metric = "rmse",
    validation_fraction: float = 0.1,
    holdout_fraction: float = 0.1,
    k: int = 10,
    min_movie_ratings: int = 5,
    quarantine: bool = False,
) -> dict:
    """Score hyperparameter configurations on validation ratings and pick the best.

    Args:
        dataset: a GroupLens dataset name, resolved from COFI_MOVIELENS_DIR, the cache or GroupLens.
        source: a local folder, a ``.zip`` or a URL; overrides ``dataset``'s location.
        data_dir: where outputs go (default COFI_DATA_DIR or ``./data``).
        grid: TrainConfig field -> values; every combination is tried. Default (when neither
            ``grid`` nor ``random`` is given): n_features in [10, 30] x lambda_ in [5, 15].
        random: TrainConfig field -> a list of choices or ``{"low": .., "high": .., "log": ..}``,
            for a seeded random search of ``n_samples`` configurations.
        n_samples: configurations a random search draws.
        seed: seeds the splits, the random search and every trial's training.
        metric: what picks the best trial: ``rmse`` or ``mae`` (lower is better),
            ``precision_at_k`` or ``ndcg_at_k`` (higher is better).
        validation_fraction: share of the training ratings each trial is scored on.
        holdout_fraction: share of all ratings set aside as test ratings, which the sweep never
            reads (0: the sweep splits all ratings).
        k: length of the recommendation lists the ranking metrics judge.
        min_movie_ratings: a movie needs this many ratings to be recommended (as in
            ``cofi-pipeline``), so the ranking metrics judge the lists it would publish.
        quarantine: write bad rows to quarantine.csv and go on, instead of failing.

    Returns:
        A summary: run folder, the split and result paths, the trials' count and the best trial.
    """
    if dataset not in KNOWN_DATASETS and not source:
        raise ValueError(
            f"unknown dataset {dataset!r}; known: {sorted(KNOWN_DATASETS)}, or pass source"
        )
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {list(METRICS)}")
    if grid is None and random is None:
        grid = DEFAULT_GRID
    # A bad space fails here, before anything is ingested or trained.
    space = SweepSpace(grid=grid, random=random, n_samples=n_samples)
    configs = expand(space, seed)
    print(f"{space.kind} sweep of {len(configs)} configuration(s) over {space.fields}")

    root = (Path(data_dir) if data_dir else settings.data_dir()).resolve()
    ingested = ingest_movielens(dataset, source, str(root), quarantine)
    run_dir = new_run_dir(root, f"sweep-{dataset_key(dataset, source)}")
    matrices = build_matrices(
        ingested["ratings_path"],
        ingested["movies_path"],
        str(root),
        holdout_fraction,
        seed,
    )
    split = prepare_sweep_data(
        matrices["train_path"], str(run_dir / "sweep"), validation_fraction, seed
    )
    trials = score_trial.map(
        unmapped(split["fit_path"]),
        unmapped(split["validation_path"]),
        configs,
        list(range(len(configs))),
        unmapped(k),
        unmapped(min_movie_ratings),
    )
    written = write_sweep_results(trials.result(), str(run_dir), metric)
    summary = {
        "run_dir": str(run_dir),
        "space": space.model_dump(mode="json", exclude_none=True),
        "metric": metric,
        "n_trials": len(configs),
        "train_path": matrices["train_path"],
        "test_path": matrices.get("test_path"),
        "fit_path": split["fit_path"],
        "validation_path": split["validation_path"],
        "results_path": written["results_path"],
        "best_config_path": written["best_config_path"],
        "best_config_json": written["best_config_json"],
        "best": written["best"],
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False))
    return summary


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m flows.sweep",
        description=(
            "Sweep cofi's hyperparameters: fit each configuration on part of the training "
            "ratings, score it on the rest, and report the best. Test ratings are never used."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--dataset", default="ml-latest-small", help=f"one of {', '.join(KNOWN_DATASETS)}"
    )
    parser.add_argument("--source", help="a local folder, .zip or URL holding a GroupLens dataset")
    parser.add_argument("--data-dir", help="output folder (default: $COFI_DATA_DIR or ./data)")
    space = parser.add_mutually_exclusive_group()
    space.add_argument(
        "--grid",
        type=_json_object,
        help=(
            "JSON object of TrainConfig field -> list of values, every combination tried, "
            f"e.g. '{{\"n_features\": [10, 30]}}'; without --grid or --random: "
            f"{json.dumps(DEFAULT_GRID)}"
        ),
    )
    space.add_argument(
        "--random",
        type=_json_object,
        help=(
            'JSON object of TrainConfig field -> list of choices or {"low", "high", "log"}, '
            "for a seeded random search, e.g. "
            '\'{"lambda_": {"low": 1, "high": 30, "log": true}, "n_features": [10, 30]}\''
        ),
    )
    parser.add_argument("--n-samples", type=int, help="configurations a random search draws")
    parser.add_argument("--seed", type=int, default=0, help="seeds splits, search and training")
    parser.add_argument(
        "--metric", choices=list(METRICS), default="rmse", help="what picks the best trial"
    )
    parser.add_argument(
        "--validation-fraction",
        type=float,
        default=0.1,
        help="share of the training ratings each trial is scored on",
    )
    parser.add_argument(
        "--holdout",
        dest="holdout_fraction",
        type=float,
        default=0.1,
        help="share of all ratings kept out as test ratings (never read by the sweep)",
    )
    parser.add_argument("--k", type=int, default=10, help="list length for precision and nDCG")
    parser.add_argument(
        "--min-movie-ratings", type=int, default=5, help="ratings a movie needs to be recommended"
    )
    parser.add_argument(
        "--parallel", type=int, default=1, help="trials fitted at once (threads of this process)"
    )
    parser.add_argument(
        "--quarantine",
        action="store_true",
        help="set bad rows aside in quarantine.csv instead of failing",
    )
    args = parser.parse_args(argv)
    if args.random is not None and args.n_samples is None:
        parser.error("--random needs --n-samples")
    if args.random is None and args.n_samples is not None:
        parser.error("--n-samples goes with --random")
    if args.parallel < 1:
        parser.error("--parallel must be at least 1")
    try:
        SweepSpace(
            grid=DEFAULT_GRID if args.grid is None and args.random is None else args.grid,
            random=args.random,
            n_samples=args.n_samples,
        )
    except ValidationError as error:
        # The flow would refuse it too, but only after a Prefect run had started.
        parser.error("; ".join(detail["msg"] for detail in error.errors()))
    return args


def format_results(results: pd.DataFrame) -> str:
    """The results table as plain text, scores to four decimals."""
    return results.to_string(
        index=False, float_format=lambda value: f"{value:.4f}", na_rep="-", max_colwidth=40
    )


def main(argv: list[str] | None = None) -> int:
    args = vars(parse_args(argv))
    parallel = args.pop("parallel")
    flow_to_run = cofi_sweep
    if parallel > 1:
        flow_to_run = cofi_sweep.with_options(
            task_runner=ThreadPoolTaskRunner(max_workers=parallel)
        )
    summary = flow_to_run(**args)
    best = summary["best"]
    print()
    print(format_results(pd.read_parquet(summary["results_path"])))
    print()
    print(f"best by {summary['metric']}: trial {best['trial']} {json.dumps(best['config'])}")
    scores = ", ".join(
        f"{name} {value:.4f}" if isinstance(value, float) else f"{name} {value}"
        for name, value in best["metrics"].items()
    )
    print(f"scores:          {scores}")
    print(f"best config:     {summary['best_config_json']}")
    print(f"run folder:      {summary['run_dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
