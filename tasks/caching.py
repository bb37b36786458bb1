"""Step caching on Prefect's own machinery: a cache policy keyed on input-file digests.

A cached step is a Prefect task (:func:`step`) whose cache key (:class:`InputFiles`) covers its
name and source, the *bytes* of every file or folder it reads and the value of every other
argument. The key is a path: the step's own content-addressed folder,
``<data_dir>/cache/<step>-<digest[:16]>/``, where the step writes its outputs
(:func:`step_folder`) and Prefect keeps its result record, as JSON (``result.json``). A rerun on
unchanged inputs is a Cached task run returning the same small summary, with its outputs in
place; changed inputs land in a new folder; a folder deleted by hand is computed again.

Two runs that reach the same step at once take turns (Prefect's SERIALIZABLE isolation, with
:class:`FileLocks`): the second waits, then finds the first one's result committed and is a cache
hit. :func:`refreshing` makes every step in its block recompute (``--refresh``).
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import inspect
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from prefect import task
from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext
from prefect.locking.protocol import LockManager
from prefect.settings import PREFECT_HOME, PREFECT_TASKS_REFRESH_CACHE, temporary_settings
from prefect.transactions import get_transaction

from cofi.outputs.caching import content_key, step_dir
from cofi.outputs.publish import GRACE_SECONDS

# Inputs that name a place to write, never content to read (hashed by value).
LOCATIONS = ("data_dir",)
#: A step's result record, in its folder.
RESULT_NAME = "result.json"


@dataclass
class InputFiles(CachePolicy):
    """A key from the task's name and source and its inputs: files and folders by content.

    An argument that is an absolute path of an existing file or folder counts by the SHA-256 of
    its bytes (a folder: of each file's relative path and bytes; see
    :func:`cofi.outputs.caching.content_key`), except those named in ``locations``, which say
    where to write; any other argument counts by its JSON value (a list of paths too: those are
    earlier steps' outputs, whose content-addressed folders already name their content).

    The key is the path of the step's result record,
    ``<data_dir>/cache/<step>-<digest[:16]>/result.json`` (the bare digest without a ``data_dir``).
    """

    locations: tuple[str, ...] = LOCATIONS

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str:
        step = task_ctx.task.name
        values = {
            name: Path(value) if name not in self.locations and _is_input_file(value) else value
            for name, value in inputs.items()
        }
        values["task source"] = inspect.getsource(task_ctx.task.fn)
        key = content_key(step, values)
        if "data_dir" not in inputs:
            return key
        return str(step_dir(Path(inputs["data_dir"]).resolve(), step, key) / RESULT_NAME)


def _is_input_file(value: Any) -> bool:
    """Whether ``value`` is the absolute path of an existing file or folder."""
    return isinstance(value, str) and Path(value).is_absolute() and Path(value).exists()


# Held locks of this process: key -> (holder, open lock file). Module level, so a FileLocks
# travels to Dask workers as just its folder.
_HELD: dict[str, tuple[str, IO[str]]] = {}
_GUARD = threading.Lock()


@dataclass
class FileLocks(LockManager):
    """Prefect locks as ``flock`` on files in ``folder``: the system drops a lock whose process dies,
    so a killed run never leaves a step locked for good (Prefect's file locks would wait for ever)."""

    folder: Path

    def _path(self, key: str) -> Path:
        return self.folder / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.lock"

    def _open(self, key: str) -> IO[str]:
        self.folder.mkdir(parents=True, exist_ok=True)
        return open(self._path(key), "a")  # noqa: SIM115 - held past this call

    def acquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        with _GUARD:
            if key in _HELD and _HELD[key][0] == holder:
                return True
        deadline = None if acquire_timeout is None else time.monotonic() + acquire_timeout
        while True:
            handle = self._open(key)
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not _flock(handle, fcntl.LOCK_EX, left):
                handle.close()
                return False
            if _still_linked(handle, self._path(key)):
                break
            # The holder before us removed the file as it let go: lock the one there now.
            handle.close()
        with _GUARD:
            _HELD[key] = (holder, handle)
        return True

    async def aacquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        return await asyncio.to_thread(self.acquire_lock, key, holder, acquire_timeout)

    def release_lock(self, key: str, holder: str) -> None:
        with _GUARD:
            held = _HELD.get(key)
            if held is None or held[0] != holder:
                raise ValueError(f"{holder} does not hold the lock on {key}")
            del _HELD[key]
        # Removed while still held, so lock files do not pile up; a waiter that then gets the
        # removed file sees it is no longer linked and locks afresh.
        self._path(key).unlink(missing_ok=True)
        fcntl.flock(held[1], fcntl.LOCK_UN)
        held[1].close()

    def sweep(self) -> int:
        """Remove the lock files no process holds (left by killed runs); returns how many."""
        removed = 0
        if not self.folder.is_dir():
            return removed
        for path in self.folder.glob("*.lock"):
            try:
                handle = open(path, "a")  # noqa: SIM115 - closed below
            except OSError:
                continue
            with handle:
                if _flock(handle, fcntl.LOCK_EX, 0) and _still_linked(handle, path):
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed

    def is_locked(self, key: str) -> bool:
        with _GUARD:
            if key in _HELD:
                return True
        try:
            handle = open(self._path(key))  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return False  # released locks leave no file
        with handle:
            if _flock(handle, fcntl.LOCK_SH, 0):
                fcntl.flock(handle, fcntl.LOCK_UN)
                return False
            return True

    def is_lock_holder(self, key: str, holder: str) -> bool:
        with _GUARD:
            return key in _HELD and _HELD[key][0] == holder

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        with self._open(key) as handle:
            if not _flock(handle, fcntl.LOCK_SH, timeout):
                return False
            fcntl.flock(handle, fcntl.LOCK_UN)
            return True

    async def await_for_lock(self, key: str, timeout: float | None = None) -> bool:
        return await asyncio.to_thread(self.wait_for_lock, key, timeout)


def _still_linked(handle: IO[str], path: Path) -> bool:
    """Whether the open lock file ``handle`` is still the file at ``path``."""
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(handle.fileno())
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _flock(handle: IO[str], mode: int, timeout: float | None) -> bool:
    """Take ``mode`` on ``handle``, waiting up to ``timeout`` seconds (None: as long as it takes)."""
    if timeout is None:
        fcntl.flock(handle, mode)
        return True
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


#: The cache policy of every cached step.
STEP_CACHE = InputFiles().configure(
    isolation_level="SERIALIZABLE", lock_manager=FileLocks(PREFECT_HOME.value() / "cofi-locks")
)


def step(name: str, **options: Any):
    """A cached pipeline step: a Prefect task with :data:`STEP_CACHE`, its result kept as JSON
    in its own folder (the key is that file's absolute path, so storage is rooted at /)."""
    return task(
        name=name,
        cache_policy=STEP_CACHE,
        persist_result=True,
        result_serializer="json",
        result_storage=Path("/"),
        cache_expiration=None,
        **options,
    )


def step_folder(data_dir: str | Path) -> Path:
    """The running step's own folder, the one its cache key names, created.

    Outside a cached task run (a task called through ``.fn()``), a fresh folder.
    """
    context, transaction = TaskRunContext.get(), get_transaction()
    key = transaction.key if transaction and transaction.key else None
    if key and key.endswith(RESULT_NAME):
        folder = Path(key).parent
    else:
        name = context.task.name if context else "step"
        folder = Path(data_dir).resolve() / "cache" / f"{name}-{secrets.token_hex(8)}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def refreshing(refresh: bool) -> Iterator[None]:
    """Within the block, every cached step recomputes and overwrites its result when ``refresh``."""
    with temporary_settings({PREFECT_TASKS_REFRESH_CACHE: refresh}):
        yield


#: The name Prefect gives a failed step's exception record (a random UUID, in hex).
_FAILED_RECORD = re.compile(r"[0-9a-f]{32}")


def sweep_cache(data_dir: str | Path) -> dict[str, int]:
    """Remove what killed runs left in the step cache: lock files no process holds, and step
    folders with no result whose lock is free (older than the run folders' grace period, in case
    another machine's run is writing one).

    Failed steps' exception records (see :class:`flows.stages.Stages`) go too.

    Returns:
        How many lock files (``locks``) and step folders (``steps``) were removed.
    """
    manager = STEP_CACHE.lock_manager
    assert isinstance(manager, FileLocks)
    steps = 0
    cache = Path(data_dir).resolve() / "cache"
    if cache.is_dir():
        for folder in cache.iterdir():
            if folder.is_file() and _FAILED_RECORD.fullmatch(folder.name):
                folder.unlink(missing_ok=True)  # a failed step's exception record
                continue
            if not folder.is_dir() or folder.is_symlink() or (folder / RESULT_NAME).exists():
                continue
            if time.time() - folder.stat().st_mtime < GRACE_SECONDS:
                continue
            if not manager.is_locked(str(folder / RESULT_NAME)):
                shutil.rmtree(folder, ignore_errors=True)
                steps += 1
    return {"locks": manager.sweep(), "steps": steps}
