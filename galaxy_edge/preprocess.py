"""The one definition of preprocessing, shared by training, int8 calibration and the device runtime.

Every image, whatever its size and mode, becomes a (128, 128, 3) uint8 RGB array: centre-cropped
to a square, then resized. Scaling to [0, 1] happens *inside* the model, so an int8 model takes
these uint8 pixels as they are and no arithmetic runs on the device before `invoke()`.
"""

import contextlib
import threading

import numpy as np
from PIL import Image

from galaxy_edge.errors import DataError, ImageError
from galaxy_edge.regular_files import describe_os_error, open_regular

INPUT_SIZE = 128
# Recorded in model metadata; a model made with another recipe is refused by the runtime.
PREPROCESSING = "rgb-uint8-centre-square-crop-bilinear-resize"
# FITS cutouts are read with astropy and rendered from flux (galaxy_edge/fits/render.py) first.
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
FITS_SUFFIXES = tuple(f"{s}{z}" for s in (".fits", ".fit", ".fts") for z in ("", ".gz", ".bz2", ".fz")) + (".fz",)
IMAGE_SUFFIXES = PICTURE_SUFFIXES + FITS_SUFFIXES

# A 128-pixel classifier has no use for a gigapixel file; refuse it before it eats the device's memory.
# Pillow only warns between its limit and twice that, so the size is also checked before decoding.
MAX_IMAGE_PIXELS = 64_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
# The memory one decoded image may take, as Pillow stores it (4 bytes a pixel for RGB, 2 for
# 16-bit greyscale), judged from the header before decoding. With the runtime's own ~70 MB this
# keeps `classify` on any accepted image under 300 MB (tests/test_hostile_files.py measures it):
# a 64 M pixel 16-bit frame (128 MB) fits, a 64 M pixel RGB PNG (256 MB) does not.
MAX_DECODED_BYTES = 160 * 2**20
# Above this many times the output size, an image is first box-reduced by a whole factor (keeping
# at least this many times the output), so no full-resolution copy is made after decoding.
# Below it nothing changes: the usual 424-pixel cut-outs are resized exactly as before.
REDUCE_ABOVE = 8


def load_image(path, size=INPUT_SIZE, planes=None):
    """Read one image file and return it as a (size, size, 3) uint8 RGB array.

    Only a regular file is opened (a named pipe called `x.png` would block forever). The decoded
    size is judged from the header first, big images are decoded one at a time (see
    `MAX_DECODED_BYTES`) and reduced before any conversion, so memory stays bounded.

    Args:
        path: a PNG, JPEG or TIFF file of any size and mode (RGB, RGBA, greyscale, 16-bit), or a
            FITS image (2-D, or a cube of 1 or 3 planes), rendered by `galaxy_edge.fits.render`,
            or three single-band FITS files named as one: `NGC7479_{g,r,i}.fits`.
        size: the side of the square output.
        planes: for a FITS cube, the 1-based planes to use, bluest first (one or three).

    Raises:
        ImageError: the file is missing, not a regular file, unreadable, empty, truncated,
            not an image, or too large.
    """
    if is_fits(path):
        # Imported only when a FITS file is met: a JPEG never loads astropy.
        from galaxy_edge.fits.render import load_fits_rgb

        return from_array(load_fits_rgb(path, planes), size)
    try:
        f = open_regular(path)
    except OSError as e:
        raise ImageError(path, describe_os_error(e)) from None
    try:
        with f, Image.open(f) as im:
            if im.width * im.height > MAX_IMAGE_PIXELS:
                raise Image.DecompressionBombError(im.size)
            # JPEG can decode at 1/2, 1/4 or 1/8 scale for free; keep at least 2x the output size.
            im.draft("RGB", (size * 2, size * 2))
            need = decoded_bytes(im)
            if need > MAX_DECODED_BYTES:
                raise ImageError(
                    path,
                    f"image is too large to decode ({im.width}x{im.height} {im.mode} needs {need / 2**20:.0f} MB; "
                    f"the limit is {MAX_DECODED_BYTES / 2**20:.0f} MB)",
                )
            with _DECODE_BUDGET.hold(need):
                im.load()
                return _square_resize(im, size)
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError(path, f"image is too large (over {MAX_IMAGE_PIXELS:,} pixels)") from None
    except Image.UnidentifiedImageError:
        raise ImageError(path, "not a readable image (unknown format, empty or corrupt)") from None
    except MemoryError:
        raise ImageError(path, "image is too large to decode in the memory available") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(path, f"corrupt or truncated image ({e})") from None


def is_fits(path):
    """True when the file name says FITS (.fits, .fit, .fts, also .gz, .bz2, .fz)."""
    return str(path).lower().endswith(FITS_SUFFIXES)


def decoded_bytes(im):
    """Bytes Pillow takes to hold `im` decoded: 1 a pixel for L/P/1, 2 for 16-bit, 4 for the rest (RGB too)."""
    per_pixel = 1 if im.mode in ("1", "L", "P") else 2 if im.mode.startswith("I;16") else 4
    return im.width * im.height * per_pixel


class _DecodeBudget:
    """At most MAX_DECODED_BYTES of images decoded at once, whatever the number of decoder threads.

    Small images never wait; two big ones in one folder are decoded one after the other.
    """

    def __init__(self, total):
        self._free = total
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def hold(self, n):
        with self._cond:
            self._cond.wait_for(lambda: self._free >= n)
            self._free -= n
        try:
            yield
        finally:
            with self._cond:
                self._free += n
                self._cond.notify_all()


_DECODE_BUDGET = _DecodeBudget(MAX_DECODED_BYTES)


def from_array(image, size=INPUT_SIZE):
    """Bring one (H, W, 3) uint8 array to the model's input with the same crop and resize."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise DataError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    if image.shape[:2] == (size, size):
        return image
    if 0 in image.shape[:2]:
        raise DataError(f"an image of {image.shape[1]}x{image.shape[0]} pixels holds nothing to classify")
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
    return im if im.mode == "RGB" else im.convert("RGB")


def _square_resize(im, size):
    """Centre-crop a decoded image to a square, bring it to RGB and resize it to (size, size, 3) uint8."""
    w, h = im.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    box = (left, top, left + side, top + side)
    factor = side // (REDUCE_ABOVE * size)
    if factor >= 2:
        im = _reduce(im, box, factor)
    else:
        # Crop first: a long thin frame is never converted whole (a float frame's scale is the crop's).
        # A square image needs no crop (Pillow's crop of the whole image is a copy, as is a conversion
        # to the mode it has): skipping both spared a third of a 424-pixel JPEG's decoding time.
        if box != (0, 0, w, h):
            im = im.crop(box)
        im = _to_rgb(im)
    if im.size != (size, size):
        im = im.resize((size, size), Image.BILINEAR)
    return np.asarray(im, dtype=np.uint8)


def _reduce(im, box, factor):
    """The RGB box-average of `box` reduced `factor` times, without a full-size copy of the image."""
    if im.mode in ("L", "LA", "RGB", "RGBA", "I", "F"):
        return _to_rgb(im.reduce(factor, box))
    # Modes Pillow cannot reduce (16-bit, palette, 1-bit): convert and reduce strip by strip.
    left, top, right, bottom = box
    out = Image.new("RGB", ((right - left) // factor, (bottom - top) // factor))
    rows = factor * max(1, 2**16 // max(1, right - left))  # strips of ~64 K pixels or one row of blocks
    for y in range(top, top + out.height * factor, rows):
        y_end = min(y + rows, top + out.height * factor)
        strip = _to_rgb(im.crop((left, y, left + out.width * factor, y_end)))
        out.paste(strip.reduce(factor), (0, (y - top) // factor))
    return out
