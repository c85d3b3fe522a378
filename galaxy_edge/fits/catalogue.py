"""Write a galaxy catalogue as CSV, JSON Lines or a FITS binary table, atomically.

The format follows the file's suffix. A missing value (RA and Dec of a frame without WCS) is an
empty CSV field, a JSON null, and NaN in a FITS table (which has no null for floats).
"""

import csv
import io
import json
from pathlib import Path

from galaxy_edge import atomic
from galaxy_edge.errors import DataError

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".fits": "fits", ".fit": "fits"}

# Units for the FITS table's TUNITn, as astropy writes them.
UNITS = {"x": "pix", "y": "pix", "ra": "deg", "dec": "deg", "r50": "pix", "theta": "deg", "cutout": "pix"}


def catalogue_format(path):
    """The format a catalogue path asks for.

    Raises:
        DataError: the suffix is not .csv, .jsonl, .fits or .fit.
    """
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: a catalogue is .csv, .jsonl or .fits, not {Path(path).suffix or 'no suffix'}")
    return fmt


def write_catalogue(path, rows, columns, meta=None):
    """Write `rows` (dicts) with the given column order to `path`, in the format of its suffix.

    Args:
        path: .csv, .jsonl or .fits file, replaced atomically.
        rows: one dict per galaxy.
        columns: column names in order.
        meta: FITS header cards for a FITS table ({keyword: (value, comment)}); optional.
    """
    fmt = catalogue_format(path)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row[c] for c in columns])
        atomic.write_text(path, buffer.getvalue())
    elif fmt == "jsonl":
        atomic.write_text(path, "".join(json_line(row, columns) + "\n" for row in rows))
    else:
        atomic.write_bytes(path, _fits_table(rows, columns, meta or {}))


def json_line(row, columns):
    return json.dumps({c: row.get(c) for c in columns}, allow_nan=False)


def _fits_table(rows, columns, meta):
    import numpy as np
    from astropy.table import Table

    table = Table()
    for c in columns:
        values = [row.get(c) for row in rows]
        sample = next((v for v in values if v is not None), None)
        if isinstance(sample, str) or (sample is None and c in ("frame", "label")):
            table[c] = np.array([v or "" for v in values], dtype=str) if values else np.zeros(0, dtype="U1")
        elif isinstance(sample, int) and not isinstance(sample, bool):
            table[c] = np.array(values, dtype=np.int64)
        else:
            table[c] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        if c in UNITS:
            table[c].unit = UNITS[c]
    for key, value in meta.items():
        table.meta[key] = value
    buffer = io.BytesIO()
    table.write(buffer, format="fits")
    return buffer.getvalue()
