"""What travels with a model: class names, input spec, quantization and provenance.

A `.tflite` file carries its metadata in a sidecar JSON of the same stem
(`model_int8.tflite` + `model_int8.json`); a training run keeps `metadata.json` beside `model.keras`.
Copying the export folder to a device is enough to run the model.
"""

import json
import platform
from pathlib import Path

from galaxy_edge import CLASS_NAMES, __version__
from galaxy_edge.errors import ModelError
from galaxy_edge.fits.render import RENDERING
from galaxy_edge.preprocess import INPUT_SIZE, PREPROCESSING

FORMAT = "galaxy-edge-model"
FORMAT_VERSION = 1


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
            # How FITS flux becomes those pixels; a model made before FITS support has none.
            "fits_rendering": dict(RENDERING),
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
        raise ModelError(
            f"{path}: metadata file missing; it must sit beside {Path(model_path).name} "
            f"(copy the whole export folder, or re-run `galaxy-edge export`)"
        )
    meta = read_json(path)
    check(meta, path)
    return meta


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
    rendering = meta["input"].get("fits_rendering")
    if rendering is not None and rendering != RENDERING:
        raise ModelError(
            f"{path}: model expects FITS rendered with {rendering}, this galaxy-edge renders with {RENDERING}"
        )


def sha256_file(path):
    # Imported here: hashlib loads OpenSSL (~4 MB), which the device's classify never needs.
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
