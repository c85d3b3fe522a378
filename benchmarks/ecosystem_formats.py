"""What the ecosystem formats cost: embedded metadata, uint8 input, ONNX beside LiteRT, in one run.

    python benchmarks/ecosystem_formats.py [RUN] [--runs 300] [--rounds 15]

RUN defaults to the Keras model shipped in the package (galaxy_edge/models/default_run). It is
exported with `--int8 --float32 --onnx` (calibrated and checked on synthetic galaxies drawn
here), then measured against baselines made in the same run:
- embedded metadata: each .tflite against the same file with the metadata stripped (size), and the
  cold start of a fresh `classify`-like process on one image (import, load, classify) with the
  metadata, with it and no sidecar (labels read from the embedded zip), and without it;
- uint8 input: the int8 export against the same model converted with int8 input (the old way);
- ONNX: parity with Keras through onnxruntime, and invoke / per-image latency against LiteRT.
Writes benchmarks/results/ecosystem_formats.json and .md.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from galaxy_edge import atomic  # noqa: E402
from galaxy_edge.export import write_sidecar  # noqa: E402

COLD_START = """
import sys, time
t0 = time.perf_counter()
from galaxy_edge.preprocess import load_image
from galaxy_edge.runtime.classifier import Classifier
clf = Classifier(sys.argv[1])
clf.probabilities(load_image(sys.argv[2]))
print(time.perf_counter() - t0)
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", nargs="?", default=str(ROOT / "galaxy_edge/models/default_run"))
    ap.add_argument("--runs", type=int, default=300, help="steady-state invokes per model")
    ap.add_argument("--rounds", type=int, default=15, help="cold-start processes per condition")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        report = export(Path(args.run), tmp)
        out = tmp / "export"
        stripped = {v: strip_metadata(out / f"model_{v}.tflite", tmp / "stripped") for v in ("int8", "float32")}
        int8_input = convert_int8_input(Path(args.run), tmp)
        result = {
            "run": str(Path(args.run).relative_to(ROOT) if Path(args.run).is_relative_to(ROOT) else args.run),
            "metadata_size": {
                v: {"with_bytes": (out / f"model_{v}.tflite").stat().st_size, "without_bytes": p.stat().st_size,
                    "ratio": round((out / f"model_{v}.tflite").stat().st_size / p.stat().st_size, 4)}
                for v, p in stripped.items()
            },
            "cold_start": cold_start(out / "model_int8.tflite", stripped["int8"], tmp, args.rounds),
            "parity": {v: {k: r[k] for k in ("agreement", "max_abs_probability_difference", "runtime", "size_bytes")}
                       for v, r in report["variants"].items()},
            "validation_images": report["keras"]["n"],
        }
        from galaxy_edge.runtime.bench import run_benchmarks

        models = [out / "model_float32.tflite", out / "model.onnx", out / "model_int8.tflite", int8_input]
        speed = run_benchmarks(models, runs=args.runs, warmup=20)
        result["machine"] = speed["machine"]
        result["speed"] = {name: summary(m) for name, m in zip(("litert_float32", "onnxruntime_float32",
                                                                  "litert_int8_uint8_input", "litert_int8_int8_input"),
                                                                 speed["models"])}
        base = result["speed"]["litert_float32"]
        for s in result["speed"].values():
            s["invoke_vs_litert_float32"] = round(s["invoke_p50_us"] / base["invoke_p50_us"], 2)
            s["per_image_vs_litert_float32"] = round(s["per_image_p50_us"] / base["per_image_p50_us"], 2)
    atomic.write_json(ROOT / "benchmarks/results/ecosystem_formats.json", result)
    atomic.write_text(ROOT / "benchmarks/results/ecosystem_formats.md", markdown(result, args))
    print(markdown(result, args))


def export(run, tmp):
    """Export RUN with --int8 --float32 --onnx, calibrated and checked on synthetic galaxies."""
    from galaxy_edge.data.npz import save_npz
    from galaxy_edge.data.synth import generate
    from galaxy_edge.export import ExportOptions, export_run

    save_npz(tmp / "calibration.npz", *generate(400, seed=101))
    save_npz(tmp / "validation.npz", *generate(400, seed=202))
    options = ExportOptions(variants=["int8", "float32"], onnx=True, min_agreement=0.0,
                            calibration_data=tmp / "calibration.npz", validation_data=tmp / "validation.npz")
    return export_run(run, tmp / "export", options, log=lambda *a: None)


def strip_metadata(path, folder):
    """The same model without its TFLITE_METADATA buffer and appended zip, with a sidecar of its own."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(path.read_bytes()))
    [entry] = [m for m in model.metadata if m.name == b"TFLITE_METADATA"]
    assert entry.buffer == len(model.buffers) - 1  # the writer appends it last
    model.buffers.pop()
    model.metadata.remove(entry)
    folder.mkdir(exist_ok=True)
    bare = folder / path.name
    bare.write_bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    write_sidecar(bare, json.loads(path.with_suffix(".json").read_text()))
    return bare


def convert_int8_input(run, tmp):
    """RUN converted as earlier versions did: int8 input and output (zero point -128), no metadata."""
    import numpy as np
    import tensorflow as tf

    from galaxy_edge.export import _fixed_batch_copy
    from galaxy_edge.train.loop import load_run_model

    model, meta = load_run_model(run)
    with np.load(tmp / "calibration.npz") as f:
        images = f["data"]
    converter = tf.lite.TFLiteConverter.from_keras_model(_fixed_batch_copy(model, meta, meta["input"]["height"]))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([im[np.newaxis].astype(np.float32)] for im in images)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    path = tmp / "int8_input" / "model_int8.tflite"
    path.parent.mkdir()
    path.write_bytes(converter.convert())
    write_sidecar(path, json.loads((tmp / "export/model_int8.json").read_text()))
    return path


def cold_start(with_metadata, without_metadata, tmp, rounds):
    """Median seconds from process start to the first probabilities, per condition, interleaved."""
    from galaxy_edge.runtime.bench import synthetic_images

    image = synthetic_images(tmp, count=1)[0]
    lonely = tmp / "lonely" / with_metadata.name
    lonely.parent.mkdir()
    shutil.copy(with_metadata, lonely)  # no sidecar: the runtime reads the embedded copy
    conditions = {"without_metadata": without_metadata, "with_metadata": with_metadata,
                  "embedded_only_no_sidecar": lonely}
    times = {k: [] for k in conditions}
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    for _ in range(rounds):
        for name, model in conditions.items():
            out = subprocess.run([sys.executable, "-c", COLD_START, str(model), str(image)],
                                 capture_output=True, text=True, check=True, env=env)
            times[name].append(float(out.stdout.strip().splitlines()[-1]))
    base = statistics.median(times["without_metadata"])
    return {name: {"median_ms": round(statistics.median(t) * 1e3, 1),
                   "vs_without_metadata": round(statistics.median(t) / base, 3)} for name, t in times.items()}


def summary(m):
    return {"model": Path(m["model"]).name, "runtime": f"{m['runtime']} {m['runtime_version']}",
            "input_dtype": m["input_dtype"], "size_bytes": m["model_size_bytes"], "init_ms": m["init_ms"],
            "invoke_p50_us": m["invoke"]["p50_us"], "invoke_p90_us": m["invoke"]["p90_us"],
            "per_image_p50_us": m["per_image"]["p50_us"]}


def markdown(r, args):
    lines = [
        "# Ecosystem formats: embedded metadata, uint8 input, ONNX beside LiteRT",
        "",
        f"Command: `python benchmarks/ecosystem_formats.py` (model `{r['run']}`, exported with `--int8 --float32 "
        f"--onnx`, checked on {r['validation_images']} synthetic galaxies; {args.runs} invokes per model, 1 thread, "
        f"{args.rounds} cold starts per condition; {r['machine']['cpu_count']} CPUs, {r['machine']['machine']}).",
        "",
        "## Embedded TFLite metadata",
        "",
        "| model | with metadata | without | ratio |",
        "|---|---|---|---|",
    ]
    for v, s in r["metadata_size"].items():
        lines.append(f"| {v} | {s['with_bytes']:,} B | {s['without_bytes']:,} B | {s['ratio']:.3f} |")
    lines += ["", "Cold start of a fresh process to the first probabilities (int8 model, one 424x424 PNG), median:", "",
              "| condition | ms | vs without metadata |", "|---|---|---|"]
    for name, s in r["cold_start"].items():
        lines.append(f"| {name.replace('_', ' ')} | {s['median_ms']:.0f} | {s['vs_without_metadata']:.3f} |")
    lines += ["", "## Parity with Keras", "", "| export | runtime | agreement | max abs prob difference |", "|---|---|---|---|"]
    for v, p in r["parity"].items():
        lines.append(f"| {v} | {p['runtime']} | {p['agreement']:.1%} | {p['max_abs_probability_difference']:.2e} |")
    lines += ["", "## Latency, one image, median (ratios against LiteRT float32 in the same run)", "",
              "| model | runtime | input | invoke | vs LiteRT f32 | per image (decode..probabilities) | vs LiteRT f32 |",
              "|---|---|---|---|---|---|---|"]
    for name, s in r["speed"].items():
        lines.append(f"| {name} | {s['runtime']} | {s['input_dtype']} | {s['invoke_p50_us']:.0f} us | "
                     f"{s['invoke_vs_litert_float32']:.2f} | {s['per_image_p50_us']:.0f} us | {s['per_image_vs_litert_float32']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
