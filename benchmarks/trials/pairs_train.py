"""Trial: the default recipe plus real pixels in two classes: gz1-sdss-pool galaxies as `normal` and
real-pixel pairs of them as `merger` (galaxy_edge/data/real_pairs.py), mixed into the synthetic
training set. Kept as the trial was run; the recipe is now `galaxy-edge train --real-normals DIR`.

    python benchmarks/trials/pairs_train.py runs/pairs-seed222 --seed 222 [--per-class 1000]
Writes a standard run folder that `galaxy-edge export` takes.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from aux_train import pool, synth  # noqa: E402  (the trials' cached synthetic sky and real pool)
from trial_run import fit_labelled, save_run, start  # noqa: E402

from galaxy_edge.data.real_pairs import real_set  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=222)
    ap.add_argument("--per-class", type=int, default=1000, help="real normals, and as many real pairs")
    ap.add_argument("--quick", action="store_true", help="smoke test: 400 synthetic images, 1 epoch")
    args = ap.parse_args()
    opts, model, split_data = start(args.seed, *synth(), quick=args.quick)
    per_class = 50 if args.quick else args.per_class
    x_train, _, y_train, _ = split_data
    # The same real set for every training seed: the seed varies the model, not the data.
    xr, yr = real_set(pool()[0], per_class, seed=0)
    x_all, y_all = np.concatenate([x_train, xr]), np.concatenate([y_train, yr])
    seconds = fit_labelled(model, x_all, y_all, opts)
    save_run(args.out, model, opts, split_data, seconds,
             "synthetic sky + gz1-sdss-pool normals and real-pixel pairs as mergers (trial)", real_per_class=per_class)


if __name__ == "__main__":
    main()
