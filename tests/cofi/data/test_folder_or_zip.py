"""Tests of cofi.data.folder_or_zip: a missing, truncated or corrupt source is named."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from cofi.data.ingest import ingest
from cofi.errors import DataError
from tests.cofi.data.samples import CSV_FILES, write_source


def test_missing_source(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        ingest(tmp_path / "nowhere.zip", tmp_path / "out")


def test_truncated_zip(tmp_path: Path) -> None:
    source = write_source(tmp_path, CSV_FILES, "zip")
    source.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    with pytest.raises(DataError, match="corrupt or truncated") as caught:
        ingest(source, tmp_path / "out")
    assert caught.value.file == str(source)
    assert not (tmp_path / "out").exists()


def test_corrupt_zip_member(tmp_path: Path) -> None:
    source = tmp_path / "ml-test.zip"
    with zipfile.ZipFile(source, "w", zipfile.ZIP_STORED) as archive:
        for name, data in CSV_FILES.items():
            archive.writestr(name, data)
    data = bytearray(source.read_bytes())
    at = data.index(b"964981247")  # inside ratings.csv, stored uncompressed
    data[at] = ord("8")
    source.write_bytes(bytes(data))
    with pytest.raises(DataError, match="corrupt or truncated") as caught:
        ingest(source, tmp_path / "out")
    assert caught.value.file == f"{source}!ratings.csv"
    assert not (tmp_path / "out").exists()
