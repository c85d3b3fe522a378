"""Which image cues make a synthetic-trained model call a real galaxy what it does?

Takes the real DECaLS galaxies (../shared/data/decals-rings) that a trained model calls one class
(`irregular` by default: the class the default model over-calls on DECaLS), edits them in simple
ways (sky level, brightness, colour balance, saturation, blur, zoom) and counts what the model
calls them then. An edit that moves many of them to another class names a cue the model leans on
that the synthetic sky gets wrong for real images. Skips cleanly when ../shared/data is absent.

    python benchmarks/real_cues.py [RUN ...] [--cls irregular] [--tag _T]

RUN defaults to the runs of the README's accuracy table (`real_accuracy.py --seeds 222 7 1`).
Writes benchmarks/results/real_cues.json and .md (real_cues_T.* with --tag _T).
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_accuracy import ROOT, SHARED, TABLE_RUNS, decals_set, results_header, write_results  # noqa: E402

from galaxy_edge import CLASS_NAMES  # noqa: E402


def _zoom(images, factor):
    """Centre crop by `factor` and resize back: the galaxy fills more of the frame."""
    size = images.shape[1]
    side = int(round(size / factor))
    lo = (size - side) // 2
    return np.stack([np.asarray(Image.fromarray(im[lo:lo + side, lo:lo + side]).resize((size, size), Image.BILINEAR))
                     for im in images])


def _blur(images, radius):
    return np.stack([np.asarray(Image.fromarray(im).filter(ImageFilter.GaussianBlur(radius))) for im in images])


def _saturation(images, factor):
    x = images.astype(np.float32)
    grey = x.mean(-1, keepdims=True)
    return grey + factor * (x - grey)


# Each edit works on uint8 (N, H, W, 3) images and may return floats; the caller clips to 0-255.
EDITS = {
    "sky -8 grey levels (clipped at 0)": lambda x: x.astype(np.float32) - 8,
    "sky +8 grey levels": lambda x: x.astype(np.float32) + 8,
    "brightness x0.7": lambda x: x * 0.7,
    "brightness x1.4": lambda x: x * 1.4,
    "warmer (R x1.15, B x0.85)": lambda x: x * np.array([1.15, 1.0, 0.85], dtype=np.float32),
    "cooler (R x0.85, B x1.15)": lambda x: x * np.array([0.85, 1.0, 1.15], dtype=np.float32),
    "greyscale": lambda x: _saturation(x, 0.0),
    "saturation x2": lambda x: _saturation(x, 2.0),
    "blur 1 px": lambda x: _blur(x, 1),
    "blur 2 px": lambda x: _blur(x, 2),
    "zoom in x1.5": lambda x: _zoom(x, 1.5),
}


def probe(run, images, cls):
    """Class counts of the images `run` calls `cls`, as they are and after each edit."""
    from galaxy_edge.train.loop import load_run_model

    model, _ = load_run_model(ROOT / run)

    def counts(x):
        x = np.clip(np.asarray(x, dtype=np.float32), 0, 255).round()
        return np.bincount(model.predict(x, verbose=0).argmax(1), minlength=len(CLASS_NAMES)).tolist()

    predicted = model.predict(images.astype(np.float32), verbose=0).argmax(1)
    chosen = images[predicted == CLASS_NAMES.index(cls)]
    out = {"run": str(run), "n_called": int(len(chosen)), "n_images": int(len(images)), "edits": {}}
    if len(chosen):
        out["edits"] = {name: counts(edit(chosen)) for name, edit in EDITS.items()}
    return out


def summary(result):
    cls = result["class"]
    lines = [f"# Which cues make the model call a real DECaLS galaxy `{cls}`", "", "```console",
             f"$ {result['benchmark_command']}", "```", "",
             "Counts are what the model calls those galaxies after each edit, in class order "
             f"({', '.join(CLASS_NAMES)}).", ""]
    for r in result["runs"]:
        lines += [f"## {r['run']}: {r['n_called']} of {r['n_images']} DECaLS galaxies called `{cls}`", "",
                  "| edit | " + " | ".join(CLASS_NAMES) + f" | moved away from `{cls}` |",
                  "|---|" + "---|" * (len(CLASS_NAMES) + 1)]
        k = CLASS_NAMES.index(cls)
        for name, c in r["edits"].items():
            moved = r["n_called"] - c[k]
            lines.append(f"| {name} | " + " | ".join(map(str, c)) + f" | {moved} ({moved / r['n_called']:.0%}) |")
        lines.append("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="*", default=TABLE_RUNS, help="training run folders (default: the table's runs)")
    ap.add_argument("--cls", default="irregular", choices=CLASS_NAMES, help="the predicted class to probe")
    ap.add_argument("--tag", default="", help="suffix for the results file name")
    args = ap.parse_args()
    if not SHARED.is_dir():
        print(f"{SHARED} not present: skipping")
        return 0
    missing = [run for run in args.runs if not (ROOT / run / "model.keras").exists()]
    if missing:
        print(f"{missing[0]}: no training run; make the table's runs with "
              "`python benchmarks/real_accuracy.py --seeds 222 7 1` or name a run folder", file=sys.stderr)
        return 1
    images, _ = decals_set()
    result = {**results_header("real_cues.py"), "class": args.cls,
              "runs": [probe(run, images, args.cls) for run in args.runs]}
    write_results(f"real_cues{args.tag}", result, summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
