"""Tests of cofi.data.movielens: layouts, typed output, validation with exact lines, atomic output."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cofi import settings as cofi_settings
from cofi.data.download import resolve_source
from cofi.data.ingest import (
    QUARANTINE_FILE,
    IngestResult,
    ingest,
    read_manifest,
    read_movies,
    read_ratings,
)
from cofi.data.layouts import Layout, detect_layout
from cofi.data.movie_rows import parse_year as _parse_year
from cofi.data.reading import ByteStream as _ByteStream
from cofi.data.schema import HALF_STARS, MOVIES_SCHEMA, RATINGS_SCHEMA, SCHEMA_VERSION, WHOLE_STARS
from cofi.errors import CofiError, DataError

# --------------------------------------------------------------------------------------------
# Small fixtures, one per layout, and the rows they must give.

CSV_FILES = {
    "ratings.csv": (
        b"userId,movieId,rating,timestamp\r\n"
        b"1,1,4.0,964982703\r\n"
        b"1,2,3.5,964981247\r\n"
        b"2,1,0.5,1445714994\r\n"
        b"2,3,5.0,1445714996\r\n"
    ),
    "movies.csv": (
        "movieId,title,genres\r\n"
        "1,Toy Story (1995),Adventure|Animation\r\n"
        '2,"American President, The (1995)",Comedy|Drama\r\n'
        "3,Death Note: Desu nôto (2006–2007),(no genres listed)\r\n"
        "4,Babylon 5,Sci-Fi\r\n"
        "5,From Dusk Till Dawn 2 (1999) ,Horror\r\n"
    ).encode(),
}
CSV_RATINGS = [
    (1, 1, 4.0, 964982703),
    (1, 2, 3.5, 964981247),
    (2, 1, 0.5, 1445714994),
    (2, 3, 5.0, 1445714996),
]
CSV_MOVIES = [
    (1, "Toy Story (1995)", "Adventure|Animation", 1995),
    (2, "American President, The (1995)", "Comedy|Drama", 1995),
    (3, "Death Note: Desu nôto (2006–2007)", "(no genres listed)", 2006),
    (4, "Babylon 5", "Sci-Fi", None),
    (5, "From Dusk Till Dawn 2 (1999) ", "Horror", 1999),
]


def _flags(*set_indices: int) -> str:
    return "|".join("1" if i in set_indices else "0" for i in range(19))


ML_100K_FILES = {
    "u.data": b"1\t1\t5\t881250949\n1\t2\t3\t881250950\n2\t2\t1\t891717742\n",
    "u.item": (
        f"1|Toy Story (1995)|01-Jan-1995||http://x|{_flags(3, 4, 5)}\n"
        f"2|Misérables, Les (1995)|01-Jan-1995||http://x|{_flags(8, 18)}\n"
        f'3|"Quoted" Title (1994)|01-Jan-1994||http://x|{_flags()}\n'
    ).encode("latin-1"),
}
ML_100K_RATINGS = [(1, 1, 5.0, 881250949), (1, 2, 3.0, 881250950), (2, 2, 1.0, 891717742)]
ML_100K_MOVIES = [
    (1, "Toy Story (1995)", "Animation|Children's|Comedy", 1995),
    (2, "Misérables, Les (1995)", "Drama|Western", 1995),
    (3, '"Quoted" Title (1994)', "(no genres listed)", 1994),
]
ML_100K_GENRE_FILE = (
    "".join(
        f"{name}|{i}\n"
        for i, name in enumerate(
            "unknown Action Adventure Animation Kids Comedy Crime Documentary Drama Fantasy "
            "Film-Noir Horror Musical Mystery Romance Sci-Fi Thriller War Cowboy".split()
        )
    ).encode("latin-1")
    + b"\n"
)

DAT_RATINGS_BYTES = b"1::1::5::978300760\n1::2::3::978302109\n2::1::4::978301968\n"
DAT_MOVIES_TEXT = (
    "1::Toy Story (1995)::Animation|Children's|Comedy\n2::Misérables, Les (1995)::Drama\n"
)
DAT_RATINGS = [(1, 1, 5.0, 978300760), (1, 2, 3.0, 978302109), (2, 1, 4.0, 978301968)]
DAT_MOVIES = [
    (1, "Toy Story (1995)", "Animation|Children's|Comedy", 1995),
    (2, "Misérables, Les (1995)", "Drama", 1995),
]

LAYOUT_CASES = {
    "csv": (CSV_FILES, CSV_RATINGS, CSV_MOVIES),
    "100k": (ML_100K_FILES, ML_100K_RATINGS, ML_100K_MOVIES),
    "dat-latin1": (
        {"ratings.dat": DAT_RATINGS_BYTES, "movies.dat": DAT_MOVIES_TEXT.encode("latin-1")},
        DAT_RATINGS,
        DAT_MOVIES,
    ),
    "dat-utf8": (
        {"ratings.dat": DAT_RATINGS_BYTES, "movies.dat": DAT_MOVIES_TEXT.encode("utf-8")},
        DAT_RATINGS,
        DAT_MOVIES,
    ),
}


def write_source(root: Path, files: dict[str, bytes], kind: str, name: str = "ml-test") -> Path:
    """Writes files as a folder ("folder"), a zip with a sub-folder ("zip") or a flat zip."""
    if kind == "folder":
        folder = root / name
        folder.mkdir(parents=True)
        for file_name, data in files.items():
            (folder / file_name).write_bytes(data)
        return folder
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}.zip"
    prefix = f"{name}/" if kind == "zip" else ""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        if prefix:
            archive.writestr(prefix, b"")
        for file_name, data in files.items():
            archive.writestr(prefix + file_name, data)
    return path


def rating_rows(out_dir: Path) -> list[tuple]:
    table = read_ratings(out_dir)
    return [
        (r["user_id"], r["movie_id"], r["rating"], int(r["timestamp"].timestamp()))
        for r in table.to_pylist()
    ]


def movie_rows(out_dir: Path) -> list[tuple]:
    return [tuple(r.values()) for r in read_movies(out_dir).to_pylist()]


# --------------------------------------------------------------------------------------------
# Layouts round-trip


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


def test_u_genre_names_the_flags(tmp_path: Path) -> None:
    files = {**ML_100K_FILES, "u.genre": ML_100K_GENRE_FILE}
    ingest(write_source(tmp_path, files, "zip"), tmp_path / "out")
    genres = read_movies(tmp_path / "out").column("genres").to_pylist()
    assert genres == ["Animation|Kids|Comedy", "Drama|Cowboy", "(no genres listed)"]


def test_scale_defaults_by_layout_and_can_be_given(tmp_path: Path) -> None:
    ingest(write_source(tmp_path, ML_100K_FILES, "folder"), tmp_path / "a")
    assert read_manifest(tmp_path / "a")["rating_scale"]["step"] == WHOLE_STARS.step
    ingest(write_source(tmp_path, ML_100K_FILES, "zip"), tmp_path / "b", scale=HALF_STARS)
    assert read_manifest(tmp_path / "b")["rating_scale"]["step"] == HALF_STARS.step
    with pytest.raises(DataError, match="not on a step"):
        ingest(write_source(tmp_path, CSV_FILES, "zip"), tmp_path / "c", scale=WHOLE_STARS)


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


def test_small_blocks_give_the_same_result(tmp_path: Path) -> None:
    lines = ["userId,movieId,rating,timestamp"]
    expected = []
    for user_id in range(1, 41):
        for movie_id in (1, 2, 3):
            lines.append(f"{user_id},{movie_id},{(user_id % 10 + 1) / 2},{1000 + user_id}")
            expected.append((user_id, movie_id, (user_id % 10 + 1) / 2, 1000 + user_id))
    files = {**CSV_FILES, "ratings.csv": ("\r\n".join(lines) + "\r\n").encode()}
    result = ingest(write_source(tmp_path, files, "zip"), tmp_path / "out", block_size=64)
    assert rating_rows(tmp_path / "out") == expected
    assert result.n_users == 40
    assert pq.ParquetFile(result.ratings_path).num_row_groups > 1


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    ratings = b"userId,movieId,rating,timestamp\r\n1,1,4.0,1\r\n\r\n1,2,4.0,2\r\n2,9,4.0,3\r\n"
    files = {**CSV_FILES, "ratings.csv": ratings}
    with pytest.raises(DataError) as caught:
        ingest(write_source(tmp_path, files, "folder"), tmp_path / "out")
    assert caught.value.line == 5
    assert "movie_id 9" in caught.value.problem


@pytest.mark.parametrize(
    ("title", "year"),
    [
        ("Toy Story (1995)", 1995),
        ("Toy Story (1995) ", 1995),
        ("Death Note (2006-2007)", 2006),
        ("Death Note (2006–2007)", 2006),
        ("Babylon 5", None),
        ("1984 (1984)", 1984),
        ("Wings of Desire (Himmel über Berlin, Der) (1987)", 1987),
        ("Year (19955)", None),
        ("(1995) Remake", None),
    ],
)
def test_parse_year(title: str, year: int | None) -> None:
    assert _parse_year(title) == year


class _Trickle(io.RawIOBase):
    """Returns at most one chunk size per read, to split '::' across reads."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self._data = data
        self._sizes = sizes
        self._read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        step = self._sizes[self._read % len(self._sizes)] if self._sizes else size
        chunk = self._data[:step]
        self._data = self._data[step:]
        self._read += 1
        return chunk


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=60).map(lambda b: bytes(b"a:\n"[x % 3] for x in b)),
    sizes=st.lists(st.integers(1, 5), min_size=1, max_size=6),
)
def test_double_colon_is_replaced_across_chunk_boundaries(data: bytes, sizes: list[int]) -> None:
    stream = _ByteStream(_Trickle(data, sizes), replace_double_colon=True)
    out = b""
    while chunk := stream.read(3):
        out += chunk
    assert out == data.replace(b"::", b"\t")


# --------------------------------------------------------------------------------------------
# The real GroupLens data


def _real_dataset(name: str) -> Path:
    root = cofi_settings.movielens_dir()
    if root is None:
        pytest.skip(f"COFI_MOVIELENS_DIR is not set: no local copy of {name} to test against")
    if not (root / name).is_dir():
        pytest.skip(f"COFI_MOVIELENS_DIR={root} holds no {name}/ folder")
    return root / name


def _fingerprint(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()
    }


@pytest.mark.parametrize(
    ("name", "n_ratings", "n_movies", "n_users", "layout"),
    [("ml-latest-small", 100836, 9742, 610, "csv"), ("ml-100k", 100000, 1682, 943, "100k")],
)
def test_real_dataset(
    tmp_path: Path, name: str, n_ratings: int, n_movies: int, n_users: int, layout: str
) -> None:
    folder = _real_dataset(name)
    before = _fingerprint(folder)
    assert resolve_source(name, cache_dir=tmp_path / "cache") == folder

    result = ingest(folder, tmp_path / name)

    assert (result.n_ratings, result.n_movies, result.n_users) == (n_ratings, n_movies, n_users)
    assert read_ratings(result.out_dir).num_rows == n_ratings
    assert read_movies(result.out_dir).num_rows == n_movies
    assert read_manifest(result.out_dir)["layout"] == layout
    assert _fingerprint(folder) == before
    assert not (tmp_path / "cache").exists()


def test_real_ml_100k_latin1_title(tmp_path: Path) -> None:
    result = ingest(_real_dataset("ml-100k"), tmp_path / "out")
    movies = {r["movie_id"]: r for r in read_movies(result.out_dir).to_pylist()}
    assert movies[543]["title"] == "Misérables, Les (1995)"
    assert movies[543]["year"] == 1995
    assert movies[1]["genres"] == "Animation|Children's|Comedy"


# --------------------------------------------------------------------------------------------
# Bad input: exact file and line, nothing left behind


def _with(files: dict[str, bytes], name: str, data: bytes | None) -> dict[str, bytes]:
    changed = dict(files)
    if data is None:
        del changed[name]
    else:
        changed[name] = data
    return changed


CSV_HEADER = b"userId,movieId,rating,timestamp\r\n"
BAD_INPUTS = {
    "wrong header": (
        _with(CSV_FILES, "ratings.csv", b"user,movie,rating,timestamp\r\n1,1,4.0,1\r\n"),
        "ratings.csv",
        1,
        "wrong header",
    ),
    "wrong movies header": (
        _with(CSV_FILES, "movies.csv", b"movieId,name,genres\r\n1,A (1995),Drama\r\n"),
        "movies.csv",
        1,
        "wrong header",
    ),
    "rating out of scale": (
        _with(CSV_FILES, "ratings.csv", CSV_HEADER + b"1,1,4.0,1\r\n1,2,5.5,2\r\n"),
        "ratings.csv",
        3,
        "rating 5.5 is outside the rating scale (0.5 to 5 in steps of 0.5)",
    ),
    "rating off step": (
        _with(CSV_FILES, "ratings.csv", CSV_HEADER + b"1,1,4.0,1\r\n1,2,3.7,2\r\n"),
        "ratings.csv",
        3,
        "rating 3.7 is not on a step",
    ),
    "whole stars off step": (
        _with(ML_100K_FILES, "u.data", b"1\t1\t5\t1\n1\t2\t4.5\t2\n"),
        "u.data",
        2,
        "(1 to 5 in steps of 1)",
    ),
    "duplicate pair": (
        _with(CSV_FILES, "ratings.csv", CSV_HEADER + b"1,1,4.0,1\r\n1,2,4.0,1\r\n1,1,3.0,2\r\n"),
        "ratings.csv",
        4,
        "duplicate rating for user_id 1, movie_id 1: first on line 2",
    ),
    "non-numeric user id": (
        _with(CSV_FILES, "ratings.csv", CSV_HEADER + b"1,1,4.0,1\r\nabc,1,4.0,1\r\n"),
        "ratings.csv",
        3,
        "user_id 'abc' is not a positive integer",
    ),
    "zero movie id": (
        _with(ML_100K_FILES, "u.data", b"1\t1\t5\t1\n1\t0\t4\t2\n"),
        "u.data",
        2,
        "movie_id '0' is not a positive 32-bit integer",
    ),
    "non-numeric rating": (
        _with(CSV_FILES, "ratings.csv", CSV_HEADER + b"1,1,four,1\r\n"),
        "ratings.csv",
        2,
        "rating 'four' is not a number",
    ),
    "non-numeric timestamp": (
        _with(LAYOUT_CASES["dat-utf8"][0], "ratings.dat", b"1::1::5::978300760\n1::2::3::soon\n"),
        "ratings.dat",
        2,
        "timestamp 'soon' is not an integer",
    ),
    "empty ratings file": (
        _with(CSV_FILES, "ratings.csv", CSV_HEADER),
        "ratings.csv",
        None,
        "has no data rows",
    ),
    "zero-byte ratings file": (
        _with(CSV_FILES, "ratings.csv", b""),
        "ratings.csv",
        1,
        "is empty",
    ),
    "empty movies file": (
        _with(ML_100K_FILES, "u.item", b""),
        "u.item",
        None,
        "has no data rows",
    ),
    "unknown movie": (
        _with(ML_100K_FILES, "u.data", b"1\t1\t5\t1\n1\t2\t4\t2\n2\t77\t4\t2\n"),
        "u.data",
        3,
        "movie_id 77 is not in",
    ),
    "wrong field count": (
        _with(CSV_FILES, "ratings.csv", CSV_HEADER + b"1,1,4.0,1\r\n1,2,4.0\r\n"),
        "ratings.csv",
        3,
        "has 3 fields, expected 4",
    ),
    "wrong field count in dat": (
        _with(LAYOUT_CASES["dat-utf8"][0], "ratings.dat", b"1::1::5::1\n1::2::3::4::5\n"),
        "ratings.dat",
        2,
        "has 5 fields, expected 4",
    ),
    "wrong field count in movies": (
        _with(ML_100K_FILES, "u.item", b"1|Toy Story (1995)|01-Jan-1995\n"),
        "u.item",
        1,
        "has 3 fields, expected 24",
    ),
    "duplicate movie id": (
        _with(
            LAYOUT_CASES["dat-utf8"][0],
            "movies.dat",
            b"1::A (1995)::Drama\n2::B (1995)::Drama\n1::C (1995)::Drama\n",
        ),
        "movies.dat",
        3,
        "duplicate movie_id 1: first on line 1",
    ),
    "bad genre flag": (
        _with(ML_100K_FILES, "u.item", f"1|A (1995)|||x|{_flags()[:-1]}2\n".encode()),
        "u.item",
        1,
        "genre flag 'Western' is '2'",
    ),
}


@pytest.mark.parametrize("kind", ["folder", "zip"])
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_names_file_and_line(tmp_path: Path, case: str, kind: str) -> None:
    files, file_name, line, problem = BAD_INPUTS[case]
    source = write_source(tmp_path, files, kind)
    out_dir = tmp_path / "out"

    with pytest.raises(DataError) as caught:
        ingest(source, out_dir)

    error = caught.value
    assert error.file.endswith(file_name)
    if kind == "zip":
        assert error.file.endswith(f"ml-test.zip!ml-test/{file_name}")
    assert error.line == line
    assert problem in error.problem
    assert not out_dir.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name]


def test_first_bad_line_wins_across_blocks(tmp_path: Path) -> None:
    rows = [f"{u},1,4.0,{u}" for u in range(1, 30)]
    rows[20] = "21,1,4.0"  # line 22: wrong field count
    rows[25] = "26,1,9.0,26"  # line 27: out of scale
    rows.append("3,1,4.0,99")  # line 31: a duplicate of line 4
    files = {
        **CSV_FILES,
        "ratings.csv": ("\r\n".join([CSV_HEADER.decode().strip(), *rows]) + "\r\n").encode(),
    }
    with pytest.raises(DataError) as caught:
        ingest(write_source(tmp_path, files, "zip"), tmp_path / "out", block_size=64)
    assert caught.value.line == 22

    rows[20] = "21,1,4.0,21"
    rows[25] = "26,1,4.0,26"
    files["ratings.csv"] = ("\r\n".join([CSV_HEADER.decode().strip(), *rows]) + "\r\n").encode()
    with pytest.raises(DataError) as caught:
        ingest(write_source(tmp_path / "b", files, "zip"), tmp_path / "out", block_size=64)
    assert caught.value.line == 31
    assert "first on line 4" in caught.value.problem


def test_missing_file_names_what_is_expected(tmp_path: Path) -> None:
    source = write_source(tmp_path, _with(CSV_FILES, "movies.csv", None), "zip")
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


# --------------------------------------------------------------------------------------------
# Quarantine


def test_quarantine_keeps_the_good_rows(tmp_path: Path) -> None:
    ratings = (
        CSV_HEADER
        + b"1,1,4.0,1\r\n"  # 2 ok
        + b"1,2,9.0,2\r\n"  # 3 out of scale
        + b"1,1,3.0,3\r\n"  # 4 duplicate of line 2
        + b"x,1,4.0,4\r\n"  # 5 bad id
        + b"2,1,4.0\r\n"  # 6 field count
        + b"2,42,4.0,6\r\n"  # 7 unknown movie
        + b"2,2,2.5,7\r\n"  # 8 ok
    )
    files = {**CSV_FILES, "ratings.csv": ratings}
    result = ingest(write_source(tmp_path, files, "zip"), tmp_path / "out", quarantine=True)

    assert (result.n_ratings, result.n_quarantined, result.n_users) == (2, 5, 2)
    assert rating_rows(result.out_dir) == [(1, 1, 4.0, 1), (2, 2, 2.5, 7)]
    with open(result.out_dir / QUARANTINE_FILE, newline="", encoding="utf-8") as stream:
        quarantined = list(csv.DictReader(stream))
    assert [int(r["line"]) for r in quarantined] == [3, 4, 5, 6, 7]
    assert all(r["file"].endswith("ml-test.zip!ml-test/ratings.csv") for r in quarantined)
    assert "outside the rating scale" in quarantined[0]["problem"]
    assert "first on line 2" in quarantined[1]["problem"]
    assert quarantined[3]["text"] == "2,1,4.0"
    manifest = read_manifest(result.out_dir)
    assert manifest["n_quarantined"] == 5
    assert manifest["files"]["quarantine.csv"] == {"rows": 5}
    assert manifest["source_rows"]["ratings"] == 7


def test_quarantine_lines_stay_exact_across_blocks(tmp_path: Path) -> None:
    rows = [f"{u},1,4.0,{u}" for u in range(1, 30)]
    rows[8] = "9,1"  # line 10: wrong field count, skipped by the parser
    rows[13] = ""  # line 15: blank, skipped but counted
    rows += ["3,1,2.0,99", "5,1,1.0,98", "40,1,0.0,97"]  # lines 31-33
    header = CSV_HEADER.decode().strip()
    files = {**CSV_FILES, "ratings.csv": ("\r\n".join([header, *rows]) + "\r\n").encode()}
    result = ingest(
        write_source(tmp_path, files, "folder"), tmp_path / "out", quarantine=True, block_size=64
    )
    assert result.n_ratings == 27
    with open(result.out_dir / QUARANTINE_FILE, newline="", encoding="utf-8") as stream:
        quarantined = list(csv.DictReader(stream))
    lines_and_problems = [(int(r["line"]), r["problem"]) for r in quarantined]
    assert [line for line, _ in lines_and_problems] == [10, 31, 32, 33]
    assert "has 2 fields, expected 4" in lines_and_problems[0][1]
    assert lines_and_problems[1][1].endswith("first on line 4")
    assert lines_and_problems[2][1].endswith("first on line 6")
    assert "rating 0.0 is outside the rating scale" in lines_and_problems[3][1]
    assert read_manifest(result.out_dir)["source_rows"]["ratings"] == 31


def test_quarantine_of_movies_and_empty_quarantine(tmp_path: Path) -> None:
    movies = b"1::A (1995)::Drama\n1::B (1995)::Drama\n2::C (1995)::Drama\n"
    files = {"ratings.dat": b"1::1::5::1\n1::2::3::4\n", "movies.dat": movies}
    result = ingest(write_source(tmp_path, files, "zip"), tmp_path / "out", quarantine=True)
    assert result.n_quarantined == 1
    assert movie_rows(result.out_dir) == [
        (1, "A (1995)", "Drama", 1995),
        (2, "C (1995)", "Drama", 1995),
    ]

    clean = ingest(
        write_source(tmp_path / "b", CSV_FILES, "zip"), tmp_path / "b" / "out", quarantine=True
    )
    assert clean.n_quarantined == 0
    assert (clean.out_dir / QUARANTINE_FILE).read_text().splitlines() == ["file,line,problem,text"]


def test_quarantine_still_raises_file_level_problems(tmp_path: Path) -> None:
    files = _with(CSV_FILES, "ratings.csv", b"user,movie,rating,timestamp\r\n1,1,4.0,1\r\n")
    with pytest.raises(DataError, match="wrong header"):
        ingest(write_source(tmp_path, files, "zip"), tmp_path / "out", quarantine=True)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------
# Atomic output


def test_good_out_dir_survives_a_failed_reingest(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    ingest(write_source(tmp_path, CSV_FILES, "zip"), out_dir)
    before = {p.name: p.read_bytes() for p in out_dir.iterdir()}

    bad = _with(CSV_FILES, "ratings.csv", CSV_HEADER + b"1,1,4.0,1\r\n1,1,4.0,1\r\n")
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


def test_rating_scale_says_which_values_it_allows() -> None:
    values = [0.5, 5.0, 4.5, 0.0, 5.5, 3.25, float("nan"), 3.0000001]
    assert HALF_STARS.in_range(values).tolist() == [1, 1, 1, 0, 0, 1, 0, 1]
    assert HALF_STARS.on_step(values).tolist() == [1, 1, 1, 1, 1, 0, 0, 1]
    assert HALF_STARS.contains(values).tolist() == [1, 1, 1, 0, 0, 0, 0, 1]
    assert not HALF_STARS.contains(3.0000001, tolerance=1e-9)
    assert WHOLE_STARS.contains([1.0, 5.0]).all() and not WHOLE_STARS.contains([4.5]).any()
