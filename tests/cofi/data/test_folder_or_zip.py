"""Tests of cofi.data.folder_or_zip: a missing, truncated or corrupt source is named; links and
member names cannot reach outside the source; an unreadable file is named."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from cofi.data import digests, folder_or_zip
from cofi.data.folder_or_zip import FolderOrZip
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


SECRET = b"root:x:0:0:secret first line\n"


def test_a_link_out_of_the_folder_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "passwd"
    outside.write_bytes(SECRET)
    source = write_source(tmp_path, {"movies.csv": CSV_FILES["movies.csv"]}, "folder")
    (source / "ratings.csv").symlink_to(outside)
    with pytest.raises(DataError, match="is a link to a file outside the source folder") as caught:
        ingest(source, tmp_path / "out")
    assert caught.value.file == str(source / "ratings.csv")
    assert "secret" not in str(caught.value) and "passwd" not in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_a_linked_folder_out_of_the_source_is_not_followed(tmp_path: Path) -> None:
    elsewhere = write_source(tmp_path / "elsewhere", CSV_FILES, "folder")
    source = tmp_path / "source"
    source.mkdir()
    (source / "ml-test").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(DataError, match="outside the source folder"):
        ingest(source, tmp_path / "out")


def test_a_link_within_the_folder_is_followed(tmp_path: Path) -> None:
    source = write_source(tmp_path, {**CSV_FILES, "real.csv": CSV_FILES["ratings.csv"]}, "folder")
    (source / "ratings.csv").unlink()
    (source / "ratings.csv").symlink_to("real.csv")
    assert ingest(source, tmp_path / "out").n_ratings == 4


@pytest.mark.parametrize(
    "member",
    ["../ratings.csv", "/ratings.csv", "ml/../../ratings.csv", "..\\ratings.csv", "C:ratings.csv"],
)
def test_an_archive_member_outside_the_archive_is_refused(tmp_path: Path, member: str) -> None:
    source = tmp_path / "evil.zip"
    with zipfile.ZipFile(source, "w") as archive:
        archive.writestr("movies.csv", CSV_FILES["movies.csv"])
        info = zipfile.ZipInfo("ratings.csv")
        info.filename = member  # ZipInfo() would normalise the name; an attacker's tool does not
        archive.writestr(info, CSV_FILES["ratings.csv"])
    with pytest.raises(DataError, match="unsafe member name") as caught:
        ingest(source, tmp_path / "out")
    assert caught.value.file == f"{source}!{member}"


def test_an_unreadable_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = write_source(tmp_path, CSV_FILES, "folder")
    real_open = open

    def refuse_movies(file, *args, **kwargs):
        if str(file).endswith("movies.csv"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    for module in (folder_or_zip, digests):
        monkeypatch.setattr(module, "open", refuse_movies, raising=False)
    with pytest.raises(DataError, match=r"cannot be read \(Permission denied\)") as caught:
        ingest(source, tmp_path / "out")
    assert caught.value.file == str(source / "movies.csv")
    monkeypatch.setattr(digests, "open", real_open, raising=False)
    with pytest.raises(DataError, match=r"cannot be read \(Permission denied\)") as caught:
        ingest(source, tmp_path / "out")
    assert caught.value.file == str(source / "movies.csv")


def test_a_file_that_became_a_folder_is_named(tmp_path: Path) -> None:
    source = write_source(tmp_path, CSV_FILES, "folder")
    with FolderOrZip(source) as container:
        (source / "movies.csv").unlink()
        (source / "movies.csv").mkdir()
        with pytest.raises(DataError, match="cannot be read") as caught:
            container.open("movies.csv")
    assert caught.value.file == str(source / "movies.csv")


def test_read_bytes_is_for_small_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(folder_or_zip, "MAX_READ_BYTES", 100)
    source = write_source(tmp_path, CSV_FILES, "zip")
    with FolderOrZip(source) as container, pytest.raises(DataError, match="larger than"):
        container.read_bytes("ml-test/movies.csv")
