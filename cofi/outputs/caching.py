"""Content-addressed step outputs: a step's folder is named by the hash of what it reads.

A key covers the *bytes* of every input file (and every file of an input folder) and the JSON
form of every other parameter, so a rerun on unchanged inputs finds its outputs already there,
and any change of data or parameters lands in a new folder. Nothing is keyed on a DataFrame.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

# (path, size, mtime_ns) -> sha256: a file read once per process is not read again.
_FILE_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (remembered per path, size and modification time)."""
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo not in _FILE_DIGESTS:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _FILE_DIGESTS[memo] = digest.hexdigest()
    return _FILE_DIGESTS[memo]


def content_key(step: str, inputs: dict) -> str:
    """A hex key for ``step`` from its inputs: files and folders by content, the rest by value.

    Args:
        step: the step's name (part of the key, so two steps never share a folder).
        inputs: name -> value; a value that is a ``Path`` is hashed by content (a folder: each
            file's relative path and bytes, in sorted order); any other value must be
            JSON-serializable.
    """
    digest = hashlib.sha256(step.encode())
    for name in sorted(inputs):
        value = inputs[name]
        digest.update(name.encode())
        if isinstance(value, Path):
            files = (
                sorted(p for p in value.rglob("*") if p.is_file()) if value.is_dir() else [value]
            )
            for file in files:
                digest.update(os.fsencode(file.relative_to(value) if value.is_dir() else file.name))
                digest.update(file_digest(file).encode())
        else:
            digest.update(json.dumps(value, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def step_dir(root: Path, step: str, key: str) -> Path:
    """Where the outputs of ``step`` with ``key`` live: ``<root>/cache/<step>-<key[:16]>``."""
    return Path(root) / "cache" / f"{step}-{key[:16]}"


def link_or_copy(source: Path, target: Path) -> None:
    """Place ``source`` (a file or folder) at ``target`` by hard links, copying across devices."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        target.mkdir(exist_ok=True)
        for item in source.iterdir():
            link_or_copy(item, target / item.name)
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
