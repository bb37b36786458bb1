"""Small GroupLens sources, one per layout, the rows they must give, and helpers to write them.

Shared by the tests of cofi.data's MovieLens modules (layouts, reading, rows, quarantine, ingest).
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from cofi import settings as cofi_settings
from cofi.data.ingest import ingest, read_movies, read_ratings
from cofi.errors import DataError

# --------------------------------------------------------------------------------------------
# Small sources, one per layout, and the rows they must give.

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


def genre_flags(*set_indices: int) -> str:
    return "|".join("1" if i in set_indices else "0" for i in range(19))


ML_100K_FILES = {
    "u.data": b"1\t1\t5\t881250949\n1\t2\t3\t881250950\n2\t2\t1\t891717742\n",
    "u.item": (
        f"1|Toy Story (1995)|01-Jan-1995||http://x|{genre_flags(3, 4, 5)}\n"
        f"2|Misérables, Les (1995)|01-Jan-1995||http://x|{genre_flags(8, 18)}\n"
        f'3|"Quoted" Title (1994)|01-Jan-1994||http://x|{genre_flags()}\n'
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


def with_file(files: dict[str, bytes], name: str, data: bytes | None) -> dict[str, bytes]:
    changed = dict(files)
    if data is None:
        del changed[name]
    else:
        changed[name] = data
    return changed


CSV_HEADER = b"userId,movieId,rating,timestamp\r\n"


def assert_names_file_and_line(
    tmp_path: Path,
    files: dict[str, bytes],
    kind: str,
    file_name: str,
    line: int | None,
    problem: str,
) -> None:
    """Ingesting ``files`` fails on ``file_name``'s ``line`` with ``problem``, leaving nothing."""
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


# --------------------------------------------------------------------------------------------
# The real GroupLens data


def real_dataset(name: str) -> Path:
    root = cofi_settings.movielens_dir()
    if root is None:
        pytest.skip(f"COFI_MOVIELENS_DIR is not set: no local copy of {name} to test against")
    if not (root / name).is_dir():
        pytest.skip(f"COFI_MOVIELENS_DIR={root} holds no {name}/ folder")
    return root / name


def fingerprint(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()
    }
