"""The one rendering from linear flux (FITS pixels) to the model's uint8 RGB input.

1. Sky: each band's sky level is its sigma-clipped median (astropy.stats), subtracted; pixels
   without data become sky. (`field` subtracts sep's background map instead and says so.)
2. Stretch: an asinh stretch of the mean of the bands, I, as in Lupton et al. (2004, PASP 116,
   133), the stretch of SDSS and Legacy Survey colour images:

       display(I) = white_level * asinh(q * I / white) / asinh(q)

   where `white` is the flux of the brightest `100 - white_percentile` % of pixels (the galaxy's
   core), but never below `min_white_snr` times the sky noise, so an empty or faint cutout is not
   stretched into noise. Each band is scaled by display(I) / I, which keeps the colour of every
   pixel; where a channel would pass 1 all three are scaled down together (Lupton's clipping).
3. A dark sky pedestal (`sky_level`) is added, as the synthetic sky and survey JPEGs have one;
   one band becomes grey; bands are bluest first and the reddest becomes red.
4. Rows are flipped: FITS row 1 is the bottom of the picture.

The parameters are `RENDERING`; they travel in every model's metadata (`input.fits_rendering`),
so a model is never run on FITS rendered another way. The synthetic training sky draws its own
asinh stretch with the same form and parameter ranges (synth.py, `_observe`): q from 3 to 25,
the brightest 1 in 300 pixels at about 215 of 255, a sky of a few grey levels.
"""

import numpy as np

from galaxy_edge.fits.options import RENDERING  # defined with the other defaults, with no numpy

# Sky statistics of a large frame from at most this many pixels: as exact for a sky estimate, far cheaper.
_STATS_SAMPLE = 1_000_000


def sky_and_noise(band, sigma=RENDERING["sigma_clip"]):
    """Sigma-clipped median and standard deviation of a band's finite pixels: its sky level and noise.

    Args:
        band: (H, W) float array, NaN where there is no data.
        sigma: clipping threshold in standard deviations.

    Returns:
        (sky, noise) as floats.
    """
    from astropy.stats import sigma_clipped_stats

    flat = band.ravel()
    if flat.size > _STATS_SAMPLE:
        flat = flat[:: flat.size // _STATS_SAMPLE + 1]
    # NaN is "no data": left out here rather than warned about by astropy.
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return 0.0, 0.0
    _, median, std = sigma_clipped_stats(flat, sigma=sigma, maxiters=5)
    if not np.isfinite(median):
        return 0.0, 0.0
    return float(median), float(std) if np.isfinite(std) else 0.0


def render(bands, params=RENDERING, sky=None, noise=None):
    """Render (N, H, W) linear flux, N = 1 or 3 bluest first, to an (H, W, 3) uint8 RGB image.

    Args:
        bands: float array; NaN where there is no data. Not modified.
        params: the rendering parameters (`RENDERING`, or those a model's metadata carries).
        sky: per-band sky level already known (e.g. 0 for a sky-subtracted frame); default: estimated.
        noise: per-band sky noise already known; default: estimated.

    Returns:
        (H, W, 3) uint8, top row first.
    """
    bands = np.asarray(bands, dtype=np.float32)
    if bands.ndim == 2:
        bands = bands[np.newaxis]
    n = bands.shape[0]
    if n not in (1, 3):
        raise ValueError(f"render takes 1 or 3 bands, got {n}")
    stats = [sky_and_noise(b, params["sigma_clip"]) for b in bands] if sky is None or noise is None else None
    sky = [s for s, _ in stats] if sky is None else list(np.broadcast_to(sky, n))
    noise = [s for _, s in stats] if noise is None else list(np.broadcast_to(noise, n))
    flux = bands - np.asarray(sky, dtype=np.float32)[:, None, None]
    np.nan_to_num(flux, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    lum = flux.mean(axis=0)
    sample = lum.ravel()[:: max(1, lum.size // _STATS_SAMPLE)]
    white = float(np.percentile(sample, params["white_percentile"]))
    # The mean of n bands has 1/sqrt(n) of their noise, if independent.
    lum_noise = float(np.mean(noise)) / np.sqrt(n)
    white = max(white, params["min_white_snr"] * lum_noise, 1e-30)
    q = np.float32(params["q"])
    x = np.maximum(lum, 0) * np.float32(q / white)
    display = np.arcsinh(x) * np.float32(params["white_level"] / np.arcsinh(params["q"]))
    # Colour is kept by scaling every band by display / I; I near 0 (sky) takes the limit q / asinh(q) / white.
    ratio = np.where(x > 1e-6, display / np.maximum(lum, np.float32(1e-30)),
                     np.float32(params["white_level"] * params["q"] / np.arcsinh(params["q"]) / white))
    # Bands reversed, so the reddest is red. One band (grey) is computed as one channel and repeated
    # only at the end, and the steps work in place: `field` renders hundreds of cutouts a frame.
    rgb = np.maximum(flux[::-1], 0) * ratio
    # Where a channel would pass 1, all are scaled down together; dividing the others by 1 changes nothing.
    rgb /= np.maximum(rgb.max(axis=0), np.float32(1))
    rgb *= np.float32(1 - params["sky_level"])
    rgb += np.float32(params["sky_level"])
    rgb *= np.float32(255)
    np.rint(rgb, out=rgb)
    np.clip(rgb, 0, 255, out=rgb)
    out = np.empty(rgb.shape[1:] + (3,), dtype=np.uint8)
    # Rows flipped: FITS row 1 is the bottom of the picture.
    out[...] = np.moveaxis(rgb, 0, -1)[::-1]
    return out


def load_fits_rgb(path, planes=None):
    """A FITS cutout as an (H, W, 3) uint8 image, rendered by `render`.

    Args:
        path: a 2-D image, a cube (of 1 or 3 planes, or any number with `planes`), or a group
            name standing for three single-band files, `NGC7479_{g,r,i}.fits` (`fits.band_files`).
        planes: for a cube, the 1-based planes to use, bluest first; not for a group.

    A cutout is held to the memory budget of every decoded image (`preprocess.MAX_DECODED_BYTES`):
    one whose float32 pixels would take more is refused from its header.

    Raises:
        ImageError: the file cannot be read as one or three bands of an image, or is too large.
    """
    from galaxy_edge.fits.band_files import band_paths
    from galaxy_edge.fits.read import read_bands
    from galaxy_edge.preprocess import MAX_DECODED_BYTES

    group = band_paths(path)
    paths, planes = (group, None) if group else ([path], planes)
    return render(read_bands(paths, planes=planes, max_bytes=MAX_DECODED_BYTES).data)
