"""Reruns are cache hits (Prefect's Cached state) with identical tables; --refresh recomputes;
changed inputs land in new folders; overlapping runs compute each step once and never mix."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from cofi.outputs.record import RunRecord
from flows.pipeline import cofi_pipeline
from tasks.caching import FileLocks, InputFiles

PARAMS = dict(iterations=10, ranking_iterations=10, top_n=5, seed=2, shards=2)
CACHED_STEPS = {
    "matrices",
    "train-holdout",
    "train-final",
    "train-ranking-holdout",
    "train-ranking-final",
    "evaluate",
    "recommend-shard-1-of-2",
    "recommend-shard-2-of-2",
    "combine-recommendations",
    "similar-movies",
}

EVERY_STEP = CACHED_STEPS | {"ingest", "report", "publish", "tidy-up"}


def _step(run_name: str) -> str:
    """The step a task run belongs to: the flow names its steps' runs (train-holdout,
    recommend-shard-1-of-2, ...); the rest keep Prefect's "<task>-<suffix>"."""
    return run_name if run_name in CACHED_STEPS | {"ingest"} else run_name.rsplit("-", 1)[0]


def _final_task_runs(flow_run_id, timeout: float = 60.0) -> list:
    """The flow run's task runs once the server has recorded a final state for every step.

    Prefect 3 records task-run states from events, after the flow has returned: read too soon,
    a run can still show no state, or a state that is not yet its last.
    """
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            settled = all(run.state is not None and run.state.is_final() for run in runs)
            if settled and EVERY_STEP <= {_step(run.name) for run in runs}:
                return runs
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"task-run states still unsettled after {timeout:.0f} s: "
                    + ", ".join(f"{run.name}={run.state and run.state.name}" for run in runs)
                )
            time.sleep(0.2)


def _run(source: Path, data_dir: Path, **overrides) -> tuple[RunRecord, dict[str, list[str]]]:
    """One pipeline run: its record and each task's final states by step name."""
    state = cofi_pipeline(
        source=str(source), data_dir=str(data_dir), **{**PARAMS, **overrides}, return_state=True
    )
    record = state.result()
    runs = _final_task_runs(state.state_details.flow_run_id)
    states: dict[str, list[str]] = {}
    for run in runs:
        states.setdefault(_step(run.name), []).append(run.state.name)
    states["train"] = states.get("train-holdout", []) + states.get("train-final", [])
    return record, states


def _digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _model_mtime(record: RunRecord) -> int:
    return (record.train.final.model_dir / "model.json").stat().st_mtime_ns


def test_a_rerun_is_cached_and_identical_and_refresh_recomputes(
    harness, synthetic_source, tmp_path
) -> None:
    first, computed = _run(synthetic_source, tmp_path)
    assert set(computed) == EVERY_STEP | {"train"}
    # only the steps persist results, as JSON in their folders: no stray (pickled) record
    assert [path for path in (tmp_path / "cache").iterdir() if path.is_file()] == []
    assert all(state == "Completed" for states in computed.values() for state in states)

    second, states = _run(synthetic_source, tmp_path)
    for step in CACHED_STEPS:
        assert set(states[step]) == {"Cached"}, (step, states[step])
    assert all(len(states[step]) == 1 for step in CACHED_STEPS)
    assert second.run_dir != first.run_dir
    assert second.model_id == first.model_id
    # both runs hold the one cached model, linked into their own folders
    assert os.path.samefile(second.model_dir / "model.json", first.model_dir / "model.json")
    assert _model_mtime(second) == _model_mtime(first), "a cache hit wrote the model again"
    for table in ("recommendations.parquet", "similar.parquet", "metrics.json"):
        assert _digest(second.run_dir / table) == _digest(first.run_dir / table), table
    trains = sorted(p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith("train-"))
    assert len(trains) == 4  # the held-out and final rating and ranking models, once each

    before = _model_mtime(first)
    refreshed, states = _run(synthetic_source, tmp_path, refresh=True)
    for step in CACHED_STEPS:
        assert "Cached" not in states[step], (step, states[step])
    assert _model_mtime(refreshed) != before, "--refresh did not fit again"
    assert refreshed.model_id == first.model_id, "same inputs and seed give the same model"
    pd.testing.assert_frame_equal(
        pd.read_parquet(refreshed.recommendations), pd.read_parquet(first.recommendations)
    )
    # and a run after the refresh is a cache hit again
    _, states = _run(synthetic_source, tmp_path)
    assert set(states["train-holdout"]) == set(states["train-final"]) == {"Cached"}


def test_a_step_folder_holds_its_json_result_and_a_deleted_one_is_computed_again(
    harness, synthetic_source, tmp_path
) -> None:
    first, _ = _run(synthetic_source, tmp_path)
    (folder,) = [
        path.parent.parent
        for path in (tmp_path / "cache").glob("train-*/model/model.json")
        if os.path.samefile(path, first.model_dir / "model.json")
    ]
    assert folder.parent == tmp_path.resolve() / "cache"
    record = json.loads((folder / "result.json").read_text())
    assert record["metadata"]["serializer"]["type"] == "json"
    assert json.loads(record["result"])["model_id"] == first.model_id
    shutil.rmtree(folder)
    again, states = _run(synthetic_source, tmp_path)
    assert sorted(states["train"]) == ["Cached", "Completed"]  # the held-out one stayed
    assert again.model_id == first.model_id and (folder / "model" / "model.json").is_file()


def test_changed_parameters_land_in_new_folders(harness, synthetic_source, tmp_path) -> None:
    one, _ = _run(synthetic_source, tmp_path)
    other, states = _run(synthetic_source, tmp_path, iterations=11)
    assert set(states["matrices"]) == {"Cached"}  # the split did not change
    assert set(states["train"]) == {"Completed"}
    assert other.model_id != one.model_id
    folders = [p.name.split("-")[0] for p in (tmp_path / "cache").iterdir()]
    # iterations is the rating model's: the ranking models stand
    assert set(states["train-ranking-holdout"]) == set(states["train-ranking-final"]) == {"Cached"}
    assert folders.count("train") == 6 and folders.count("matrices") == 1
    assert (one.train.final.model_dir / "model.json").is_file(), "the first model was replaced"
    # ranking_iterations is the ranking model's: the rating models stand
    assert one.train.ranking_final is not None and one.train.ranking_final.steps == 10
    ranked, states = _run(synthetic_source, tmp_path, ranking_iterations=12)
    assert set(states["train"]) == {"Cached"}
    assert (
        set(states["train-ranking-holdout"]) == set(states["train-ranking-final"]) == {"Completed"}
    )
    assert ranked.train.ranking_final is not None and ranked.train.ranking_final.steps == 12
    assert ranked.ranking_model_id != one.ranking_model_id


@pytest.mark.parametrize("same_inputs", [False, True])
def test_two_overlapping_runs_do_not_mix_outputs(
    harness, synthetic_source, tmp_path, same_inputs
) -> None:
    results, errors = {}, []
    seeds = (11, 11) if same_inputs else (11, 12)

    def run(name: str, seed: int) -> None:
        try:
            results[name] = _run(synthetic_source, tmp_path, seed=seed)
        except Exception as error:  # reported below with the run's name
            errors.append((name, error))

    threads = [
        threading.Thread(target=run, args=(name, seed))
        for name, seed in zip("ab", seeds, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors
    (a, a_states), (b, b_states) = results["a"], results["b"]
    assert a.run_dir != b.run_dir
    assert (a.model_id == b.model_id) == same_inputs
    if same_inputs:
        # one run fitted each model, the other waited for it and took its result
        fits = a_states["train"] + b_states["train"]
        assert sorted(fits) == ["Cached", "Cached", "Completed", "Completed"], fits
    for record in (a, b):
        table = pd.read_parquet(record.run_dir / "recommendations.parquet")
        assert set(table["model_id"]) == {record.ranking_model_id}, "a table holds another's rows"
        assert RunRecord.read(record.run_dir) == record
    latest = os.path.realpath(tmp_path / "latest")
    assert latest in {os.path.realpath(a.run_dir), os.path.realpath(b.run_dir)}


class _Context:
    """The part of a TaskRunContext the policy reads."""

    def __init__(self, task) -> None:
        self.task = task


def test_the_key_follows_file_bytes_not_file_times(tmp_path) -> None:
    from tasks.matrices import build_matrices

    context = _Context(build_matrices)
    ratings = tmp_path / "ratings.parquet"
    ratings.write_bytes(b"one")
    inputs = {"ratings_path": str(ratings), "data_dir": str(tmp_path), "seed": 1}
    key = InputFiles().compute_key(context, inputs, {})
    os.utime(ratings, ns=(1, 1))
    assert InputFiles().compute_key(context, inputs, {}) == key
    ratings.write_bytes(b"two")
    assert InputFiles().compute_key(context, inputs, {}) != key
    assert InputFiles().compute_key(context, {**inputs, "seed": 2}, {}) != key
    # the data folder is where outputs go: its contents are not part of the key
    key = InputFiles().compute_key(context, inputs, {})
    (tmp_path / "cache").mkdir()
    assert InputFiles().compute_key(context, inputs, {}) == key


def test_a_lock_waits_for_its_holder_and_dies_with_its_process(tmp_path) -> None:
    locks = FileLocks(tmp_path)
    assert locks.acquire_lock("k", holder="a")
    assert locks.is_locked("k") and locks.is_lock_holder("k", "a")
    assert not locks.is_lock_holder("k", "b")
    assert not locks.acquire_lock("k", holder="b", acquire_timeout=0.1)
    locks.release_lock("k", holder="a")
    assert not locks.is_locked("k") and locks.acquire_lock("k", holder="b")
    locks.release_lock("k", holder="b")

    # a process that dies holding a lock does not leave it held
    code = (
        "import sys, time; from pathlib import Path; from tasks.caching import FileLocks\n"
        f"FileLocks(Path({str(tmp_path)!r})).acquire_lock('k', holder='gone')\n"
        "print('held', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=Path.cwd()
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert locks.is_locked("k")
    finally:
        holder.kill()
        holder.wait()
    assert locks.wait_for_lock("k", timeout=5) and not locks.is_locked("k")
