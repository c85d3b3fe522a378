"""Score a model on labelled data: the `.tflite` through LiteRT, or a Keras run where TensorFlow is installed."""

from pathlib import Path

import numpy as np

from galaxy_edge import CLASS_NAMES
from galaxy_edge.errors import ModelError
from galaxy_edge.metrics import classification_report


def is_keras_model(path):
    """A run folder or a `.keras` file: evaluated with Keras (and so TensorFlow), not LiteRT."""
    path = Path(path)
    return path.suffix == ".keras" or path.is_dir()


def predict_tflite(model_path, images, num_threads=1):
    """(N, C) probabilities of a `.tflite` model (or `.onnx`, with onnxruntime) and its class names.

    Raises:
        ModelError, RuntimeMissingError: as `Classifier`.
    """
    from galaxy_edge.runtime.classifier import open_model

    clf = open_model(model_path, num_threads=num_threads)
    return clf.probabilities_batch(images), clf.class_names, {"runtime": clf.runtime_name, "version": clf.runtime_version}


def predict_keras(run_path, images, batch_size=64):
    """(N, C) probabilities of a Keras run folder or `.keras` file. Imports TensorFlow."""
    from galaxy_edge.train.loop import load_run_model

    model, meta = load_run_model(run_path)
    probs = np.concatenate(
        [np.asarray(model(images[i : i + batch_size], training=False)) for i in range(0, len(images), batch_size)]
    )
    import keras

    return probs, list(meta.get("class_names", CLASS_NAMES)), {"runtime": "keras", "version": keras.__version__}


def evaluate(model_path, dataset, num_threads=1):
    """Accuracy, macro AUC, per-class precision/recall and the confusion matrix of a model on `dataset`.

    Args:
        model_path: a `.tflite` file, or a Keras run folder / `.keras` file.
        dataset: a `galaxy_edge.data.Dataset`.
        num_threads: interpreter threads for a `.tflite` model.

    Returns:
        The `galaxy_edge.metrics.classification_report` dict, plus `model`, `data`, `runtime`,
        `skipped` (unreadable files of an image folder) and `seconds`.

    Raises:
        ModelError: the model is missing or unusable, or its classes are not the data's classes.
    """
    import time

    model_path = Path(model_path)
    if not model_path.exists():
        raise ModelError(f"{model_path}: no such model file")
    start = time.perf_counter()
    if is_keras_model(model_path):
        probs, names, runtime = predict_keras(model_path, dataset.images)
    else:
        probs, names, runtime = predict_tflite(model_path, dataset.images, num_threads)
    seconds = time.perf_counter() - start
    if list(names) != list(CLASS_NAMES):
        raise ModelError(
            f"{model_path}: model classes {', '.join(names)} are not the data's classes {', '.join(CLASS_NAMES)}"
        )
    report = classification_report(dataset.labels, probs, names)
    report.update(
        model=str(model_path),
        data=dataset.source,
        runtime=runtime,
        skipped=[{"path": p, "error": reason} for p, reason in dataset.skipped],
        seconds=round(seconds, 3),
    )
    return report


def format_report(report):
    """A plain-text table of an `evaluate` report."""
    names = report["class_names"]
    lines = [
        f"model     {report['model']}  ({report['runtime']['runtime']} {report['runtime']['version']})",
        f"data      {report['data']}  ({report['n']} images" + (f", {len(report['skipped'])} skipped)" if report["skipped"] else ")"),
        f"accuracy  {_num(report['accuracy'])}",
        f"AUC       {_num(report['auc'])}  (macro one-vs-rest)",
        "",
        f"{'class':<10} {'precision':>9} {'recall':>7} {'AUC':>7} {'support':>8}",
    ]
    for name in names:
        c = report["per_class"][name]
        lines.append(f"{name:<10} {_num(c['precision']):>9} {_num(c['recall']):>7} {_num(c['auc']):>7} {c['support']:>8}")
    width = max(6, *(len(n) for n in names))
    lines += ["", "confusion matrix (rows: true, columns: predicted)", " " * 11 + " ".join(f"{n:>{width}}" for n in names)]
    for name, row in zip(names, report["confusion_matrix"]):
        lines.append(f"{name:<10} " + " ".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)


def _num(x):
    return "-" if x is None else f"{x:.3f}"
