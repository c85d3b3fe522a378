"""Find the galaxies in a frame with sep (Source Extractor as a library).

1. Background: sep's mesh background (`background_mesh` px boxes, 3x3 median filtered), subtracted
   in place; the noise is its global RMS.
2. Detection: `threshold` sigma above the background over at least `min_area` connected pixels,
   after sep's default 3x3 matched filter, deblended into sub-objects over 32 levels with a
   minimum contrast `deblend_cont` of 0.005 (Source Extractor's default: it splits a galaxy from
   the bright star beside it; the pieces of a galaxy it shreds are folded back, see 4). A galaxy
   beside a much brighter star holds less than that share of their light and stays hidden in the
   star's footprint: the footprint of each bright point source is deblended again, 1,000 times more
   finely, and what it holds away from the star is a source of its own (`_beside_bright_stars`).
3. Measurement: Kron ("auto") flux in 2.5 Kron radii with its error, half-light radius r50,
   axis ratio b/a and position angle from the second moments.
4. Stars and galaxies: the PSF's r50 is measured from the frame's own stars, the densest narrow
   locus of small r50 among bright (S/N >= 50), unflagged sources, with the stars' scatter about
   it. A source is a galaxy when its r50 is above the PSF's by more than `galaxy_size - 1` of it
   and by more than 3 times the stars' scatter (wider for faint sources, as 1/sqrt(S/N) below
   S/N 50), and its S/N is at least `min_snr`: fainter sources are too noisy to classify by shape.
   A blended galaxy whose centre lies within twice the half-light radius of a brighter galaxy is a
   deblended piece of it (a knot, an arm, a merger's second nucleus): it is folded into that galaxy,
   whose position becomes the flux-weighted centre of the whole and whose cutout is framed on the
   half-light radius of the whole (5).
5. A galaxy's own size: each galaxy's r50 is measured again with the light of other sources (their
   isophotal footprints, `footprints`) replaced by its mirror image through the galaxy's centre,
   as Source Extractor's MASK_TYPE CORRECT does; a star that was big only through its neighbour's
   light is a star again. A galaxy with pieces is measured so about the centre of the whole,
   within a circle holding every piece's Kron aperture: its r50 is the whole's.

Flags (bits, as in Source Extractor's FLAGS):
  1  BLENDED    deblended from a footprint shared with other sources
  2  EDGE       the footprint touches the frame edge or pixels without data, or the cutout runs past it
  4  SATURATED  a pixel of the footprint reaches the saturation level (SATURATE keyword or --saturation)
"""

from dataclasses import dataclass

import numpy as np

from galaxy_edge.fits.options import DetectOptions

FLAG_BLENDED, FLAG_EDGE, FLAG_SATURATED = 1, 2, 4
FLAG_NAMES = {FLAG_BLENDED: "blended", FLAG_EDGE: "edge", FLAG_SATURATED: "saturated"}

# sep keeps the pixels of every object being extracted on one stack; a 4k frame with large
# galaxies overflows its default (300,000).
_PIXSTACK = 3_000_000
# The deblending contrast around bright stars, as a share of `deblend_cont` (`_beside_bright_stars`).
_FINE_CONTRAST = 0.001
# Up to this many masked pixels, their coordinates (16 bytes each) are cheaper to search than the mask.
_FEW_PIXELS = 200_000


@dataclass
class Sources:
    """Every source found in a frame, as numpy columns (one entry per source), and the frame's figures.

    Attributes:
        columns: x, y (0-based pixels), flux, flux_err, snr, r50, a, b, theta (radians), flags,
            is_galaxy, group (the galaxy each source is a piece of, else itself), xmin, xmax,
            ymin, ymax (the isophotal bounding box), cxx, cyy, cxy (the ellipse) and r_iso (its
            scale that has the isophotal area: `footprints`). A galaxy's r50 is the whole
            galaxy's, its folded pieces included.
        psf_r50: the PSF half-light radius used, in pixels (NaN when it could not be measured).
        psf_from: "stars" (measured), "option" (given) or "none".
        noise: the background RMS.
        stars: how many sources were bright enough to measure the PSF on.
    """

    columns: dict
    psf_r50: float
    psf_from: str
    noise: float
    stars: int

    def __len__(self):
        return len(self.columns["x"])


def prepare(image, header=None, options=None):
    """Mask pixels without data, find saturated ones, subtract sep's background; `image` is changed in place.

    Args:
        image: (H, W) float32, C-contiguous, native byte order, NaN where there is no data.
        header: the frame's FITS header, for SATURATE; optional.
        options: DetectOptions.

    Returns:
        (mask, saturated, noise): bool (H, W) no-data mask, bool (H, W) saturated pixels or None
        when no saturation level is known, and the background's global RMS.
    """
    import sep

    options = options or DetectOptions()
    mask = np.isnan(image)
    image[mask] = 0
    level = options.saturation if options.saturation is not None else _saturate_keyword(header)
    saturated = image >= level if level is not None else None
    mesh = int(min(options.background_mesh, max(8, min(image.shape) // 2)))
    bkg = sep.Background(image, mask=mask, bw=mesh, bh=mesh, fw=3, fh=3)
    bkg.subfrom(image)
    return mask, saturated, float(bkg.globalrms)


def detect(image, mask, noise, saturated=None, options=None):
    """Find, measure and separate the sources of a background-subtracted frame.

    Args:
        image: (H, W) float32, background subtracted and 0 where masked (`prepare`).
        mask: (H, W) bool, True where there is no data.
        noise: the background RMS.
        saturated: (H, W) bool saturated pixels, or None.
        options: DetectOptions.

    Returns:
        Sources.
    """
    import sep

    options = options or DetectOptions()
    sep.set_extract_pixstack(_PIXSTACK)
    sep.set_sub_object_limit(4096)
    if not noise > 0:
        # A frame without noise (synthetic, or all one value): nothing can be told from the sky.
        return Sources(_empty(), float("nan"), "none", float(noise), 0)
    objects = sep.extract(
        image, options.threshold, err=noise, mask=mask, minarea=options.min_area,
        deblend_nthresh=32, deblend_cont=options.deblend_cont, clean=True,
    )
    if len(objects) == 0:
        return Sources(_empty(), float("nan"), "none", noise, 0)
    columns, r_ap = _measure(image, mask, noise, saturated, objects)
    psf_r50, scatter, psf_from, n_stars = _psf_r50(columns, options)
    hidden = _beside_bright_stars(image, mask, noise, objects, columns, psf_r50, options)
    if len(hidden):
        more, more_ap = _measure(image, mask, noise, saturated, hidden)
        objects = np.concatenate([objects, hidden])
        columns = {k: np.concatenate([columns[k], more[k]]) for k in columns}
        r_ap = np.concatenate([r_ap, more_ap])
    snr, r50 = columns["snr"], columns["r50"]
    if np.isfinite(psf_r50):
        # The largest r50 a star may have. A faint star's r50 scatters more: the locus's width grows
        # as 1/sqrt(S/N) below S/N 50.
        spread = 3 * scatter * np.sqrt(np.maximum(1.0, 50.0 / np.maximum(snr, 1e-9)))
        star_r50 = psf_r50 + np.maximum((options.galaxy_size - 1) * psf_r50, spread)
    else:
        star_r50 = np.full(len(snr), np.inf)
    groups = _fold((r50 > star_r50) & (snr >= options.min_snr) & np.isfinite(r50), columns)
    # Each source's isophotal footprint as an ellipse of its own area (sep's segmentation map would
    # cost a 4-byte copy of the frame and a fifth of the extraction's time): what is masked of it.
    columns.update({k: objects[k] for k in ("xmin", "xmax", "ymin", "ymax", "cxx", "cyy", "cxy")})
    columns["r_iso"] = np.sqrt(np.maximum(objects["npix"], 1) / (np.pi * np.maximum(columns["a"] * columns["b"], 1e-6)))
    _own_r50(image, mask, columns, groups, r_ap)
    # A star measured big only through a neighbour's light (r50 is measured again in place) is a star again.
    groups = {j: parts for j, parts in groups.items() if parts or r50[j] > star_r50[j]}
    columns["is_galaxy"] = _whole_galaxies(image, mask, groups, columns, r_ap)
    return Sources(columns, psf_r50, psf_from, noise, n_stars)


def _measure(image, mask, noise, saturated, objects):
    """Kron flux and its error, S/N, r50 and flags of sep's `objects`: the columns of `Sources`, and the Kron apertures."""
    import sep

    x, y = objects["x"], objects["y"]
    a, b, theta = objects["a"], objects["b"], objects["theta"]
    kron, _ = sep.kron_radius(image, x, y, a, b, theta, 6.0, mask=mask)
    kron = np.where(np.isfinite(kron) & (kron > 0), kron, 1.0)
    # Source Extractor's minimum: an aperture never smaller than a circle of radius 3.5 px.
    r_ap = np.maximum(2.5 * kron * np.sqrt(a * b), 3.5)
    scale = r_ap / np.sqrt(a * b)
    flux, flux_err, _ = sep.sum_ellipse(image, x, y, a, b, theta, scale, err=noise, mask=mask, subpix=1)
    # Within the Kron aperture only: beyond it lies the light of neighbours, not of this source.
    r50, _ = sep.flux_radius(image, x, y, r_ap, 0.5, normflux=np.maximum(flux, 1e-30), subpix=5, mask=mask)
    snr = flux / np.maximum(flux_err, 1e-30)
    flags = np.zeros(len(objects), dtype=np.int32)
    flags[(objects["flag"] & sep.OBJ_MERGED) != 0] |= FLAG_BLENDED
    h, w = image.shape
    at_edge = (objects["xmin"] <= 0) | (objects["ymin"] <= 0) | (objects["xmax"] >= w - 1) | (objects["ymax"] >= h - 1)
    flags[at_edge | ((objects["flag"] & sep.OBJ_TRUNC) != 0)] |= FLAG_EDGE
    flags[_touches(mask, objects)] |= FLAG_EDGE
    if saturated is not None:
        flags[_touches(saturated, objects)] |= FLAG_SATURATED
    columns = {
        "x": np.array(x, dtype=np.float64), "y": np.array(y, dtype=np.float64), "flux": flux, "flux_err": flux_err,
        "snr": snr, "r50": r50, "a": np.array(a), "b": np.array(b), "theta": np.array(theta), "flags": flags,
    }
    return columns, r_ap


def _beside_bright_stars(image, mask, noise, objects, columns, psf_r50, options):
    """Sources hidden in the footprints of bright stars, found by deblending each such footprint again, finely.

    A galaxy beside a star of S/N in the tens of thousands holds less than `deblend_cont` of the
    light they share, so sep keeps the two as one source. Each footprint of a bright point source
    (S/N at least min_snr / deblend_cont: beside it a galaxy at the classification limit falls
    below the contrast) is extracted again on its own, with a contrast 1,000 times finer; the
    sub-objects found away from every source already known are new sources. A star's profile is
    smooth, so the finer contrast splits off what is not the star, not pieces of it; galaxies'
    footprints are not searched again, so they are not shredded.

    Returns:
        sep objects (frame coordinates), possibly none.
    """
    import sep

    if not np.isfinite(psf_r50):
        return objects[:0]
    point = columns["r50"] <= psf_r50 * options.galaxy_size
    bright = np.flatnonzero(point & (columns["snr"] >= options.min_snr / options.deblend_cont))
    h, w = image.shape
    found = []
    for i in bright:
        o = objects[i]
        x0, x1 = max(int(o["xmin"]) - 2, 0), min(int(o["xmax"]) + 3, w)
        y0, y1 = max(int(o["ymin"]) - 2, 0), min(int(o["ymax"]) + 3, h)
        stamp_mask = mask[y0:y1, x0:x1]
        sub = _extract_stamp(np.ascontiguousarray(image[y0:y1, x0:x1]),
                             np.ascontiguousarray(stamp_mask) if stamp_mask.any() else None,
                             noise, options)
        if len(sub) < 2:
            continue  # the star alone
        for k in ("x", "xmin", "xmax", "xpeak", "xcpeak"):
            sub[k] += x0
        for k in ("y", "ymin", "ymax", "ypeak", "ycpeak"):
            sub[k] += y0
        # Only what lies wholly inside the star's footprint box: a neighbour cut by the stamp's edge is no new source.
        inside = (sub["xmin"] >= o["xmin"]) & (sub["xmax"] <= o["xmax"]) & (sub["ymin"] >= o["ymin"]) & (sub["ymax"] <= o["ymax"])
        found.append(sub[inside])
    if not found:
        return objects[:0]
    candidates = np.concatenate(found)
    # A sub-object within 2 PSF half-light radii (and 3 px) of a known source is that source again;
    # two bright stars' boxes may overlap, so each new source is kept once.
    near = max(3.0, 2 * psf_r50)
    known = np.stack([objects["x"], objects["y"]], axis=1)
    keep = []
    for j, c in enumerate(candidates):
        if np.min(np.hypot(*(known - (c["x"], c["y"])).T)) > near:
            keep.append(j)
            known = np.vstack([known, (c["x"], c["y"])])
    new = candidates[keep]
    new["flag"] |= sep.OBJ_MERGED
    return new


def _extract_stamp(stamp, mask, noise, options):
    """sep's sources in a bright star's stamp, deblended `_FINE_CONTRAST` times more finely than the frame."""
    import sep

    # sep allocates its whole pixel stack on every call (77 ms at the frame's 3,000,000), so a stamp
    # gets a stack sized to it; the rare stamp whose deblending needs more is done again with the frame's.
    for pixstack in (max(10_000, 8 * stamp.size), _PIXSTACK):
        sep.set_extract_pixstack(pixstack)
        try:
            return sep.extract(stamp, options.threshold, err=noise, mask=mask, minarea=options.min_area,
                               deblend_nthresh=32, deblend_cont=options.deblend_cont * _FINE_CONTRAST, clean=True)
        except Exception as e:  # sep raises a bare Exception
            if "pixel buffer full" not in str(e) or pixstack == _PIXSTACK:
                raise
        finally:
            sep.set_extract_pixstack(_PIXSTACK)


def footprints(columns, which, x0, y0, shape):
    """How far into the footprints of sources `which` each pixel of a stamp lies; its first pixel is frame pixel (x0, y0).

    A footprint is the source's isophotal ellipse (sep's cxx, cyy, cxy) scaled to the area of its
    pixels above the detection threshold. Returns an (H, W) float array: the smallest over the
    sources of (distance / the footprint's radius along that direction), so < 1 inside one and
    inf where no source reaches. Comparing two such maps gives each pixel to the nearer source,
    as a segmentation map would.
    """
    h, w = shape
    out = np.full(shape, np.inf)
    c = columns
    for i in np.asarray(which, dtype=np.int64)[_meets(c, which, x0, y0, shape)]:
        bx0, bx1 = max(int(c["xmin"][i]) - x0, 0), min(int(c["xmax"][i]) - x0 + 1, w)
        by0, by1 = max(int(c["ymin"][i]) - y0, 0), min(int(c["ymax"][i]) - y0 + 1, h)
        dy, dx = np.mgrid[by0:by1, bx0:bx1]
        dx, dy = dx + x0 - c["x"][i], dy + y0 - c["y"][i]
        d = np.sqrt(np.maximum(c["cxx"][i] * dx**2 + c["cyy"][i] * dy**2 + c["cxy"][i] * dx * dy, 0)) / c["r_iso"][i]
        np.minimum(out[by0:by1, bx0:bx1], d, out=out[by0:by1, bx0:bx1])
    return out


def _meets(columns, which, x0, y0, shape):
    """Which of the sources `which` have an isophotal bounding box that meets the stamp (booleans)."""
    c, (h, w) = columns, shape
    return (c["xmax"][which] >= x0) & (c["xmin"][which] < x0 + w) & (c["ymax"][which] >= y0) & (c["ymin"][which] < y0 + h)


def covered(own, others):
    """Pixels inside the footprints of `others` and nearer to them than to `own` (maps from `footprints`)."""
    return (others < 1) & (others < own)


def _own_r50(image, mask, columns, groups, r_ap):
    """Measure the half-light radius of each galaxy again without its neighbours' light.

    A neighbour's light in the Kron aperture (a bright star beside a galaxy) can double the
    measured r50, and with it the cutout. A galaxy with footprints of other sources (not its own
    folded pieces) inside its aperture is measured, Kron aperture and r50 alike, on a stamp where
    those are replaced (`_without_neighbours`). A galaxy with pieces is measured whole, about the
    centre of the whole, by `_whole_galaxies` instead. Changes columns["r50"].
    """
    import sep

    x, y, a, b, theta, r50 = (columns[k] for k in ("x", "y", "a", "b", "theta", "r50"))
    for i in (i for i, parts in groups.items() if not parts):
        stamp, x0, y0, replaced = _without_neighbours(image, mask, columns, [i], x[i], y[i], r_ap[i])
        if not replaced:
            continue
        cx, cy = x[i:i + 1] - x0, y[i:i + 1] - y0
        kron, _ = sep.kron_radius(stamp, cx, cy, a[i:i + 1], b[i:i + 1], theta[i:i + 1], 6.0)
        own = 2.5 * kron * np.sqrt(a[i:i + 1] * b[i:i + 1]) if np.isfinite(kron[0]) and kron[0] > 0 else r_ap[i:i + 1]
        value, _ = sep.flux_radius(stamp, cx, cy, np.clip(own, 3.5, r_ap[i]), 0.5, subpix=5)
        if np.isfinite(value[0]) and value[0] > 0:
            r50[i] = value[0]


def _without_neighbours(image, mask, columns, members, cx, cy, radius):
    """A stamp reaching `radius` about (cx, cy) in which the light of sources other than `members` is replaced.

    The pixels of other sources' footprints (nearer to them than to the members) and pixels
    without data hold their mirror image through the centre, as Source Extractor's MASK_TYPE
    CORRECT does. Returns (stamp, x0, y0, replaced): the stamp's first pixel is frame pixel
    (x0, y0); `replaced` says whether any of it was (if not, the stamp is a copy of the frame's pixels).
    """
    h, w = image.shape
    r = int(np.ceil(radius)) + 1
    x0, y0 = max(0, int(cx) - r), max(0, int(cy) - r)
    x1, y1 = min(w, int(cx) + r + 2), min(h, int(cy) + r + 2)
    shape = (y1 - y0, x1 - x0)
    everyone = np.arange(len(columns["x"]))
    near = everyone[_meets(columns, everyone, x0, y0, shape)]
    near = near[~np.isin(near, members)]
    others = mask[y0:y1, x0:x1]
    if len(near):
        others = others | covered(footprints(columns, members, x0, y0, shape), footprints(columns, near, x0, y0, shape))
    if not others.any():
        return np.ascontiguousarray(image[y0:y1, x0:x1]), x0, y0, False
    return _mirrored(image[y0:y1, x0:x1], others, cx - x0, cy - y0), x0, y0, True


def _mirrored(image, masked, cx, cy):
    """A copy of `image` whose masked pixels hold their mirror image through (cx, cy); 0 where that is masked too."""
    out = np.array(image)
    py, px = np.nonzero(masked)
    my, mx = np.rint(2 * cy - py).astype(int), np.rint(2 * cx - px).astype(int)
    ok = np.flatnonzero((my >= 0) & (my < out.shape[0]) & (mx >= 0) & (mx < out.shape[1]))
    ok = ok[~masked[my[ok], mx[ok]]]
    values = np.zeros(len(py), dtype=out.dtype)
    values[ok] = out[my[ok], mx[ok]]
    out[py, px] = values
    return out


def _fold(is_galaxy, columns):
    """The galaxies, with the deblended pieces of each folded into it: {galaxy: [its pieces]}.

    A blended galaxy whose centre lies within twice the half-light radius of a brighter galaxy is
    a knot, arm or nucleus of it (or a merger's second nucleus; a merger is classified as one
    image), not a galaxy of its own.
    """
    chosen = np.flatnonzero(is_galaxy)
    x, y, flux, r50 = columns["x"], columns["y"], columns["flux"], columns["r50"]
    pieces = {}
    for i in chosen[np.argsort(-flux[chosen], kind="stable")]:
        parent = None
        if columns["flags"][i] & FLAG_BLENDED:
            parent = next((j for j in pieces if np.hypot(x[i] - x[j], y[i] - y[j]) < 2 * r50[j]), None)
        if parent is None:
            pieces[int(i)] = []
        else:
            pieces[parent].append(int(i))
    return pieces


def _whole_galaxies(image, mask, pieces, columns, r_ap):
    """Mark the galaxies; each with pieces is placed at the flux-weighted centre of the whole.

    Its r50 (what its cutout is framed on) becomes the half-light radius of the whole: of the
    light within the circle about that centre that holds every piece's Kron aperture `r_ap`,
    other sources' light replaced (`_without_neighbours`), as a merger's size is its two
    nuclei's together in the training images. `group` names, for every source, the galaxy it
    belongs to (itself when it is none's piece). Changes x, y and r50 of galaxies with pieces;
    returns the boolean is_galaxy column.
    """
    import sep

    x, y, flux, r50 = columns["x"], columns["y"], columns["flux"], columns["r50"]
    x, y = np.array(x, dtype=np.float64), np.array(y, dtype=np.float64)
    group = np.arange(len(x))
    for j, parts in pieces.items():
        if parts:
            members = [j] + parts
            w = np.maximum(flux[members], 0) + 1e-30
            cx, cy = float(np.sum(w * x[members]) / w.sum()), float(np.sum(w * y[members]) / w.sum())
            reach = max(float(np.hypot(x[m] - cx, y[m] - cy) + r_ap[m]) for m in members)
            stamp, x0, y0, _ = _without_neighbours(image, mask, columns, members, cx, cy, reach)
            whole, _ = sep.flux_radius(stamp, np.array([cx - x0]), np.array([cy - y0]), np.array([reach]), 0.5, subpix=5)
            if np.isfinite(whole[0]) and whole[0] > 0:
                r50[j] = whole[0]
            x[j], y[j] = cx, cy
            group[parts] = j
    is_galaxy = np.zeros(len(x), dtype=bool)
    is_galaxy[list(pieces)] = True
    columns["x"], columns["y"], columns["group"] = x, y, group
    return is_galaxy


def _psf_r50(columns, options):
    """The PSF's half-light radius and the scatter of stars about it, where it came from, and from how many.

    Given as an option; else the stellar locus of the frame's bright (S/N >= 50), unflagged sources;
    with fewer than 5 of those, the smallest of them (an upper bound: it may be a compact galaxy).
    """
    bright = (columns["snr"] >= 50) & (columns["flags"] == 0) & np.isfinite(columns["r50"]) & (columns["r50"] > 0)
    r = np.sort(columns["r50"][bright])
    if options.psf_r50 is not None:
        return float(options.psf_r50), 0.1 * float(options.psf_r50), "option", 0
    if len(r) == 0:
        return float("nan"), 0.0, "none", 0
    if len(r) < 5:
        return float(r[0]), 0.1 * float(r[0]), "smallest bright source", len(r)
    # Stars share one size; galaxies spread above it. The locus is the narrowest window holding a
    # third of the bright sources (at least 5), among the smaller half of the sizes.
    k = max(5, len(r) // 3)
    widths = r[k - 1:] - r[: len(r) - k + 1]
    start = int(np.argmin(widths[: max(1, (len(r) + 1) // 2)]))
    locus = r[start:start + k]
    centre = float(np.median(locus))
    near = r[(r > 0.5 * centre) & (r < 1.5 * centre)]
    scatter = 1.4826 * float(np.median(np.abs(near - centre)))
    return centre, max(scatter, 0.02 * centre), "stars", int(len(near))


def _touches(mask, objects):
    """Sources whose bounding box holds a pixel set in `mask`.

    Such pixels are usually few, and then each box is checked against their sorted coordinates
    (fast); when they are many (a blank half frame), against the mask itself (no large arrays).
    """
    hit = np.zeros(len(objects), dtype=bool)
    count = np.count_nonzero(mask)
    if count == 0:
        return hit
    if count > _FEW_PIXELS:
        for i, o in enumerate(objects):
            hit[i] = mask[o["ymin"]:o["ymax"] + 1, o["xmin"]:o["xmax"] + 1].any()
        return hit
    ys, xs = np.nonzero(mask)
    lo = np.searchsorted(ys, objects["ymin"], side="left")
    hi = np.searchsorted(ys, objects["ymax"], side="right")
    for i in np.flatnonzero(hi > lo):
        row_xs = xs[lo[i]:hi[i]]
        hit[i] = bool(np.any((row_xs >= objects["xmin"][i]) & (row_xs <= objects["xmax"][i])))
    return hit


def _saturate_keyword(header):
    if header is None:
        return None
    try:
        value = float(header.get("SATURATE"))
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) and value > 0 else None


def _empty():
    cols = {k: np.zeros(0) for k in ("x", "y", "flux", "flux_err", "snr", "r50", "a", "b", "theta")}
    cols["flags"] = np.zeros(0, dtype=np.int32)
    cols["is_galaxy"] = np.zeros(0, dtype=bool)
    cols["group"] = np.zeros(0, dtype=np.int64)
    cols.update({k: np.zeros(0, dtype=np.int64) for k in ("xmin", "xmax", "ymin", "ymax")})
    cols.update({k: np.zeros(0) for k in ("cxx", "cyy", "cxy")})
    cols["r_iso"] = np.zeros(0)
    return cols
