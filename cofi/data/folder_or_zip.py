"""A GroupLens source as a set of named files: a folder, or a zip archive, read the same way.

Files are named by '/'-separated paths relative to the source, at most one sub-folder deep. A
folder's links may point only inside the folder, and an archive's member names must be plain
relative paths: a source cannot make cofi read a file outside it.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path
from typing import IO

from cofi.errors import DataError

#: The most bytes :meth:`FolderOrZip.read_bytes` reads: it holds a whole file in memory, so it is
#: for small files only (ml-100k's split files are 2 MB); anything larger is streamed instead.
MAX_READ_BYTES = 64 << 20

# An absolute path, a Windows drive letter, a backslash or a ".." part: it names a file outside
# the archive's own tree when unpacked, and a GroupLens archive has none.
_UNSAFE_MEMBER = re.compile(r"^/|^[A-Za-z]:|\\|(^|/)\.\.(/|$)")

#: What reading a zip member can raise when the archive is corrupt or truncated.
ZIP_ERRORS = (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError)


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
            for info in self._zip.infolist():
                if _UNSAFE_MEMBER.search(info.filename):
                    raise DataError(
                        self.label(info.filename),
                        "unsafe member name (absolute, a drive letter, a backslash or '..'): "
                        "refusing the archive",
                    )
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

    def file_path(self, name: str) -> Path:
        """A folder's file ``name``, checked not to be a link to a file outside the folder."""
        path = self.path / name
        try:
            inside = path.resolve().is_relative_to(self.path.resolve())
        except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of links
            raise DataError(path, f"cannot be read ({exc})") from exc
        if not inside:
            # The target's name and content are not shown: the folder does not own them.
            raise DataError(path, "is a link to a file outside the source folder: not followed")
        return path

    def open(self, name: str) -> IO[bytes]:
        """The file ``name`` for reading; every failure is a DataError naming it."""
        if self._zip is None:
            path = self.file_path(name)
            try:
                return open(path, "rb")
            except OSError as exc:  # unreadable, a folder, gone since the listing
                raise DataError(path, f"cannot be read ({exc.strerror or exc})") from exc
        try:
            return self._zip.open(name)
        except (OSError, *ZIP_ERRORS) as exc:
            raise corrupt_archive(self.label(name), exc) from exc

    def read_bytes(self, name: str) -> bytes:
        """The whole of a small file; larger than ``MAX_READ_BYTES`` is a DataError."""
        try:
            with self.open(name) as stream:
                data = stream.read(MAX_READ_BYTES + 1)
        except ZIP_ERRORS as exc:
            raise corrupt_archive(self.label(name), exc) from exc
        except OSError as exc:
            raise DataError(self.label(name), f"cannot be read ({exc})") from exc
        if len(data) > MAX_READ_BYTES:
            raise DataError(self.label(name), f"is larger than {MAX_READ_BYTES >> 20} MiB")
        return data

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> FolderOrZip:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def corrupt_archive(label: str, exc: BaseException) -> DataError:
    return DataError(label, f"zip archive is corrupt or truncated ({type(exc).__name__}: {exc})")
