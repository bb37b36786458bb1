"""The ``cofi-pipeline`` flow: ingest -> matrices -> train -> evaluate -> recommend -> publish.

Every step but ingest, warm start, report and publish is cached on its inputs' bytes and its
parameters (:mod:`tasks.caching`); the parameters are :class:`flows.parameters.PipelineParameters`.
Run it ad hoc with ``python -m flows.pipeline`` (``--help`` lists the options).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cofi.runtime import import_tensorflow  # noqa: E402

# TensorFlow first, quietly, so that no later import prints its start-up notice
import_tensorflow()

from prefect import flow  # noqa: E402
from prefect.runtime import flow_run  # noqa: E402

from cli.parsing import OneLineParser  # noqa: E402
from cofi import settings  # noqa: E402
from cofi.data.ingest import read_manifest  # noqa: E402
from cofi.errors import CofiError  # noqa: E402
from cofi.evaluation.comparison import format_list_report  # noqa: E402
from cofi.evaluation.holdout import format_report  # noqa: E402
from cofi.models.config import TrainConfig  # noqa: E402
from cofi.outputs.caching import file_digest, link_or_copy  # noqa: E402
from cofi.outputs.publish import new_run_dir, release_run_dir  # noqa: E402
from cofi.outputs.record import RunRecord, RunTraining, gather  # noqa: E402
from flows import failures  # noqa: E402
from flows.parameters import (  # noqa: E402
    LAB_CONFIG,
    LAB_FIELDS,
    RANKING_FIELDS,
    TRAINING_FIELDS,
    LaunchOptions,
    PipelineParameters,
    add_options,
    parse,
    takes,
    validated,
)
from flows.stages import Stages  # noqa: E402
from tasks.caching import refreshing  # noqa: E402
from tasks.evaluate import evaluate_model  # noqa: E402
from tasks.ingest import dataset_key, ingest_movielens  # noqa: E402
from tasks.matrices import build_matrices  # noqa: E402
from tasks.recommend import combine_recommendations, publish_run, recommend_shard  # noqa: E402
from tasks.report import write_report  # noqa: E402
from tasks.similar import similar_movies_table  # noqa: E402
from tasks.tidy import tidy_up  # noqa: E402
from tasks.train import train_model  # noqa: E402
from tasks.warm import find_warm_start  # noqa: E402

NO_WARM_START = {"model_dir": None, "holdout_model_dir": None, "train": None}

# A user's failure is logged as one line, without Prefect's traceback, in this process (the
# command, `flows.serve` and a worker's flow-run process all import this module).
failures.install()


def run_name() -> str:
    """The flow run's name: dataset, objective and size, then a stamp that tells runs apart,
    e.g. ``ml-latest-small-auto-1201-0300-a1b2``, ``ml-100k-biased-64f-1201-0300-a1b2`` (UTC
    month-day-hour-minute, run id)."""
    parameters = flow_run.get_parameters()
    dataset = dataset_key(parameters.get("dataset"), parameters.get("source"))
    # unset, the objective is chosen by the ratings' size (not known yet), and it sets the size
    objective = parameters.get("objective") or "auto"
    n_features = parameters.get("n_features")
    size = f"-{n_features}f" if n_features else ""
    stamp = time.strftime("%m%d-%H%M", time.gmtime())
    return f"{dataset}-{objective}{size}-{stamp}-{(flow_run.get_id() or '')[:4]}"


@flow(name="cofi-pipeline", log_prints=True, flow_run_name=run_name)
@takes(PipelineParameters)
def cofi_pipeline(**parameters: Any) -> RunRecord:
    """Recompute recommendations for every user from a MovieLens dataset.

    Takes the fields of :class:`flows.parameters.PipelineParameters`, and returns the run's
    :class:`cofi.outputs.record.RunRecord`, also written to its folder as ``summary.json``.
    A failure the user can fix (bad data or parameters, a full or read-only disk) fails the run
    with its one-line reason as the state message; calling the flow raises it.
    """
    try:
        return _pipeline(validated(PipelineParameters, parameters))
    except Exception as error:
        state = failures.failed(error)
        if state is None:
            raise
        return state  # type: ignore[return-value]


def _pipeline(params: PipelineParameters) -> RunRecord:
    """The pipeline's steps, wired."""
    root = _data_folder(params.data_dir)
    data, latest = str(root), root / "latest"
    dataset = dataset_key(params.dataset, params.source)
    stages = Stages(root / "cache")
    with refreshing(params.refresh):
        ingested = stages(ingest_movielens, "ingest")(
            params.dataset,
            params.source,
            data,
            params.quarantine,
            params.refresh,
            params.sha256,
            params.allow_http,
        )
        ratings, movies = ingested["ratings_path"], ingested["movies_path"]
        scale = read_manifest(Path(ingested["dataset_dir"]))["rating_scale"]
        ratings_digest = file_digest(Path(ratings))
        n_ratings = ingested["n_ratings"]
        cold = params.train_config(n_ratings=n_ratings)
        config, warm = _warm_start(params, cold, str(latest), dataset, ratings_digest, n_ratings)
        ranking_cold = params.ranking_config(n_ratings=n_ratings)
        ranking_config, ranking_warm = _warm_start(
            params, ranking_cold, str(latest), dataset, ratings_digest, n_ratings, ranking=True
        )
        matrices = stages(build_matrices, "matrices")(
            ratings, movies, data, params.holdout_fraction, params.seed
        )
        movie_index = matrices["movie_index_path"]

        def fit(name: str, cold: Any, config: Any, warm: dict, holdout: bool) -> dict:
            # No new ratings since a warm-started published run: its models stand (no drift).
            reused = (warm["train"] or {}).get("holdout" if holdout else "final")
            if reused:
                return reused
            if holdout:
                start = warm["holdout_model_dir"]
                # A held-out model without its own warm start trains cold, with the cold settings.
                return stages(train_model, name)(
                    matrices["train_path"],
                    movie_index,
                    scale,
                    (config if start else cold).model_dump(),
                    data,
                    start,
                    matrices["test_path"],
                )
            # The published model learns from every rating; the held-out one measured the method.
            return stages(train_model, name)(
                ratings, movie_index, scale, config.model_dump(), data, warm["model_dir"]
            )

        held_out = ranking_held_out = evaluation = None
        if params.holdout_fraction > 0:
            held_out = fit("train-holdout", cold, config, warm, holdout=True)
            if ranking_config is not None:
                ranking_held_out = fit(
                    "train-ranking-holdout", ranking_cold, ranking_config, ranking_warm, True
                )
            evaluation = stages(evaluate_model, "evaluate")(
                held_out["model_dir"],
                matrices["train_path"],
                matrices["test_path"],
                data,
                ranking_held_out and ranking_held_out["model_dir"],
                params.top_n,
                params.min_movie_ratings,
                params.min_user_ratings,
            )
        final = fit("train-final", cold, config, warm, holdout=False)
        ranking_final = None
        if ranking_config is not None:
            ranking_final = fit(
                "train-ranking-final", ranking_cold, ranking_config, ranking_warm, False
            )
        model_dir = final["model_dir"]
        # The ranking model orders the lists; the rating model fills predicted_rating.
        ranker_dir = ranking_final["model_dir"] if ranking_final else model_dir
        parts = [
            recommend_shard.with_options(
                **stages.options(recommend_shard, f"recommend-shard-{shard + 1}-of-{params.shards}")
            ).submit(
                ranker_dir,
                movies,
                data,
                shard,
                params.shards,
                params.top_n,
                params.min_movie_ratings,
                params.min_user_ratings,
                model_dir if ranking_final else None,
            )
            for shard in range(params.shards)
        ]
        recommended = stages(combine_recommendations, "combine-recommendations", "recommend")(
            parts, data
        )
        similar = None
        if params.similar_n > 0:
            similar = stages(similar_movies_table, "similar-movies")(
                model_dir,
                movies,
                data,
                params.similar_n,
                params.similar_metric,
                params.min_movie_ratings,
            )

    fits = {
        "holdout": held_out,
        "final": final,
        "ranking_holdout": ranking_held_out,
        "ranking_final": ranking_final,
    }
    return _publish(
        params, root, dataset,
        lambda run_dir: _gathered(
            params, root, run_dir, dataset, ingested, matrices, (config, ranking_config), fits,
            evaluation, recommended, similar, (warm, ranking_warm), ratings_digest, stages,
        ),
    )  # fmt: skip


def _publish(
    params: PipelineParameters,
    root: Path,
    dataset: str,
    gathered: Callable[[Path], RunRecord],
) -> RunRecord:
    """Make a new run folder, let ``gathered`` fill it and return its record, write the record
    and report, then point ``latest`` at it; then tidy what killed runs left behind."""
    latest = root / "latest"
    run_dir = new_run_dir(root, dataset)
    try:
        record = gathered(run_dir)
        # The run folder is complete, record included, before `latest` points at it.
        record.write(run_dir)
        # The run's own parameters; the models' configurations, resolved, come from the record.
        shown_elsewhere = {"data_dir", *RANKING_FIELDS, *TRAINING_FIELDS}
        own = params.model_dump(
            exclude_none=True,
            exclude=shown_elsewhere | ({"dataset"} if params.source else set()),
        )
        write_report(str(run_dir), own)
        publish_run.with_options(task_run_name="publish")(str(run_dir), str(latest))
    finally:
        release_run_dir(run_dir)
    tidy_up(str(root))
    return record


def _gathered(
    params: PipelineParameters,
    root: Path,
    run_dir: Path,
    dataset: str,
    ingested: dict,
    matrices: dict,
    configs: tuple,
    fits: dict,
    evaluation: dict | None,
    recommended: dict,
    similar: dict | None,
    warm_starts: tuple[dict, dict],
    ratings_digest: str,
    stages: Stages,
) -> RunRecord:
    """The run's record, with every file and model it names gathered into ``run_dir``."""
    latest = root / "latest"
    config, ranking_config = configs
    warm, ranking_warm = warm_starts
    if evaluation:
        link_or_copy(Path(evaluation["path"]), run_dir / "metrics.json")
    record = RunRecord(
        dataset=dataset,
        run_dir=run_dir,
        latest=latest,
        seed=params.seed,
        holdout_fraction=params.holdout_fraction,
        min_movie_ratings=params.min_movie_ratings,
        min_user_ratings=params.min_user_ratings,
        config=config,
        ranking_config=ranking_config,
        train=RunTraining(
            **fits,
        ),
        ratings_digest=ratings_digest,
        ratings_path=ingested["ratings_path"],
        movies_path=ingested["movies_path"],
        train_path=matrices["train_path"],
        test_path=matrices["test_path"],
        n_ratings=ingested["n_ratings"],
        n_users=ingested["n_users"],
        n_movies=ingested["n_movies"],
        model_dir=fits["final"]["model_dir"],
        model_id=fits["final"]["model_id"],
        fit_seconds=fits["final"]["fit_seconds"],
        training_steps=fits["final"]["steps"],
        holdout_model_dir=fits["holdout"] and fits["holdout"]["model_dir"],
        ranking_model_dir=fits["ranking_final"] and fits["ranking_final"]["model_dir"],
        ranking_model_id=fits["ranking_final"] and fits["ranking_final"]["model_id"],
        ranking_holdout_model_dir=fits["ranking_holdout"] and fits["ranking_holdout"]["model_dir"],
        evaluation=evaluation
        and {
            **{name: value for name, value in evaluation.items() if name != "published_list"},
            "fit_seconds": fits["holdout"]["fit_seconds"],
        },
        published_list=evaluation and evaluation["published_list"],
        recommendations=recommended["path"],
        recommendation_rows=recommended["rows"],
        fallback_users=recommended["fallback_users"],
        similar=similar and similar["path"],
        warm_start=warm["reason"]
        + (
            f"; ranking model: {ranking_warm['reason']}"
            if ranking_config and params.warm_start
            else ""
        ),
        stage_seconds=stages.seconds,
    )
    return gather(record)


def _data_folder(data_dir: str | None) -> Path:
    """The data folder, absolute (so the record's paths work from anywhere), made and checked
    writable before any step runs: a file in its place, a read-only or full disk fail here."""
    root = (Path(data_dir) if data_dir else settings.data_dir()).resolve()
    if root.exists() and not root.is_dir():
        raise CofiError(f"{root}: the data folder is a file, not a folder")
    root.mkdir(parents=True, exist_ok=True)
    probe = root / f".cofi-write-test-{os.getpid()}"
    probe.write_bytes(b"cofi")
    probe.unlink()
    return root


def _warm_start(
    params: PipelineParameters,
    cold: TrainConfig | None,
    latest: str,
    dataset: str,
    ratings_digest: str,
    n_ratings: int,
    ranking: bool = False,
) -> tuple[TrainConfig | None, dict]:
    """The configuration to train with and the published models to start from (if any);
    the objective's large-data defaults apply from ``n_ratings`` on, as for a cold start."""
    if cold is None or not params.warm_start:
        return cold, {**NO_WARM_START, "reason": "not asked for"}
    warm_config = (
        params.ranking_config(True, n_ratings) if ranking else params.train_config(True, n_ratings)
    )
    assert warm_config is not None
    warm = find_warm_start(
        latest,
        dataset,
        params.holdout_fraction,
        params.seed,
        warm_config.model_dump(),
        ratings_digest,
        ranking,
    )
    return (warm_config if warm["model_dir"] else cold), warm


def parse_args(argv: list[str] | None = None) -> tuple[PipelineParameters, LaunchOptions]:
    """The command line, made from the fields of PipelineParameters and LaunchOptions."""
    parser = OneLineParser(
        prog="python -m flows.pipeline",
        description="Run the cofi pipeline once: ingest MovieLens, train, evaluate, write recommendations.",
    )
    add_options(parser, PipelineParameters)
    add_options(parser, LaunchOptions)

    def presets(values: dict[str, Any]) -> None:
        if values.get("lab"):
            values.update({name: getattr(LAB_CONFIG, name) for name in LAB_FIELDS})
        if values.get("dask_workers") or values.get("dask_address"):
            values.setdefault("shards", 8)

    params, options = parse(parser, argv, PipelineParameters, LaunchOptions, adjust=presets)
    return params, options


def with_task_runner(dask_workers: int | None, dask_address: str | None):
    """The pipeline flow, with a Dask task runner when a cluster is asked for."""
    if not dask_workers and not dask_address:
        return cofi_pipeline
    from prefect_dask import DaskTaskRunner

    if dask_address:
        runner = DaskTaskRunner(address=dask_address)
    else:
        runner = DaskTaskRunner(cluster_kwargs=local_cluster(dask_workers))
    return cofi_pipeline.with_options(task_runner=runner)


def local_cluster(n_workers: int) -> dict[str, Any]:
    """The settings of a local Dask cluster: its dashboard on loopback only (Dask's default
    listens on every interface), on 8787 or, when taken, a free port."""
    return {"n_workers": n_workers, "threads_per_worker": 1, "dashboard_address": "127.0.0.1:8787"}


def main(argv: list[str] | None = None, error_prefix: str = "cofi-pipeline: ") -> int:
    """Run the flow once with the options in ``argv``; print where its outputs are.

    A failure is told as one line starting ``error_prefix`` (``cofi run`` tells it as its own).

    Returns:
        The exit status: 0, 2 for a failure the user can fix (bad data or parameters, a full or
        read-only disk; told in one line), 1 for any other (one line; ``--debug`` raises it).
    """
    params, options = parse_args(argv)
    flow_to_run = with_task_runner(options.dask_workers, options.dask_address)
    try:
        record = flow_to_run(**params.model_dump())
    except Exception as error:
        if options.debug:
            raise
        told = failures.reason(error)
        if told is None:
            told = f"unexpected {type(error).__name__}: {error} (--debug shows the traceback)"
        print(f"{error_prefix}{' '.join(told.split())}", file=sys.stderr)
        return 2 if failures.reason(error) else 1
    print()
    if record.evaluation:
        print(format_report(record.evaluation))
    if record.published_list:
        print(format_list_report(record.published_list.model_dump()))
    print(f"recommendations: {record.recommendations} ({record.recommendation_rows:,} rows)")
    if record.fallback_users:
        print(f"cold start:      {record.fallback_users:,} user(s) got the popular fallback")
    if record.similar:
        print(f"similar movies:  {record.similar}")
    print(f"model:           {record.model_dir} (id {record.model_id})")
    if record.ranking_model_dir:
        print(f"ranking model:   {record.ranking_model_dir} (id {record.ranking_model_id})")
    print(f"training:        {record.training_steps} steps in {record.fit_seconds:.1f} s")
    print(f"warm start:      {record.warm_start}")
    print(f"run folder:      {record.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
