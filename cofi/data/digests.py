"""SHA-256 digests of files, streamed."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_of_files(paths: list[Path]) -> str:
    """Hex SHA-256 of the bytes of ``paths``, one after another."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()
