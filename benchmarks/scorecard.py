"""The real-image scorecard: every evaluation set scored on its own, with bootstrap 95 % intervals.

Scores exported models (int8, and float32 beside it) through the device's own `Classifier` on
the real evaluation sets in ../shared/data, each set on its own because each set's classes come
from one survey and one labelling scheme (pooling them would let a model score by recognising the
survey):

  codecademy    4-class accuracy (17 SDSS crops of the Codecademy data)
  gz1-sdss      normal-vs-merger AUC with P(merger) as the score, and merger recall (265 SDSS)
  hsc-tails     merger recall (150 HSC interacting galaxies with tidal tails)
  decals-rings  ring-vs-not AUC with P(ringed) as the score (470 DECaLS, weak labels)

Several training seeds are scored together: each figure is the mean over the seeds, and its
interval comes from resampling each set's images (2,000 bootstrap draws, the same draw for every
seed), so it says how much the figure could move on another sample of such galaxies. The seeds'
own spread is reported beside it. The summary is the unweighted mean of the five headline figures
(HEADLINES: one accuracy, two AUCs, two merger recalls), bootstrapped the same way.

`--compare` scores a second group of exports on the same draws and reports the paired difference
with its interval: the way to tell whether a change moved anything.

    python benchmarks/scorecard.py --exports runs/a-export runs/b-export [--compare runs/x-export ...] [--tag _T]
    python benchmarks/scorecard.py --train-seeds 222 7 1 [--run runs/scorecard] [-- extra train flags]
      (trains and exports each seed to runs/scorecard-seedN and runs/scorecard-seedN-export, then scores them)

Writes benchmarks/results/scorecard{TAG}.json and .md. Skips cleanly when ../shared/data is absent.
"""

import argparse
import csv
import shlex
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from real_accuracy import SHARED, results_header, run, write_results  # noqa: E402

from galaxy_edge import CLASS_NAMES  # noqa: E402
from galaxy_edge.metrics import binary_auc  # noqa: E402
from galaxy_edge.preprocess import load_image  # noqa: E402

NORMAL, RINGED, MERGER = (CLASS_NAMES.index(c) for c in ("normal", "ringed", "merger"))
DRAWS = 2000

# (key, set, what it measures): the figures the summary averages, one or two per set.
HEADLINES = [
    ("codecademy_accuracy", "codecademy", "4-class accuracy"),
    ("gz1_merger_auc", "gz1-sdss", "normal-vs-merger AUC"),
    ("gz1_merger_recall", "gz1-sdss", "merger recall"),
    ("hsc_merger_recall", "hsc-tails", "merger recall"),
    ("decals_ring_auc", "decals-rings", "ring-vs-not AUC"),
]


def load_sets():
    """{set name: (images (N,128,128,3) uint8, labels (N,) int)}, each from its labels.csv."""

    def read(folder, label_of):
        rows = list(csv.DictReader(open(SHARED / folder / "labels.csv")))
        images = np.stack([load_image(SHARED / folder / r["file"]) for r in rows])
        return images, np.array([label_of(r) for r in rows])

    return {
        "codecademy": read("codecademy-examples", lambda r: int(r["label_index"])),
        "gz1-sdss": read("gz1-sdss", lambda r: CLASS_NAMES.index(r["class_name"])),
        "hsc-tails": read("hsc-tails", lambda r: MERGER),
        "decals-rings": read("decals-rings", lambda r: int(r["ring"])),
    }


def figures(probs, labels):
    """The headline figures of one model from its probabilities on each set (indexable by a draw)."""
    cc_p, cc_y = probs["codecademy"], labels["codecademy"]
    gz_p, gz_y = probs["gz1-sdss"], labels["gz1-sdss"]
    gz_merger = gz_y == MERGER
    return {
        "codecademy_accuracy": float((cc_p.argmax(1) == cc_y).mean()),
        "gz1_merger_auc": binary_auc(gz_merger, gz_p[:, MERGER]),
        "gz1_merger_recall": float((gz_p[gz_merger].argmax(1) == MERGER).mean()),
        "hsc_merger_recall": float((probs["hsc-tails"].argmax(1) == MERGER).mean()),
        "decals_ring_auc": binary_auc(labels["decals-rings"] == 1, probs["decals-rings"][:, RINGED]),
    }


def group_figures(group, labels, draw=None):
    """Headline figures averaged over the models of a group, on all images or on one bootstrap draw."""
    per_model = []
    for probs in group:
        if draw is None:
            per_model.append(figures(probs, labels))
        else:
            per_model.append(figures({s: probs[s][draw[s]] for s in probs}, {s: labels[s][draw[s]] for s in labels}))
    out = {k: float(np.mean([m[k] for m in per_model])) for k, *_ in HEADLINES}
    out["summary"] = float(np.mean([out[k] for k, *_ in HEADLINES]))
    return out


def draws(labels, rng):
    """Bootstrap draws: each set's images resampled with replacement, stratified by label so an AUC stays defined."""
    for _ in range(DRAWS):
        draw = {}
        for name, y in labels.items():
            parts = [rng.choice(np.flatnonzero(y == c), size=int((y == c).sum())) for c in np.unique(y)]
            draw[name] = np.concatenate(parts)
        yield draw


def interval(values):
    lo, hi = np.percentile(values, [2.5, 97.5])
    return [float(lo), float(hi)]


def predict_group(exports, variant, sets):
    from galaxy_edge.runtime.classifier import Classifier

    group = []
    for folder in exports:
        clf = Classifier(Path(folder) / f"model_{variant}.tflite")
        group.append({name: clf.probabilities_batch(images) for name, (images, _) in sets.items()})
    return group


def score(exports, compare, sets, seed=0):
    labels = {name: y for name, (_, y) in sets.items()}
    groups = {"int8": predict_group(exports, "int8", sets), "float32": predict_group(exports, "float32", sets)}
    if compare:
        groups["compare_int8"] = predict_group(compare, "int8", sets)
    point = {name: group_figures(g, labels) for name, g in groups.items()}
    boot = {name: [] for name in groups}
    for draw in draws(labels, np.random.default_rng(seed)):
        for name, g in groups.items():
            boot[name].append(group_figures(g, labels, draw))
    keys = [k for k, *_ in HEADLINES] + ["summary"]
    result = {}
    for name in groups:
        result[name] = {
            k: {
                "mean": point[name][k],
                "ci95": interval([b[k] for b in boot[name]]),
                "seeds": [figures(p, labels)[k] for p in groups[name]] if k != "summary" else None,
            }
            for k in keys
        }
    if compare:
        result["difference"] = {
            k: {
                "mean": point["compare_int8"][k] - point["int8"][k],
                "ci95": interval([c[k] - b[k] for c, b in zip(boot["compare_int8"], boot["int8"])]),
            }
            for k in keys
        }
    agree = [np.mean(np.concatenate([(i[s].argmax(1) == f[s].argmax(1)) for s in i]))
             for i, f in zip(groups["int8"], groups["float32"])]
    result["int8_vs_float32_agreement"] = {"mean": float(np.mean(agree)), "seeds": [float(a) for a in agree],
                                           "n_images": int(sum(len(y) for y in labels.values()))}
    result["predicted_counts_int8"] = {
        s: np.bincount(np.concatenate([p[s].argmax(1) for p in groups["int8"]]), minlength=4).tolist() for s in sets
    }
    return result


def summary_text(result):
    lines = ["# Real-image scorecard", "", "```console", f"$ {result['benchmark_command']}", "```", "",
             f"Models (int8 unless said): {', '.join(result['exports'])}", ""]
    if "scores" not in result:
        return "\n".join(lines + ["../shared/data was not present: nothing scored.", ""])
    s = result["scores"]
    sets = dict((k, (name, what)) for k, name, what in HEADLINES)
    head = "| set | figure | int8, mean over seeds [95 % interval] | seeds | float32 |"
    lines += [head, "|---|---|---|---|---|"]
    for k, (name, what) in sets.items():
        seeds = ", ".join(f"{v:.2f}" for v in s["int8"][k]["seeds"])
        lines.append(f"| {name} | {what} | {s['int8'][k]['mean']:.3f} [{s['int8'][k]['ci95'][0]:.3f}, "
                     f"{s['int8'][k]['ci95'][1]:.3f}] | {seeds} | {s['float32'][k]['mean']:.3f} |")
    sm = s["int8"]["summary"]
    lines.append(f"| **summary** | mean of the five | **{sm['mean']:.3f}** [{sm['ci95'][0]:.3f}, {sm['ci95'][1]:.3f}] | | "
                 f"{s['float32']['summary']['mean']:.3f} |")
    a = s["int8_vs_float32_agreement"]
    lines += ["", f"int8 gives float32's answer on {a['mean']:.1%} of the {a['n_images']} real images "
                  f"(per seed: {', '.join(f'{v:.1%}' for v in a['seeds'])}).", "",
              "Predicted classes [normal, ringed, merger, irregular], all seeds together:", ""]
    lines += [f"- {name}: {counts}" for name, counts in s["predicted_counts_int8"].items()]
    if "difference" in s:
        lines += ["", f"## Compared: {', '.join(result['compare'])} minus the models above (paired bootstrap)", "",
                  "| figure | difference [95 % interval] |", "|---|---|"]
        for k, v in s["difference"].items():
            lines.append(f"| {k} | {v['mean']:+.3f} [{v['ci95'][0]:+.3f}, {v['ci95'][1]:+.3f}] |")
    lines += ["", "Intervals: 2,000 bootstrap draws of each set's images (stratified by label), the same draws for",
              "every seed and model; the figure is the mean over the seeds.", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exports", nargs="+", help="export folders holding model_int8.tflite and model_float32.tflite")
    ap.add_argument("--compare", nargs="+", help="a second group of export folders, scored against the first")
    ap.add_argument("--train-seeds", type=int, nargs="+", help="train and export these seeds first (default recipe)")
    ap.add_argument("--run", default="runs/scorecard", help="trained runs go to RUN-seedN, their exports to RUN-seedN-export")
    ap.add_argument("--tag", default="", help="suffix for the results file name")
    ap.add_argument("train_args", nargs="*", help="extra flags for galaxy-edge train (after --)")
    args = ap.parse_args()
    exports = list(args.exports or [])
    if args.train_seeds:
        exe = str(Path(sys.executable).parent / "galaxy-edge")
        for seed in args.train_seeds:
            run_dir = f"{args.run}-seed{seed}"
            run([exe, "train", "--out", run_dir, "--overwrite", "--seed", str(seed), *args.train_args])
            run([exe, "export", run_dir, "--int8", "--float32", "--out", f"{run_dir}-export", "--min-agreement", "0"])
            exports.append(f"{run_dir}-export")
    if not exports:
        ap.error("give --exports or --train-seeds")
    result = {**results_header("scorecard.py"), "exports": exports, "compare": args.compare or []}
    if SHARED.is_dir():
        result["scores"] = score(exports, args.compare, load_sets())
    else:
        print(f"{SHARED} not present: skipping the scoring")
    write_results(f"scorecard{args.tag}", result, summary_text(result))


if __name__ == "__main__":
    main()
