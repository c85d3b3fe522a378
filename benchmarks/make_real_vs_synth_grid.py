"""Draw docs/real_vs_synthetic.png: per class, real Galaxy Zoo cutouts beside synthetic ones.

Real images are read from ../shared/data relative to the repository root when that folder exists
(Codecademy 128-px crops for every class, DECaLS ring cutouts resized to 128 for `ringed`); without
it the grid shows the synthetic images alone. No real image is copied into the repository.

Usage:
    python benchmarks/make_real_vs_synth_grid.py [--out docs/real_vs_synthetic.png] [--seed 0]
"""

import argparse
import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from galaxy_edge import CLASS_NAMES
from galaxy_edge.data import synth
from galaxy_edge.preprocess import load_image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TILE, GAP, LABEL_W = 128, 4, 110
N_REAL, N_SYNTH = 5, 6


def real_examples(shared=SHARED):
    """Real images per class index, as (128, 128, 3) arrays; empty lists when the data is absent."""
    per_class = {k: [] for k in range(len(CLASS_NAMES))}
    labels = shared / "codecademy-examples" / "labels.csv"
    if labels.exists():
        with open(labels, newline="") as f:
            for row in csv.DictReader(f):
                path = labels.parent / row["file_128"]
                if path.exists():
                    per_class[int(row["label_index"])].append(load_image(path))
    rings = sorted((shared / "decals-rings" / "ring").glob("*.jpg"))
    # DECaLS rings fill the ringed row, which has few Codecademy examples; spread over the list.
    for path in rings[:: max(1, len(rings) // N_REAL)]:
        per_class[1].append(load_image(path))
    return {k: v[:N_REAL] for k, v in per_class.items()}


def synthetic_examples(seed):
    """N_SYNTH synthetic images per class index, from independent child seeds."""
    children = np.random.SeedSequence(seed).spawn(len(CLASS_NAMES))
    out = {}
    for k, child in enumerate(children):
        rngs = [np.random.default_rng(c) for c in child.spawn(N_SYNTH)]
        out[k] = [synth.render(k, rng) for rng in rngs]
    return out


def draw_grid(real, fake):
    """Lay out one row per class: label, real tiles, a gap, synthetic tiles."""
    n_real = max((len(v) for v in real.values()), default=0)
    width = LABEL_W + n_real * (TILE + GAP) + (3 * GAP if n_real else 0) + N_SYNTH * (TILE + GAP)
    header = 22
    canvas = Image.new("RGB", (width, header + len(CLASS_NAMES) * (TILE + GAP)), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    synth_x = LABEL_W + n_real * (TILE + GAP) + (3 * GAP if n_real else 0)
    if n_real:
        draw.text((LABEL_W, 5), "real (Codecademy SDSS crops; DECaLS rings)", fill=(0, 0, 0))
    draw.text((synth_x, 5), "synthetic (galaxy_edge.data.synth)", fill=(0, 0, 0))
    for k, name in enumerate(CLASS_NAMES):
        y = header + k * (TILE + GAP)
        draw.text((8, y + TILE // 2 - 6), f"{k} {name}", fill=(0, 0, 0))
        for i, image in enumerate(real.get(k, [])):
            canvas.paste(Image.fromarray(image), (LABEL_W + i * (TILE + GAP), y))
        for i, image in enumerate(fake[k]):
            canvas.paste(Image.fromarray(image), (synth_x + i * (TILE + GAP), y))
    return canvas


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "real_vs_synthetic.png"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    real = real_examples() if SHARED.exists() else {}
    if not real:
        print(f"{SHARED} not found: drawing synthetic images only")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    draw_grid(real, synthetic_examples(args.seed)).save(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
