"""Each step of a run under a name that says what it is, timed for the run record."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


class Stages:
    """Names the task runs of one flow run and keeps the wall seconds of each stage.

    ``stages(task, "train-holdout")(...)`` runs ``task`` as the task run ``train-holdout`` (so the
    Prefect UI says which fit is which) and records how long the call took under that name, or
    under ``stage`` when given (a stage that waits on submitted work, such as combining the
    scoring shards, is named for the work). A cached step takes the time of its cache lookup.

    Args:
        storage: the run's step cache (``<data>/cache``): its steps' results lie inside it, and
            whatever else Prefect writes for them (a failed step's exception record) too, not
            in the root folder.
    """

    def __init__(self, storage: Path | None = None) -> None:
        self.seconds: dict[str, float] = {}
        self.storage = storage

    def options(self, task: Any, name: str) -> dict[str, Any]:
        """The task options of ``task``'s run ``name``: a cached step's results (JSON) go to
        the run's cache; other tasks persist nothing (storage given would make Prefect
        persist, and pickle, their results)."""
        options: dict[str, Any] = {"task_run_name": name}
        if self.storage is not None and task.result_serializer == "json":
            options["result_storage"] = self.storage
        return options

    def __call__(self, task: Any, name: str, stage: str | None = None) -> Callable[..., Any]:
        named = task.with_options(**self.options(task, name))

        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return named(*args, **kwargs)
            finally:
                self.seconds[stage or name] = round(time.perf_counter() - started, 3)

        return run
