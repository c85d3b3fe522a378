"""A synthetic telescope frame in linear flux: galaxies of known classes at known positions among stars.

Galaxies are painted by the synthetic sky's own class painters (synth.py) on a stamp each,
blurred by the frame's one PSF (a Gaussian core and a broad halo), and added to the frame with a
chosen total flux; stars are the PSF itself. Then a sky level with a gentle gradient and Gaussian
sky noise of 1 (flux is in units of the noise), pixels clipped at a saturation level (written as
SATURATE), and a TAN WCS. With three bands the stamps' linear R, G, B become the i, r, g frames.

The truth table (CSV) has one row per galaxy and star: id, kind, class, FITS x and y, RA, Dec,
flux (middle band), optimal S/N (of the noise-free object, as a matched filter would see it),
half-light radius and the stamp's scale.
"""

from dataclasses import dataclass

import numpy as np

from galaxy_edge import CLASS_NAMES

BAND_NAMES = ("g", "r", "i")
STAMP = 128
NOISE = 1.0


@dataclass
class FieldSpec:
    """What to draw.

    Attributes:
        size: frame side in pixels.
        galaxies: number of galaxies (classes balanced, shuffled).
        stars: number of stars.
        bands: 1 (r) or 3 (g, r, i).
        seed: same seed, same frame.
        fwhm: PSF full width at half maximum in pixels.
        pixel_scale: arcsec per pixel for the WCS.
        sky: sky level, in units of the noise.
        saturation: pixels are clipped here (sky included), in units of the noise.
    """

    size: int = 1024
    galaxies: int = 24
    stars: int = 120
    bands: int = 1
    seed: int = 0
    fwhm: float = 3.0
    pixel_scale: float = 0.4
    sky: float = 200.0
    saturation: float = 60000.0


@dataclass
class Field:
    """A drawn frame: data (bands, H, W) float32 bluest first, its FITS header, the truth rows,
    and each galaxy's noise-free stamp (3, STAMP, STAMP) in linear R, G, B with the frame pixel
    (x, y) of its first pixel."""

    data: np.ndarray
    header: object
    truth: list
    stamps: list


def draw_field(spec=None, keep_stamps=False):
    """Draw a frame as `spec` says.

    Args:
        spec: FieldSpec.
        keep_stamps: also return each galaxy's noise-free, PSF-blurred stamp (for benchmarks).

    Returns:
        Field.
    """
    from galaxy_edge.data import synth

    spec = spec or FieldSpec()
    root = np.random.SeedSequence(spec.seed)
    rng = np.random.default_rng(root)
    n, size = spec.bands, spec.size
    data = np.zeros((n, size, size), dtype=np.float32)
    halo = (rng.uniform(0.04, 0.12), rng.uniform(2.5, 3.5))
    labels = np.resize(np.arange(len(CLASS_NAMES)), spec.galaxies)
    rng.shuffle(labels)
    positions = _spread(rng, spec.galaxies, size, margin=STAMP // 3, spacing=STAMP * 0.75)
    truth, stamps = [], []
    for i, (child, label, (x, y)) in enumerate(zip(root.spawn(spec.galaxies), labels, positions)):
        g = np.random.default_rng(child)
        scene = synth._Scene(STAMP, 1, g)
        scale = g.uniform(3.0, 7.0)
        synth._CLASS_PAINTERS[label](scene, g, np.zeros(2), scale)
        stamp = synth._blur(scene, g, spec.fwhm, halo=halo)
        np.maximum(stamp, 0, out=stamp)
        flux = 10 ** g.uniform(np.log10(5e2), np.log10(2e5))
        stamp *= np.float32(flux / stamp[1].sum())
        _add(data, _bands(stamp, n), x, y)
        # The galaxy's position is its light's centroid (a merger's pair is not centred on the stamp).
        dx, dy = _centroid(stamp[1])
        corner = (int(round(x)) - STAMP // 2, int(round(y)) - STAMP // 2)
        truth.append(_truth(i + 1, "galaxy", CLASS_NAMES[label], corner[0] + dx, corner[1] + dy, stamp[1], scale))
        if keep_stamps:
            stamps.append((stamp, corner))
    # The star PSF: core sigma, halo, and a stamp side reaching 6 halo sigmas.
    psf = (spec.fwhm / 2.355, halo, int(2 * np.ceil(6 * spec.fwhm / 2.355 * halo[1]) + 1))
    for j, (x, y) in enumerate(rng.uniform(0, size, (spec.stars, 2)), start=spec.galaxies + 1):
        flux = 10 ** rng.uniform(np.log10(300), np.log10(1e6))
        colour = synth._colours([rng.beta(2, 2)])[0]
        shifted = _shift(psf, x, y)
        star = shifted[np.newaxis] * (np.float32(flux) * (colour / colour[1]))[:, None, None]
        _add(data, _bands(star, n), x, y)
        truth.append(_truth(j, "star", "", x, y, star[1], 0.0))
    yy = np.linspace(-1, 1, size, dtype=np.float32)[:, None]
    data += np.float32(spec.sky) * (1 + 0.05 * yy)
    for band in data:
        band += rng.standard_normal(band.shape, dtype=np.float32) * np.float32(NOISE)
    np.minimum(data, np.float32(spec.saturation), out=data)
    header = _header(spec)
    wcs = _wcs(spec)
    xs = np.array([t["x"] for t in truth]) - 1
    ys = np.array([t["y"] for t in truth]) - 1
    if len(truth):
        ra, dec = wcs.all_pix2world(xs, ys, 0)
        for t, r, d in zip(truth, ra, dec):
            t["ra"], t["dec"] = round(float(r), 7), round(float(d), 7)
    return Field(data, header, truth, stamps)


def write_field(out, spec=None, overwrite=False):
    """Draw a frame and write it as FITS, with `<stem>_truth.csv` beside it.

    Args:
        out: the FITS file for one band; with three, `<stem>_g.fits`, `_r`, `_i` beside it.
        spec: FieldSpec.
        overwrite: replace existing files.

    Returns:
        (frame paths, truth path).

    Raises:
        GalaxyEdgeError: a file to write exists and `overwrite` is false.
    """
    import csv
    import io
    from pathlib import Path

    from astropy.io import fits

    from galaxy_edge import atomic
    from galaxy_edge.errors import GalaxyEdgeError

    spec = spec or FieldSpec()
    out = Path(out)
    stem = out.name.split(".")[0]
    suffix = out.name[len(stem):] or ".fits"
    frames = [out] if spec.bands == 1 else [out.with_name(f"{stem}_{b}{suffix}") for b in BAND_NAMES]
    truth_path = out.with_name(f"{stem}_truth.csv")
    for path in frames + [truth_path]:
        if path.exists() and not overwrite:
            raise GalaxyEdgeError(f"{path}: already exists; choose another --out or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    drawn = draw_field(spec)
    for i, path in enumerate(frames):
        header = drawn.header.copy()
        header["FILTER"] = ("r" if spec.bands == 1 else BAND_NAMES[i], "band")
        buffer = io.BytesIO()
        # gzip and bzip2 follow the name, as astropy writes them; written whole, then renamed.
        fits.PrimaryHDU(drawn.data[i], header=header).writeto(buffer)
        atomic.write_bytes(path, _compress(buffer.getvalue(), path.name))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(drawn.truth[0]) if drawn.truth else ["id"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(drawn.truth)
    atomic.write_text(truth_path, text.getvalue())
    return frames, truth_path


def _compress(data, name):
    if name.endswith(".gz"):
        import gzip

        return gzip.compress(data, mtime=0)
    if name.endswith(".bz2"):
        import bz2

        return bz2.compress(data)
    return data


def _spread(rng, count, size, margin, spacing):
    """`count` positions at least `spacing` apart (relaxed if the frame is too full), `margin` from the edges."""
    placed = []
    for _ in range(count):
        for attempt in range(200):
            x, y = rng.uniform(margin, size - margin, 2)
            gap = spacing * (1 - attempt / 200)
            if all((x - a) ** 2 + (y - b) ** 2 >= gap * gap for a, b in placed):
                break
        placed.append((x, y))
    return placed


def _bands(stamp, n):
    """Linear R, G, B (3, h, w) -> bluest-first bands: g, r, i = B, G, R; one band is r (G)."""
    return stamp[[1]] if n == 1 else stamp[::-1]


def _add(data, stamp, x, y):
    """Add a (bands, h, w) stamp centred on frame pixel (x, y), clipped at the frame edges."""
    _, h, w = stamp.shape
    x0, y0 = int(round(x)) - w // 2, int(round(y)) - h // 2
    H, W = data.shape[1:]
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + w, W), min(y0 + h, H)
    if sx1 > sx0 and sy1 > sy0:
        data[:, sy0:sy1, sx0:sx1] += stamp[:, sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0]


def _shift(psf, x, y):
    """The PSF sampled at pixel centres around (x, y), unit sum, centred as `_add` places stamps."""
    sigma, (share, width), side = psf
    c = np.arange(side) - side // 2
    dx = c[None, :] - (x - round(x))
    dy = c[:, None] - (y - round(y))
    r2 = dx * dx + dy * dy
    core = np.exp(-r2 / (2 * sigma**2)) / (2 * np.pi * sigma**2)
    wide = np.exp(-r2 / (2 * (sigma * width) ** 2)) / (2 * np.pi * (sigma * width) ** 2)
    img = ((1 - share) * core + share * wide).astype(np.float32)
    return img / img.sum()


def _truth(number, kind, label, x, y, image, scale):
    total = float(image.sum())
    return {
        "id": number,
        "kind": kind,
        "class": label,
        # FITS pixel coordinates: the centre of the first pixel is (1, 1).
        "x": round(float(x) + 1, 3),
        "y": round(float(y) + 1, 3),
        "ra": None,
        "dec": None,
        "flux": round(total, 3),
        # A matched filter's S/N on the noise-free object: sqrt(sum of its squared pixels) / noise.
        "snr": round(float(np.sqrt(np.sum(image.astype(np.float64) ** 2))) / NOISE, 2),
        "r50": round(_half_light_radius(image), 3),
        "scale": round(float(scale), 3),
    }


def _centroid(image):
    yy, xx = np.indices(image.shape)
    total = max(float(image.sum()), 1e-30)
    return float((xx * image).sum() / total), float((yy * image).sum() / total)


def _half_light_radius(image):
    yy, xx = np.indices(image.shape)
    total = image.sum()
    if total <= 0:
        return 0.0
    cx, cy = _centroid(image)
    r = np.hypot(xx - cx, yy - cy).ravel()
    order = np.argsort(r)
    cumulative = np.cumsum(image.ravel()[order])
    return float(r[order][np.searchsorted(cumulative, 0.5 * total)])


def _wcs(spec):
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.1, 2.2]
    w.wcs.crpix = [(spec.size + 1) / 2, (spec.size + 1) / 2]
    w.wcs.cdelt = [-spec.pixel_scale / 3600, spec.pixel_scale / 3600]
    w.wcs.cunit = ["deg", "deg"]
    return w


def _header(spec):
    header = _wcs(spec).to_header()
    header["BUNIT"] = ("", "linear flux in units of the sky noise")
    header["SATURATE"] = (spec.saturation, "pixels are clipped at this level")
    header["SEEING"] = (spec.fwhm, "PSF FWHM in pixels")
    header["ORIGIN"] = "galaxy-edge synth --field"
    header["SEED"] = (spec.seed, "galaxy-edge synthetic field seed")
    return header
