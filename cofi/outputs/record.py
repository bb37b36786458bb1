"""The run record: what one pipeline run did and where its outputs are (``summary.json``).

The flow gathers everything a reader needs into the run folder (:func:`gather`) and writes the
record there before publishing; warm start, the run report and the ``cofi`` command read it back
with :meth:`RunRecord.read`. Inside the file, paths are relative to the run folder, so a published
run stays correct whatever later runs do to ``datasets/`` and ``cache/``, and the data folder can
be moved.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cofi.errors import CofiError
from cofi.models.config import TrainConfig
from cofi.outputs.caching import link_or_copy
from cofi.outputs.publish import atomic_path

#: The record's file name inside a run folder.
RECORD_NAME = "summary.json"


class TrainSummary(BaseModel):
    """One fitted model: where it is saved and how its training went."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_dir: Path = Field(description="the saved model's folder")
    model_id: str = Field(description="the model's id (see cofi.Model.model_id)")
    fit_seconds: float = Field(ge=0.0, description="wall seconds spent in cofi.fit")
    final_cost: float | None = Field(default=None, description="the last logged cost")
    n_ratings: int = Field(ge=0, description="ratings fitted on")
    steps: int = Field(default=0, ge=0, description="optimizer steps taken")
    warm_start_from: str | None = Field(
        default=None, description="id of the model training started from (None: cold start)"
    )


class RunTraining(BaseModel):
    """The run's two fits: on the training split (to evaluate) and on every rating."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    holdout: TrainSummary | None = Field(
        default=None, description="the held-out model (None when nothing was held out)"
    )
    final: TrainSummary = Field(description="the published model, fitted on every rating")
    ranking_holdout: TrainSummary | None = Field(
        default=None,
        description="the held-out ranking model (None: no hold-out or no ranking model)",
    )
    ranking_final: TrainSummary | None = Field(
        default=None, description="the published ranking model (None: the rating model ranks)"
    )


class RankingMetrics(BaseModel):
    """One top-k list's held-out ranking metrics (cofi.evaluation.metrics.ranking_report)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k: int = Field(ge=1, description="list length")
    threshold: float | None = Field(
        default=None, description="held-out rating a movie needs to be relevant (None: any)"
    )
    n_users: int = Field(ge=0, description="users averaged over (those with a relevant movie)")
    n_users_without_recommendations: int = Field(ge=0)
    # None where no user had a relevant movie (the metric is undefined).
    precision_at_k: float | None = None
    recall_at_k: float | None = None
    ndcg_at_k: float | None = None
    map_at_k: float | None = None
    hit_rate_at_k: float | None = None
    catalog_coverage: float | None = Field(
        default=None, description="share of the candidate movies some list holds"
    )


class ListEvaluation(BaseModel):
    """The published list beside the most-popular list on the held-out ratings
    (:func:`cofi.evaluation.comparison.published_list_report`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k: int = Field(ge=1, description="list length: the run's top_n")
    threshold: float | None = Field(
        default=None, description="held-out rating a movie needs to be relevant (None: any)"
    )
    list: RankingMetrics = Field(description="the held-out ranking model's published list")
    popularity: RankingMetrics = Field(description="the most-rated movies each user has not rated")
    improvement: dict[str, float | None] = Field(
        description="each metric's relative gain of the list over popularity"
    )
    beats_popularity: bool = Field(description="the list's P@k and NDCG@k both above popularity's")


class RunRecord(BaseModel):
    """One pipeline run, as written to ``<run folder>/summary.json``.

    In memory every path is absolute; in the file, those inside the run folder are relative to it
    (:meth:`write`, :meth:`read`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = Field(description="the ingested dataset's folder name")
    run_dir: Path = Field(description="this run's folder")
    latest: Path = Field(description="the data folder's `latest` link, pointed at run_dir")
    seed: int = Field(description="the run's seed (split, initialization)")
    holdout_fraction: float = Field(ge=0.0, lt=1.0, description="share of ratings held out")
    min_movie_ratings: int = Field(ge=1, description="ratings a movie needs to be recommended")
    min_user_ratings: int = Field(ge=0, description="users with fewer get the popular fallback")
    config: TrainConfig = Field(description="the rating model's training configuration")
    ranking_config: TrainConfig | None = Field(
        default=None, description="the ranking model's configuration (None: the rating model ranks)"
    )
    train: RunTraining = Field(description="the held-out and final fits")
    ratings_digest: str = Field(description="SHA-256 of the ingested ratings.parquet")
    ratings_path: Path = Field(description="the ingested ratings (Parquet)")
    movies_path: Path = Field(description="the ingested movies (Parquet)")
    train_path: Path = Field(description="the training split (every rating when no hold-out)")
    test_path: Path | None = Field(default=None, description="the held-out ratings")
    n_ratings: int = Field(ge=0)
    n_users: int = Field(ge=0)
    n_movies: int = Field(ge=0)
    model_dir: Path = Field(description="the published model (in run_dir)")
    model_id: str = Field(description="the published model's id")
    fit_seconds: float = Field(ge=0.0, description="the final fit's wall seconds")
    training_steps: int | None = Field(default=None, description="the final fit's steps")
    holdout_model_dir: Path | None = Field(default=None, description="the held-out model")
    ranking_model_dir: Path | None = Field(
        default=None, description="the published ranking model (in run_dir; None: model ranks)"
    )
    ranking_model_id: str | None = Field(default=None, description="the ranking model's id")
    ranking_holdout_model_dir: Path | None = Field(
        default=None, description="the held-out ranking model"
    )
    published_list: ListEvaluation | None = Field(
        default=None,
        description="the published list's held-out ranking metrics beside popularity's",
    )
    evaluation: dict[str, Any] | None = Field(
        default=None,
        description="the held-out report of cofi.evaluation.holdout.evaluate, plus fit_seconds",
    )
    recommendations: Path = Field(description="every user's top-N table (Parquet)")
    recommendation_rows: int = Field(ge=0)
    fallback_users: int | None = Field(default=None, description="users given the fallback")
    similar: Path | None = Field(default=None, description="the similar-movies table, if any")
    warm_start: str = Field(description="whether and from where training started warm, and why")
    stage_seconds: dict[str, float] = Field(
        default_factory=dict,
        description="wall seconds of each stage (ingest, matrices, train-holdout, "
        "train-ranking-holdout, evaluate, train-final, train-ranking-final, recommend, "
        "similar-movies); "
        "a cached stage takes its lookup's time",
    )

    def write(self, path: str | Path) -> Path:
        """Write the record as JSON to ``path`` (a file, or a run folder) atomically; paths inside
        :attr:`run_dir` are written relative to it."""
        target = _record_path(path)
        run_dir = Path(self.run_dir).resolve()
        data = _map_paths(self.model_dump(mode="json"), lambda value: _relative(value, run_dir))
        latest = Path(self.latest).absolute()
        data["latest"] = os.path.relpath(latest.parent.resolve() / latest.name, run_dir)
        with atomic_path(target) as staging:
            staging.write_text(json.dumps(data, indent=2))
        return target

    @classmethod
    def read(cls, path: str | Path) -> RunRecord:
        """Read a record from ``path`` (a ``summary.json`` or the run folder holding one).

        Raises:
            CofiError: the file is missing, is not JSON or does not hold a run record.
        """
        target = _record_path(path)
        try:
            text = target.read_text()
        except FileNotFoundError:
            raise CofiError(f"{target}: no run record (has the pipeline run here?)") from None
        except OSError as error:
            raise CofiError(f"{target}: cannot read the run record: {error}") from None
        # The folder the file is in, links resolved: a record read through `latest` stays with
        # the run it was read from, whatever is published next.
        run_dir = target.parent.resolve()
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except ValueError as error:
            raise CofiError(f"{target}: not a valid run record (not JSON: {error})") from None
        data = _map_paths(data, lambda value: str(run_dir / value))
        if isinstance(data.get("latest"), str):
            data["latest"] = os.path.normpath(run_dir / data["latest"])
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in item['loc']) or 'file'}: {item['msg']}"
                for item in error.errors()[:5]
            )
            raise CofiError(f"{target}: not a valid run record ({problems})") from None


#: Where :func:`gather` places each input and output a reader of a run needs, in its folder.
RUN_LAYOUT: dict[str, str] = {
    "ratings_path": "ratings.parquet",
    "movies_path": "movies.parquet",
    "train_path": "train.parquet",
    "test_path": "test.parquet",
    "model_dir": "model",
    "holdout_model_dir": "holdout-model",
    "ranking_model_dir": "ranking-model",
    "ranking_holdout_model_dir": "ranking-holdout-model",
    "recommendations": "recommendations.parquet",
    "similar": "similar.parquet",
}

#: The fits of :class:`RunTraining` and the record fields holding their models.
_FIT_FIELDS = {
    "holdout": "holdout_model_dir",
    "final": "model_dir",
    "ranking_holdout": "ranking_holdout_model_dir",
    "ranking_final": "ranking_model_dir",
}


def gather(record: RunRecord) -> RunRecord:
    """Place every file and model ``record`` names inside its run folder (hard links, or copies
    across devices) and return the record pointing at them there.

    A published run then holds all its readers need: later runs that replace ``datasets/`` and
    ``cache/`` cannot change what it serves.
    """
    run_dir = Path(record.run_dir)
    update: dict[str, Any] = {}
    for field, name in RUN_LAYOUT.items():
        source = getattr(record, field)
        if source is None:
            continue
        target = run_dir / name
        if Path(source).resolve() != target.resolve():
            link_or_copy(Path(source), target)
        update[field] = target
    fits = {
        fit: summary.model_copy(update={"model_dir": update[field]})
        for fit, field in _FIT_FIELDS.items()
        if (summary := getattr(record.train, fit)) is not None and field in update
    }
    update["train"] = record.train.model_copy(update=fits)
    return record.model_copy(update=update)


def _relative(value: str, run_dir: Path) -> str:
    """``value`` relative to ``run_dir`` when it lies inside it (``.`` for the folder itself)."""
    path = Path(value)
    if not path.is_absolute():
        return value
    try:
        inside = path.resolve().relative_to(run_dir)
    except ValueError:
        return value
    return inside.as_posix() or "."


def _map_paths(data: dict[str, Any], change: Any) -> dict[str, Any]:
    """``data`` (a dumped record) with ``change`` applied to each path field's string value."""
    fields = ["run_dir", *RUN_LAYOUT]
    data = dict(data)
    for field in fields:
        if isinstance(data.get(field), str):
            data[field] = change(data[field])
    train = data.get("train")
    if isinstance(train, dict):
        data["train"] = {
            fit: {**summary, "model_dir": change(summary["model_dir"])}
            if isinstance(summary, dict) and isinstance(summary.get("model_dir"), str)
            else summary
            for fit, summary in train.items()
        }
    return data


def _record_path(path: str | Path) -> Path:
    path = Path(path)
    return path / RECORD_NAME if path.is_dir() else path
