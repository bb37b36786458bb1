"""Tidy the data folder after a run: what killed runs left behind, and nothing any run holds."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task

from cofi.outputs.publish import sweep_runs
from tasks.caching import sweep_cache


@task(name="tidy-up")
def tidy_up(data_dir: str) -> dict[str, int]:
    """Remove incomplete run folders, orphaned step folders and free lock files.

    Returns:
        How many of each were removed (``runs``, ``steps``, ``locks``).
    """
    removed = {"runs": len(sweep_runs(Path(data_dir))), **sweep_cache(data_dir)}
    if any(removed.values()):
        get_run_logger().info(
            "tidied: %(runs)d incomplete run folder(s), %(steps)d step folder(s) and "
            "%(locks)d lock file(s) left by killed runs",
            removed,
        )
    return removed
