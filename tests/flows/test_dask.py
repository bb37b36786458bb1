"""Scoring shards fanned out over a local Dask cluster give exactly the single-process table."""

from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("prefect_dask")


def test_dask_shards_match_the_single_process_run(harness, ratings_source, tmp_path) -> None:
    from flows.pipeline import cofi_pipeline, with_task_runner

    params = dict(
        iterations=20, ranking_iterations=20, holdout_fraction=0.0, top_n=5, seed=4, similar_n=0
    )
    single = cofi_pipeline(data_dir=str(tmp_path / "single"), **ratings_source, **params)
    on_dask = with_task_runner(dask_workers=2, dask_address=None)
    assert on_dask is not cofi_pipeline
    sharded = on_dask(data_dir=str(tmp_path / "dask"), shards=4, **ratings_source, **params)
    expected = pd.read_parquet(single.recommendations)
    got = pd.read_parquet(sharded.recommendations)
    assert len(expected) == single.n_users * 5
    assert sharded.recommendation_rows == len(expected)
    pd.testing.assert_frame_equal(got, expected)
    assert sharded.model_id == single.model_id


def test_the_dask_dashboard_listens_on_loopback_only() -> None:
    from distributed import LocalCluster

    from flows.pipeline import local_cluster, with_task_runner

    runner = with_task_runner(dask_workers=2, dask_address=None).task_runner
    assert runner.cluster_kwargs == local_cluster(2)
    settings = {**local_cluster(1), "n_workers": 0}
    with LocalCluster(**settings) as cluster:
        hosts = {sock.getsockname()[0] for sock in cluster.scheduler.http_server._sockets.values()}
        assert hosts == {"127.0.0.1"}
        assert cluster.dashboard_link.startswith("http://127.0.0.1:")
