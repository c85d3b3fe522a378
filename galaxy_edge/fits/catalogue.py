"""Write a galaxy catalogue as CSV, JSON Lines or a FITS binary table.

The format follows the file's suffix. A missing value (RA and Dec of a frame without WCS) is an
empty CSV field, a JSON null, and NaN in a FITS table (which has no null for floats).

`field` writes CSV and JSON Lines frame by frame (`CatalogueFile`), appended and flushed, so a run
stopped by `kill -9` keeps every frame written and `--resume` finishes it: galaxies are keyed by
frame and id, the last frame in the file (perhaps cut short) is done again and only its missing
galaxies appended. A FITS table cannot be appended to safely: it is written whole, atomically, at the end.
"""

import csv
import io
import json
import os
from pathlib import Path

from galaxy_edge import atomic
from galaxy_edge.errors import DataError
from galaxy_edge.runtime.outputs import AppendFile, complete_lines, csv_line, cut_torn_line, json_line

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


def _fits_table(rows, columns, meta):
    import numpy as np
    from astropy.table import Table

    table = Table()
    for c in columns:
        values = [row.get(c) for row in rows]
        sample = next((v for v in values if v is not None), None)
        if isinstance(sample, str) or (sample is None and c in ("frame", "label", "error")):
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


def check_new(path, resume=False, overwrite=False):
    """Whether the catalogue exists; refused unless the run is to finish it (`resume`) or replace it.

    Raises:
        DataError: the path exists and neither `resume` nor `overwrite` is set.
    """
    exists = Path(path).exists()
    if exists and not (resume or overwrite):
        raise DataError(f"{path}: already exists; choose another name, pass --overwrite, or --resume to finish that run")
    return exists


class CatalogueFile:
    """A catalogue written frame by frame as a run goes, and, with `resume`, what an earlier run already wrote.

    Args:
        path: .csv, .jsonl or .fits.
        columns: the column names in order.
        resume: append to an existing catalogue of ours (CSV and JSON Lines only).
        overwrite: replace an existing file.

    Attributes:
        done: (frame, str(id)) of every galaxy already in the file.
        frames: the frames already in the file.
        last: the frame of its last row, which may have been cut short; None for a new file.

    Raises:
        DataError: the file exists without `resume` or `overwrite`; with `resume`, it is not a
            galaxy-edge catalogue of these columns, or cannot be read or written.
    """

    def __init__(self, path, columns, resume=False, overwrite=False):
        self.path, self.columns = Path(path), list(columns)
        self.format = catalogue_format(path)
        self.done, self.frames, self.last, self.rows, self.stream = set(), set(), None, [], None
        self.exists = check_new(path, resume, overwrite)
        self.resume = resume
        if self.exists and resume and self.format != "fits":
            self._read_done()

    def write(self, rows):
        """Append one frame's rows, flushed before the next frame; return those written (not already in the file)."""
        rows = [row for row in rows if (row["frame"], str(row["id"])) not in self.done]
        for row in rows:
            if self.format == "fits":
                self.rows.append(row)
                continue
            stream = self.stream or self._open()
            if self.format == "csv":
                stream.append(csv_line(["" if row.get(c) is None else row[c] for c in self.columns]))
            else:
                stream.append(json_line({c: row.get(c) for c in self.columns}))
        return rows

    def _open(self):
        # On the first row, so that a run that fails before any writes no file (and replaces none).
        append = self.exists and self.resume
        try:
            if self.exists and not append:
                os.unlink(self.path)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.stream = AppendFile(self.path, append)
        except OSError as e:
            raise DataError(f"{self.path}: cannot write the catalogue ({e.strerror})") from None
        if not append and self.format == "csv":
            self.stream.append(csv_line(self.columns))
        return self.stream

    def finish(self, meta=None):
        """The run is complete: a FITS table is written now, with `meta` header cards; a stream is closed."""
        if self.format == "fits":
            atomic.write_bytes(self.path, _fits_table(self.rows, self.columns, meta or {}))
        elif self.stream is None:
            self._open()  # no galaxy at all: still a catalogue, of no rows
        self.close()

    def close(self):
        """Close a CSV or JSON Lines stream (what is written stays); a run that did not finish writes no FITS table."""
        if self.stream is not None:
            self.stream.close()
            self.stream = None

    def _read_done(self):
        lines, torn = complete_lines(self.path, _not_ours)
        if self.format == "csv":
            reader = csv.reader(io.StringIO("\n".join(lines)))
            if next(reader, None) != self.columns:
                raise _not_ours(self.path, f"its header is not {','.join(self.columns)}")
            rows = [row for row in reader if row]
            if any(len(row) != len(self.columns) for row in rows):
                raise _not_ours(self.path, f"a row does not have the {len(self.columns)} columns of its header")
            keys = [(row[0], row[1]) for row in rows]
        else:
            keys = []
            for number, line in enumerate(lines, 1):
                try:
                    rec = json.loads(line)
                    keys.append((rec["frame"], str(rec["id"])))
                    ok = list(rec) == self.columns
                except (ValueError, KeyError, TypeError):
                    ok = False
                if not ok:
                    raise _not_ours(self.path, f"line {number} is not a row of {','.join(self.columns)}")
        cut_torn_line(self.path, torn)
        self.done = set(keys)
        self.frames = {frame for frame, _ in keys}
        self.last = keys[-1][0] if keys else None


def _not_ours(path, why):
    return DataError(f"{path}: not a galaxy-edge field catalogue ({why}); refusing to write into it")

