"""Tests of cofi.data.ingest: each layout round-trips to typed Parquet; manifest, reuse, atomicity."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cofi.data.download import resolve_source
from cofi.data.ingest import (
    QUARANTINE_FILE,
    IngestResult,
    ingest,
    read_manifest,
    read_movies,
    read_ratings,
)
from cofi.data.schema import MOVIES_SCHEMA, RATINGS_SCHEMA, SCHEMA_VERSION
from cofi.errors import CofiError, DataError
from tests.cofi.data.samples import (
    CSV_FILES,
    CSV_HEADER,
    LAYOUT_CASES,
    ML_100K_FILES,
    fingerprint,
    movie_rows,
    rating_rows,
    real_dataset,
    with_file,
    write_source,
)


@pytest.mark.parametrize("kind", ["folder", "zip", "flat-zip"])
@pytest.mark.parametrize("case", sorted(LAYOUT_CASES))
def test_each_layout_round_trips(tmp_path: Path, case: str, kind: str) -> None:
    files, expected_ratings, expected_movies = LAYOUT_CASES[case]
    source = write_source(tmp_path, files, kind)
    out_dir = tmp_path / "out"

    result = ingest(source, out_dir)

    assert isinstance(result, IngestResult)
    assert read_ratings(out_dir).schema == RATINGS_SCHEMA
    assert read_movies(out_dir).schema == MOVIES_SCHEMA
    assert pq.read_table(result.ratings_path, schema=RATINGS_SCHEMA).schema == RATINGS_SCHEMA
    assert rating_rows(out_dir) == expected_ratings
    assert movie_rows(out_dir) == expected_movies
    first_timestamp = read_ratings(out_dir).column("timestamp")[0].as_py()
    assert first_timestamp == datetime.fromtimestamp(expected_ratings[0][3], UTC)
    assert result.n_ratings == len(expected_ratings)
    assert result.n_movies == len(expected_movies)
    assert result.n_users == len({r[0] for r in expected_ratings})
    assert result.n_quarantined == 0
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "manifest.json",
        "movies.parquet",
        "ratings.parquet",
    ]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_manifest_records_the_run(tmp_path: Path) -> None:
    source = write_source(tmp_path, CSV_FILES, "zip")
    result = ingest(source, tmp_path / "out")
    manifest = read_manifest(tmp_path / "out")

    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["layout"] == "csv"
    assert manifest["source"] == str(source.resolve())
    assert manifest["source_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert manifest["source_sha256"] == result.source_sha256
    assert (manifest["n_ratings"], manifest["n_movies"], manifest["n_users"]) == (4, 5, 2)
    assert manifest["n_quarantined"] == 0
    assert manifest["rating_scale"] == {"minimum": 0.5, "maximum": 5.0, "step": 0.5}
    assert datetime.fromisoformat(manifest["created_at"]).tzinfo is not None
    assert manifest["files"] == {"ratings.parquet": {"rows": 4}, "movies.parquet": {"rows": 5}}
    assert manifest["source_rows"] == {"ratings": 4, "movies": 5}


def test_reuse_skips_an_unchanged_source_and_redoes_a_changed_one(tmp_path: Path) -> None:
    source = write_source(tmp_path, CSV_FILES, "folder")
    first = ingest(source, tmp_path / "out", reuse=True)
    created = read_manifest(tmp_path / "out")["created_at"]
    again = ingest(source, tmp_path / "out", reuse=True)
    assert not first.reused and again.reused
    assert again.n_ratings == first.n_ratings and again.source_sha256 == first.source_sha256
    assert read_manifest(tmp_path / "out")["created_at"] == created
    # other options or other bytes: ingested anew
    assert not ingest(source, tmp_path / "out", reuse=True, quarantine=True).reused
    ratings = source / "ratings.csv"
    ratings.write_bytes(ratings.read_bytes().replace(b",4.0,", b",3.0,", 1))
    changed = ingest(source, tmp_path / "out", reuse=True)
    assert not changed.reused and changed.source_sha256 != first.source_sha256


def test_folder_sha256_covers_ratings_then_movies(tmp_path: Path) -> None:
    source = write_source(tmp_path, CSV_FILES, "folder")
    result = ingest(source, tmp_path / "out")
    expected = hashlib.sha256(CSV_FILES["ratings.csv"] + CSV_FILES["movies.csv"]).hexdigest()
    assert result.source_sha256 == expected


@pytest.mark.parametrize(
    ("name", "n_ratings", "n_movies", "n_users", "layout"),
    [("ml-latest-small", 100836, 9742, 610, "csv"), ("ml-100k", 100000, 1682, 943, "100k")],
)
def test_real_dataset(
    tmp_path: Path, name: str, n_ratings: int, n_movies: int, n_users: int, layout: str
) -> None:
    folder = real_dataset(name)
    before = fingerprint(folder)
    assert resolve_source(name, cache_dir=tmp_path / "cache") == folder

    result = ingest(folder, tmp_path / name)

    assert (result.n_ratings, result.n_movies, result.n_users) == (n_ratings, n_movies, n_users)
    assert read_ratings(result.out_dir).num_rows == n_ratings
    assert read_movies(result.out_dir).num_rows == n_movies
    assert read_manifest(result.out_dir)["layout"] == layout
    assert fingerprint(folder) == before
    assert not (tmp_path / "cache").exists()


# --------------------------------------------------------------------------------------------
# Atomic output


def test_good_out_dir_survives_a_failed_reingest(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    ingest(write_source(tmp_path, CSV_FILES, "zip"), out_dir)
    before = {p.name: p.read_bytes() for p in out_dir.iterdir()}

    bad = with_file(CSV_FILES, "ratings.csv", CSV_HEADER + b"1,1,4.0,1\r\n1,1,4.0,1\r\n")
    with pytest.raises(DataError, match="duplicate"):
        ingest(write_source(tmp_path / "bad", bad, "zip"), out_dir)

    assert {p.name: p.read_bytes() for p in out_dir.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "ml-test.zip", "out"]


def test_reingest_replaces_the_old_output(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    ingest(write_source(tmp_path, CSV_FILES, "zip"), out_dir, quarantine=True)
    assert (out_dir / QUARANTINE_FILE).exists()
    result = ingest(write_source(tmp_path / "b", ML_100K_FILES, "zip"), out_dir)
    assert result.n_ratings == 3
    assert not (out_dir / QUARANTINE_FILE).exists()
    assert read_manifest(out_dir)["layout"] == "100k"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "ml-test.zip", "out"]


def test_refuses_to_replace_a_folder_that_is_not_an_ingest(tmp_path: Path) -> None:
    out_dir = tmp_path / "precious"
    out_dir.mkdir()
    (out_dir / "notes.txt").write_text("keep me")
    with pytest.raises(CofiError, match="refusing to replace"):
        ingest(write_source(tmp_path, CSV_FILES, "zip"), out_dir)
    assert (out_dir / "notes.txt").read_text() == "keep me"


def test_read_manifest_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not an ingested"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"schema_version": 0}))
    with pytest.raises(DataError, match="schema_version 0"):
        read_manifest(tmp_path)
