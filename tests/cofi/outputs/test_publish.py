"""Run folders and atomic publication."""

from __future__ import annotations

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
