"""The ``cofi-pipeline`` flow: ingest -> matrices -> train -> evaluate -> recommend -> publish.

Run it ad hoc with ``python -m flows.pipeline`` (``--help`` lists the options).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from prefect import flow  # noqa: E402
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator  # noqa: E402

from cofi import settings  # noqa: E402
from cofi.data.ingest import read_manifest  # noqa: E402
from cofi.data.schema import KNOWN_DATASETS  # noqa: E402
from cofi.errors import CofiError  # noqa: E402
from cofi.evaluation.holdout import format_report  # noqa: E402
from cofi.models.config import (  # noqa: E402  # noqa: E402
    LAB_CONFIG,
    OBJECTIVE_DEFAULTS,
    WARM_START_DEFAULTS,
    TrainConfig,
    make_config,
)
from cofi.outputs.caching import content_key, file_digest, link_or_copy, step_dir  # noqa: E402
from cofi.outputs.publish import atomic_path, new_run_dir  # noqa: E402
from tasks.evaluate import evaluate_model  # noqa: E402
from tasks.ingest import dataset_key, ingest_movielens  # noqa: E402
from tasks.matrices import build_matrices  # noqa: E402
from tasks.recommend import combine_recommendations, publish_run, recommend_shard  # noqa: E402
from tasks.report import write_report  # noqa: E402
from tasks.similar import similar_movies_table  # noqa: E402
from tasks.train import train_model  # noqa: E402
from tasks.warm import find_warm_start  # noqa: E402

DEFAULTS = TrainConfig()


class _Steps:
    """Runs steps whose outputs live in content-addressed folders, cached in Prefect too.

    A step's folder is keyed on the content of its input files and its parameters
    (:func:`cofi.outputs.caching.content_key`). When the folder already holds the step's summary, the
    task is a Prefect cache hit (shown as Cached in the UI) and returns at once; ``refresh``, or
    a folder that lost its summary, recomputes.
    """

    def __init__(self, root: Path, refresh: bool) -> None:
        self.root, self.refresh = root, refresh
        self.keys: dict[Path, str] = {}

    def folder(self, step: str, **inputs) -> Path:
        key = content_key(step, inputs)
        path = step_dir(self.root, step, key)
        self.keys[path] = key
        return path

    def task(self, task, out: Path, part: str = ""):
        # Prefect's result store is shared by every data folder: the key names this one too.
        key = hashlib.sha256(f"{self.root.resolve()}|{self.keys[out]}|{part}".encode()).hexdigest()
        fresh = self.refresh or not (out / "summary.json").is_file()
        return task.with_options(
            cache_key_fn=lambda *_: key,
            refresh_cache=fresh,
            persist_result=True,
            cache_expiration=None,
        )

    def run(self, task, out: Path, *args):
        # Two runs that reach the same step folder at once take turns: the second finds the
        # first one's outputs complete and is a cache hit instead of writing over them.
        with _folder_lock(out):
            result = self.task(task, out)(*args)
            out.mkdir(parents=True, exist_ok=True)
            with atomic_path(out / "summary.json") as staging:
                staging.write_text(json.dumps(result, indent=2, default=str))
        return result


@contextmanager
def _folder_lock(folder: Path):
    """An exclusive advisory lock on ``folder`` (a lock file beside it), held for the block."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _StageClock:
    """Wall seconds per pipeline stage, for the run summary."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._stage: str | None = None
        self._started = 0.0

    def start(self, stage: str) -> None:
        self._stage, self._started = stage, time.perf_counter()

    def stop(self) -> None:
        self.seconds[self._stage] = round(time.perf_counter() - self._started, 3)

    @contextmanager
    def __call__(self, stage: str):
        self.start(stage)
        yield
        self.stop()


class PipelineOptions(BaseModel):
    """The flow's options beyond the training hyperparameters (those are a TrainConfig)."""

    model_config = ConfigDict(extra="forbid")

    dataset: str
    source: str | None
    holdout_fraction: float = Field(ge=0.0, lt=1.0)
    top_n: int = Field(ge=1, le=1000)
    min_movie_ratings: int = Field(ge=1)
    min_user_ratings: int = Field(ge=0)
    similar_n: int = Field(ge=0, le=1000)
    similar_metric: Literal["cosine", "distance"]
    shards: int = Field(ge=1, le=10_000)
    warm_start: bool

    @model_validator(mode="after")
    def _known_dataset(self) -> PipelineOptions:
        if self.dataset not in KNOWN_DATASETS and not self.source:
            raise ValueError(
                f"unknown dataset {self.dataset!r}; known: {sorted(KNOWN_DATASETS)}, or pass source"
            )
        return self


def check_parameters(parameters: dict, warm_start: bool = False) -> tuple[PipelineOptions, dict]:
    """Validate every flow parameter at once; returns the options and the TrainConfig fields.

    ``warm_start``: whether training will start from a previous model, whose own defaults
    (:data:`cofi.models.config.WARM_START_DEFAULTS`) then fill what is not given.
    """
    training = {
        name: parameters[name]
        for name in TrainConfig.model_fields
        if name in parameters and parameters[name] is not None
    }
    options = {name: parameters[name] for name in PipelineOptions.model_fields}
    try:
        checked = PipelineOptions(**options)
    except ValidationError as error:
        raise ValueError(f"invalid cofi-pipeline parameters: {error}") from None
    if checked.warm_start and training.get("validation_fraction"):
        raise ValueError(
            "invalid cofi-pipeline parameters: warm_start with validation_fraction > 0 would stop "
            "early on ratings the starting model was trained on; use one or the other"
        )
    try:
        # The objective's own defaults (cofi.models.config.OBJECTIVE_DEFAULTS) fill what is not given.
        return checked, make_config(None, training, warm_start=warm_start).model_dump()
    except CofiError as error:
        raise ValueError(f"invalid cofi-pipeline parameters: {error}") from None


@flow(
    name="cofi-pipeline",
    log_prints=True,
    flow_run_name="{dataset}-{objective}-{n_features}f",
)
def cofi_pipeline(
    dataset: str = "ml-latest-small",
    source: str | None = None,
    data_dir: str | None = None,
    objective: Literal["lab", "biased", "svdpp", "ranking"] = DEFAULTS.objective,
    n_features: int = DEFAULTS.n_features,
    lambda_: float | None = None,
    regularization: Literal["uniform", "weighted"] = DEFAULTS.regularization,
    learning_rate: float | None = None,
    iterations: int = DEFAULTS.iterations,
    init_scale: float = DEFAULTS.init_scale,
    seed: int = DEFAULTS.seed,
    method: Literal["auto", "dense", "sparse", "minibatch"] = DEFAULTS.method,
    dtype: Literal["float32", "float64"] = DEFAULTS.dtype,
    epochs: int = DEFAULTS.epochs,
    batch_size: int = DEFAULTS.batch_size,
    validation_fraction: float = DEFAULTS.validation_fraction,
    tolerance: float | None = None,
    holdout_fraction: float = 0.1,
    top_n: int = 10,
    min_movie_ratings: int = 5,
    min_user_ratings: int = 5,
    similar_n: int = 10,
    similar_metric: Literal["cosine", "distance"] = "cosine",
    warm_start: bool = False,
    quarantine: bool = False,
    shards: int = 1,
    refresh: bool = False,
) -> dict:
    """Recompute recommendations for every user from a MovieLens dataset.

    Args:
        dataset: a GroupLens dataset name, resolved from COFI_MOVIELENS_DIR, the cache or GroupLens.
        source: a local folder, a ``.zip`` or a URL; overrides ``dataset``'s location.
        data_dir: where outputs go (default COFI_DATA_DIR or ``./data``).
        objective: the model variant: the lab's cost, biased MF, SVD++ or a ranking objective.
        n_features: length of the movie and user vectors.
        lambda_: regularization strength (default: the objective's, see cofi.api).
        regularization: the lab's uniform L2 penalty, or one weighted by rating counts.
        learning_rate: Adam's learning rate (default 0.05; 0.02 for a warm start).
        iterations: optimizer steps.
        init_scale: std of the initial X and W.
        seed: seeds the split, initialization and everything else.
        method: dense Y/R or the sparse observed-ratings form ("auto" picks by size).
        dtype: float32 or float64.
        epochs: passes over the ratings, when training on mini-batches.
        batch_size: ratings per mini-batch.
        validation_fraction: share of training ratings set aside to stop early (0: off).
        tolerance: stop once the cost falls by less than this share between logged checks
            (default 0, off; 0.001 for a warm start).
        holdout_fraction: share of ratings held out to evaluate (0 skips evaluation).
        top_n: recommendations per user.
        min_movie_ratings: a movie needs this many ratings to be recommended.
        min_user_ratings: users with fewer ratings get the popular, well-rated movies instead,
            flagged ``fallback`` in the table (cold start).
        similar_n: similar movies listed per movie in ``similar.parquet`` (0: none).
        similar_metric: "cosine" similarity or squared feature "distance" (the lab's).
        warm_start: start training from the last published model of this dataset (same
            objective and n_features), so new ratings cost fewer steps than a cold start.
        quarantine: write bad rows to quarantine.csv and go on, instead of failing.
        refresh: re-read the source even when an identical ingest exists.
        shards: score users in this many shards, submitted to the flow's task runner (run the
            flow with a DaskTaskRunner to spread them over a Dask cluster).

    Returns:
        A summary: run folder, published tables, evaluation report.
    """
    parameters = dict(locals())
    _, config = check_parameters(parameters)
    clock = _StageClock()
    # Absolute, so the published summary's paths work from any working directory.
    root = (Path(data_dir) if data_dir else settings.data_dir()).resolve()
    dataset_name = dataset_key(dataset, source)
    with clock("ingest"):
        ingested = ingest_movielens(dataset, source, str(root), quarantine, refresh)
    scale = read_manifest(Path(ingested["dataset_dir"]))["rating_scale"]
    ratings_path, movies_path = Path(ingested["ratings_path"]), Path(ingested["movies_path"])
    ratings_digest = file_digest(ratings_path)
    warm = {"model_dir": None, "holdout_model_dir": None, "reason": "not asked for"}
    if warm_start:
        _, warm_config = check_parameters(parameters, warm_start=True)
        warm = find_warm_start(
            str(root / "latest"), dataset_name, holdout_fraction, seed, warm_config, ratings_digest
        )
        if warm["model_dir"]:
            config = warm_config
    run_dir = new_run_dir(root, dataset_name)
    steps = _Steps(root, refresh)
    # No new ratings since a warm-started published run: its models stand (no drift, no work).
    reused = warm.get("train") or {}
    with clock("matrices"):
        out = steps.folder(
            "matrices",
            ratings=ratings_path,
            movies=movies_path,
            holdout=holdout_fraction,
            seed=seed,
        )
        matrices = steps.run(
            build_matrices,
            out,
            str(ratings_path),
            str(movies_path),
            str(out),
            holdout_fraction,
            seed,
        )
    movie_index = Path(matrices["train_path"]).with_name("movie_index.parquet")

    def train(ratings: Path, train_config: dict, start: str | None) -> dict:
        """Fit on ``ratings`` (from ``start``, a model folder, if given) in its step folder."""
        out = steps.folder(
            "train",
            ratings=ratings,
            movie_index=movie_index,
            scale=scale,
            config=train_config,
            **({"warm_start": Path(start)} if start else {}),
        )
        return steps.run(
            train_model,
            out,
            str(ratings),
            str(movie_index),
            scale,
            train_config,
            str(out / "model"),
            start,
        )

    report = None
    if holdout_fraction > 0:
        with clock("train_holdout"):
            train_path = Path(matrices["train_path"])
            start = warm["holdout_model_dir"]
            # A held-out model without its own warm start trains cold, with the cold settings.
            holdout_config = config if start else check_parameters(parameters)[1]
            held_out = reused.get("holdout") or train(train_path, holdout_config, start)
        with clock("evaluate"):
            test_path = Path(matrices["test_path"])
            model_dir = Path(held_out["model_dir"])
            evaluated = steps.folder("evaluate", model=model_dir, train=train_path, test=test_path)
            report = steps.run(
                evaluate_model,
                evaluated,
                str(model_dir),
                str(train_path),
                str(test_path),
                str(evaluated / "metrics.json"),
            )
        report = {**report, "fit_seconds": held_out["fit_seconds"]}
        link_or_copy(evaluated / "metrics.json", run_dir / "metrics.json")
    # The published model learns from every rating; the held-out one only measured the method.
    with clock("train"):
        final = reused.get("final") or train(ratings_path, config, warm["model_dir"])
    with clock("recommend"):
        model_dir = Path(final["model_dir"])
        out = steps.folder(
            "recommend",
            model=model_dir,
            movies=movies_path,
            top_n=top_n,
            min_ratings=min_movie_ratings,
            min_user_ratings=min_user_ratings,
        )
        parts = [
            steps.task(recommend_shard, out, f"shard-{shard}-of-{shards}").submit(
                str(model_dir),
                str(movies_path),
                str(run_dir / "parts"),
                shard,
                shards,
                top_n,
                min_movie_ratings,
                min_user_ratings,
            )
            for shard in range(shards)
        ]
        recommended = steps.run(
            combine_recommendations, out, parts, str(out / "recommendations.parquet")
        )
    link_or_copy(model_dir, run_dir / "model")
    link_or_copy(Path(recommended["path"]), run_dir / "recommendations.parquet")
    similar = None
    if similar_n > 0:
        with clock("similar"):
            out = steps.folder(
                "similar",
                model=model_dir,
                movies=movies_path,
                n=similar_n,
                metric=similar_metric,
                min_ratings=min_movie_ratings,
            )
            similar = steps.run(
                similar_movies_table,
                out,
                str(model_dir),
                str(movies_path),
                str(out / "similar.parquet"),
                similar_n,
                similar_metric,
                min_movie_ratings,
            )
        link_or_copy(Path(similar["path"]), run_dir / "similar.parquet")
    with clock("report"):
        write_report(
            str(run_dir),
            {key: ingested[key] for key in ("n_ratings", "n_users", "n_movies")},
            {
                key: value
                for key, value in parameters.items()
                if value is not None and key != "data_dir"
            },
            report,
            str(run_dir / "model"),
            str(run_dir / "recommendations.parquet"),
            {
                "holdout": held_out if report else None,
                "final": final,
            },
            str(run_dir / "similar.parquet") if similar else None,
        )
    summary = {
        "dataset": dataset_name,
        "holdout_fraction": holdout_fraction,
        "seed": seed,
        "ratings_digest": ratings_digest,
        "config": config,
        "train": {"holdout": held_out if report else None, "final": final},
        "min_movie_ratings": min_movie_ratings,
        "min_user_ratings": min_user_ratings,
        "movies_path": str(movies_path),
        "ratings_path": str(ratings_path),
        "run_dir": str(run_dir),
        "latest": str(root / "latest"),
        "recommendations": str(run_dir / "recommendations.parquet"),
        "model_dir": str(run_dir / "model"),
        "model_id": final["model_id"],
        "fit_seconds": final["fit_seconds"],
        "n_ratings": ingested["n_ratings"],
        "n_users": ingested["n_users"],
        "n_movies": ingested["n_movies"],
        "recommendation_rows": recommended["rows"],
        "fallback_users": recommended.get("fallback_users"),
        "similar": str(run_dir / "similar.parquet") if similar else None,
        "warm_start": warm["reason"],
        "training_steps": final.get("steps"),
        "evaluation": report,
        "holdout_model_dir": held_out["model_dir"] if report else None,
        "train_path": matrices["train_path"],
        "test_path": matrices.get("test_path"),
        "stage_seconds": clock.seconds,
    }
    # The run folder is complete, summary included, before `latest` points at it.
    with atomic_path(run_dir / "summary.json") as staging:
        staging.write_text(json.dumps(summary, indent=2))
    with clock("publish"):
        publish_run(str(run_dir), str(root / "latest"))
    return summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m flows.pipeline",
        description="Run the cofi pipeline once: ingest MovieLens, train, evaluate, write recommendations.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--dataset", default="ml-latest-small", help=f"one of {', '.join(KNOWN_DATASETS)}"
    )
    parser.add_argument("--source", help="a local folder, .zip or URL holding a GroupLens dataset")
    parser.add_argument("--data-dir", help="output folder (default: $COFI_DATA_DIR or ./data)")
    parser.add_argument(
        "--lab",
        action="store_true",
        help="use the lab's settings (100 features, lambda 1, lr 0.1, 200 iterations)",
    )
    parser.add_argument(
        "--objective",
        choices=["lab", "biased", "svdpp", "ranking"],
        default=DEFAULTS.objective,
        help="model variant (cost function)",
    )
    parser.add_argument("--n-features", type=int, default=DEFAULTS.n_features)
    parser.add_argument(
        "--lambda",
        dest="lambda_",
        type=float,
        help=f"regularization (default {DEFAULTS.lambda_:g}; {OBJECTIVE_DEFAULTS['ranking']['lambda_']:g} for ranking)",
    )
    parser.add_argument(
        "--regularization",
        choices=["uniform", "weighted"],
        default=DEFAULTS.regularization,
        help="uniform (the lab's) or weighted by each row's rating count",
    )
    parser.add_argument(
        "--learning-rate",
        type=float,
        help=f"Adam's rate (default {DEFAULTS.learning_rate:g}; {WARM_START_DEFAULTS['learning_rate']:g} warm)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        help=f"stop once the cost falls by less than this share per check (default 0; {WARM_START_DEFAULTS['tolerance']:g} warm)",
    )
    parser.add_argument(
        "--warm-start",
        action="store_true",
        help="start training from the last published model of this dataset",
    )
    parser.add_argument("--iterations", type=int, default=DEFAULTS.iterations)
    parser.add_argument("--init-scale", type=float, default=DEFAULTS.init_scale)
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    parser.add_argument(
        "--method", choices=["auto", "dense", "sparse", "minibatch"], default=DEFAULTS.method
    )
    parser.add_argument("--dtype", choices=["float32", "float64"], default=DEFAULTS.dtype)
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs, help="mini-batch epochs")
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULTS.batch_size, help="ratings per mini-batch"
    )
    parser.add_argument(
        "--validation-fraction",
        type=float,
        default=DEFAULTS.validation_fraction,
        help="share of training ratings set aside to stop early (0: off)",
    )
    parser.add_argument(
        "--holdout",
        dest="holdout_fraction",
        type=float,
        default=0.1,
        help="held-out share (0: no evaluation)",
    )
    parser.add_argument("--top-n", type=int, default=10, help="recommendations per user")
    parser.add_argument(
        "--min-movie-ratings", type=int, default=5, help="ratings a movie needs to be recommended"
    )
    parser.add_argument(
        "--min-user-ratings",
        type=int,
        default=5,
        help="users with fewer ratings get the popular fallback (flagged in the table)",
    )
    parser.add_argument(
        "--similar-n", type=int, default=10, help="similar movies per movie (0: none)"
    )
    parser.add_argument(
        "--similar-metric", choices=["cosine", "distance"], default="cosine", help="for --similar-n"
    )
    parser.add_argument(
        "--refresh", action="store_true", help="recompute even when the inputs are unchanged"
    )
    parser.add_argument("--shards", type=int, default=1, help="score users in this many shards")
    parser.add_argument(
        "--dask-workers",
        type=int,
        help="run the scoring shards on a local Dask cluster of this many worker processes",
    )
    parser.add_argument(
        "--dask-address",
        help="run the scoring shards on an existing Dask cluster (tcp://host:8786)",
    )
    parser.add_argument(
        "--quarantine",
        action="store_true",
        help="set bad rows aside in quarantine.csv instead of failing",
    )
    args = parser.parse_args(argv)
    if args.lab:
        for name in ("n_features", "lambda_", "learning_rate", "iterations", "init_scale"):
            setattr(args, name, getattr(LAB_CONFIG, name))
    del args.lab
    return args


def with_task_runner(dask_workers: int | None, dask_address: str | None):
    """The pipeline flow, with a Dask task runner when a cluster is asked for."""
    if not dask_workers and not dask_address:
        return cofi_pipeline
    from prefect_dask import DaskTaskRunner

    if dask_address:
        runner = DaskTaskRunner(address=dask_address)
    else:
        runner = DaskTaskRunner(cluster_kwargs={"n_workers": dask_workers, "threads_per_worker": 1})
    return cofi_pipeline.with_options(task_runner=runner)


def main(argv: list[str] | None = None) -> int:
    args = vars(parse_args(argv))
    flow_to_run = with_task_runner(args.pop("dask_workers"), args.pop("dask_address"))
    if flow_to_run is not cofi_pipeline and args["shards"] == 1:
        args["shards"] = 8
    summary = flow_to_run(**args)
    print()
    if summary["evaluation"]:
        print(format_report(summary["evaluation"]))
    print(
        f"recommendations: {summary['recommendations']} ({summary['recommendation_rows']:,} rows)"
    )
    if summary["fallback_users"]:
        print(f"cold start:      {summary['fallback_users']:,} user(s) got the popular fallback")
    if summary["similar"]:
        print(f"similar movies:  {summary['similar']}")
    print(f"model:           {summary['model_dir']} (id {summary['model_id']})")
    print(
        f"training:        {summary['training_steps']} steps; warm start: {summary['warm_start']}"
    )
    print(f"run folder:      {summary['run_dir']}")
    stages = ", ".join(
        f"{name} {seconds:.1f}s" for name, seconds in summary["stage_seconds"].items()
    )
    print(f"stages:          {stages}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
