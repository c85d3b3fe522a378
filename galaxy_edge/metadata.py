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
from galaxy_edge.fits.options import RENDERING
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
        ModelError: the sidecar is missing, unreadable, malformed (naming the field), edited
            after export, or not for this tool.
    """
    path = sidecar_path(model_path)
    if not path.exists():
        raise _missing_sidecar(model_path)
    meta = read_json(path)
    check(meta, path)
    check_sidecar_fields(meta, path)
    return meta


def load_model_metadata(model_path, model_bytes):
    """The metadata of the model whose file holds `model_bytes`: its sidecar, hash checked, or,
    when the sidecar is missing, the copy embedded in the model.

    Returns:
        (metadata dict, warning or None): a warning says the sidecar was missing.

    Raises:
        ModelError: the sidecar is unusable or not for these bytes; or there is no sidecar and no
            readable embedded metadata.
    """
    if sidecar_path(model_path).exists():
        meta = read_sidecar(model_path)
        check_model_hash(meta, model_bytes, model_path, sidecar_path(model_path))
        return meta, None
    try:
        meta = read_embedded(model_path, model_bytes)
    except ModelError:
        # An older export, or not ours: the error names the file that is missing.
        raise _missing_sidecar(model_path) from None
    return meta, (
        f"{sidecar_path(model_path)}: metadata file missing; using the metadata embedded in "
        f"{Path(model_path).name} (its hash cannot be checked without the sidecar)"
    )


def read_embedded(model_path, model_bytes):
    """The galaxy-edge metadata embedded in an exported `.tflite` file (the zip appended to it).

    Args:
        model_path: the file, for error messages.
        model_bytes: its content; only the zip's directory at the end and two small members are read.

    Raises:
        ModelError: the file has no embedded galaxy-edge metadata, or it is unusable.
    """
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(model_bytes)) as zf:
            meta = json.loads(zf.read(EMBEDDED_RECIPE).decode("utf-8"))
            labels = zf.read(EMBEDDED_LABELS).decode("utf-8").splitlines()
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError, json.JSONDecodeError) as e:
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
    from galaxy_edge.regular_files import describe_os_error, open_regular

    try:
        with open_regular(path) as f:
            return json.loads(f.read().decode("utf-8"))
    except OSError as e:
        raise ModelError(f"{path}: {describe_os_error(e)}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{path}: not readable model metadata ({e})") from None


def check(meta, path):
    """Raise ModelError, naming the field, unless `meta` is metadata this version understands.

    The fields every galaxy-edge model has (a sidecar or a run folder's metadata.json):
    format, format_version, class_names and input (height, width, channels, preprocessing).
    """
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{path}: not galaxy-edge model metadata (no \"format\": \"{FORMAT}\")")
    version = _field(meta, "format_version", path, int, "an integer")
    if version > FORMAT_VERSION:
        raise ModelError(f"{path}: metadata format {version} is newer than this galaxy-edge understands")
    names = meta.get("class_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise ModelError(f"{path}: metadata has no list of class names (field \"class_names\")")
    if len(set(names)) != len(names):
        raise ModelError(f"{path}: field \"class_names\" names a class twice: {names}")
    spec = _field(meta, "input", path, dict, "an object")
    for key in ("height", "width"):
        if not _positive_int(spec.get(key)):
            _bad(path, f"input.{key}", "a positive integer", spec.get(key, _MISSING))
    if spec.get("channels", 3) != 3:
        _bad(path, "input.channels", "3", spec["channels"])
    if spec.get("preprocessing") != PREPROCESSING:
        raise ModelError(
            f"{path}: model expects preprocessing {spec.get('preprocessing')!r}, "
            f"this galaxy-edge does {PREPROCESSING!r}"
        )
    rendering = meta["input"].get("fits_rendering")
    if rendering is not None and rendering != RENDERING:
        raise ModelError(
            f"{path}: model expects FITS rendered with {rendering}, this galaxy-edge renders with {RENDERING}"
        )


def check_run_fields(meta, path):
    """The further fields a run folder's metadata.json needs for `export` and `train --init`."""
    check(meta, path)
    _field(meta, "arch", path, str, "a string")
    _field(meta, "versions", path, dict, "an object")


def check_sidecar_fields(meta, path):
    """The further fields of a `.tflite` sidecar: the model's hash and the sidecar's own checksum."""
    for key in ("model_sha256", "metadata_sha256"):
        value = meta.get(key, _MISSING)
        if not (isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)):
            _bad(path, key, "a SHA-256 in hex (re-run `galaxy-edge export`)", value)
    if meta["metadata_sha256"] != metadata_checksum(meta):
        raise ModelError(
            f"{path}: was changed after export (its checksum no longer matches its contents, e.g. class "
            f"names reordered or edited); copy it again from the export folder, or re-run `galaxy-edge export`"
        )


def check_model_hash(meta, model_bytes, model_path, path):
    """Raise ModelError unless the model's bytes are those its sidecar `path` was written for."""
    actual = sha256_bytes(model_bytes)
    if actual != meta["model_sha256"]:
        raise ModelError(
            f"{model_path}: does not match its metadata {Path(path).name} (SHA-256 {actual[:12]}..., the metadata "
            f"was written for {meta['model_sha256'][:12]}...): the two come from different exports or the model was "
            f"changed; copy both files from one export folder"
        )


def seal(meta):
    """`meta` with its `metadata_sha256`: a checksum of everything else in it, so an edit is noticed."""
    meta = {k: v for k, v in meta.items() if k != "metadata_sha256"}
    meta["metadata_sha256"] = metadata_checksum(meta)
    return meta


def metadata_checksum(meta):
    """SHA-256 of the metadata in a canonical form (sorted keys, no spaces), without `metadata_sha256`."""
    canonical = json.dumps({k: v for k, v in meta.items() if k != "metadata_sha256"}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=True)
    return sha256_bytes(canonical.encode("ascii"))


_MISSING = object()


def _positive_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _field(meta, key, path, kind, expected):
    value = meta.get(key, _MISSING)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        _bad(path, key, expected, value)
    return value


def _bad(path, field, expected, value):
    got = "missing" if value is _MISSING else f"got {json.dumps(value)[:60]}"
    raise ModelError(f"{path}: field \"{field}\" must be {expected} ({got})")


def sha256_bytes(data):
    return _sha256(data).hexdigest()


def sha256_file(path):
    h = _sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sha256(data=b""):
    # hashlib loads OpenSSL: ~4 MB more peak RSS on every device cold start, a tenth of it. CPython's
    # own SHA-256, which hashlib itself falls back to, gives the same digest without it.
    try:
        from _sha2 import sha256  # Python 3.12+
    except ImportError:
        try:
            from _sha256 import sha256  # Python 3.9-3.11
        except ImportError:
            from hashlib import sha256
    return sha256(data)
