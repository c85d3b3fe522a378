"""Real pixels in two classes: real normal galaxies as `normal`, and real-pixel pairs of them as `merger`.

`galaxy-edge train --real-normals DIR` mixes these into the training split. DIR holds real images of
ordinary galaxies of one survey (the shipped model used the 3,000 Galaxy Zoo 1 SDSS galaxies of
gz1-sdss-pool), found recursively and read by the one preprocessing.

Why pairs: Galaxy Zoo 1's SDSS mergers are mostly two small galaxies touching or overlapping in a
wide frame, which the synthetic sky does not teach (the synthetic mergers fill the frame), and real
normals alone taught "looks real, so normal" (docs/accuracy-history.md). A real galaxy with a second
real galaxy laid beside it is a real-pixel picture of such a pair, so looking real predicts neither
class. Measured over three training seeds: docs/accuracy-history.md.

The companion is the centre of another real image, its sky subtracted, tapered by a Gaussian window
(no square edge), shrunk to 0.45-1.0 of its size, and screen-blended (1 - (1 - a)(1 - b): additive
where faint, never past white) at 0.6-1.6 times the host's half-light radius from the host's centre.
Normals, hosts and companions are distinct images.
"""

from pathlib import Path

import numpy as np
from PIL import Image

from galaxy_edge import CLASS_NAMES

NORMAL, MERGER = CLASS_NAMES.index("normal"), CLASS_NAMES.index("merger")
CROP = 48  # side of the companion's crop in a 128-px image (SDSS galaxies in Galaxy Zoo frames are 10-30 px)


def _sky(img):
    """Per-channel sky level: the median of the image's 8-px border."""
    edges = (img[:8], img[-8:], img[:, :8], img[:, -8:])
    return np.median(np.concatenate([e.reshape(-1, 3) for e in edges]), axis=0)


def _radius(img):
    """Half-light radius in pixels of the central galaxy, from the sky-subtracted grey light within 24 px."""
    grey = np.clip(img.mean(axis=2) - _sky(img).mean(), 0, None)
    h = img.shape[0]
    yy, xx = np.mgrid[:h, :h] - (h - 1) / 2
    r = np.hypot(yy, xx)
    near = r < 24
    order = np.argsort(r[near])
    cum = np.cumsum(grey[near][order])
    if cum[-1] <= 0:
        return 4.0
    return float(max(r[near][order][np.searchsorted(cum, cum[-1] / 2)], 2.0))


def pair(host, companion, rng):
    """The host (128, 128, 3) uint8 with the companion's central galaxy laid beside it."""
    h = host.shape[0]
    c0 = (h - CROP) // 2
    crop = companion[c0:c0 + CROP, c0:c0 + CROP].astype(np.float32) - _sky(companion)
    yy, xx = np.mgrid[:CROP, :CROP] - (CROP - 1) / 2
    crop = np.clip(crop, 0, None) * np.exp(-(yy**2 + xx**2) / (2 * (CROP / 5) ** 2))[..., None]
    side = max(8, int(round(CROP * rng.uniform(0.45, 1.0))))
    small = Image.fromarray(np.clip(crop, 0, 255).astype(np.uint8)).resize((side, side), Image.BILINEAR)
    crop = np.asarray(small, np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    dist = _radius(host) * rng.uniform(0.6, 1.6) + side / 10
    cy, cx = (h - 1) / 2 + dist * np.sin(angle), (h - 1) / 2 + dist * np.cos(angle)
    y0, x0 = int(round(cy - side / 2)), int(round(cx - side / 2))
    layer = np.zeros((h + 2 * side, h + 2 * side, 3), np.float32)
    layer[y0 + side:y0 + 2 * side, x0 + side:x0 + 2 * side] = crop
    b = layer[side:side + h, side:side + h] / 255
    a = host.astype(np.float32) / 255
    return np.clip(np.rint(255 * (1 - (1 - a) * (1 - b))), 0, 255).astype(np.uint8)


def real_set(images, n, seed):
    """n real normals and n real-pixel pair mergers from `images`, normals, hosts and companions distinct.

    Args:
        images: (M, 128, 128, 3) uint8 real galaxies, M >= 3 n.
        n: images per class.
        seed: seeds the choice of images and the pairs' geometry.

    Returns:
        (images, labels): (2 n, 128, 128, 3) uint8 and (2 n,) int64, `normal` then `merger`.
    """
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(images))
    normals, hosts, companions = idx[:n], idx[n:2 * n], idx[2 * n:3 * n]
    mergers = np.stack([pair(images[h], images[c], rng) for h, c in zip(hosts, companions)])
    x = np.concatenate([images[normals], mergers])
    y = np.concatenate([np.full(n, NORMAL, np.int64), np.full(n, MERGER, np.int64)])
    return x, y


def load_real_set(folder, n, seed, log=print):
    """Read the real galaxies under `folder` (recursively) and make `real_set` of them.

    Unreadable images are skipped with one line each.

    Raises:
        DataError: the folder holds fewer than 3 n readable images.
    """
    from galaxy_edge.errors import DataError, ImageError
    from galaxy_edge.image_files import SUFFIXES_TEXT, find_images
    from galaxy_edge.preprocess import load_image

    unreadable = []
    files = find_images(folder, unreadable)
    images = []
    for path, reason in unreadable:
        log(f"Warning: skipping {path}: {reason}")
    for f in files:
        try:
            images.append(load_image(f))
        except ImageError as e:
            log(f"Warning: skipping {e}")
    if len(images) < 3 * n:
        raise DataError(f"{folder}: {len(images)} readable images ({SUFFIXES_TEXT}); "
                        f"{n} normals and {n} pairs need at least {3 * n}")
    return real_set(np.stack(images), n, seed)

