"""Build the default model that ships inside the package (galaxy_edge/models/).

Trains the default recipe (`galaxy-edge train`, seed 222, as `make demo` does) unless --run names
a run folder already trained, keeps its Keras model without the optimizer state (for
`galaxy-edge train --init default`), exports it to int8 and float32 through `galaxy-edge export`
(calibrated and checked on the run's own calibration and validation images), and swaps the files
into galaxy_edge/models/ in one rename. The sidecars' hashes chain the files: each .tflite's
`source_model_sha256` is the shipped model.keras.

    python benchmarks/build_default_model.py [--run runs/default] [--skip-train] [-- extra train flags]
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/default", help="run folder to train into, or to take as it is")
    ap.add_argument("--skip-train", action="store_true", help="take --run as it is")
    ap.add_argument("train_args", nargs="*", help="extra flags for galaxy-edge train (after --)")
    args = ap.parse_args()
    exe = str(Path(sys.executable).parent / "galaxy-edge")
    run = Path(args.run)
    if not args.skip_train:
        subprocess.run([exe, "train", "--out", str(run), "--overwrite", *args.train_args], check=True)

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
