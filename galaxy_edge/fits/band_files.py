"""Three single-band FITS files of one galaxy as one image, named as a shell names them: NGC7479_{g,r,i}.fits.

With `--bands g,r,i`, FITS files whose names differ only by a band token are one galaxy:
`NGC7479_g.fits`, `NGC7479_r.fits` and `NGC7479_i.fits` become one record, `NGC7479_{g,r,i}.fits`
(the shell's brace notation, bands in the order given: bluest first). A band token is a part of
the file name between `_`, `-` or `.` (the last such part when several are bands), so SDSS's
`frame-g-004874-3-0692.fits` works as well. A FITS file with no band token in its name is
classified alone, as without `--bands`.

A name in braces is read as its three files wherever an image is read (`load_image`), so it can
also be given as it is: `galaxy-edge classify 'NGC7479_{g,r,i}.fits'`.

Standard library only: listing files never loads numpy or astropy.
"""

import os
import re

from galaxy_edge.preprocess import FITS_SUFFIXES

_BRACES = re.compile(r"\{([^{}/,]+),([^{}/,]+),([^{}/,]+)\}")
_TOKEN_EDGES = re.compile(r"[_.\-]")


def parse_bands(text):
    """`g,r,i` as ['g', 'r', 'i']; ValueError unless three distinct non-empty names."""
    bands = [b.strip() for b in str(text).split(",")]
    if len(bands) != 3 or len(set(bands)) != 3 or not all(bands) or any(set(b) & set("{}/_.-") for b in bands):
        raise ValueError(f"expected three distinct band names, bluest first, like g,r,i; got {text!r}")
    return bands


def band_paths(path):
    """The three files a group name like `d/NGC7479_{g,r,i}.fits` stands for, or None for any other name.

    A file that really exists under the name with braces is that file, not a group.
    """
    path = str(path)
    match = None
    for match in _BRACES.finditer(os.path.basename(path)):
        pass
    if match is None or os.path.lexists(path):
        return None
    head = path[: len(path) - len(os.path.basename(path))]
    name = os.path.basename(path)
    return [head + name[: match.start()] + band + name[match.end():] for band in match.groups()]


def group_name(path, bands):
    """(group name, band) of a single-band FITS file whose name holds one of `bands` as a token; else None."""
    path = str(path)
    head, name = os.path.split(path)
    lower = name.lower()
    suffix = next((s for s in sorted(FITS_SUFFIXES, key=len, reverse=True) if lower.endswith(s)), None)
    if suffix is None:
        return None
    stem = name[: len(name) - len(suffix)]
    edges = [0] + [m.end() for m in _TOKEN_EDGES.finditer(stem)]
    for start in reversed(edges):
        end = next((m.start() for m in _TOKEN_EDGES.finditer(stem, start)), len(stem))
        if stem[start:end] in bands:
            grouped = stem[:start] + "{" + ",".join(bands) + "}" + stem[end:] + name[len(stem):]
            return os.path.join(head, grouped), stem[start:end]
    return None


def group_items(items, bands):
    """Replace the single-band FITS files among `(path, error)` items by one item per galaxy.

    A group takes the place of its first file; a group without all of its bands is an item whose
    error names the missing files. Other items pass through unchanged.

    Args:
        items: `(path, error)` pairs, as `runtime.batch.expand_inputs` makes them.
        bands: three band names, bluest first (`parse_bands`).

    Returns:
        A list of `(path, error)`.
    """
    out, groups = [], {}
    for path, error in items:
        found = None if error else group_name(path, bands)
        if found is None:
            out.append((path, error))
            continue
        name, band = found
        if name not in groups:
            groups[name] = {}
            out.append((name, None))
        groups[name][band] = path
    return [(path, missing_bands(path, bands, groups[path]) if path in groups else error) for path, error in out]


def missing_bands(name, bands, present):
    """The error of group `name` when some of `bands` are not among `present` (a mapping by band); else None."""
    missing = [f for band, f in zip(bands, band_paths(name) or []) if band not in present]
    if not missing:
        return None
    return f"band file(s) missing: {', '.join(os.path.basename(f) for f in missing)} (a galaxy needs all three bands)"
