"""What travels with a model: class names, input spec, quantization and provenance.

A `.tflite` file carries its metadata in a sidecar JSON of the same stem
(`model_int8.tflite` + `model_int8.json`); a training run keeps `metadata.json` beside `model.keras`.
Copying the export folder to a device is enough to run the model. An exported model also embeds
TFLite Model Metadata for other clients (`galaxy_edge.embed_metadata`), with its labels and this
recipe as files of a zip appended to the model: a model whose sidecar was lost still runs.
"""

import json
import platform
from pathlib import Path

from galaxy_edge import CLASS_NAMES, __version__
from galaxy_edge.errors import ModelError
from galaxy_edge.preprocess import INPUT_SIZE, PREPROCESSING

FORMAT = "galaxy-edge-model"
FORMAT_VERSION = 1
# Files of the zip appended to an exported `.tflite` (TFLite Model Metadata's associated files).
EMBEDDED_LABELS = "labels.txt"
EMBEDDED_RECIPE = "galaxy_edge.json"


def base_metadata(arch, class_names=CLASS_NAMES, input_size=INPUT_SIZE):
    """The fields every model of this project carries, whatever its format."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class_names": list(class_names),
        "input": {
            "height": input_size,
            "width": input_size,
            "channels": 3,
            "color_order": "RGB",
            "preprocessing": PREPROCESSING,
            # The model rescales to [0, 1] itself: it takes raw 0-255 pixels.
            "pixel_range": [0, 255],
        },
        "arch": arch,
        "versions": {"galaxy_edge": __version__, "python": platform.python_version()},
    }


def sidecar_path(model_path):
    """`export/model_int8.tflite` -> `export/model_int8.json`."""
    return Path(model_path).with_suffix(".json")


def read_sidecar(model_path):
    """Read and check the metadata that travels with a `.tflite` model.

    Raises:
        ModelError: the sidecar is missing, unreadable or not for this tool.
    """
    path = sidecar_path(model_path)
    if not path.exists():
        raise _missing_sidecar(model_path)
    meta = read_json(path)
    check(meta, path)
    return meta


def load_model_metadata(model_path):
    """The model's metadata: its sidecar, or, when that is missing, the copy embedded in the model.

    Returns:
        (metadata dict, warning or None): a warning says the sidecar was missing.

    Raises:
        ModelError: no sidecar and no readable embedded metadata, or either is not for this tool.
    """
    if sidecar_path(model_path).exists():
        return read_sidecar(model_path), None
    try:
        meta = read_embedded(model_path)
    except ModelError:
        # An older export, or not ours: the error names the file that is missing.
        raise _missing_sidecar(model_path) from None
    return meta, (
        f"{sidecar_path(model_path)}: metadata file missing; using the metadata embedded in "
        f"{Path(model_path).name} (its hash cannot be checked without the sidecar)"
    )


def read_embedded(model_path):
    """The galaxy-edge metadata embedded in an exported `.tflite` file (the zip appended to it).

    Reads only the zip's directory at the end of the file and two small members.

    Raises:
        ModelError: the file has no embedded galaxy-edge metadata, or it is unusable.
    """
    import zipfile

    try:
        with zipfile.ZipFile(model_path) as zf:
            meta = json.loads(zf.read(EMBEDDED_RECIPE).decode("utf-8"))
            labels = zf.read(EMBEDDED_LABELS).decode("utf-8").splitlines()
    except (OSError, zipfile.BadZipFile, KeyError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{model_path}: no readable embedded metadata ({e})") from None
    check(meta, model_path)
    if labels != meta["class_names"]:
        raise ModelError(f"{model_path}: embedded {EMBEDDED_LABELS} {labels} disagrees with {EMBEDDED_RECIPE}")
    return meta


def _missing_sidecar(model_path):
    return ModelError(
        f"{sidecar_path(model_path)}: metadata file missing; it must sit beside {Path(model_path).name} "
        f"(copy the whole export folder, or re-run `galaxy-edge export`)"
    )


def read_json(path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{path}: not readable model metadata ({e})") from None


def check(meta, path):
    """Raise ModelError unless `meta` is metadata this version understands."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{path}: not galaxy-edge model metadata (no \"format\": \"{FORMAT}\")")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError(f"{path}: metadata format {meta['format_version']} is newer than this galaxy-edge understands")
    names = meta.get("class_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ModelError(f"{path}: metadata has no list of class names")
    if meta.get("input", {}).get("preprocessing") != PREPROCESSING:
        raise ModelError(
            f"{path}: model expects preprocessing {meta.get('input', {}).get('preprocessing')!r}, "
            f"this galaxy-edge does {PREPROCESSING!r}"
        )


def sha256_file(path):
    # Imported here: hashlib loads OpenSSL (~4 MB), which the device's classify never needs.
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
