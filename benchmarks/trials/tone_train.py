"""Trial: the shipped recipe (`galaxy-edge train --real-normals`) with another range for the tone curve.

The augmentation's tone curve draws gamma log-uniform in [1 / MAX_GAMMA, MAX_GAMMA]
(galaxy_edge/train/augment.py; 1.6 ships). This trains the shipped recipe with another MAX_GAMMA and
nothing else changed.

    python benchmarks/trials/tone_train.py runs/tone22-seed222 --seed 222 --max-gamma 2.2
Writes a standard run folder (as `galaxy-edge train` does) that `galaxy-edge export` takes.
"""

import argparse
from pathlib import Path

POOL = Path(__file__).resolve().parents[3] / "shared" / "data" / "gz1-sdss-pool"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=222)
    ap.add_argument("--max-gamma", type=float, required=True)
    args = ap.parse_args()
    import galaxy_edge.train.augment as augment
    from galaxy_edge.cli import cli

    # augment_batch reads the module's MAX_GAMMA when the training loop traces it.
    augment.MAX_GAMMA = args.max_gamma
    cli(["train", "--real-normals", str(POOL), "--seed", str(args.seed), "--out", args.out, "--overwrite"],
        standalone_mode=False)


if __name__ == "__main__":
    main()
