"""Reruns reuse unchanged work; --refresh recomputes; overlapping runs never mix outputs."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pandas as pd
import pytest
from prefect.testing.utilities import prefect_test_harness

PARAMS = dict(dataset="ml-100k", iterations=15, top_n=5, seed=2)


@pytest.fixture(scope="module")
def harness():
    with prefect_test_harness(server_startup_timeout=120):
        yield


def _digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_rerun_is_cached_and_identical_and_refresh_recomputes(
    harness, movielens_dir, tmp_path
) -> None:
    from flows.pipeline import cofi_pipeline

    first = cofi_pipeline(data_dir=str(tmp_path), **PARAMS)
    second = cofi_pipeline(data_dir=str(tmp_path), **PARAMS)
    assert second["run_dir"] != first["run_dir"]
    assert _digest(second["recommendations"]) == _digest(
        Path(first["run_dir"]) / "recommendations.parquet"
    )
    assert second["model_id"] == first["model_id"]
    # the cached steps took no training time the second time round
    assert (
        second["stage_seconds"]["train"] < first["stage_seconds"]["train"] / 2
        or first["stage_seconds"]["train"] < 0.5
    )
    folders = sorted(p.name.split("-")[0] for p in (tmp_path / "cache").iterdir())
    assert folders.count("train") == 2  # the hold-out model and the final one, once each
    refreshed = cofi_pipeline(data_dir=str(tmp_path), refresh=True, **PARAMS)
    assert refreshed["model_id"] == first["model_id"], "same inputs and seed give the same model"
    pd.testing.assert_frame_equal(
        pd.read_parquet(refreshed["recommendations"]), pd.read_parquet(second["recommendations"])
    )


def test_changed_parameters_land_in_new_folders(harness, movielens_dir, tmp_path) -> None:
    from flows.pipeline import cofi_pipeline

    cofi_pipeline(data_dir=str(tmp_path), **PARAMS)
    other = cofi_pipeline(data_dir=str(tmp_path), **{**PARAMS, "iterations": 16})
    trains = [p for p in (tmp_path / "cache").iterdir() if p.name.startswith("train-")]
    assert len(trains) == 4
    assert Path(other["model_dir"]).resolve().is_dir()


@pytest.mark.parametrize("same_inputs", [False, True])
def test_two_overlapping_runs_do_not_mix_outputs(
    harness, movielens_dir, tmp_path, same_inputs
) -> None:
    from flows.pipeline import cofi_pipeline

    results, errors = {}, []
    seeds = (11, 11) if same_inputs else (11, 12)

    def run(name: str, seed: int) -> None:
        try:
            results[name] = cofi_pipeline(data_dir=str(tmp_path), **{**PARAMS, "seed": seed})
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
    a, b = results["a"], results["b"]
    assert a["run_dir"] != b["run_dir"]
    # same inputs share their step folders (one computes, the other waits and reuses)
    assert (a["model_id"] == b["model_id"]) == same_inputs
    for result in (a, b):
        table = pd.read_parquet(Path(result["run_dir"]) / "recommendations.parquet")
        assert set(table["model_id"]) == {result["model_id"]}, (
            "a run's table holds another run's rows"
        )
    latest = os.path.realpath(tmp_path / "latest")
    assert latest in {os.path.realpath(a["run_dir"]), os.path.realpath(b["run_dir"])}
    published = pd.read_parquet(tmp_path / "latest" / "recommendations.parquet")
    assert published["model_id"].nunique() == 1
