"""How well does a model trained only on the synthetic sky classify real galaxies?

Trains the default model (`galaxy-edge train`), exports it (`galaxy-edge export --int8 --float32`),
then scores the Keras, float32 and int8 models on the real images in ../shared/data:
  - codecademy-examples: four-class accuracy (17 SDSS images of the Codecademy data);
  - decals-rings: ringed-vs-not AUC, with P(ringed) as the score (470 DECaLS images, weak labels).
Skips the real-data part cleanly when ../shared/data is absent.

    python benchmarks/real_accuracy.py [--run runs/real-accuracy] [--seeds 222 7 1] [--skip-train] [--tag _T] [-- extra train flags]

One training run swings by several points on real images from one seed to the next (17
Codecademy images: one image is 6 points), so `--seeds` trains several and reports the spread.
Writes benchmarks/results/real_accuracy.json and .md (real_accuracy_T.json and .md with --tag _T).
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
from galaxy_edge.train.loop import TrainOptions, load_run_model  # noqa: E402  (TensorFlow loads on first use)

DEFAULT_SEED = TrainOptions.seed  # galaxy-edge train's default --seed, which make demo uses


def run(cmd):
    """Run a CLI command from the repo root; return its wall-clock seconds."""
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


def results_header(script):
    """The first entries of a results file: the command that wrote it and the machine it ran on."""
    return {
        "benchmark_command": shlex.join(["python", f"benchmarks/{script}", *sys.argv[1:]]),
        "machine": f"{platform.machine()} {platform.processor()}",
    }


def write_results(name, result, text):
    """Write benchmarks/results/NAME.json (the figures) and NAME.md (`text`, for people); print `text`."""
    atomic.write_json(RESULTS / f"{name}.json", result)
    atomic.write_text(RESULTS / f"{name}.md", text)
    print(text)


def real_sets():
    """(Codecademy set, DECaLS set), or None when ../shared/data is absent."""
    return (codecademy_set(), decals_set()) if SHARED.is_dir() else None


def score(predict, cc, decals):
    """The headline figures of one model, and its top-1 class for every image (Codecademy, then DECaLS)."""
    cc_probs = predict(cc[0])
    rep = classification_report(cc[1], cc_probs, CLASS_NAMES)
    d_probs = predict(decals[0])
    ringed, normal = CLASS_NAMES.index("ringed"), CLASS_NAMES.index("normal")
    # decals-rings has no four-class labels. As a proxy, a ring should come out `ringed` and a
    # featured face-on galaxy without one `normal` (Galaxy Zoo's "no odd feature").
    proxy = np.where(decals[1] == 1, ringed, normal)
    figures = {
        "codecademy_accuracy": rep["accuracy"],
        # One image is 6 points of accuracy; the one-vs-rest AUC, averaged over the four classes,
        # moves by less and scores the ranking whatever the class biases.
        "codecademy_auc": rep["auc"],
        "codecademy_confusion_matrix": rep["confusion_matrix"],
        "codecademy_predictions": [CLASS_NAMES[k] for k in cc_probs.argmax(1)],
        # Mergers are the class a synthetic sky finds hardest to teach.
        "codecademy_merger_recall": rep["per_class"]["merger"]["recall"],
        "decals_ring_auc": binary_auc(decals[1] == 1, d_probs[:, ringed]),
        "decals_proxy_accuracy": float((d_probs.argmax(1) == proxy).mean()),
        "decals_predicted_class_counts": np.bincount(d_probs.argmax(1), minlength=4).tolist(),
    }
    return figures, np.concatenate([cc_probs, d_probs]).argmax(1)


def run_dirs(first, seeds):
    """The run folder of each seed: `first` for the first, `first-seedN` for the others."""
    return [first if i == 0 else f"{first}-seed{seed}" for i, seed in enumerate(seeds)]


# The runs of the README's table (`--seeds 222 7 1`), which the other real-image benchmarks reuse.
TABLE_RUNS = run_dirs("runs/real-accuracy", [222, 7, 1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/real-accuracy", help="run folder of the first seed; others get -seedN")
    ap.add_argument("--seeds", type=int, nargs="+", default=[DEFAULT_SEED],
                    help=f"training seeds (default: {DEFAULT_SEED}, as make demo); several show the spread")
    ap.add_argument("--skip-train", action="store_true", help="reuse existing runs and exports")
    ap.add_argument("--tag", default="", help="suffix for the results file name")
    ap.add_argument("train_args", nargs="*", help="extra flags for galaxy-edge train (after --)")
    args = ap.parse_args()
    exe = str(Path(sys.executable).parent / "galaxy-edge")
    real = real_sets()
    if real is None:
        print(f"{SHARED} not present: skipping the real-image evaluation")
    result = {**results_header("real_accuracy.py"), "runs": []}
    for run_dir, seed in zip(run_dirs(args.run, args.seeds), args.seeds):
        seed_args = [] if seed == DEFAULT_SEED else ["--seed", str(seed)]
        result["runs"].append(evaluate_seed(exe, run_dir, seed, [*seed_args, *args.train_args], args.skip_train, real))
    if len(result["runs"]) > 1:
        result["spread"] = spread(result["runs"])
    write_results(f"real_accuracy{args.tag}", result, summary(result))


def evaluate_seed(exe, run_dir, seed, train_args, skip_train, real):
    """Train (unless skipped), export and score one run; returns its part of the results."""
    export_dir = f"{run_dir}-export"
    train_cmd = [exe, "train", "--out", run_dir, "--overwrite", *train_args]
    # No agreement gate: this script measures agreement itself, and a model below export's
    # default gate (the seed CNN can be) is scored rather than stopping the remaining seeds.
    export_cmd = [exe, "export", run_dir, "--int8", "--float32", "--out", export_dir, "--min-agreement", "0"]
    out = {"seed": seed, "commands": [shlex.join(["galaxy-edge", *cmd[1:]]) for cmd in (train_cmd, export_cmd)]}
    if not skip_train:
        out["train_seconds"] = run(train_cmd)
        out["export_seconds"] = run(export_cmd)
    metrics = json.loads((ROOT / run_dir / "metrics.json").read_text())
    out["synthetic_validation"] = {k: metrics[k] for k in ("accuracy", "auc", "n")}
    parity = json.loads((ROOT / export_dir / "parity_report.json").read_text())
    out["int8_agreement_synthetic"] = parity["variants"]["int8"]["agreement"]
    if real is None:
        return out

    from galaxy_edge.runtime.classifier import Classifier

    cc, decals = real
    model, _ = load_run_model(ROOT / run_dir)
    out["real"] = {"keras": score(lambda x: model.predict(x.astype(np.float32), verbose=0), cc, decals)[0]}
    top1 = {}
    for variant in ("float32", "int8"):
        predict = Classifier(ROOT / export_dir / f"model_{variant}.tflite").probabilities_batch
        out["real"][variant], top1[variant] = score(predict, cc, decals)
    out["real"]["int8_vs_float32_agreement"] = float((top1["float32"] == top1["int8"]).mean())
    out["real"]["n_images"] = len(top1["int8"])
    return out


def spread(runs):
    """Mean, lowest and highest of the headline figures over the seeds."""
    figures = {
        "synthetic_accuracy": [r["synthetic_validation"]["accuracy"] for r in runs],
        "int8_agreement_synthetic": [r["int8_agreement_synthetic"] for r in runs],
    }
    if all("real" in r for r in runs):
        figures.update(
            codecademy_accuracy_int8=[r["real"]["int8"]["codecademy_accuracy"] for r in runs],
            codecademy_accuracy_float32=[r["real"]["float32"]["codecademy_accuracy"] for r in runs],
            codecademy_auc_int8=[r["real"]["int8"]["codecademy_auc"] for r in runs],
            codecademy_merger_recall_int8=[r["real"]["int8"]["codecademy_merger_recall"] for r in runs],
            decals_ring_auc_int8=[r["real"]["int8"]["decals_ring_auc"] for r in runs],
            decals_proxy_accuracy_int8=[r["real"]["int8"]["decals_proxy_accuracy"] for r in runs],
            int8_vs_float32_agreement_real=[r["real"]["int8_vs_float32_agreement"] for r in runs],
        )
    return {k: {"mean": float(np.mean(v)), "min": float(min(v)), "max": float(max(v))} for k, v in figures.items()}


def summary(result):
    """The results as Markdown a person can read."""
    lines = ["# Trained on the synthetic sky, scored on real galaxies", "", "```console", f"$ {result['benchmark_command']}"]
    for r in result["runs"]:
        lines += [f"$ {c}" for c in r["commands"]]
    lines += ["```", ""]
    for r in result["runs"]:
        syn = r["synthetic_validation"]
        lines += [
            f"## Training seed {r['seed']}",
            "",
            f"Synthetic validation: accuracy {syn['accuracy']:.3f}, AUC {syn['auc']:.3f} (n = {syn['n']}); "
            f"int8 agrees with Keras on {r['int8_agreement_synthetic']:.1%} of it.",
            "",
        ]
        if "real" not in r:
            lines += ["Real images: ../shared/data was not present.", ""]
            continue
        lines += [
            "| model | Codecademy 4-class accuracy (17) | Codecademy macro AUC | DECaLS ring-vs-not AUC (470) | DECaLS proxy accuracy | DECaLS predicted [normal, ringed, merger, irregular] |",
            "|---|---|---|---|---|---|",
        ]
        for model in ("keras", "float32", "int8"):
            m = r["real"][model]
            lines.append(
                f"| {model} | {m['codecademy_accuracy']:.3f} | {m['codecademy_auc']:.3f} | {m['decals_ring_auc']:.3f} | "
                f"{m['decals_proxy_accuracy']:.3f} | {m['decals_predicted_class_counts']} |"
            )
        lines += [
            "",
            f"int8 and float32 agree on {r['real']['int8_vs_float32_agreement']:.1%} of the {r['real']['n_images']} real images.",
            "",
        ]
    if "spread" in result:
        lines += ["## Over the seeds", "", "| figure | mean | lowest | highest |", "|---|---|---|---|"]
        for k, v in result["spread"].items():
            lines.append(f"| {k.replace('_', ' ')} | {v['mean']:.3f} | {v['min']:.3f} | {v['max']:.3f} |")
        lines.append("")
    lines += [
        "Proxy accuracy: a ring should come out `ringed`, a featured galaxy without one `normal`.",
        "Macro AUC: one-vs-rest ROC AUC of each class's probability, averaged over the four classes.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
