"""Scoring shards fanned out over a local Dask cluster give exactly the single-process table."""

from __future__ import annotations

import pandas as pd
import pytest
from prefect.testing.utilities import prefect_test_harness

pytest.importorskip("prefect_dask")


def test_dask_shards_match_the_single_process_run(movielens_dir, tmp_path) -> None:
    from flows.pipeline import cofi_pipeline, with_task_runner

    params = dict(dataset="ml-100k", iterations=20, holdout_fraction=0.0, top_n=5, seed=4)
    with prefect_test_harness(server_startup_timeout=120):
        single = cofi_pipeline(data_dir=str(tmp_path / "single"), **params)
        on_dask = with_task_runner(dask_workers=2, dask_address=None)
        assert on_dask is not cofi_pipeline
        sharded = on_dask(data_dir=str(tmp_path / "dask"), shards=4, **params)
    expected = pd.read_parquet(single["recommendations"])
    got = pd.read_parquet(sharded["recommendations"])
    assert len(expected) == 943 * 5
    pd.testing.assert_frame_equal(got, expected)
    assert sharded["model_id"] == single["model_id"]
