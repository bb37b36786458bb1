"""A GroupLens source as a set of named files: a folder, or a zip archive, read the same way.

Files are named by '/'-separated paths relative to the source, at most one sub-folder deep.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import IO

from cofi.errors import DataError


class FolderOrZip:
    """A folder or a zip archive whose files are named by '/'-separated relative paths."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        if path.is_dir():
            self.names = sorted(
                p.relative_to(path).as_posix()
                for pattern in ("*", "*/*")
                for p in path.glob(pattern)
                if p.is_file()
            )
        elif path.is_file():
            try:
                self._zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise DataError(
                    path, f"is not a readable zip archive: corrupt or truncated ({exc})"
                ) from exc
            self.names = sorted(
                info.filename
                for info in self._zip.infolist()
                if not info.is_dir()
                and not info.filename.startswith("__MACOSX/")
                and info.filename.count("/") <= 1
            )
        else:
            raise DataError(path, "does not exist (expected a folder or a .zip archive)")

    @property
    def is_zip(self) -> bool:
        return self._zip is not None

    def label(self, name: str) -> str:
        """How errors name a member: ``archive.zip!dir/file`` or the file's path."""
        return f"{self.path}!{name}" if self._zip is not None else str(self.path / name)

    def open(self, name: str) -> IO[bytes]:
        if self._zip is None:
            return open(self.path / name, "rb")
        try:
            return self._zip.open(name)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
            raise corrupt_archive(self.label(name), exc) from exc

    def read_bytes(self, name: str) -> bytes:
        try:
            with self.open(name) as stream:
                return stream.read()
        except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as exc:
            raise corrupt_archive(self.label(name), exc) from exc

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> FolderOrZip:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def corrupt_archive(label: str, exc: BaseException) -> DataError:
    return DataError(label, f"zip archive is corrupt or truncated ({type(exc).__name__}: {exc})")
