"""Find a LiteRT interpreter: ai-edge-litert first, tflite-runtime on older devices. Never TensorFlow."""

from galaxy_edge.errors import RuntimeMissingError

INSTALL_HINT = "pip install ai-edge-litert  (or, on Python <= 3.11 with numpy < 2: pip install tflite-runtime)"


def interpreter_class():
    """Return (Interpreter class, runtime name, runtime version).

    Raises:
        RuntimeMissingError: neither ai-edge-litert nor tflite-runtime is installed.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai-edge-litert", _version("ai-edge-litert", "ai_edge_litert")
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter, "tflite-runtime", _version("tflite-runtime", "tflite_runtime")
    except ModuleNotFoundError:
        pass
    except Exception as e:  # noqa: BLE001 - a binary built for another numpy fails in many ways
        raise tflite_runtime_broken(e) from None
    raise RuntimeMissingError(f"no LiteRT interpreter is installed; install one with: {INSTALL_HINT}")


def tflite_runtime_broken(error):
    """The error for a tflite-runtime that is installed but cannot run: almost always numpy 2 under a numpy-1 build."""
    import numpy as np

    return RuntimeMissingError(
        f"tflite-runtime is installed but cannot run ({type(error).__name__}: {error}); its wheels are built "
        f"for numpy < 2 and this is numpy {np.__version__}: pip install 'numpy<2', or pip install ai-edge-litert"
    )


def _version(dist, module):
    import sys

    # The module's own __version__ first: importlib.metadata alone adds 30-80 ms to start-up.
    found = getattr(sys.modules.get(module), "__version__", None)
    if isinstance(found, str):
        return found
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"
