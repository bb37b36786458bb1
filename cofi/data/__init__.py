"""Data: GroupLens MovieLens sources in, typed tables out; the rating matrices; synthetic data.

- :mod:`~cofi.data.download`: a dataset name, path or URL -> a local folder or zip, verified.
- :mod:`~cofi.data.ingest`: a source -> ratings.parquet, movies.parquet, manifest.json, atomically;
  built from :mod:`~cofi.data.layouts` (which files, how written), :mod:`~cofi.data.folder_or_zip`,
  :mod:`~cofi.data.reading` (raw rows with their lines), :mod:`~cofi.data.movie_rows` and
  :mod:`~cofi.data.rating_rows` (validation) and :mod:`~cofi.data.quarantine` (bad rows).
- :mod:`~cofi.data.schema`: the Parquet schemas, rating scales, known datasets, ``require_columns``.
- :mod:`~cofi.data.matrices`: index maps, the lab's dense Y/R and their sparse triples.
- :mod:`~cofi.data.ratings_file`: one user's ratings file, checked line by line.
- :mod:`~cofi.data.synthetic`: a synthetic MovieLens-like dataset in the csv layout.
"""
