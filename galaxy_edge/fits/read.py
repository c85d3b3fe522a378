"""Read FITS images with astropy: the first HDU that holds an image, sized up from its header first.

astropy decompresses gzip, bzip2 and tile-compressed (`.fz`) images; BSCALE/BZERO are applied
here in float32, and BLANK, NaN and inf all become NaN, so that every pixel without data is NaN
from here on.

Bands are always ordered bluest first (g, r, i; plane 1, 2, 3 of a cube): the reddest becomes red
in a colour image, as in SDSS and Legacy Survey colour images.
"""

import warnings
from dataclasses import dataclass

import numpy as np

from galaxy_edge.errors import ImageError
from galaxy_edge.preprocess import MAX_IMAGE_PIXELS


# A truncated file is our error (`_check_complete`), not astropy's warning as well. Filtered once
# here: `warnings.catch_warnings` is not thread-safe, and `classify` decodes in threads.
warnings.filterwarnings("ignore", message="File may have been truncated")

# The first four letters of the CTYPEn of celestial axes (FITS WCS paper II).
_CELESTIAL_CTYPES = ("RA--", "DEC-", "GLON", "GLAT", "ELON", "ELAT", "HLON", "HLAT", "SLON", "SLAT")


@dataclass
class Bands:
    """One galaxy or one frame in one or three bands, on one pixel grid.

    Attributes:
        data: (N, H, W) float32, N = 1 or 3, bluest first, NaN where there is no data.
        header: the astropy Header of the (first) image HDU, for its WCS and SATURATE.
        names: the file (and plane) each band came from, for messages.
    """

    data: np.ndarray
    header: object
    names: list


def read_image(path, max_pixels=MAX_IMAGE_PIXELS, max_bytes=None):
    """The first image in a FITS file, as float32 with NaN where there is no data.

    Args:
        path: a FITS file (.fits, .fit, .fts, optionally .gz or .bz2, or tile-compressed .fz).
        max_pixels: refuse an image the header says is larger, before reading any pixel.
        max_bytes: refuse an image whose float32 pixels (every plane of a cube) would take more
            memory than this, before reading any pixel; None: only `max_pixels` applies.

    Returns:
        (data, header): data (H, W) or (planes, H, W) float32; axes of length 1 beyond the
        second are dropped.

    Raises:
        ImageError: no such file, not FITS, corrupt or truncated, no image HDU, too large,
            more than three real axes, or no valid pixel at all.
    """
    from astropy.io import fits

    from galaxy_edge.regular_files import describe_os_error, open_regular

    try:
        # A named pipe called x.fits would block astropy's read forever: regular files only.
        open_regular(path).close()
    except OSError as e:
        raise ImageError(path, describe_os_error(e)) from None
    try:
        # BSCALE/BZERO are applied here, in float32: astropy would scale 32-bit integers to float64.
        with fits.open(path, memmap=True, lazy_load_hdus=True, do_not_scale_image_data=True) as hdul:
            hdu = _first_image_hdu(hdul, path)
            header = hdu.header
            shape = _declared_shape(header, path, max_pixels, max_bytes)
            _check_complete(hdu, path)
            raw = hdu.data
            if raw is None:
                raise ImageError(path, "the image HDU holds no data")
            raw = raw.reshape(shape)
            # A copy in native byte order: sep and the renderer need it, whatever the file holds.
            data = raw.astype(np.float32)
            scale, zero = float(header.get("BSCALE", 1.0)), float(header.get("BZERO", 0.0))
            if scale != 1.0:
                data *= np.float32(scale)
            if zero != 0.0:
                data += np.float32(zero)
            blank = header.get("BLANK")
            if blank is not None and np.issubdtype(raw.dtype, np.integer):
                data[raw == blank] = np.nan
            header = header.copy()
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(path, "no such file") from None
    except IsADirectoryError:
        raise ImageError(path, "is a folder, not a FITS file") from None
    except MemoryError:
        raise ImageError(path, "the image is too large to read in the memory available") from None
    except Exception as e:  # noqa: BLE001 - astropy raises OSError, ValueError, TypeError, EOFError... on bad files
        if "buffer is too small" in str(e):
            raise ImageError(path, "truncated FITS file (its data ends before the image its header declares)") from None
        raise ImageError(path, f"not a readable FITS file ({_reason(e)})") from None
    finite = np.isfinite(data)
    if not finite.any():
        raise ImageError(path, "no valid pixels (all NaN, inf or BLANK)")
    if not finite.all():
        data[~finite] = np.nan
    return data, header


def read_bands(paths, planes=None, max_pixels=MAX_IMAGE_PIXELS, max_bytes=None):
    """One, or three, bands on one grid: a 2-D image, a cube, or one single-band file per band.

    Args:
        paths: one FITS file, or three single-band files of the same grid, bluest first.
        planes: for a cube, the 1-based plane numbers to use, bluest first (one or three);
            default: a cube of one or three planes is used as it is.
        max_pixels: per image, as for `read_image`.
        max_bytes: the float32 pixels of all the files together may take at most this much memory
            (each of three band files a third of it); None: no limit beyond `max_pixels`.

    Returns:
        Bands.

    Raises:
        ImageError: a file cannot be read, a cube has a number of planes other than one or
            three and none were chosen, a plane number is out of range, or the files are not
            all 2-D images on one pixel grid.
    """
    paths = [str(p) for p in paths]
    if len(paths) not in (1, 3):
        raise ImageError(", ".join(paths), f"give one FITS file or three (one per band), not {len(paths)}")
    each = None if max_bytes is None else max_bytes // len(paths)
    if len(paths) == 1:
        data, header = read_image(paths[0], max_pixels, each)
        if data.ndim == 2:
            return Bands(data[np.newaxis], header, [paths[0]])
        data, names = _choose_planes(data, paths[0], planes)
        return Bands(data, header, names)
    if planes is not None:
        raise ImageError(paths[0], "choose planes of a cube, or give three single-band files, not both")
    images = [read_image(p, max_pixels, each) for p in paths]
    first, header = images[0]
    for path, (data, _) in zip(paths, images):
        if data.ndim != 2:
            raise ImageError(path, f"a band file must hold one 2-D image, this one is {_shape_text(data.shape)}")
        if data.shape != first.shape:
            raise ImageError(
                path, f"bands are not on one pixel grid: {_shape_text(data.shape)} against "
                f"{_shape_text(first.shape)} in {paths[0]}")
    for path, (_, other) in zip(paths[1:], images[1:]):
        _check_same_grid(header, other, first.shape, paths[0], path)
    return Bands(np.stack([d for d, _ in images]), header, paths)


def _choose_planes(cube, path, planes):
    n = cube.shape[0]
    if planes is None:
        if n not in (1, 3):
            raise ImageError(
                path, f"a cube of {n} planes: choose one or three (bluest first) with --planes, e.g. --planes 1,2,3")
        planes = list(range(1, n + 1))
    if len(planes) not in (1, 3):
        raise ImageError(path, f"choose one or three planes, not {len(planes)}")
    for p in planes:
        if not 1 <= p <= n:
            raise ImageError(path, f"plane {p} does not exist: the cube has planes 1 to {n}")
    data = cube[[p - 1 for p in planes]]
    return data, [f"{path}[plane {p}]" for p in planes]


def _first_image_hdu(hdul, path):
    from astropy.io import fits

    kinds = []
    for hdu in hdul:
        if isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)) and hdu.header.get("NAXIS", 0) >= 2:
            return hdu
        naxis = hdu.header.get("NAXIS", 0)
        kind = str(hdu.header.get("XTENSION", "PRIMARY")).strip()
        kinds.append(kind + (" (no data)" if naxis == 0 else " (1-D)" if kind in ("PRIMARY", "IMAGE") else ""))
    raise ImageError(path, f"no image in this FITS file (its HDUs: {', '.join(kinds) or 'none'})")


def _check_complete(hdu, path):
    """Refuse an image whose data the file cuts short, before reading it (astropy only warns)."""
    info = hdu.fileinfo()
    if getattr(info.get("file"), "compression", None):
        return  # gzip or bzip2: the size is known only once decompressed; a short file fails on reading
    size = getattr(info.get("file"), "size", None)
    end = info.get("datLoc", 0) + info.get("datSpan", 0)
    if size is not None and end > size:
        raise ImageError(path, f"truncated FITS file ({size:,} bytes; its header declares {end:,})")


def _declared_shape(header, path, max_pixels, max_bytes=None):
    """The image shape (numpy order) the header declares, refused when too large to read."""
    naxis = int(header.get("NAXIS", 0))
    axes = [int(header.get(f"NAXIS{i}", 0)) for i in range(naxis, 0, -1)]
    if any(a <= 0 for a in axes):
        raise ImageError(path, f"the image HDU declares an empty axis ({_shape_text(axes)})")
    pixels = int(np.prod(axes, dtype=np.float64))
    if pixels > max_pixels:
        raise ImageError(
            path, f"the header declares a {_shape_text(axes)} image ({pixels:,} pixels), over the "
            f"{max_pixels:,}-pixel limit; not read")
    if max_bytes is not None and pixels * 4 > max_bytes:
        raise ImageError(
            path, f"the header declares a {_shape_text(axes)} image, {pixels * 4 / 2**20:,.0f} MB as float32, over "
            f"the {max_bytes / 2**20:,.0f} MB a FITS cutout may take; not read (`galaxy-edge field` reads whole "
            f"frames up to {max_pixels:,} pixels)")
    # Degenerate axes (NAXIS3 = 1, a radio Stokes axis) carry no pixels of their own.
    shape = [a for a in axes[:-2] if a > 1] + axes[-2:]
    if len(shape) > 3:
        raise ImageError(path, f"a {len(shape)}-D image ({_shape_text(axes)}); only 2-D images and 3-D cubes are read")
    return tuple(shape)


def _check_same_grid(h1, h2, shape, p1, p2):
    """Two bands are on one grid when their WCS put the same sky at the same pixels (to 0.1 px)."""
    w1, w2 = celestial_wcs(h1), celestial_wcs(h2)
    if w1 is None or w2 is None:
        return
    ny, nx = shape
    corners = np.array([[0, 0], [nx - 1, 0], [0, ny - 1], [nx - 1, ny - 1]], dtype=float)
    sky = w2.all_pix2world(corners, 0)
    back = w1.all_world2pix(sky, 0)
    offset = float(np.max(np.hypot(*(back - corners).T)))
    if not np.isfinite(offset) or offset > 0.1:
        raise ImageError(p2, f"bands are not on one pixel grid: its WCS is {offset:.1f} px off that of {p1}")


def celestial_wcs(header):
    """The header's celestial WCS, or None when it has none (or one astropy cannot read)."""
    # astropy.wcs takes a third of a second to import: not for a frame that has no sky axes at all.
    axes = [str(header.get(f"CTYPE{i}", "")).upper() for i in (1, 2)]
    if not any(a[:4] in _CELESTIAL_CTYPES for a in axes):
        return None
    from astropy.wcs import WCS

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FITSFixedWarning about DATE-OBS and the like
            wcs = WCS(header, naxis=2)
    except Exception:  # noqa: BLE001 - a broken WCS is no WCS, the frame is still usable
        return None
    return wcs.celestial if wcs.has_celestial else None


def _shape_text(shape):
    """numpy (..., H, W) as FITS reads it: W x H (x planes)."""
    return " x ".join(str(a) for a in reversed(tuple(shape)))


def _reason(e):
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:200]
