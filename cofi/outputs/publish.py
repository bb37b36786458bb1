"""Run folders and atomic publication of a run's outputs.

Each run writes into its own folder under ``<data>/runs/``. Publishing points the symbolic link
``<data>/latest`` at a finished run folder with one ``rename``, which POSIX makes atomic: a reader
of ``latest/recommendations.parquet`` sees the previous complete run or the new complete run,
never a mix, and a run that fails before publishing leaves ``latest`` as it was.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
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


def new_run_dir(data_dir: Path, label: str = "run") -> Path:
    """Create and return a fresh, uniquely named run folder under ``data_dir/runs``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = Path(data_dir) / "runs" / f"{stamp}-{label}-{secrets.token_hex(3)}"
    path.mkdir(parents=True)
    return path


def publish(run_dir: Path, latest: Path) -> Path:
    """Atomically point the link ``latest`` at ``run_dir``; returns ``latest``.

    The link is relative when both lie under the same folder, so the data folder can be moved.
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
