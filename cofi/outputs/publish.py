"""Run folders and atomic publication of a run's outputs.

Each run writes into its own folder under ``<data>/runs/``. Publishing points the symbolic link
``<data>/latest`` at a finished run folder with one ``rename``, which POSIX makes atomic: a reader
of ``latest/recommendations.parquet`` sees the previous complete run or the new complete run,
never a mix, and a run that fails before publishing leaves ``latest`` as it was.

A run folder being written holds an ``flock`` on its ``.writing`` file until it is published;
the system drops the lock of a killed process, so :func:`sweep_runs` can tell a folder left by a
killed run (no record, lock free) from one another run is still writing.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path


def _read_umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


#: The process umask, read once at import (setting it to read it is not thread-safe later).
UMASK = _read_umask()


#: The lock file of a run folder being written (see the module docstring).
WRITING = ".writing"

#: A run folder with neither record nor lock file is left alone this long (seconds): it may be
#: a folder another run has made and not yet locked.
GRACE_SECONDS = 600.0

# Open lock files of the run folders this process is writing: folder -> file.
_WRITING: dict[Path, int] = {}
_GUARD = threading.Lock()


def new_run_dir(data_dir: Path, label: str = "run") -> Path:
    """Create and return a fresh, uniquely named run folder under ``data_dir/runs``, locked as
    being written until :func:`publish` (or :func:`release_run_dir`)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = Path(data_dir) / "runs" / f"{stamp}-{label}-{secrets.token_hex(3)}"
    path.mkdir(parents=True)
    handle = os.open(path / WRITING, os.O_CREAT | os.O_WRONLY, 0o644)
    fcntl.flock(handle, fcntl.LOCK_EX)
    with _GUARD:
        _WRITING[path.resolve()] = handle
    return path


def release_run_dir(run_dir: Path) -> None:
    """Drop the run folder's being-written lock (once it is complete, or given up)."""
    with _GUARD:
        handle = _WRITING.pop(Path(run_dir).resolve(), None)
    if handle is None:
        return
    (Path(run_dir) / WRITING).unlink(missing_ok=True)
    os.close(handle)


def sweep_runs(data_dir: Path) -> list[Path]:
    """Remove the run folders under ``data_dir/runs`` that killed runs left incomplete.

    A folder is incomplete when it holds no record (``summary.json``); it is removed only when no
    process holds its lock, and, for a folder without a lock file, once it is older than
    :data:`GRACE_SECONDS`. Complete runs, published or not, are kept.

    Returns:
        The folders removed.
    """
    removed = []
    runs = Path(data_dir) / "runs"
    if not runs.is_dir():
        return removed
    for folder in sorted(runs.iterdir()):
        if folder.is_symlink() or not folder.is_dir() or (folder / "summary.json").exists():
            continue
        if _abandoned(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _abandoned(folder: Path) -> bool:
    """Whether no live process is writing run folder ``folder``."""
    with _GUARD:
        if folder.resolve() in _WRITING:
            return False
    try:
        handle = os.open(folder / WRITING, os.O_RDONLY)
    except FileNotFoundError:
        return time.time() - folder.stat().st_mtime > GRACE_SECONDS
    except OSError:
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(handle)
    return True


def publish(run_dir: Path, latest: Path) -> Path:
    """Atomically point the link ``latest`` at ``run_dir``; returns ``latest``.

    The link is relative when both lie under the same folder, so the data folder can be moved.
    The run folder's being-written lock is dropped once ``latest`` points at it.
    """
    run_dir, latest = Path(run_dir).resolve(), Path(latest)
    latest.parent.mkdir(parents=True, exist_ok=True)
    target = os.path.relpath(run_dir, latest.parent.resolve())
    staging = latest.with_name(f".{latest.name}.{secrets.token_hex(4)}")
    os.symlink(target, staging)
    try:
        os.replace(staging, latest)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    release_run_dir(run_dir)
    return latest


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    staging = Path(name)
    # mkstemp makes the file owner-only; published outputs get the usual umask permissions.
    staging.chmod(0o666 & ~UMASK)
    try:
        yield staging
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise


def replace_dir(new: Path, target: Path) -> None:
    """Rename folder ``new`` to ``target``, swapping out an earlier ``target`` only once ``new``
    is complete; if the second rename fails, the earlier folder is put back."""
    new, target = Path(new), Path(target)
    if not target.exists():
        os.replace(new, target)
        return
    old = target.with_name(f".{target.name}.old-{secrets.token_hex(6)}")
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
