"""Build the default model that ships inside the package (galaxy_edge/models/).

Trains the shipped recipe unless --run names a run folder already trained: `galaxy-edge train`
with training seed 222 and real pixels from ../shared/data/gz1-sdss-pool (`--real-normals`: 1,000 of
its Galaxy Zoo 1 SDSS galaxies as `normal`, 1,000 real-pixel pairs of others as `merger`; see
galaxy_edge/models/README.md for where the images come from). It keeps the run's Keras model without the optimizer state (for
`galaxy-edge train --init default`), exports it to int8 and float32 through `galaxy-edge export`
(calibrated and checked on the run's own calibration and validation images), and swaps the files
into galaxy_edge/models/ in one rename. The sidecars' hashes chain the files: each .tflite's
`source_model_sha256` is the shipped model.keras.

    python benchmarks/build_default_model.py [--run runs/default] [--skip-train] [--real-normals DIR] [-- extra train flags]
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from galaxy_edge import atomic  # noqa: E402
from galaxy_edge.default_model import MODELS_DIR  # noqa: E402

VARIANTS = ("int8", "float32")
REAL_NORMALS = ROOT.parent / "shared" / "data" / "gz1-sdss-pool"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/default", help="run folder to train into, or to take as it is")
    ap.add_argument("--skip-train", action="store_true", help="take --run as it is")
    ap.add_argument("--real-normals", type=Path, default=REAL_NORMALS, help="real SDSS galaxies for --real-normals")
    ap.add_argument("train_args", nargs="*", help="extra flags for galaxy-edge train (after --)")
    args = ap.parse_args()
    exe = str(Path(sys.executable).parent / "galaxy-edge")
    run = Path(args.run)
    if not args.skip_train:
        if not args.real_normals.is_dir():
            sys.exit(f"{args.real_normals}: not found; the shipped recipe trains on these real galaxies (--real-normals DIR)")
        subprocess.run([exe, "train", "--out", str(run), "--overwrite", "--real-normals", str(args.real_normals),
                        *args.train_args], check=True)

    import keras

    with tempfile.TemporaryDirectory() as tmp, atomic.staged_dir(MODELS_DIR, overwrite=True) as stage:
        stage.chmod(0o755)  # part of the package: readable by all, like the rest of it
        (stage / "default_run").mkdir()
        # Without the optimizer's state the Keras model is a third of the size; fine-tuning starts
        # a fresh optimizer anyway.
        keras.saving.load_model(run / "model.keras", compile=False).save(stage / "default_run" / "model.keras")
        shutil.copy(run / "metadata.json", stage / "default_run" / "metadata.json")
        export = Path(tmp) / "export"
        subprocess.run(
            [exe, "export", str(stage / "default_run"), *(f"--{v}" for v in VARIANTS), "--out", str(export),
             "--calibration-data", str(run / "calibration.npz"), "--validation-data", str(run / "validation.npz")],
            check=True,
        )
        for v in VARIANTS:
            for suffix in (".tflite", ".json"):
                shutil.copy(export / f"model_{v}{suffix}", stage / f"default_{v}{suffix}")
        shutil.copy(export / "parity_report.txt", stage / "parity_report.txt")
        # The README is written by hand (recipe, figures); it is kept across rebuilds.
        if (MODELS_DIR / "README.md").exists():
            shutil.copy(MODELS_DIR / "README.md", stage / "README.md")
    print(f"Wrote the default model to {MODELS_DIR}")


if __name__ == "__main__":
    main()
