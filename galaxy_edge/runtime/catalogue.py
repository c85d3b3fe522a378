"""Catalogues: a CSV or Parquet table with a `path` column of files to classify, one file per row,
or (`field --positions`) of frames and positions on them.

A relative path is taken relative to the catalogue's folder, so a catalogue travels with its images.
"""

import os

from galaxy_edge.errors import DataError

SUFFIXES = (".csv", ".parquet")


def is_catalogue(path):
    return str(path).lower().endswith(SUFFIXES) and os.path.isfile(path)


def catalogue_paths(path):
    """The paths listed in a catalogue's `path` column, in row order.

    Raises:
        DataError: the file has no `path` column, or cannot be read as CSV or Parquet.
    """
    _, rows = catalogue_rows(path, ["path"], ["path"])
    names = (str(row["path"]).strip() for row in rows if row["path"])
    return [located(path, name) for name in names if name]


def located(catalogue, name):
    """A path from a catalogue, relative to the catalogue's folder unless absolute."""
    return name if os.path.isabs(name) else os.path.join(os.path.dirname(catalogue), name)


def catalogue_rows(path, needed, wanted):
    """Rows of a CSV or Parquet catalogue, read as they are needed, each a dict of the `wanted` columns it has.

    Args:
        path: the .csv or .parquet file.
        needed: the columns it must have; or a function of its column names that says what is
            missing (a text), or None.
        wanted: the columns to read (absent ones are left out of the rows). A CSV gives strings
            (empty for a missing value), a Parquet file its own types (None).

    Returns:
        (columns, rows): the catalogue's column names, and an iterator of dicts.

    Raises:
        DataError: the file cannot be read as CSV or Parquet, or lacks a needed column.
    """
    if str(path).lower().endswith(".parquet"):
        columns, rows = _parquet_rows(path, wanted)
    else:
        columns, rows = _csv_rows(path, wanted)
    missing = needed(columns) if callable(needed) else (f"a '{needed[0]}' column" if needed[0] not in columns else None)
    if missing:
        raise DataError(f"{path}: a catalogue needs {missing}; found {columns}")
    return columns, rows


def _csv_rows(path, wanted):
    import csv  # only for a catalogue: classifying image files never needs it

    def read():
        try:
            with open(path, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                yield list(reader.fieldnames or [])
                for row in reader:
                    yield {c: (row[c] or "").strip() for c in wanted if c in reader.fieldnames}
        except (OSError, UnicodeDecodeError, csv.Error) as e:
            raise DataError(f"{path}: not a readable CSV catalogue ({e})") from None

    rows = read()
    return next(rows), rows


def _parquet_rows(path, wanted):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"{path}: reading a Parquet catalogue needs pyarrow: pip install 'galaxy-edge[cluster]'") from None
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a damaged file
        raise DataError(f"{path}: not a readable Parquet catalogue ({e})") from None
    columns = pf.schema_arrow.names
    present = [c for c in wanted if c in columns]
    return columns, (row for batch in pf.iter_batches(columns=present) for row in batch.to_pylist()) if present else iter(())
