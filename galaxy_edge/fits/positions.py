"""Catalogues of targets for `field --positions`: a frame and a position on it per row.

Columns (CSV or Parquet; others are ignored):
  frame (or path)  the FITS file, relative to the catalogue's folder unless absolute
  x, y             FITS pixel coordinates (first pixel 1), or
  ra, dec          degrees, placed by the frame's WCS (used for rows without x and y)
  id               optional; default the row number (from 1); carried to the output row
  size             optional; the cutout's side in pixels (default `FieldOptions.cutout_size`)

Consecutive rows on one frame are one unit of work (the frame is read once): sort by frame.
"""

import math

from galaxy_edge.fits.field import Target
from galaxy_edge.runtime.catalogue import catalogue_rows, located

WANTED = ("frame", "path", "id", "x", "y", "ra", "dec", "size")


def read_targets(path):
    """The targets of a catalogue, as `(frame, [Target, ...])` per run of rows on one frame, in catalogue order.

    A row that cannot be used (no frame, no position, a value that is not a number) is a Target
    with its `error`, so that it becomes an error row and the others go on.

    Raises:
        DataError: the catalogue cannot be read, or lacks a frame column or a pair of position columns.
    """
    columns, rows = catalogue_rows(path, _missing, WANTED)
    key = "frame" if "frame" in columns else "path"
    return _groups(path, key, rows)


def _missing(columns):
    if "frame" not in columns and "path" not in columns:
        return "a 'frame' (or 'path') column"
    if not ({"x", "y"} <= set(columns) or {"ra", "dec"} <= set(columns)):
        return "'x' and 'y' (FITS pixels) or 'ra' and 'dec' (degrees) columns"
    return None


def _groups(path, key, rows):
    frame, group = None, []
    for number, row in enumerate(rows, 1):
        name = str(row.get(key) or "").strip()
        name = located(path, name) if name else ""
        if group and name != frame:
            yield frame, group
            group = []
        frame = name
        group.append(_target(row, f"{path} row {number}", number, name))
    if group:
        yield frame, group


def _target(row, where, number, frame):
    ident = row.get("id")
    ident = number if ident in (None, "") else _identifier(ident)
    if not frame:
        return Target(ident, error=f"{where}: no frame")
    try:
        x, y, ra, dec, size = (_number(row.get(k), k) for k in ("x", "y", "ra", "dec", "size"))
    except ValueError as e:
        return Target(ident, error=f"{where}: {e}")
    if x is None or y is None:
        x = y = None
        if ra is None or dec is None:
            return Target(ident, error=f"{where}: no position: give x and y, or ra and dec")
    if size is not None and not size >= 1:
        return Target(ident, error=f"{where}: size {size:g} is not a number of pixels")
    return Target(ident, x, y, ra, dec, size)


def _identifier(value):
    # A CSV gives "42": it is the number 42, as a Parquet integer id would be.
    text = str(value).strip()
    return int(text) if text.lstrip("-").isdigit() else value


def _number(value, name):
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} is not a number: {value!r}") from None
    return number if math.isfinite(number) else None
