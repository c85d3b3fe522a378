"""A picture of a frame for a person: stretched with the one rendering, a labelled box on each galaxy."""

import io

import numpy as np
from PIL import Image, ImageDraw

from galaxy_edge import atomic

# Longest side of the preview; a larger frame is block-averaged down (which also keeps memory small).
MAX_SIDE = 1600
CLASS_COLOURS = {
    "normal": (120, 200, 255),
    "ringed": (255, 220, 60),
    "merger": (255, 90, 160),
    "irregular": (110, 255, 120),
}


def write_preview(path, data, noises, boxes):
    """Write the frame as a PNG with a box and label on each galaxy, atomically.

    Args:
        path: the PNG to write.
        data: (bands, H, W) float32, background subtracted.
        noises: background RMS per band.
        boxes: (x, y, side, label) per galaxy, in 0-based frame pixels.
    """
    from galaxy_edge.fits.render import render

    _, h, w = data.shape
    f = max(1, int(np.ceil(max(h, w) / MAX_SIDE)))
    small = _block_mean(data, f)
    # Averaging f x f pixels divides the noise by f.
    image = Image.fromarray(render(small, sky=0.0, noise=[n / f for n in noises]))
    draw = ImageDraw.Draw(image)
    hs = small.shape[1]
    for x, y, side, label in boxes:
        colour = CLASS_COLOURS.get(label, (255, 255, 255))
        cx, cy = (x + 0.5) / f, hs - (y + 0.5) / f  # rows are flipped: FITS row 1 is at the bottom
        half = max(side / (2 * f), 4)
        draw.rectangle([cx - half, cy - half, cx + half, cy + half], outline=colour)
        draw.text((cx - half, cy + half + 1), label, fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    atomic.write_bytes(path, buffer.getvalue())


def _block_mean(data, f):
    if f == 1:
        return data
    n, h, w = data.shape
    h2, w2 = h // f * f, w // f * f
    return data[:, :h2, :w2].reshape(n, h2 // f, f, w2 // f, f).mean(axis=(2, 4), dtype=np.float32)
