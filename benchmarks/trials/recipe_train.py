"""Trials: the shipped recipe (`galaxy-edge train --real-normals`) with one thing changed.

--max-gamma G   the augmentation's tone curve draws gamma log-uniform in [1 / G, G]
                (galaxy_edge/train/augment.py, MAX_GAMMA; 1.6 ships).
--fits-share S  a share S of the synthetic sky is drawn as a FITS cutout is seen at the telescope
                (`observe_fits`: linear flux, Gaussian sky noise, the one rendering from flux in
                fits/render.py, a third in one band) instead of as a survey JPEG (0 ships).

    python benchmarks/trials/recipe_train.py runs/tone22-seed222 --seed 222 --max-gamma 2.2
    python benchmarks/trials/recipe_train.py runs/fits25-seed222 --seed 222 --fits-share 0.25
Writes a standard run folder (as `galaxy-edge train` does) that `galaxy-edge export` takes.
"""

import argparse
from pathlib import Path

import numpy as np

POOL = Path(__file__).resolve().parents[3] / "shared" / "data" / "gz1-sdss-pool"
# The sky noise of a FITS-drawn image: its brightest pixels (the rendering's white point) at this S/N, log-uniform.
FITS_PEAK_SNR = (5.0, 3000.0)


def observe_fits(scene, rng, fwhm):
    """The scene's linear flux as `field` renders a cutout of a background-subtracted frame.

    Gaussian sky noise, then `galaxy_edge.fits.render.render` with the sky (0) and noise known.
    Bands bluest first, as FITS frames come: g, r, i are the scene's B, G, R; one band is r.
    """
    from galaxy_edge.data import synth
    from galaxy_edge.fits.options import RENDERING
    from galaxy_edge.fits.render import render

    img = np.maximum(synth._blur(scene, rng, fwhm), 0)
    bands = img[::-1] if rng.random() < 2 / 3 else img[[1]]
    white = float(np.percentile(bands.mean(axis=0), RENDERING["white_percentile"]))
    noise = max(white, 1e-12) / np.exp(rng.uniform(*np.log(FITS_PEAK_SNR)))
    bands = bands + rng.standard_normal(bands.shape, dtype=np.float32) * np.float32(noise)
    return render(bands, sky=0.0, noise=[noise] * len(bands))


def draw_share_as_fits(share):
    """Make the synthetic sky draw `share` of its images with `observe_fits` (decided by the image's own generator)."""
    from galaxy_edge.data import synth

    survey_jpeg = synth._observe

    def observe(scene, rng, survey, fwhm):
        return observe_fits(scene, rng, fwhm) if rng.random() < share else survey_jpeg(scene, rng, survey, fwhm)

    synth._observe = observe


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=222)
    ap.add_argument("--max-gamma", type=float)
    ap.add_argument("--fits-share", type=float)
    args = ap.parse_args()
    if (args.max_gamma is None) == (args.fits_share is None):
        ap.error("give one change: --max-gamma or --fits-share")
    import galaxy_edge.train.augment as augment
    from galaxy_edge.cli import cli

    if args.max_gamma is not None:
        # augment_batch reads the module's MAX_GAMMA when the training loop traces it.
        augment.MAX_GAMMA = args.max_gamma
    else:
        draw_share_as_fits(args.fits_share)
    cli(["train", "--real-normals", str(POOL), "--seed", str(args.seed), "--out", args.out, "--overwrite"],
        standalone_mode=False)


if __name__ == "__main__":
    main()
