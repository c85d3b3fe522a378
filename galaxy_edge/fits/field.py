"""From a FITS frame to catalogue rows: detect with sep, cut out each galaxy, render it, classify it.

`classify_frame(path, classifier)` is a plain function of a path (or three band paths) and a
`Classifier`, so a cluster can map it over frames. `classify_positions` cuts out and classifies
the galaxies at given positions instead of detecting them (a catalogue of targets). Memory: the frame is held once as float32
(a 4k x 4k band is 64 MB) and changed in place (background subtraction); besides it only two
boolean masks and the cutouts are made.
"""

import warnings
from dataclasses import dataclass

import numpy as np

from galaxy_edge.errors import GalaxyEdgeError
from galaxy_edge.fits.detect import FLAG_EDGE, covered, detect, footprints, prepare
from galaxy_edge.fits.options import FieldOptions

# The first columns of every row, in order; then one `p_<class>` column per class.
COLUMNS = (
    "frame", "id", "x", "y", "ra", "dec", "flux", "flux_err", "snr", "r50", "axis_ratio", "theta",
    "cutout", "flags", "label", "score",
)


@dataclass
class FrameResult:
    """One frame's galaxies and what was learnt about the frame.

    Attributes:
        frame: the frame's name as rows carry it (the file, or the band files joined by ",").
        rows: one dict per galaxy, keys `COLUMNS` then `p_<class>`.
        shape: (height, width) in pixels.
        sources: every source detected; `len(rows)` of them are galaxies.
        psf_r50: the PSF half-light radius in pixels (NaN when unknown), and `psf_from` where it came from.
        noise: background RMS of the detection band.
        warnings: things the user should know (no WCS, no PSF measured).
    """

    frame: str
    rows: list
    shape: tuple
    sources: int
    psf_r50: float
    psf_from: str
    noise: float
    warnings: list


def classify_frame(paths, classifier, options=None, preview=None):
    """Detect, cut out and classify every galaxy of one frame.

    Args:
        paths: a FITS frame (2-D, or a cube with `options.planes`), or a list of three single-band
            frames on one grid, bluest first, or their group name (`f_{g,r,i}.fits`). Sources are
            detected and measured in the middle band.
        classifier: a `galaxy_edge.runtime.classifier.Classifier`.
        options: FieldOptions.
        preview: write a PNG of the frame with a labelled box per galaxy to this path; optional.

    Returns:
        FrameResult.

    Raises:
        ImageError: the frame cannot be read (see `galaxy_edge.fits.read`).
    """
    from galaxy_edge.fits.read import celestial_wcs

    options = options or FieldOptions()
    paths = _path_list(paths)
    bands, noises, mask, saturated = _prepared(paths, options)
    data = bands.data
    ref = data.shape[0] // 2
    sources = detect(data[ref], mask, noises[ref], saturated, options.detect)
    del mask, saturated
    notes = []
    wcs = celestial_wcs(bands.header)
    if wcs is None:
        notes.append("no celestial WCS in the header: RA and Dec are left empty")
    if sources.psf_from == "none" and len(sources):
        notes.append("no bright unflagged source to measure the PSF on: no source is called a galaxy; give --psf-r50")
    elif sources.psf_from == "smallest bright source":
        notes.append(
            f"only {sources.stars} bright unflagged source(s): the PSF is taken as the smallest of them "
            f"(r50 {sources.psf_r50:.2f} px), which may be a compact galaxy; give --psf-r50 to be sure")
    frame = ",".join(paths)
    cols = sources.columns
    chosen = np.flatnonzero(cols["is_galaxy"])
    ra = dec = None
    if wcs is not None and len(chosen):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ra, dec = wcs.all_pix2world(cols["x"][chosen], cols["y"][chosen], 0)
    rows, boxes = [], []
    # Sources that are neither galaxies nor pieces of one are stars (or too small to tell).
    stars = np.flatnonzero(~cols["is_galaxy"][cols["group"]]) if len(sources) else np.zeros(0, dtype=int)
    for k, i in enumerate(chosen):
        side = int(np.clip(round(options.cutout_scale * cols["r50"][i]), options.min_cutout, options.max_cutout))
        cutout, clipped = _cutout(data, cols["x"][i], cols["y"][i], side)
        if options.mask_stars:
            x0, y0 = int(round(cols["x"][i])) - side // 2, int(round(cols["y"][i])) - side // 2
            own = footprints(cols, np.flatnonzero(cols["group"] == i), x0, y0, (side, side))
            _mask_stars(cutout, covered(own, footprints(cols, stars, x0, y0, (side, side))), noises, seed=i)
        flags = int(cols["flags"][i]) | (FLAG_EDGE if clipped else 0)
        probs = _classify(classifier, cutout, noises)
        order = int(np.argmax(probs))
        row = {
            "frame": frame,
            "id": int(i) + 1,
            # FITS pixel coordinates: the centre of the first pixel is (1, 1).
            "x": round(float(cols["x"][i]) + 1, 3),
            "y": round(float(cols["y"][i]) + 1, 3),
            "ra": None if ra is None else round(float(ra[k]), 7),
            "dec": None if dec is None else round(float(dec[k]), 7),
            "flux": _g(cols["flux"][i]),
            "flux_err": _g(cols["flux_err"][i]),
            "snr": round(float(cols["snr"][i]), 1),
            "r50": round(float(cols["r50"][i]), 3),
            "axis_ratio": round(float(cols["b"][i] / cols["a"][i]), 3) if cols["a"][i] > 0 else None,
            # Position angle of the major axis, degrees counter-clockwise from the +x axis.
            "theta": round(float(np.degrees(cols["theta"][i])), 2),
            "cutout": side,
            "flags": flags,
            "label": classifier.class_names[order],
            "score": round(float(probs[order]), 6),
        }
        row.update({f"p_{name}": round(float(p), 6) for name, p in zip(classifier.class_names, probs)})
        rows.append(row)
        boxes.append((float(cols["x"][i]), float(cols["y"][i]), side, row["label"]))
    if preview is not None:
        from galaxy_edge.fits.preview import write_preview

        write_preview(preview, data, noises, boxes)
    return FrameResult(frame, rows, data.shape[1:], len(sources), sources.psf_r50, sources.psf_from, sources.noise, notes)


@dataclass(frozen=True)
class Target:
    """A position to classify on a frame, from a row of a catalogue of targets.

    Attributes:
        id: the row's id, carried to the output row.
        x, y: FITS pixel coordinates (first pixel 1), or None to use ra and dec.
        ra, dec: sky position in degrees (the frame's WCS places it).
        size: cutout side in pixels; None for `FieldOptions.cutout_size`.
        error: what is wrong with the row itself (a value that is not a number); it is not classified.
    """

    id: object
    x: float = None
    y: float = None
    ra: float = None
    dec: float = None
    size: float = None
    error: str = None


def classify_positions(paths, targets, classifier, options=None, name=None):
    """Cut out, render and classify the galaxy at each target's position on one frame, without detecting.

    Rows have the columns of `classify_frame` and an `error`; what was not measured (flux, r50,
    shape) is None. A target whose position is off the frame, given in RA and Dec on a frame
    without a celestial WCS, or whose row is bad, and every target of a frame that cannot be read,
    gets a row with its `error` and no label: the others go on.

    Args:
        paths: a FITS frame, or three band files (as for `classify_frame`).
        targets: the frame's Targets, in catalogue order.
        classifier: a `galaxy_edge.runtime.classifier.Classifier`.
        options: FieldOptions (planes, cutout_size, detect.saturation).
        name: the frame as rows name it; default: the paths joined by ",".

    Returns:
        One row (dict) per target, in order.
    """
    from galaxy_edge.fits.read import celestial_wcs

    options = options or FieldOptions()
    paths = _path_list(paths)
    frame = name or ",".join(paths)
    blank = dict.fromkeys(COLUMNS) | {f"p_{n}": None for n in classifier.class_names}
    rows = [blank | {"frame": frame, "id": t.id, "x": t.x, "y": t.y, "ra": t.ra, "dec": t.dec, "error": t.error}
            for t in targets]
    try:
        bands, noises, _, _ = _prepared(paths, options)
    except GalaxyEdgeError as e:
        return [row | {"error": row["error"] or str(e)} for row in rows]
    data, wcs = bands.data, celestial_wcs(bands.header)
    _, h, w = data.shape
    for t, row in zip(targets, rows):
        if row["error"]:
            continue
        if t.x is None and wcs is None:
            row["error"] = f"{frame}: no celestial WCS in the frame's header to place RA, Dec: give x and y"
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if t.x is None:
                x, y = (float(v) for v in wcs.all_world2pix(t.ra, t.dec, 0))
            else:
                x, y = t.x - 1, t.y - 1
                if wcs is not None:
                    row["ra"], row["dec"] = (round(float(v), 7) for v in wcs.all_pix2world(x, y, 0))
        if not (np.isfinite(x) and np.isfinite(y)):
            row["error"] = f"{frame}: RA {t.ra:g}, Dec {t.dec:g} has no place in the frame's projection"
            continue
        row["x"], row["y"] = round(x + 1, 3), round(y + 1, 3)
        if not (-0.5 <= x < w - 0.5 and -0.5 <= y < h - 0.5):
            row["error"] = f"{frame}: position ({x + 1:.1f}, {y + 1:.1f}) is off the frame ({w} x {h} px)"
            continue
        side = int(np.clip(round(t.size or options.cutout_size), 1, options.max_cutout))
        cutout, clipped = _cutout(data, x, y, side)
        probs = _classify(classifier, cutout, noises)
        order = int(np.argmax(probs))
        row.update({"cutout": side, "flags": FLAG_EDGE if clipped else 0, "label": classifier.class_names[order],
                    "score": round(float(probs[order]), 6)})
        row.update({f"p_{n}": round(float(p), 6) for n, p in zip(classifier.class_names, probs)})
    return rows


def _path_list(paths):
    """A frame's file(s) as a list; a group name, NGC7479_{g,r,i}.fits, stands for its three band files."""
    from galaxy_edge.fits.band_files import band_paths

    paths = [str(paths)] if isinstance(paths, (str, bytes)) or not hasattr(paths, "__len__") else [str(p) for p in paths]
    return (band_paths(paths[0]) or paths) if len(paths) == 1 else paths


def _prepared(paths, options):
    """The frame's bands, background subtracted in place (sep); the noise of each; the no-data and saturation masks.

    Raises:
        ImageError: the frame cannot be read.
    """
    from galaxy_edge.fits.read import read_bands

    bands = read_bands(paths, planes=options.planes)
    ref = bands.data.shape[0] // 2
    noises = [0.0] * bands.data.shape[0]
    mask = saturated = None
    for i in range(bands.data.shape[0]):
        m, s, noises[i] = prepare(bands.data[i], bands.header if i == ref else None, options.detect)
        if i == ref:
            mask, saturated = m, s
    return bands, noises, mask, saturated


def _cutout(data, x, y, side):
    """A (bands, side, side) cutout centred on (x, y), 0 (sky) beyond the frame; and whether it ran past it."""
    n, h, w = data.shape
    x0, y0 = int(round(x)) - side // 2, int(round(y)) - side // 2
    x1, y1 = x0 + side, y0 + side
    out = np.zeros((n, side, side), dtype=data.dtype)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        out[:, sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = data[:, sy0:sy1, sx0:sx1]
    return out, (x0 < 0 or y0 < 0 or x1 > w or y1 > h)


def _mask_stars(cutout, stars, noises, seed):
    """Replace the pixels of stars in a galaxy's cutout by sky noise, in place.

    The training images hold galaxies, not foreground stars: a star beside a galaxy makes the
    model see an irregular or merging system. Stars are the sources not called galaxies (nor
    folded into one); neighbouring galaxies stay, as a merger's partner must. `stars` is the
    cutout's boolean map of the pixels of stars' footprints nearer to them than to the galaxy
    (`detect.footprints`, `detect.covered`).
    The noise is each band's background RMS, drawn from a generator seeded by the source, so a
    catalogue is reproducible.
    """
    count = int(np.count_nonzero(stars))
    if count:
        rng = np.random.default_rng(seed)
        for band, noise in zip(cutout, noises):
            band[stars] = rng.normal(0.0, noise, count)


def _classify(classifier, cutout, noises):
    from galaxy_edge.fits.render import render
    from galaxy_edge.preprocess import from_array

    image = from_array(render(cutout, sky=0.0, noise=noises), classifier.input_size)
    return classifier.probabilities(image)


def _g(value):
    """A float to six significant digits (fluxes span many decades, in whatever unit the frame has)."""
    return float(f"{float(value):.6g}")
