"""Catalogues of files to classify: a CSV or Parquet table with a `path` column, one file per row.

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
    base = os.path.dirname(path)
    if str(path).lower().endswith(".parquet"):
        names = _parquet_paths(path)
    else:
        names = _csv_paths(path)
    return [name if os.path.isabs(name) else os.path.join(base, name) for name in names if name]


def _csv_paths(path):
    import csv  # only for a catalogue: classifying image files never needs it

    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = csv.DictReader(f)
            if "path" not in (rows.fieldnames or []):
                raise DataError(f"{path}: a catalogue needs a 'path' column; found {rows.fieldnames}")
            return [row["path"].strip() for row in rows]
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: not a readable CSV catalogue ({e})") from None


def _parquet_paths(path):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"{path}: reading a Parquet catalogue needs pyarrow: pip install 'galaxy-edge[cluster]'") from None
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a damaged file
        raise DataError(f"{path}: not a readable Parquet catalogue ({e})") from None
    if "path" not in pf.schema_arrow.names:
        raise DataError(f"{path}: a catalogue needs a 'path' column; found {pf.schema_arrow.names}")
    return [str(p).strip() for batch in pf.iter_batches(columns=["path"]) for p in batch.column(0).to_pylist() if p]
