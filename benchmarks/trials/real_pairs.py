"""Trial data: real-pixel mergers made from pairs of real gz1-sdss-pool galaxies, beside real normals.

Galaxy Zoo 1's SDSS mergers are mostly two small galaxies touching or overlapping in a wide frame
(see gz1-sdss/merger). Every pool galaxy is `normal`; a pool galaxy with a second pool galaxy laid
beside it, touching, is a real-pixel picture of such a pair. Training on real normals alone taught
"looks real, so normal" (data/README.md); with real pairs as mergers too, looking real predicts
neither class.

The companion is the centre of another pool image, its sky subtracted, tapered by a Gaussian window
(no square edge), shrunk to 0.45-1.0 of its size, and screen-blended (1 - (1 - a)(1 - b), additive
where faint, never past white) at 0.6-1.6 times the host's half-light radius (its brightest pixels'
spread) from the host's centre.

    python benchmarks/trials/real_pairs.py --preview /tmp/pairs.png   # look at some
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

CROP = 48  # side of the companion's crop in 128-px pool images (their galaxies are 10-30 px)


def _sky(img):
    """Per-channel sky level: the median of the image's 8-px border."""
    border = np.concatenate([img[:8].reshape(-1, 3), img[-8:].reshape(-1, 3), img[:, :8].reshape(-1, 3), img[:, -8:].reshape(-1, 3)])
    return np.median(border, axis=0)


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
    crop = np.asarray(Image.fromarray(np.clip(crop, 0, 255).astype(np.uint8)).resize((side, side), Image.BILINEAR), np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    dist = _radius(host) * rng.uniform(0.6, 1.6) + side / 10
    cy, cx = (h - 1) / 2 + dist * np.sin(angle), (h - 1) / 2 + dist * np.cos(angle)
    y0, x0 = int(round(cy - side / 2)), int(round(cx - side / 2))
    layer = np.zeros((h + 2 * side, h + 2 * side, 3), np.float32)
    layer[y0 + side:y0 + 2 * side, x0 + side:x0 + 2 * side] = crop
    b = layer[side:side + h, side:side + h] / 255
    a = host.astype(np.float32) / 255
    return np.clip(np.rint(255 * (1 - (1 - a) * (1 - b))), 0, 255).astype(np.uint8)


def real_set(pool_x, n, seed):
    """n real normals and n real-pixel pair mergers from the pool, hosts and companions all distinct images.

    Returns:
        (images, labels) with labels 0 (normal) and 2 (merger).
    """
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(pool_x))
    normals, hosts, comps = idx[:n], idx[n:2 * n], idx[2 * n:3 * n] if 3 * n <= len(idx) else rng.choice(idx[:2 * n], n)
    mergers = np.stack([pair(pool_x[h], pool_x[c], rng) for h, c in zip(hosts, comps)])
    x = np.concatenate([pool_x[normals], mergers])
    y = np.concatenate([np.zeros(n, np.int64), np.full(n, 2, np.int64)])
    return x, y


def main():
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from aux_train import pool

    ap = argparse.ArgumentParser()
    ap.add_argument("--preview", required=True)
    args = ap.parse_args()
    x, y = real_set(pool()[0], 16, seed=0)
    rows = [np.concatenate(list(x[y == k][:8]), axis=1) for k in (0, 2)]
    rows.append(np.concatenate(list(x[y == 2][8:16]), axis=1))
    Image.fromarray(np.concatenate(rows, axis=0)).save(args.preview)


if __name__ == "__main__":
    main()
