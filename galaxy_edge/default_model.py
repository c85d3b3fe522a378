"""The model that ships inside the package, so a device classifies with no training machine at all.

`galaxy_edge/models/` holds the default int8 model and its float32 twin (each with its sidecar),
and the Keras model they were converted from (`default_run/`, for `train --init default`).
`benchmarks/build_default_model.py` rebuilds all of them; `galaxy_edge/models/README.md` says how
they were made and what to expect of them.
"""

from pathlib import Path

from galaxy_edge.errors import ModelError

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_RUN = MODELS_DIR / "default_run"
# The name `train --init` takes for the shipped model (device commands use it when `--model` is left out).
DEFAULT_NAME = "default"


def default_model_path(variant="int8"):
    """The shipped `.tflite` model of one variant ("int8" or "float32").

    Raises:
        ModelError: this installation carries no default model (a source tree without the built files).
    """
    path = MODELS_DIR / f"default_{variant}.tflite"
    if not path.is_file():
        raise ModelError(
            f"{path}: no default model in this installation; pass --model, or rebuild it with "
            "`python benchmarks/build_default_model.py`"
        )
    return path


def resolve_run(path):
    """`train --init default` means the shipped Keras model; any other value is a run folder."""
    return DEFAULT_RUN if str(path) == DEFAULT_NAME else Path(path)
