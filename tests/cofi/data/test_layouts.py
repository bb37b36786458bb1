"""Tests of cofi.data.layouts: which layout a source holds, and what a missing file is told."""

from __future__ import annotations

from pathlib import Path

import pytest

from cofi.data.ingest import ingest, read_manifest
from cofi.data.layouts import Layout, detect_layout
from cofi.data.schema import HALF_STARS, WHOLE_STARS
from cofi.errors import DataError
from tests.cofi.data.samples import CSV_FILES, LAYOUT_CASES, ML_100K_FILES, with_file, write_source


@pytest.mark.parametrize(
    ("kind", "files", "layout"),
    [
        ("folder", CSV_FILES, Layout.CSV),
        ("zip", ML_100K_FILES, Layout.ML_100K),
        ("flat-zip", LAYOUT_CASES["dat-utf8"][0], Layout.DAT),
    ],
)
def test_detect_layout(tmp_path: Path, kind: str, files: dict, layout: Layout) -> None:
    detected = detect_layout(write_source(tmp_path, files, kind))
    assert detected is layout
    assert detected == layout.value


def test_missing_file_names_what_is_expected(tmp_path: Path) -> None:
    source = write_source(tmp_path, with_file(CSV_FILES, "movies.csv", None), "zip")
    with pytest.raises(DataError) as caught:
        ingest(source, tmp_path / "out")
    assert caught.value.file == str(source)
    assert "found ratings.csv but not movies.csv" in caught.value.problem
    assert "u.data + u.item" in caught.value.problem
    assert not (tmp_path / "out").exists()


def test_unknown_layout(tmp_path: Path) -> None:
    source = write_source(tmp_path, {"readme.txt": b"hello"}, "folder")
    with pytest.raises(DataError, match="unknown layout.*ratings.csv \\+ movies.csv"):
        detect_layout(source)


def test_scale_defaults_by_layout_and_can_be_given(tmp_path: Path) -> None:
    ingest(write_source(tmp_path, ML_100K_FILES, "folder"), tmp_path / "a")
    assert read_manifest(tmp_path / "a")["rating_scale"]["step"] == WHOLE_STARS.step
    ingest(write_source(tmp_path, ML_100K_FILES, "zip"), tmp_path / "b", scale=HALF_STARS)
    assert read_manifest(tmp_path / "b")["rating_scale"]["step"] == HALF_STARS.step
    with pytest.raises(DataError, match="not on a step"):
        ingest(write_source(tmp_path, CSV_FILES, "zip"), tmp_path / "c", scale=WHOLE_STARS)
