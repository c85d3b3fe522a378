"""Shared fixtures: tiny real artifacts, made once per test session.

With TensorFlow installed, a small model is trained on synthetic galaxies and exported for real.
In the TensorFlow-free device venv, the same models come from GALAXY_EDGE_TEST_MODELS
(built by `make test-device`); tests that need them skip when neither is available.
"""

import importlib.util
import os
from pathlib import Path

import pytest

HAS_TF = importlib.util.find_spec("tensorflow") is not None
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

needs_tf = pytest.mark.skipif(not HAS_TF, reason="needs the [train] extra (TensorFlow)")


@pytest.fixture(scope="session")
def built_models(tmp_path_factory):
    """A trained run and its int8 and float32 exports, built with TensorFlow."""
    if not HAS_TF:
        pytest.skip("needs TensorFlow to build models")
    from make_device_models import build

    return build(tmp_path_factory.mktemp("export"), tmp_path_factory.mktemp("work"))


@pytest.fixture(scope="session")
def device_models(request):
    """{"int8": Path, "float32": Path, "onnx": Path}: real exported models, each with its .json sidecar."""
    given = os.environ.get("GALAXY_EDGE_TEST_MODELS")
    if given:
        folder = Path(given)
        return {"int8": folder / "model_int8.tflite", "float32": folder / "model_float32.tflite", "onnx": folder / "model.onnx"}
    built = request.getfixturevalue("built_models")
    return {"int8": built["int8"], "float32": built["float32"], "onnx": built["onnx"]}


@pytest.fixture(scope="session")
def shared_data():
    """The real galaxy images in ../shared/data, or a clean skip when they are not there."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def unprivileged():
    """A `preexec_fn` under which file permissions bind (chmod 000 really denies), or a clean skip.

    Tests run as root here, and root reads everything. Running as `nobody` is no way out: the
    interpreter lives under /root. So a root child drops the two capabilities that bypass file
    permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) from its bounding set before exec.
    """
    if os.geteuid() != 0:
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop, caps = 24, (1, 2)

    def drop():
        for cap in caps:
            if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")

    import subprocess
    import sys
    import tempfile

    with tempfile.NamedTemporaryFile() as f:
        os.chmod(f.name, 0)
        try:
            probe = subprocess.run([sys.executable, "-c", f"open({f.name!r})"], preexec_fn=drop, capture_output=True)
        except (OSError, subprocess.SubprocessError):
            probe = None
    if probe is None or probe.returncode == 0:
        pytest.skip("cannot drop root's file-permission override here (no CAP_SETPCAP?)")
    return drop
