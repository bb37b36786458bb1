"""Run folders and atomic publication."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cofi.outputs.publish import atomic_path, new_run_dir, publish


def test_publish_switches_latest_atomically(tmp_path) -> None:
    first, second = new_run_dir(tmp_path, "a"), new_run_dir(tmp_path, "a")
    assert first != second
    (first / "table.txt").write_text("one")
    (second / "table.txt").write_text("two")
    latest = publish(first, tmp_path / "latest")
    assert (latest / "table.txt").read_text() == "one"
    publish(second, tmp_path / "latest")
    assert (tmp_path / "latest" / "table.txt").read_text() == "two"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_atomic_path_keeps_the_old_file_when_writing_fails(tmp_path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("good")
    with pytest.raises(RuntimeError), atomic_path(target) as staging:
        staging.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def _start_writer(data: Path) -> subprocess.Popen:
    """A process that makes a run folder and then hangs, as a run killed mid-publication."""
    code = (
        "import sys, time; from pathlib import Path; from cofi.outputs.publish import new_run_dir;"
        f"print(new_run_dir(Path({str(data)!r}), 'held'), flush=True); time.sleep(60)"
    )
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def test_sweep_removes_only_run_folders_no_live_run_is_writing(tmp_path: Path) -> None:
    from cofi.outputs.publish import new_run_dir, publish, sweep_runs

    writer = _start_writer(tmp_path)
    try:
        held = Path(writer.stdout.readline().strip())
        complete = new_run_dir(tmp_path, "complete")
        (complete / "summary.json").write_text("{}")
        publish(complete, tmp_path / "latest")
        mine = new_run_dir(tmp_path, "mine")  # this process is still writing it
        assert sweep_runs(tmp_path) == []
        writer.kill()
        writer.wait()
        assert sweep_runs(tmp_path) == [held]
        assert not held.exists() and complete.is_dir() and mine.is_dir()
        assert not (complete / ".writing").exists()
    finally:
        writer.kill()
        writer.wait()


def test_sweep_leaves_an_unlocked_folder_until_its_grace_period_is_over(tmp_path: Path) -> None:
    from cofi.outputs.publish import GRACE_SECONDS, sweep_runs

    folder = tmp_path / "runs" / "old-layout"
    folder.mkdir(parents=True)
    assert sweep_runs(tmp_path) == []
    old = time.time() - GRACE_SECONDS - 1
    os.utime(folder, (old, old))
    assert sweep_runs(tmp_path) == [folder]
