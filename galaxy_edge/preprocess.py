"""The one definition of preprocessing, shared by training, int8 calibration and the device runtime.

Every image, whatever its size and mode, becomes a (128, 128, 3) uint8 RGB array: centre-cropped
to a square, then resized. Scaling to [0, 1] happens *inside* the model, so an int8 model takes
`pixel - 128` directly and no float maths runs on the device before `invoke()`.
"""

import numpy as np
from PIL import Image

from galaxy_edge.errors import DataError, ImageError

INPUT_SIZE = 128
# Recorded in model metadata; a model made with another recipe is refused by the runtime.
PREPROCESSING = "rgb-uint8-centre-square-crop-bilinear-resize"
# FITS cutouts are read with astropy and rendered from flux (galaxy_edge/fits/render.py) first.
FITS_SUFFIXES = tuple(f"{s}{z}" for s in (".fits", ".fit", ".fts") for z in ("", ".gz", ".bz2", ".fz")) + (".fz",)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff") + FITS_SUFFIXES

# A 128-pixel classifier has no use for a gigapixel file; refuse it before it eats the device's memory.
# Pillow only warns between its limit and twice that, so the size is also checked before decoding.
MAX_IMAGE_PIXELS = 64_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS


def load_image(path, size=INPUT_SIZE):
    """Read one image file and return it as a (size, size, 3) uint8 RGB array.

    Args:
        path: a PNG, JPEG or TIFF file of any size and mode (RGB, RGBA, greyscale, 16-bit), or a
            FITS image (2-D, or a cube of 1 or 3 planes), rendered by `galaxy_edge.fits.render`.
        size: the side of the square output.

    Raises:
        ImageError: the file is missing, empty, truncated, not an image, or too large.
    """
    if is_fits(path):
        # Imported only when a FITS file is met: a JPEG never loads astropy.
        from galaxy_edge.fits.render import load_fits_rgb

        return from_array(load_fits_rgb(path), size)
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_IMAGE_PIXELS:
                raise Image.DecompressionBombError(im.size)
            # JPEG can decode at 1/2, 1/4 or 1/8 scale for free; keep at least 2x the output size.
            im.draft("RGB", (size * 2, size * 2))
            im.load()
            return _square_resize(_to_rgb(im), size)
    except FileNotFoundError:
        raise ImageError(path, "no such file") from None
    except IsADirectoryError:
        raise ImageError(path, "is a folder, not an image") from None
    except Image.DecompressionBombError:
        raise ImageError(path, f"image is too large (over {MAX_IMAGE_PIXELS:,} pixels)") from None
    except Image.UnidentifiedImageError:
        raise ImageError(path, "not a readable image (unknown format, empty or corrupt)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(path, f"corrupt or truncated image ({e})") from None


def is_fits(path):
    """True when the file name says FITS (.fits, .fit, .fts, also .gz, .bz2, .fz)."""
    return str(path).lower().endswith(FITS_SUFFIXES)


def from_array(image, size=INPUT_SIZE):
    """Bring one (H, W, 3) uint8 array to the model's input with the same crop and resize."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise DataError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    if image.shape[:2] == (size, size):
        return image
    return _square_resize(Image.fromarray(image, "RGB"), size)


def from_arrays(images, size=INPUT_SIZE):
    """Bring an (N, H, W, 3) uint8 batch to (N, size, size, 3)."""
    if images.shape[1:3] == (size, size):
        return images
    return np.stack([from_array(im, size) for im in images])


def _to_rgb(im):
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16-bit and float images (FITS-like PNG/TIFF): scale the full range onto 0-255.
        a = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if im.mode.startswith("I;16") else max(float(a.max()), 1.0)
        a = np.clip(a * (255.0 / hi), 0, 255).astype(np.uint8)
        return Image.fromarray(a, "L").convert("RGB")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        # Transparent pixels are empty sky: composite onto black, not the white Pillow would use.
        rgba = im.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert("RGB")
    return im.convert("RGB")


def _square_resize(im, size):
    w, h = im.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    im = im.crop((left, top, left + side, top + side))
    if side != size:
        im = im.resize((size, size), Image.BILINEAR)
    return np.asarray(im, dtype=np.uint8)
