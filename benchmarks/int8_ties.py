"""Where do the int8 model's disagreements with float32 come from, on real galaxies?

For each `edge` run (its `RUN-export/model_int8.tflite` and `model_float32.tflite`, as real_accuracy.py
writes them), on the real images in ../shared/data:
  - disagreements of the int8 and float32 top-1 class through `Classifier` (XNNPACK, as shipped),
    how many of them are exact ties of the int8 output, and the float model's top-2 gap there;
  - whether each tie of the int8 output is already a tie of the int8 logits before the softmax
    (the interpreter run without XNNPACK, keeping every tensor, so the logits can be read);
  - the logits' int8 step and calibrated range, the range real galaxies' float logits span, and
    how many top-1 changes rounding the float logits onto the int8 grid alone makes, with the
    calibrated range and with one cut to the calibration images' 1st-99th percentiles.

    python benchmarks/int8_ties.py [RUN ...]   (default: the three real_accuracy.py runs)

Writes benchmarks/results/int8_ties.json and .md; does nothing when ../shared/data is absent.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_accuracy import ROOT, SHARED, TABLE_RUNS, real_sets, results_header, write_results  # noqa: E402

from galaxy_edge.data import load_dataset  # noqa: E402
from galaxy_edge.runtime.classifier import Classifier  # noqa: E402
from galaxy_edge.train.loop import load_run_model  # noqa: E402


def top2_tied(probs):
    top = np.sort(probs, axis=1)
    return top[:, -1] == top[:, -2]


def builtin_run(classifier, images):
    """The int8 output and logits (N, C) raw, and the logits' (scale, zero point), from the builtin kernels.

    XNNPACK fuses the graph and frees its inner tensors; without it, with every tensor kept,
    the softmax's input can be read.
    """
    from galaxy_edge.runtime.interpreter import interpreter_class

    Interpreter, _, _ = interpreter_class()
    module = sys.modules[Interpreter.__module__]
    it = Interpreter(model_path=str(classifier.model_path), experimental_preserve_all_tensors=True,
                     experimental_op_resolver_type=module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    # The softmax's input: the one other tensor of the output's shape.
    logits = next(t for t in it.get_tensor_details()
                  if t["index"] != out["index"] and tuple(t["shape"]) == tuple(out["shape"]))
    outputs, rows = [], []
    for image in images:
        it.set_tensor(inp["index"], classifier.quantize(image))
        it.invoke()
        outputs.append(it.get_tensor(out["index"])[0].copy())
        rows.append(it.get_tensor(logits["index"])[0].copy())
    return np.array(outputs), np.array(rows), logits["quantization"]


def float_logits(model, images):
    import keras

    features = keras.Model(model.input, model.get_layer("pool").output)
    weights, bias = model.get_layer("probabilities").get_weights()
    return features.predict(images.astype(np.float32), verbose=0, batch_size=64) @ weights + bias


def rounding_changes(logits, low, high):
    """Top-1 changes from rounding `logits` onto an int8 grid spanning [low, high], ties to the lower class."""
    scale = (high - low) / 255
    q = np.clip(np.round(logits / scale + np.round(-128 - low / scale)), -128, 127)
    return int((q.argmax(1) != logits.argmax(1)).sum())


def measure(run, images):
    export = ROOT / f"{run}-export"
    int8 = Classifier(export / "model_int8.tflite")
    p8 = int8.probabilities_batch(images)
    p32 = Classifier(export / "model_float32.tflite").probabilities_batch(images)
    disagree = p8.argmax(1) != p32.argmax(1)
    tied = top2_tied(p8)
    sorted32 = np.sort(p32, axis=1)
    gaps = (sorted32[:, -1] - sorted32[:, -2])[disagree]

    outputs, q_logits, (scale, zero_point) = builtin_run(int8, images)
    tied_builtin = top2_tied(outputs)
    top2 = np.argsort(outputs, axis=1)[:, -2:]
    logits_tied = q_logits[np.arange(len(images)), top2[:, 0]] == q_logits[np.arange(len(images)), top2[:, 1]]
    model, _ = load_run_model(ROOT / run)
    real = float_logits(model, images)
    calib = float_logits(model, load_dataset(ROOT / run / "calibration.npz", resize=False).images)
    low, high = (-128 - zero_point) * scale, (127 - zero_point) * scale
    p1, p99 = np.percentile(calib, [1, 99])
    return {
        "run": run,
        "images": int(len(images)),
        "disagreements": int(disagree.sum()),
        "agreement": float(1 - disagree.mean()),
        "output_ties": int(tied.sum()),
        "disagreements_that_are_output_ties": int((disagree & tied).sum()),
        "largest_float_top2_gap_where_they_disagree": float(gaps.max()) if len(gaps) else None,
        "output_ties_builtin_kernels": int(tied_builtin.sum()),
        "of_which_logits_tied": int((tied_builtin & logits_tied).sum()),
        "logit_step": float(scale),
        "logit_range": [round(float(low), 3), round(float(high), 3)],
        "real_logits_1_99_percent": np.percentile(real, [1, 99]).round(3).tolist(),
        "calibration_logits_1_99_percent": [round(float(p1), 3), round(float(p99), 3)],
        "rounding_changes_calibrated_range": rounding_changes(real, low, high),
        "rounding_changes_percentile_range": rounding_changes(real, p1, p99),
    }


def summary(result):
    lines = ["# Where int8/float32 disagreements on real galaxies come from", "", "```console",
             f"$ {result['benchmark_command']}", "```", "",
             "| run | images | disagree | of them int8 output ties | largest float top-2 gap there "
             "| output ties, builtin kernels | of them logits tied | logit step | logit range (calibrated) "
             "| real logits 1-99 % | rounding changes: calibrated range | 1-99 % calibration range |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["runs"]:
        gap = r["largest_float_top2_gap_where_they_disagree"]
        lines.append(
            f"| {r['run']} | {r['images']} | {r['disagreements']} ({r['agreement']:.1%} agree) | "
            f"{r['disagreements_that_are_output_ties']} | {'-' if gap is None else f'{gap:.4f}'} | "
            f"{r['output_ties_builtin_kernels']} | {r['of_which_logits_tied']} | {r['logit_step']:.4f} | "
            f"{r['logit_range'][0]:.2f} to {r['logit_range'][1]:.2f} | "
            f"{r['real_logits_1_99_percent'][0]:.2f} to {r['real_logits_1_99_percent'][1]:.2f} | "
            f"{r['rounding_changes_calibrated_range']} | {r['rounding_changes_percentile_range']} "
            f"({r['calibration_logits_1_99_percent'][0]:.2f} to {r['calibration_logits_1_99_percent'][1]:.2f}) |")
    lines += ["", "Rounding changes: top-1 changes made by rounding the Keras model's logits onto an int8 grid "
              "alone (no other quantization), with the grid the converter calibrated and with a finer one "
              "cut to the calibration images' 1st-99th percentiles (clipping beyond)."]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="*", default=TABLE_RUNS, help="run folders with a RUN-export beside them "
                    "(default: real_accuracy.py's three)")
    args = ap.parse_args()
    real = real_sets()
    if real is None:
        print(f"{SHARED} not present: nothing to measure")
        return
    images = np.concatenate([real[0][0], real[1][0]])
    result = {**results_header("int8_ties.py"), "runs": [measure(run, images) for run in args.runs]}
    write_results("int8_ties", result, summary(result))


if __name__ == "__main__":
    main()
