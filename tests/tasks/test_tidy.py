"""Step locks leave no files behind, and a sweep removes only what no process holds."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from tasks.caching import RESULT_NAME, FileLocks, sweep_cache


def test_a_released_lock_leaves_no_file(tmp_path: Path) -> None:
    locks = FileLocks(tmp_path)
    assert locks.acquire_lock("step-a", "run-1")
    assert len(list(tmp_path.glob("*.lock"))) == 1
    locks.release_lock("step-a", "run-1")
    assert list(tmp_path.glob("*.lock")) == []


def test_a_waiter_on_a_removed_lock_file_locks_the_new_one(tmp_path: Path) -> None:
    locks = FileLocks(tmp_path)
    order: list[str] = []
    assert locks.acquire_lock("step", "first")

    def second() -> None:
        assert locks.acquire_lock("step", "second", acquire_timeout=10)
        order.append("second in")
        time.sleep(0.2)
        order.append("second out")
        locks.release_lock("step", "second")

    def third() -> None:
        time.sleep(0.1)
        assert locks.acquire_lock("step", "third", acquire_timeout=10)
        order.append("third in")
        locks.release_lock("step", "third")

    threads = [threading.Thread(target=second), threading.Thread(target=third)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    locks.release_lock("step", "first")
    for thread in threads:
        thread.join()
    # Never two holders at once, though the file was removed and made again between them.
    assert order in (
        ["second in", "second out", "third in"],
        ["third in", "second in", "second out"],
    )


def test_sweep_removes_the_locks_and_step_folders_of_killed_runs_only(
    tmp_path: Path, monkeypatch
) -> None:
    from tasks import caching

    locks = FileLocks(tmp_path / "locks")
    monkeypatch.setattr(caching.STEP_CACHE, "lock_manager", locks)
    data = tmp_path / "data"
    done, killed, running = (data / "cache" / name for name in ("done", "killed", "running"))
    for folder in (done, killed, running):
        folder.mkdir(parents=True)
    (done / RESULT_NAME).write_text("{}")
    old = time.time() - caching.GRACE_SECONDS - 1
    for folder in (done, killed, running):
        os.utime(folder, (old, old))

    def hold(keys: list[str], then: str) -> str:
        return (
            "import os, time; from pathlib import Path; from tasks.caching import FileLocks;"
            f"locks = FileLocks(Path({str(tmp_path / 'locks')!r}));"
            + "".join(f"locks.acquire_lock({key!r}, 'run');" for key in keys)
            + f"print('held', flush=True); {then}"
        )

    running_key = str(running.resolve() / RESULT_NAME)
    holder = subprocess.Popen(
        [sys.executable, "-c", hold([running_key, "another step"], "time.sleep(60)")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        # A run killed while it held a lock leaves its file.
        subprocess.run([sys.executable, "-c", hold(["orphan"], "os._exit(0)")], check=True)
        assert len(list((tmp_path / "locks").glob("*.lock"))) == 3
        assert sweep_cache(data) == {"locks": 1, "steps": 1}
        assert done.is_dir() and running.is_dir() and not killed.exists()
        holder.kill()
        holder.wait()
        assert sweep_cache(data) == {"locks": 2, "steps": 1}
        assert list((tmp_path / "locks").glob("*.lock")) == []
    finally:
        holder.kill()
        holder.wait()


def test_a_failed_step_keeps_its_exception_record_in_the_cache_not_the_root_folder(
    harness, tmp_path: Path
) -> None:
    from prefect import flow

    from cofi.errors import CofiError
    from flows.stages import Stages
    from tasks.caching import step

    @step("always-fails")
    def always_fails(data_dir: str) -> dict:
        raise CofiError("bad input")

    @flow
    def run() -> None:
        Stages(tmp_path / "cache")(always_fails, "always-fails")(str(tmp_path))

    before = set(os.listdir("/"))
    assert run(return_state=True).is_failed()
    assert set(os.listdir("/")) == before
    records = [path for path in (tmp_path / "cache").iterdir() if path.is_file()]
    assert len(records) == 1 and "bad input" in records[0].read_text()
    assert sweep_cache(tmp_path)["steps"] == 0
    assert not records[0].exists()


def test_only_cached_steps_get_the_run_storage_so_nothing_is_pickled(tmp_path: Path) -> None:
    from flows.stages import Stages
    from tasks.ingest import ingest_movielens
    from tasks.train import train_model

    stages = Stages(tmp_path / "cache")
    assert stages.options(train_model, "train-final")["result_storage"] == tmp_path / "cache"
    assert "result_storage" not in stages.options(ingest_movielens, "ingest")
