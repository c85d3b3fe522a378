"""Trial: the shipped recipe (`train --real-normals`) plus real galaxies given drawn tidal tails, as `merger`.

The shipped model calls most HSC tidal-tail mergers `ringed`: its real-pixel mergers are close pairs, and
the only long curved features it has seen on real pixels are none. Here 500 of the pool galaxies that
serve as pair companions also serve as hosts of one or two tidal tails, drawn on the real image: a
logarithmic-spiral arc from 1-1.5 half-light radii, opening fast (r grows e^(0.6-1.1) per radian) over
1.2-2.2 radians, 1.5-3.5 px wide and widening, fading from 15-40 % of the host's peak brightness above
its sky, in the host's central colour, screen-blended as the pairs are. Lopsided, as tails are: a second,
fainter tail in 40 %. (Tighter, brighter arcs looked like spiral arms, which are `normal`.)

    python benchmarks/trials/tails_train.py runs/tails-seed222 --seed 222 [--tails 500]
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trial_run import fit_labelled, save_run, start  # noqa: E402

from galaxy_edge.data.real_pairs import MERGER, _radius, _sky, load_real_set  # noqa: E402
from galaxy_edge.train.loop import REAL_COUNT, TrainOptions  # noqa: E402

POOL = Path(__file__).resolve().parents[3] / "shared" / "data" / "gz1-sdss-pool"


def tails(host, rng):
    """The host (128, 128, 3) uint8 with one or two drawn tidal tails."""
    h = host.shape[0]
    sky = _sky(host)
    img = host.astype(np.float32)
    core = img[h // 2 - 3:h // 2 + 4, h // 2 - 3:h // 2 + 4].reshape(-1, 3).mean(axis=0) - sky
    colour = np.clip(core, 1e-3, None) / max(core.max(), 1e-3)
    peak = max(float((img.mean(axis=2) - sky.mean()).max()), 20.0)
    r0 = _radius(host) * rng.uniform(1.0, 1.5)
    b, sense = rng.uniform(0.6, 1.1), rng.choice([-1, 1])
    yy, xx = np.mgrid[:h, :h] - (h - 1) / 2
    layer = np.zeros((h, h), np.float32)
    phi0 = rng.uniform(0, 2 * np.pi)
    for k, amp in enumerate((rng.uniform(0.15, 0.4), rng.uniform(0.1, 0.25))):
        if k == 1 and rng.random() > 0.4:
            break
        sweep = rng.uniform(1.2, 2.2)
        for t in np.linspace(0, sweep, 60):
            r = r0 * np.exp(b * t)
            phi = phi0 + k * np.pi + sense * t
            cy, cx = r * np.sin(phi), r * np.cos(phi)
            width = rng.uniform(1.5, 3.5) * (1 + t / sweep)
            fade = amp * peak * (1 - 0.8 * t / sweep) / 6
            layer += fade * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width * width))
    tail = layer[..., None] * colour
    a, b_ = img / 255, np.clip(tail, 0, 255) / 255
    return np.clip(np.rint(255 * (1 - (1 - a) * (1 - b_))), 0, 255).astype(np.uint8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=222)
    ap.add_argument("--tails", type=int, default=500)
    ap.add_argument("--preview", help="write a grid of tailed galaxies to this PNG and stop")
    args = ap.parse_args()
    x_real, y_real = load_real_set(POOL, REAL_COUNT, seed=0)
    # The pool images that load_real_set used as companions (the third thousand of its permutation).
    from galaxy_edge.image_files import find_images
    from galaxy_edge.preprocess import load_image

    files = find_images(POOL)
    companions = np.random.default_rng(0).permutation(len(files))[2 * REAL_COUNT:2 * REAL_COUNT + args.tails]
    rng = np.random.default_rng(1)
    x_tails = np.stack([tails(load_image(files[i]), rng) for i in companions])
    if args.preview:
        from PIL import Image

        Image.fromarray(np.concatenate([np.concatenate(list(x_tails[r * 8:r * 8 + 8]), axis=1) for r in range(3)])).save(args.preview)
        return
    from galaxy_edge.data.synth import generate

    sky = TrainOptions()
    opts, model, split_data = start(args.seed, *generate(sky.synth_count, seed=sky.synth_seed))
    x_train, _, y_train, _ = split_data
    x_all = np.concatenate([x_train, x_real, x_tails])
    y_all = np.concatenate([y_train, y_real, np.full(len(x_tails), MERGER)])
    seconds = fit_labelled(model, x_all, y_all, opts)
    save_run(args.out, model, opts, split_data, seconds,
             "shipped recipe + real galaxies with drawn tidal tails as mergers (trial)", tails=args.tails)


if __name__ == "__main__":
    main()
