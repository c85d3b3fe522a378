"""Measure a model on this machine, in the vocabulary of TFLite's `benchmark_model`.

Two timings matter on a device: `invoke()` alone (what benchmark_model reports) and the whole
per-image path a user waits for (decode, crop/resize, quantize, invoke, dequantize). On a
Raspberry Pi the second is usually several times the first.
"""

import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from galaxy_edge.errors import DataError, ImageError


def peak_rss_mb():
    """Peak resident memory of this process so far, in MB (ru_maxrss is KB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def summarize_us(seconds):
    """mean/std/min/max/p50/p90/p99 of a list of durations, in microseconds."""
    a = np.asarray(seconds, dtype=np.float64) * 1e6
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {
        "count": int(a.size),
        "mean_us": round(float(a.mean()), 1),
        "std_us": round(float(a.std()), 1),
        "min_us": round(float(a.min()), 1),
        "max_us": round(float(a.max()), 1),
        "p50_us": round(float(p50), 1),
        "p90_us": round(float(p90), 1),
        "p99_us": round(float(p99), 1),
    }


def synthetic_images(folder, count=8, size=424, seed=0):
    """Write `count` PNG galaxies (soft elliptical blobs on noisy sky) so decoding is real work.

    424x424 is the Galaxy Zoo cut-out size, so decode and resize cost what they cost on real data.
    Not the synthetic sky: drawing it at this size would raise the peak RSS this benchmark reports.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    paths = []
    for i in range(count):
        cx, cy = size / 2 + rng.normal(0, size / 20, 2)
        a, b, theta = size / rng.uniform(6, 12), size / rng.uniform(10, 20), rng.uniform(0, np.pi)
        dx, dy = xx - cx, yy - cy
        u = dx * np.cos(theta) + dy * np.sin(theta)
        v = -dx * np.sin(theta) + dy * np.cos(theta)
        blob = np.exp(-((u / a) ** 2 + (v / b) ** 2))
        colour = rng.uniform(0.6, 1.0, 3)
        img = blob[..., None] * colour * 230 + rng.normal(8, 4, (size, size, 3))
        path = Path(folder) / f"galaxy_{i:04d}.png"
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB").save(path)
        paths.append(path)
    return paths


def benchmark_model(model_path, image_paths, runs=100, warmup=10, num_threads=1):
    """Time one model on this machine.

    Args:
        model_path: a `.tflite` (LiteRT) or `.onnx` (onnxruntime) file with its metadata.
        image_paths: image files cycled through for the per-image path (decode included).
        runs: steady-state iterations, for invoke alone and for the per-image path each.
        warmup: iterations run (and reported as an average) before the steady state.
        num_threads: interpreter threads.

    Returns:
        A JSON-ready dict: init, first inference, warm-up, steady state of invoke and of the
        per-image path, peak RSS, model size, threads, runtime and machine.

    Raises:
        ModelError, RuntimeMissingError: as `Classifier`; DataError: no readable image.
    """
    from galaxy_edge.preprocess import load_image
    from galaxy_edge.runtime.classifier import open_model

    t0 = time.perf_counter()
    clf = open_model(model_path, num_threads=num_threads)
    init = time.perf_counter() - t0

    images, skipped = [], []
    for p in image_paths:
        if len(images) == runs:
            break  # the steady state cycles through at most `runs` images: check no more
        try:
            load_image(p, clf.input_size)
            images.append(p)
        except ImageError as e:
            skipped.append({"path": str(p), "error": e.reason})
    if not images:
        first = f" (first: {skipped[0]['path']}: {skipped[0]['error']})" if skipped else ""
        raise DataError(f"none of the benchmark images could be read{first}")

    run_once = clf.bind(clf.quantize(load_image(images[0], clf.input_size)))

    t0 = time.perf_counter()
    run_once()
    first = time.perf_counter() - t0

    warm = _time_invokes(run_once, warmup)
    invoke = _time_invokes(run_once, runs)

    decode, whole = [], []
    for i in range(runs):
        path = images[i % len(images)]
        t0 = time.perf_counter()
        image = load_image(path, clf.input_size)
        t1 = time.perf_counter()
        clf.probabilities(image)
        t2 = time.perf_counter()
        decode.append(t1 - t0)
        whole.append(t2 - t0)

    return {
        "model": str(model_path),
        "model_size_bytes": os.path.getsize(model_path),
        "input_dtype": str(clf.input_dtype),
        "num_threads": num_threads,
        "runtime": clf.runtime_name,
        "runtime_version": clf.runtime_version,
        "init_ms": round(init * 1e3, 2),
        "first_inference_us": round(first * 1e6, 1),
        "warmup": {"count": warmup, "mean_us": round(float(np.mean(warm)) * 1e6, 1) if warm else None},
        "invoke": summarize_us(invoke),
        "decode_preprocess": summarize_us(decode),
        "per_image": summarize_us(whole),
        "images_per_second": round(1.0 / float(np.mean(whole)), 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "skipped": skipped,
    }


def _time_invokes(run_once, n):
    """Seconds of each of `n` back-to-back runs of the model on the input already bound."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        run_once()
        times.append(time.perf_counter() - t0)
    return times


def machine():
    """What the numbers were measured on."""
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pillow": __import__("PIL").__version__,
    }


def run_benchmarks(model_paths, images_dir=None, runs=100, warmup=10, num_threads=1, count=8):
    """Benchmark each model on the same images: a folder of real ones, or generated PNGs.

    Raises:
        DataError: `images_dir` is missing or holds no image.
    """
    from galaxy_edge.image_files import SUFFIXES_TEXT, find_images

    if images_dir is not None:
        if not Path(images_dir).is_dir():
            raise DataError(f"{images_dir}: no such folder")
        unreadable = []
        paths = find_images(images_dir, unreadable)
        if not paths:
            why = f"; {unreadable[0][0]}: {unreadable[0][1]}" if unreadable else ""
            raise DataError(f"{images_dir}: holds no images (looked for {SUFFIXES_TEXT}){why}")
        report = _report(model_paths, paths, str(images_dir), runs, warmup, num_threads)
        report["unreadable_folders"] = [{"path": p, "error": reason} for p, reason in unreadable]
        return report
    with tempfile.TemporaryDirectory(prefix="galaxy-edge-bench-") as tmp:
        paths = synthetic_images(tmp, count)
        return _report(model_paths, paths, f"{count} generated 424x424 PNGs", runs, warmup, num_threads)


def _report(model_paths, paths, source, runs, warmup, num_threads):
    from galaxy_edge.runtime.interpreter import interpreter_class

    # Import the runtime once, outside any model's init time (benchmark_model's init is model load only).
    t0 = time.perf_counter()
    interpreter_class()
    import_ms = round((time.perf_counter() - t0) * 1e3, 1)
    report = {"images": source, "runs": runs, "runtime_import_ms": import_ms, "machine": machine()}
    if any(Path(m).suffix.lower() == ".onnx" for m in model_paths):
        t0 = time.perf_counter()
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            pass  # the ONNX model's own load says what to install
        report["onnxruntime_import_ms"] = round((time.perf_counter() - t0) * 1e3, 1)
    report["models"] = [benchmark_model(m, paths, runs, warmup, num_threads) for m in model_paths]
    report["unreadable_folders"] = []
    return report


def format_report(report):
    """A readable table of `run_benchmarks` output; models side by side."""
    models = report["models"]
    col = max(14, *(len(Path(m["model"]).name) + 2 for m in models))
    rows = [("", lambda m: Path(m["model"]).name)]
    rows += [
        ("model size", lambda m: f"{m['model_size_bytes'] / 1024:.1f} KB"),
        ("input dtype", lambda m: m["input_dtype"]),
        ("runtime", lambda m: f"{m['runtime']} {m['runtime_version']}"),
        ("threads", lambda m: str(m["num_threads"])),
        ("init", lambda m: f"{m['init_ms']:.1f} ms"),
        ("first inference", lambda m: _us(m["first_inference_us"])),
        (f"warm-up avg ({models[0]['warmup']['count']})", lambda m: _us(m["warmup"]["mean_us"])),
    ]
    for key, title in (("invoke", "invoke"), ("decode_preprocess", "decode+resize"), ("per_image", "per image")):
        for stat in ("mean", "std", "min", "p50", "p90", "p99", "max"):
            rows.append((f"{title} {stat}", lambda m, k=key, s=stat: _us(m[k][f"{s}_us"])))
    rows += [
        ("images/s (whole path)", lambda m: f"{m['images_per_second']:.0f}"),
        ("peak RSS (process)", lambda m: f"{m['peak_rss_mb']:.0f} MB"),
    ]
    mach = report["machine"]
    lines = [
        f"machine: {mach['platform']} ({mach['cpu_count']} CPUs), Python {mach['python']}",
        f"images: {report['images']}; {report['runs']} steady-state runs; "
        f"runtime import {report['runtime_import_ms']:.0f} ms",
        "",
    ]
    for label, fn in rows:
        lines.append(f"{label:<24}" + "".join(f"{fn(m):>{col}}" for m in models))
    # Say what was not measured and why: an image that could not be read, a folder not searched.
    skipped = {s["path"]: s["error"] for m in models for s in m["skipped"]}
    skipped.update({f["path"]: f["error"] for f in report["unreadable_folders"]})
    if skipped:
        lines += ["", f"skipped {len(skipped)}:"] + [f"  {p}: {reason}" for p, reason in sorted(skipped.items())]
    return "\n".join(lines)


def _us(x):
    if x is None:
        return "-"
    return f"{x / 1000:.2f} ms" if x >= 1000 else f"{x:.0f} us"
