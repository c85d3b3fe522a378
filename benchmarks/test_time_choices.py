"""Do test-time averaging or a calibration temperature pay, on real galaxies?

Two inference-side choices, measured on trained runs (the Keras model, no retraining):
  - test-time averaging: the mean of the softmax over flipped and rotated copies of each image
    (2 flips, 4 right-angle rotations, all 8), against the plain prediction, on the real images
    in ../shared/data (Codecademy 4-class accuracy and merger recall, DECaLS ring AUC and proxy
    accuracy; see real_accuracy.py). Skipped cleanly when ../shared/data is absent.
  - a temperature T (softmax(log p / T)) fitted by negative log-likelihood on the run's
    synthetic validation split: expected calibration error (ECE, 10 bins) and NLL on synthetic
    validation and on the Codecademy images, with and without it.

    python benchmarks/test_time_choices.py [RUN ...]   (default: the three real_accuracy.py runs)

Writes benchmarks/results/test_time_choices.json and .md.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_accuracy import ROOT, SHARED, TABLE_RUNS, real_sets, results_header, score, write_results  # noqa: E402

from galaxy_edge.data import load_dataset  # noqa: E402
from galaxy_edge.train.loop import load_run_model  # noqa: E402

TEMPERATURES = np.round(np.arange(0.3, 2.01, 0.05), 2)


# Which of the 8 `dihedral_views` each test-time average takes the mean over.
AVERAGES = {"plain": [0], "flips": [0, 4], "rotations": [0, 1, 2, 3], "dihedral8": list(range(8))}


def dihedral_views(images):
    """The 8 flipped and rotated copies of `images` (N, H, W, 3): rotations by 0-3 right angles,
    then the same mirrored. View 0 is the images as they are; view 4 is their mirror image."""
    rotations = [np.rot90(images, k, axes=(1, 2)) for k in range(4)]
    return rotations + [r[:, :, ::-1] for r in rotations]


def with_temperature(probs, t):
    logits = np.log(np.clip(probs, 1e-7, 1)) / t
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def nll(probs, labels):
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-7, 1)).mean())


def ece(probs, labels, bins=10):
    """Expected calibration error: |confidence - accuracy| averaged over confidence bins, by count."""
    conf, correct = probs.max(1), probs.argmax(1) == labels
    which = np.minimum((conf * bins).astype(int), bins - 1)
    return float(sum((which == b).mean() * abs(conf[which == b].mean() - correct[which == b].mean())
                     for b in range(bins) if (which == b).any()))


def calibration(probs, labels):
    return {"accuracy": float((probs.argmax(1) == labels).mean()), "mean_confidence": float(probs.max(1).mean()),
            "ece": ece(probs, labels), "nll": nll(probs, labels)}


def measure(run, real):
    model, _ = load_run_model(ROOT / run)

    def predict(images):
        return model.predict(images.astype(np.float32), verbose=0, batch_size=64)

    out = {"run": run}
    if real is not None:
        cc, decals = real
        # Each view is predicted once; `score` passes the image array itself, so look its views up by it.
        view_probs = {id(images): [predict(v) for v in dihedral_views(images)] for images in (cc[0], decals[0])}
        out["averaging"] = {}
        for name, which in AVERAGES.items():
            figures, _ = score(lambda x: np.mean([view_probs[id(x)][i] for i in which], axis=0), cc, decals)
            out["averaging"][name] = {k: figures[k] for k in (
                "codecademy_accuracy", "codecademy_merger_recall", "decals_ring_auc", "decals_proxy_accuracy",
                "decals_predicted_class_counts")}
    val = load_dataset(ROOT / run / "validation.npz", resize=False)
    p_val = predict(val.images)
    t = float(TEMPERATURES[np.argmin([nll(with_temperature(p_val, each), val.labels) for each in TEMPERATURES])])
    out["temperature"] = t
    out["synthetic_validation"] = {"as_trained": calibration(p_val, val.labels),
                                   "with_temperature": calibration(with_temperature(p_val, t), val.labels)}
    if real is not None:
        p_cc = view_probs[id(cc[0])][0]
        out["codecademy"] = {"as_trained": calibration(p_cc, cc[1]),
                             "with_temperature": calibration(with_temperature(p_cc, t), cc[1])}
    return out


def summary(result):
    lines = ["# Test-time averaging and a calibration temperature, on trained runs", "", "```console",
             f"$ {result['benchmark_command']}", "```", ""]
    runs = result["runs"]
    if "averaging" in runs[0]:
        lines += ["## Test-time averaging (Keras model, mean over the runs)", "",
                  "| views | Codecademy 4-class accuracy (17) | Codecademy merger recall (7) | DECaLS ring AUC (470) "
                  "| DECaLS proxy accuracy | DECaLS predicted [normal, ringed, merger, irregular] |",
                  "|---|---|---|---|---|---|"]
        for name in runs[0]["averaging"]:
            rows = [r["averaging"][name] for r in runs]
            mean = {k: np.mean([row[k] for row in rows], axis=0) for k in rows[0]}
            counts = [int(round(c)) for c in mean["decals_predicted_class_counts"]]
            lines.append(f"| {name} | {mean['codecademy_accuracy']:.3f} | {mean['codecademy_merger_recall']:.3f} | "
                         f"{mean['decals_ring_auc']:.3f} | {mean['decals_proxy_accuracy']:.3f} | {counts} |")
        lines.append("")
    lines += ["## Calibration: temperature fitted on synthetic validation", "",
              "| run | T | set | accuracy | mean confidence | ECE | NLL | with T: mean confidence | ECE | NLL |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        for part in ("synthetic_validation", "codecademy"):
            if part not in r:
                continue
            a, b = r[part]["as_trained"], r[part]["with_temperature"]
            lines.append(f"| {r['run']} | {r['temperature']:.2f} | {part.replace('_', ' ')} | {a['accuracy']:.3f} | "
                         f"{a['mean_confidence']:.3f} | {a['ece']:.3f} | {a['nll']:.3f} | {b['mean_confidence']:.3f} | "
                         f"{b['ece']:.3f} | {b['nll']:.3f} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="*", default=TABLE_RUNS, help="run folders (default: real_accuracy.py's three)")
    args = ap.parse_args()
    real = real_sets()
    if real is None:
        print(f"{SHARED} not present: measuring calibration on synthetic validation only")
    result = {**results_header("test_time_choices.py"), "runs": [measure(run, real) for run in args.runs]}
    write_results("test_time_choices", result, summary(result))


if __name__ == "__main__":
    main()
