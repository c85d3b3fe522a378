"""How well does a model trained only on the synthetic sky classify real galaxies?

Trains the default model (`galaxy-edge train`), exports it (`galaxy-edge export --int8 --float32`),
then scores the Keras, float32 and int8 models on the real images in ../shared/data:
  - codecademy-examples: four-class accuracy (17 SDSS images of the Codecademy data);
  - decals-rings: ringed-vs-not AUC, with P(ringed) as the score (470 DECaLS images, weak labels).
Skips the real-data part cleanly when ../shared/data is absent.

    python benchmarks/real_accuracy.py [--run runs/real-accuracy] [--skip-train] [-- extra train flags]

Writes benchmarks/results/real_accuracy.json and .md.
"""

import argparse
import csv
import json
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

from galaxy_edge import CLASS_NAMES, atomic  # noqa: E402
from galaxy_edge.metrics import binary_auc, classification_report  # noqa: E402
from galaxy_edge.preprocess import load_image  # noqa: E402


def run(cmd):
    print("$", shlex.join(cmd), flush=True)
    started = time.monotonic()
    subprocess.run(cmd, check=True, cwd=ROOT)
    return round(time.monotonic() - started, 1)


def codecademy_set():
    folder = SHARED / "codecademy-examples"
    rows = list(csv.DictReader(open(folder / "labels.csv")))
    images = np.stack([load_image(folder / r["file"]) for r in rows])
    return images, np.array([int(r["label_index"]) for r in rows]), [r["file"] for r in rows]


def decals_set():
    folder = SHARED / "decals-rings"
    rows = list(csv.DictReader(open(folder / "labels.csv")))
    images = np.stack([load_image(folder / r["file"]) for r in rows])
    return images, np.array([int(r["ring"]) for r in rows])


def score(predict, cc, decals):
    cc_probs = predict(cc[0])
    rep = classification_report(cc[1], cc_probs, CLASS_NAMES)
    d_probs = predict(decals[0])
    ringed, normal = CLASS_NAMES.index("ringed"), CLASS_NAMES.index("normal")
    # decals-rings has no four-class labels. As a proxy, a ring should come out `ringed` and a
    # featured face-on galaxy without one `normal` (Galaxy Zoo's "no odd feature").
    proxy = np.where(decals[1] == 1, ringed, normal)
    return {
        "codecademy_accuracy": rep["accuracy"],
        "codecademy_confusion_matrix": rep["confusion_matrix"],
        "codecademy_predictions": [CLASS_NAMES[k] for k in cc_probs.argmax(1)],
        "decals_ring_auc": binary_auc(decals[1] == 1, d_probs[:, ringed]),
        "decals_proxy_accuracy": float((d_probs.argmax(1) == proxy).mean()),
        "decals_predicted_class_counts": np.bincount(d_probs.argmax(1), minlength=4).tolist(),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/real-accuracy")
    ap.add_argument("--skip-train", action="store_true", help="reuse an existing run and export")
    ap.add_argument("--export-dir", help="where the run's export is (default: RUN-export)")
    ap.add_argument("--tag", default="", help="suffix for the results file name")
    ap.add_argument("train_args", nargs="*", help="extra flags for galaxy-edge train (after --)")
    args = ap.parse_args()
    exe = str(Path(sys.executable).parent / "galaxy-edge")
    run_dir, export_dir = args.run, args.export_dir or f"{args.run}-export"
    train_cmd = [exe, "train", "--out", run_dir, "--overwrite", *args.train_args]
    export_cmd = [exe, "export", run_dir, "--int8", "--float32", "--out", export_dir]
    shown = [shlex.join(["galaxy-edge", *cmd[1:]]) for cmd in (train_cmd, export_cmd)]
    result = {
        "benchmark_command": shlex.join(["python", "benchmarks/real_accuracy.py", *sys.argv[1:]]),
        "machine": f"{platform.machine()} {platform.processor()}",
        "commands": shown,
    }
    if not args.skip_train:
        result["train_seconds"] = run(train_cmd)
        result["export_seconds"] = run(export_cmd)
    result["synthetic_validation"] = {
        k: v for k, v in json.loads((ROOT / run_dir / "metrics.json").read_text()).items() if k in ("accuracy", "auc", "n")
    }
    parity = json.loads((ROOT / export_dir / "parity_report.json").read_text())
    result["int8_agreement_synthetic"] = parity["variants"]["int8"]["agreement"]

    if not SHARED.is_dir():
        print(f"{SHARED} not present: skipping the real-image evaluation")
    else:
        from galaxy_edge.runtime.classifier import Classifier
        from galaxy_edge.train.loop import load_run_model

        cc, decals = codecademy_set(), decals_set()
        model, _ = load_run_model(ROOT / run_dir)
        result["real"] = {"keras": score(lambda x: model.predict(x.astype(np.float32), verbose=0), cc, decals)}
        for variant in ("float32", "int8"):
            clf = Classifier(ROOT / export_dir / f"model_{variant}.tflite")
            result["real"][variant] = score(clf.probabilities_batch, cc, decals)
        f32 = Classifier(ROOT / export_dir / "model_float32.tflite").probabilities_batch
        i8 = Classifier(ROOT / export_dir / "model_int8.tflite").probabilities_batch
        both = np.concatenate([cc[0], decals[0]])
        result["real"]["int8_vs_float32_agreement"] = float((f32(both).argmax(1) == i8(both).argmax(1)).mean())
    name = f"real_accuracy{args.tag}"
    atomic.write_json(RESULTS / f"{name}.json", result)
    atomic.write_text(RESULTS / f"{name}.md", summary(result))
    print(summary(result))


def summary(result):
    """The results as a Markdown table a person can read."""
    lines = [
        "# Trained on the synthetic sky, scored on real galaxies",
        "",
        "```console",
        f"$ {result['benchmark_command']}",
        *(f"$ {c}" for c in result["commands"]),
        "```",
        "",
        f"Synthetic validation: accuracy {result['synthetic_validation']['accuracy']:.3f}, "
        f"AUC {result['synthetic_validation']['auc']:.3f} (n = {result['synthetic_validation']['n']}); "
        f"int8 agrees with Keras on {result['int8_agreement_synthetic']:.1%} of it.",
        "",
    ]
    if "real" not in result:
        return "\n".join(lines + ["Real images: ../shared/data was not present.", ""])
    lines += [
        "| model | Codecademy 4-class accuracy (17) | DECaLS ring-vs-not AUC (470) | DECaLS proxy accuracy | DECaLS predicted [normal, ringed, merger, irregular] |",
        "|---|---|---|---|---|",
    ]
    for model in ("keras", "float32", "int8"):
        r = result["real"][model]
        lines.append(
            f"| {model} | {r['codecademy_accuracy']:.3f} | {r['decals_ring_auc']:.3f} | "
            f"{r['decals_proxy_accuracy']:.3f} | {r['decals_predicted_class_counts']} |"
        )
    lines += [
        "",
        f"int8 and float32 agree on {result['real']['int8_vs_float32_agreement']:.1%} of the 487 real images.",
        "Proxy accuracy: a ring should come out `ringed`, a featured galaxy without one `normal`.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
