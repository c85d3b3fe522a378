"""Trial, measured and not kept (docs/accuracy-history.md): frame each cutout on its central galaxy, as Galaxy Zoo frames cutouts on the galaxy's size.

frame(image uint8 HxWx3) -> (128,128,3) uint8: square crop centred on the central source, side =
FACTOR x the source's extent (flux-weighted radius containing most of the light above the sky),
never larger than the image. Numpy + Pillow only.

    python benchmarks/trials/autoframe.py runs/trial-cache/synth_framed.npz
writes the default synthetic sky (5,000 galaxies, seed 0) framed this way, for `galaxy-edge train --data`.
"""

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

WORK = 96  # analysis resolution
FACTOR = 1.8  # crop side / source diameter (2 r90): the galaxy fills about a quarter of the frame
MIN_FRACTION = 0.25  # never zoom in more than 4x


def source_box(image):
    """(cx, cy, side) in image pixels of the crop framed on the central source."""
    h, w = image.shape[:2]
    side0 = min(h, w)
    left, top = (w - side0) // 2, (h - side0) // 2
    grey = Image.fromarray(image[top:top + side0, left:left + side0]).convert("L").resize((WORK, WORK), Image.BILINEAR)
    grey = grey.filter(ImageFilter.BoxBlur(1))
    g = np.asarray(grey, dtype=np.float32)
    # Sky from the frame's border: on a tight crop the galaxy covers most pixels, so the whole
    # frame's median would be galaxy light and only its core would stand out.
    b = WORK // 10
    border = np.concatenate([g[:b].ravel(), g[-b:].ravel(), g[b:-b, :b].ravel(), g[b:-b, -b:].ravel()])
    sky = float(np.median(border))
    noise = 1.4826 * float(np.median(np.abs(border - sky))) + 0.5
    mask = g > sky + 3 * noise
    if not mask.any():
        return w / 2, h / 2, side0
    # Seed: the brightest masked pixel within the central third.
    c0, c1 = WORK // 3, 2 * WORK // 3
    centre = np.where(mask[c0:c1, c0:c1], g[c0:c1, c0:c1], -1)
    if centre.max() < 0:
        return w / 2, h / 2, side0
    sy, sx = np.unravel_index(np.argmax(centre), centre.shape)
    sy, sx = sy + c0, sx + c0
    m = Image.fromarray(mask.astype(np.uint8) * 255, "L").copy()  # writable: fromarray may share the buffer
    ImageDraw.floodfill(m, (int(sx), int(sy)), 128)
    comp = np.asarray(m) == 128
    ys, xs = np.nonzero(comp)
    flux = g[ys, xs] - sky
    cy, cx = np.average(ys, weights=flux), np.average(xs, weights=flux)
    r = np.hypot(ys - cy, xs - cx)
    order = np.argsort(r)
    cum = np.cumsum(flux[order])
    r90 = r[order][np.searchsorted(cum, 0.9 * cum[-1])] + 1.0
    scale = side0 / WORK
    side = np.clip(FACTOR * 2 * r90 * scale, MIN_FRACTION * side0, side0)
    return left + (cx + 0.5) * scale, top + (cy + 0.5) * scale, side


def frame(image, size=128):
    h, w = image.shape[:2]
    cx, cy, side = source_box(image)
    half = side / 2
    # Keep the square inside the image: shift it rather than pad.
    x0 = float(np.clip(cx - half, 0, w - side))
    y0 = float(np.clip(cy - half, 0, h - side))
    im = Image.fromarray(image).resize((size, size), Image.BILINEAR, box=(x0, y0, x0 + side, y0 + side))
    return np.asarray(im, dtype=np.uint8)


def load_framed(path, size=128):
    with Image.open(path) as im:
        im.draft("RGB", (size * 4, size * 4))
        a = np.asarray(im.convert("RGB"))
    return frame(a, size)


if __name__ == "__main__":
    import sys

    from galaxy_edge.data.npz import save_npz
    from galaxy_edge.data.synth import generate

    images, labels = generate(5000, seed=0)
    save_npz(sys.argv[1], np.stack([frame(im) for im in images]), labels)
