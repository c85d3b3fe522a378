"""`galaxy-edge export`: convert a run to TFLite, then prove each file agrees with the Keras model.

A pipeline in three steps (the `[train]` extra):
1. convert: rebuild the model with a fixed batch of 1 (a clean graph: no dynamic-shape ops,
   one XNNPACK partition) and convert it; int8 is calibrated on images that went through
   `galaxy_edge.preprocess`, like training and the runtime; embed TFLite Model Metadata
   (labels, normalization, the galaxy-edge recipe) so other TFLite clients can use the file;
2. validate: run every exported file through `galaxy_edge.runtime.Classifier`, the code the
   device runs, on the validation split, beside the Keras model;
3. report: parity_report.json and .txt next to the models, then the next command to run.
Nothing lands in `--out` unless conversion and the check ran to the end and the gate passed;
then only files galaxy-edge wrote are replaced.
"""

import contextlib
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from galaxy_edge import CLASS_NAMES, atomic
from galaxy_edge.data import class_counts, load_dataset
from galaxy_edge.embed_metadata import embed
from galaxy_edge.errors import DataError, GalaxyEdgeError, ModelError
from galaxy_edge.metadata import sha256_file
from galaxy_edge.metrics import classification_report

VARIANTS = ("int8", "float16", "dynamic", "float32")
# The ONNX export (float32, for onnxruntime, TensorRT, OpenVINO) and its sidecar, model.json.
ONNX_FILE = "model.onnx"
MIN_CALIBRATION = 50
# Ops a fixed-batch conversion must not contain: they split XNNPACK or fail at run time.
DYNAMIC_OPS = {"SHAPE", "STRIDED_SLICE", "PACK", "VAR_HANDLE", "READ_VARIABLE", "FlexDelegate"}
# The int8 logits' step is their calibrated range / 255, and a few very confident calibration
# images set that range. Real galaxies use only its middle, so two close top logits often round
# to the same int8 value: nearly every int8/float disagreement on real images is such a tie.
# Leaving the 2 % of calibration images with the widest logit spread out of the calibration makes
# the step finer; logits beyond the range then saturate, which moves only confident scores.
# Measured on eleven default models (benchmarks/results/int8_ties.md): disagreements with float32
# on 487 real galaxies 62 -> 50, i.e. 98.8 % -> 99.1 % agreement; on synthetic validation
# 99.3 % -> 99.5 %; int8 and float probabilities differ by at most 0.06 (0.02 before).
CALIBRATION_TRIM = 0.02
# A parity report that failed the gate: kept beside the models, never taken for their report.
FAILED_REPORT_JSON = "parity_report.failed.json"
FAILED_REPORT_TXT = "parity_report.failed.txt"


@dataclass
class ExportOptions:
    """What `galaxy-edge export` can be told.

    Attributes:
        variants: any of "int8", "float16", "dynamic", "float32".
        calibration_samples: images of the representative dataset for int8.
        calibration_data: an .npz or image folder to calibrate on instead of the run's training sample.
        calibration_trim: share of the calibration images, those with the widest logit spread, left out.
        validation_data: labelled data for the parity check instead of the run's validation split.
        min_agreement: the lowest top-1 agreement with Keras that passes.
        onnx: also write model.onnx (float32, through tf2onnx) and check it with onnxruntime.
    """

    variants: list = field(default_factory=lambda: ["float32"])
    calibration_samples: int = 1000
    calibration_data: Path = None
    calibration_trim: float = CALIBRATION_TRIM
    validation_data: Path = None
    min_agreement: float = 0.98
    onnx: bool = False


def latest_run(runs_dir):
    """The most recently written run folder under `runs_dir`.

    Raises:
        GalaxyEdgeError: there is none.
    """
    runs = [p.parent for p in Path(runs_dir).glob("*/model.keras")]
    if not runs:
        raise GalaxyEdgeError(f"no training run under {runs_dir}/; run `galaxy-edge train` first, or name a run folder")
    return max(runs, key=lambda p: (p / "model.keras").stat().st_mtime)


def export_run(run, out, options, log=print):
    """Convert, validate and report. Returns the parity report (a dict).

    Raises:
        ModelError: RUN is not a usable galaxy-edge model.
        DataError: calibration or validation data is unusable.
        GalaxyEdgeError: a file in `out` that export would replace is not one it wrote; or a
            variant agrees with Keras on fewer images than `min_agreement` (raised after the
            report is written as parity_report.failed.*; the models in `out` are left as they were).
    """
    from galaxy_edge.train.loop import load_run_model

    run = Path(run)
    if run.suffix == ".tflite":
        raise ModelError(f"{run}: already a TFLite model; export takes a training run folder or its model.keras")
    out = Path(out)
    check_out_is_ours(out, options.variants, options.onnx)  # before minutes of work, not after
    model, meta = load_run_model(run)
    run_dir = run.parent if run.suffix == ".keras" else run
    size = _check_model(model, meta, run)

    validation = _load_validation(options.validation_data or run_dir / "validation.npz", size)
    calibration = None
    if "int8" in options.variants:
        calibration = _load_calibration(options, run_dir, size, model, log)

    log(f"Keras model {run_dir}: predicting {len(validation)} validation images ...")
    keras_probs = model.predict(validation.images, verbose=0)
    keras_report = classification_report(validation.labels, keras_probs, CLASS_NAMES)
    fixed = _fixed_batch_copy(model, meta, size)
    source_sha = sha256_file(run_dir / "model.keras")

    out.mkdir(parents=True, exist_ok=True)
    # Everything is written into a staging folder first and moved into `out` only once the gate
    # passed: a failed export leaves the models of an earlier one, and their report, as they were.
    stage = Path(tempfile.mkdtemp(dir=out, prefix=".export-", suffix=".tmp"))
    try:
        results = {}
        for variant in _ordered(options.variants):
            log(f"Converting to {variant} ...")
            started = time.monotonic()
            tflite = convert(fixed, variant, calibration.images if variant == "int8" else None)
            seconds = time.monotonic() - started
            path = stage / f"model_{variant}.tflite"
            sidecar = _sidecar(meta, variant, source_sha, calibration if variant == "int8" else None)
            # Labels and recipe inside the file, for MediaPipe, the Task Library and a lost sidecar.
            path.write_bytes(embed(tflite, sidecar))
            # The runtime refuses a model without its sidecar, so a first one goes down before the
            # check; the final one adds what only the check reads off the model.
            write_sidecar(path, sidecar)
            results[variant] = _validate(path, validation, keras_probs, seconds, log, shown=out / path.name)
            write_sidecar(path, {**sidecar, **_sidecar_quantization(results[variant])})
        if options.onnx:
            log("Converting to ONNX (tf2onnx) ...")
            path = stage / ONNX_FILE
            started = time.monotonic()
            convert_onnx(fixed, path)
            seconds = time.monotonic() - started
            sidecar = _sidecar(meta, "onnx", source_sha, None)
            write_sidecar(path, sidecar)
            results["onnx"] = _validate_onnx(path, validation, keras_probs, seconds, log, shown=out / path.name)
        report = _report(run_dir, source_sha, keras_report, results, options, calibration, validation)
        failed = [v for v, r in results.items() if r["agreement"] < options.min_agreement]
        if failed:
            # Kept for reading, under names that cannot be taken for the report of the models in `out`.
            atomic.write_json(out / FAILED_REPORT_JSON, report)
            atomic.write_text(out / FAILED_REPORT_TXT, format_report(report))
        else:
            atomic.write_json(stage / "parity_report.json", report)
            atomic.write_text(stage / "parity_report.txt", format_report(report))
            # Each model before its sidecar: a crash in between leaves a pair whose hashes disagree,
            # which the runtime refuses, never a wrong pair that loads.
            for f in sorted(stage.iterdir(), key=lambda f: (f.suffix not in (".tflite", ".onnx"), f.name)):
                os.replace(f, out / f.name)
            for name in (FAILED_REPORT_JSON, FAILED_REPORT_TXT):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(out / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)

    log(format_report(report))
    if failed:
        worst = min(results[v]["agreement"] for v in failed)
        raise GalaxyEdgeError(
            f"{', '.join(failed)} agrees with the Keras model on {worst:.1%} of validation images, "
            f"below --min-agreement {options.min_agreement:.0%}; nothing was installed in {out}; "
            f"see {out / FAILED_REPORT_TXT}"
        )
    for variant in results:
        name = ONNX_FILE if variant == "onnx" else f"model_{variant}.tflite"
        log(f"Wrote {out / name} (+ {Path(name).stem}.json)")
    log(f"Report: {out / 'parity_report.txt'} and parity_report.json")
    device_model = "int8" if "int8" in results else next(iter(results))
    log(f"Next: galaxy-edge classify --model {out / f'model_{device_model}.tflite'} IMAGES...")
    return report


def convert(fixed_model, variant, calibration_images=None):
    """Convert a fixed-batch Keras model to TFLite bytes.

    Args:
        fixed_model: a model with batch size 1.
        variant: "int8" (full integer: int8 weights and activations, uint8 input and output),
            "float16", "dynamic" (int8 weights, float activations) or "float32".
        calibration_images: (N, H, W, 3) uint8, preprocessed; required for "int8".
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(fixed_model)
    if variant == "int8":

        def representative():
            # Raw 0-255 pixels, as in training: the model rescales itself, so the uint8 input
            # comes out as scale 1, zero point 0: the device feeds the decoded pixels as they are.
            for image in calibration_images:
                yield [image[np.newaxis].astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        # uint8 at both ends is what MediaPipe, the Task Library and Edge TPU models expect of a
        # quantized classifier (they refuse an int8 input); the graph inside stays int8.
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    elif variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant != "float32":
        raise ValueError(f"unknown variant {variant!r}")
    # The converter prints the SavedModel signature to stdout, and warns that a quantized input has
    # no statistics (it needs none: its range is the 0-255 pixel range): noise for a user.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        return converter.convert()


def convert_onnx(fixed_model, path):
    """Write a fixed-batch Keras model as float32 ONNX (Keras' exporter, which runs tf2onnx).

    Like the `.tflite` files it takes raw 0-255 pixels (NHWC, RGB) and rescales them itself.
    """
    # Keras exports only a model that has been called once; a zero image does that.
    fixed_model(np.zeros((1, *fixed_model.input_shape[1:]), np.float32))
    # tf2onnx logs each optimisation pass to stdout and warns about numpy attributes it probes.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        fixed_model.export(str(path), format="onnx", verbose=False)


def format_report(report):
    """The parity report as a table a person can read."""
    k = report["keras"]
    lines = [
        f"Parity of exported models against Keras on {k['n']} validation images ({report['validation_data']})",
        "",
        f"{'model':<10}{'size':>10}{'x f32':>7}{'agree':>8}{'accuracy':>10}{'AUC':>7}{'max |dp|':>10}  XNNPACK partitions, ops",
        f"{'keras':<10}{'':>10}{'':>7}{'':>8}{_pct(k['accuracy']):>10}{_num(k['auc']):>7}{'':>10}",
    ]
    for variant, r in report["variants"].items():
        ratio = r.get("size_vs_float32")
        lines.append(
            f"{variant:<10}{r['size_bytes'] / 1024:>8.1f}KB{_num(ratio, 2) if ratio else '':>7}"
            f"{_pct(r['agreement']):>8}{_pct(r['accuracy']):>10}{_num(r['auc']):>7}"
            f"{r['max_abs_probability_difference']:>10.3f}  {_num(r['xnnpack_partitions'], 0)}  {','.join(r['ops'])}"
        )
    lines.append("")
    lines.append(f"Gate: top-1 agreement >= {report['min_agreement']:.0%}: {'PASS' if report['passed'] else 'FAIL'}")
    return "\n".join(lines)


def _check_model(model, meta, run):
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3:
        raise ModelError(f"{run}: model input shape {shape[1:]} is not a square RGB image (H, H, 3)")
    if shape[1] != meta["input"]["height"]:
        raise ModelError(f"{run}: model takes {shape[1]}x{shape[2]} images but its metadata says {meta['input']['height']}")
    n_out = model.output_shape[-1]
    if n_out != len(meta["class_names"]) or meta["class_names"] != list(CLASS_NAMES):
        raise ModelError(
            f"{run}: model has {n_out} outputs and classes {meta['class_names']}; "
            f"galaxy-edge exports {len(CLASS_NAMES)} classes {list(CLASS_NAMES)}"
        )
    return shape[1]


def _fixed_batch_copy(model, meta, size):
    from galaxy_edge.train import models

    # A capped edge model is rebuilt with ReLU6 and rescaled to compute the same function: the
    # converter fuses ReLU6 into the convolution, where another cap would add MINIMUM ops.
    cap = models.activation_cap(model) if meta["arch"] == "edge" else None
    try:
        fixed = models.build_model(meta["arch"], n_classes=len(meta["class_names"]), size=size, batch_size=1,
                                   cap=models.EXPORT_CAP if cap else None)
        fixed.set_weights(model.get_weights())
    except ValueError as e:
        raise ModelError(f"model weights do not fit the {meta['arch']!r} architecture ({e})") from None
    if cap:
        models.rescale_caps(fixed, models.EXPORT_CAP / cap)
    return fixed


def _load_validation(path, size):
    data = load_dataset(path, resize=False)
    _check_size(data, path, size, "validation")
    return data


def _load_calibration(options, run_dir, size, model, log):
    from galaxy_edge.train.loop import stratified_sample

    path = options.calibration_data or run_dir / "calibration.npz"
    data = load_dataset(path, resize=False)
    _check_size(data, path, size, "calibration")
    if len(data) > options.calibration_samples:
        keep = stratified_sample(data.labels, options.calibration_samples, seed=0)
        data.images, data.labels = data.images[keep], data.labels[keep]
    per_class = class_counts(data.labels, len(CLASS_NAMES)).tolist()
    log(f"Calibrating int8 on {len(data)} images from {path} (per class {per_class})")
    _trim_calibration(model, data, options.calibration_trim, log)
    # The warnings judge the images left after the trim: those the converter sees.
    counts = class_counts(data.labels, len(CLASS_NAMES))
    if len(data) < MIN_CALIBRATION:
        log(f"Warning: only {len(data)} calibration images; {MIN_CALIBRATION} or more give stable int8 ranges")
    missing = [CLASS_NAMES[i] for i in np.flatnonzero(counts == 0)]
    if missing:
        log(f"Warning: calibration data has no {', '.join(missing)} images; their activations may clip")
    return data


def widest_spread(probabilities, fraction):
    """Indices of the `fraction` of images whose logits spread widest (max minus min logit).

    A softmax output gives the spread without the logits: log(p_max) - log(p_min).
    """
    n = int(round(fraction * len(probabilities)))
    log_p = np.log(np.maximum(probabilities, 1e-30))
    spread = log_p.max(axis=1) - log_p.min(axis=1)
    return np.sort(np.argsort(-spread, kind="stable")[:n])


def _trim_calibration(model, calibration, fraction, log):
    drop = widest_spread(model.predict(calibration.images, verbose=0), fraction)
    if len(drop) == 0:
        return
    keep = np.setdiff1d(np.arange(len(calibration)), drop)
    calibration.images, calibration.labels = calibration.images[keep], calibration.labels[keep]
    log(f"  left out the {len(drop)} with the widest logit spread (--calibration-trim {fraction:g}): "
        f"a finer int8 step for the logits")


def _check_size(data, path, size, what):
    if len(data) == 0:
        raise DataError(f"{path}: {what} data holds no images")
    if data.images.shape[1:3] != (size, size):
        raise DataError(f"{path}: {what} images are {data.images.shape[1]}x{data.images.shape[2]}, the model takes {size}x{size}")


def _validate(path, validation, keras_probs, seconds, log, shown):
    from galaxy_edge.runtime.classifier import Classifier

    clf = _checked_load(Classifier, path, shown)
    parity = _parity(clf, path, validation, keras_probs, seconds, log)
    # After XNNPACK is applied, each partition it took shows up as one DELEGATE node.
    op_names = [op["op_name"] for op in clf.interpreter._get_ops_details()]
    ops = sorted(set(op_names) - {"DELEGATE"})
    dynamic = sorted(DYNAMIC_OPS.intersection(ops))
    if dynamic:
        raise ModelError(f"{path.name}: conversion left dynamic-shape ops {dynamic}; the graph would not run in one XNNPACK partition")
    details = {t["name"]: str(np.dtype(t["dtype"])) for t in clf.interpreter.get_tensor_details()}
    inp, out = clf.input_details, clf.output_details
    return {
        **parity,
        "ops": ops,
        "xnnpack_partitions": op_names.count("DELEGATE"),
        "tensor_dtypes": sorted(set(details.values())),
        "input": {"dtype": str(np.dtype(inp["dtype"])), "scale": float(inp["quantization"][0]), "zero_point": int(inp["quantization"][1])},
        "output": {"dtype": str(np.dtype(out["dtype"])), "scale": float(out["quantization"][0]), "zero_point": int(out["quantization"][1])},
    }


def _validate_onnx(path, validation, keras_probs, seconds, log, shown):
    from galaxy_edge.runtime.onnx_runner import OnnxClassifier

    clf = _checked_load(OnnxClassifier, path, shown)
    ops = sorted({node.op_type for node in _onnx_graph(path).node})
    return {**_parity(clf, path, validation, keras_probs, seconds, log), "ops": ops, "xnnpack_partitions": None}


def _checked_load(runner, path, shown):
    try:
        return runner(path, num_threads=os.cpu_count() or 1)
    except ModelError as e:
        # Name the file the user will have, not the staging folder it is checked in.
        raise ModelError(str(e).replace(str(path), str(shown))) from None


def _onnx_graph(path):
    import onnx

    return onnx.load(str(path)).graph


def _parity(clf, path, validation, keras_probs, seconds, log):
    """What every exported file reports: its size and hash, and how it agrees with Keras."""
    log(f"  checking {path.name} with {clf.runtime_name} {clf.runtime_version} on {len(validation)} images ...")
    probs = clf.probabilities_batch(validation.images)
    rep = classification_report(validation.labels, probs, CLASS_NAMES)
    return {
        "size_bytes": path.stat().st_size,
        "sha256": sha256_file(path),
        "conversion_seconds": round(seconds, 2),
        "agreement": float((probs.argmax(1) == keras_probs.argmax(1)).mean()),
        "accuracy": rep["accuracy"],
        "auc": rep["auc"],
        "max_abs_probability_difference": float(np.abs(probs - keras_probs).max()),
        "mean_abs_probability_difference": float(np.abs(probs - keras_probs).mean()),
        "confusion_matrix": rep["confusion_matrix"],
        "runtime": f"{clf.runtime_name} {clf.runtime_version}",
    }


def write_sidecar(model_path, sidecar):
    """Write the sidecar of `model_path`, with the SHA-256 of the model file as it is on disk now.

    Called after every change to the model file, so the hash is always of the final bytes.
    """
    from galaxy_edge.metadata import seal, sidecar_path

    atomic.write_json(sidecar_path(model_path), seal({**sidecar, "model_sha256": sha256_file(model_path)}))


def check_out_is_ours(out, variants, onnx=False):
    """Refuse to export into `out` if a file export would replace there is not one galaxy-edge wrote.

    Raises:
        GalaxyEdgeError: naming the file and why it is not recognised.
    """
    import json

    from galaxy_edge.metadata import FORMAT
    from galaxy_edge.runtime.classifier import TFLITE_IDENTIFIER

    names = [f"model_{v}{ext}" for v in variants for ext in (".tflite", ".json")]
    names += ["parity_report.json", "parity_report.txt", FAILED_REPORT_JSON, FAILED_REPORT_TXT]
    names += [ONNX_FILE, Path(ONNX_FILE).with_suffix(".json").name] if onnx else []
    for name in names:
        path = Path(out) / name
        if not path.exists() and not path.is_symlink():
            continue
        try:
            head = path.read_bytes() if path.is_file() else None
        except OSError:
            head = None
        if head is None:
            ours = False
        elif name.endswith(".tflite"):
            ours = head[4:8] == TFLITE_IDENTIFIER
        elif name.endswith(".onnx"):
            # A protobuf ModelProto starting with its ir_version (field 1), written by tf2onnx.
            ours = head[:1] == b"\x08" and b"tf2onnx" in head[:256]
        elif name.endswith(".txt"):
            ours = head.startswith(b"Parity of exported models")
        else:
            try:
                obj = json.loads(head)
            except ValueError:
                obj = None
            ours = isinstance(obj, dict) and (obj.get("format") == FORMAT or {"keras", "variants"} <= set(obj))
        if not ours:
            raise GalaxyEdgeError(
                f"{path}: not a file galaxy-edge export wrote; it would be replaced, so nothing was exported "
                f"(move it away or choose another --out)"
            )


def _sidecar(meta, variant, source_sha, calibration):
    import tensorflow as tf

    side = {k: meta[k] for k in ("format", "format_version", "class_names", "input", "arch")}
    side["variant"] = variant
    side["source_model_sha256"] = source_sha
    side["versions"] = {**meta["versions"], "tensorflow_at_export": tf.__version__}
    if calibration is not None:
        side["calibration"] = {
            "source": calibration.source,
            "n": len(calibration),
            "per_class": class_counts(calibration.labels, len(CLASS_NAMES)).tolist(),
        }
    return side


def _sidecar_quantization(result):
    # The interpreter reads these from the model itself; they are here for people and for checks.
    return {"quantization": {"input": result["input"], "output": result["output"]}}


def _report(run_dir, source_sha, keras_report, results, options, calibration, validation):
    f32 = results.get("float32", {}).get("size_bytes")
    for r in results.values():
        if f32:
            r["size_vs_float32"] = round(r["size_bytes"] / f32, 3)
    return {
        "run": str(run_dir),
        "source_model_sha256": source_sha,
        "validation_data": validation.source,
        "calibration_data": calibration.source if calibration is not None else None,
        "calibration_trim": options.calibration_trim if calibration is not None else None,
        "min_agreement": options.min_agreement,
        "passed": all(r["agreement"] >= options.min_agreement for r in results.values()),
        "keras": keras_report,
        "variants": results,
    }


def _ordered(variants):
    # float32 first, so every other variant can be sized against it.
    return sorted(set(variants), key=lambda v: (v != "float32", VARIANTS.index(v)))


def _pct(x):
    return "n/a" if x is None else f"{x:.1%}"


def _num(x, digits=3):
    return "n/a" if x is None else f"{x:.{digits}f}"
