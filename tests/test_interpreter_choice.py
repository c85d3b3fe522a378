"""Which LiteRT interpreter the device uses: ai-edge-litert, else tflite-runtime, else a clear error."""

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.device

# Runs before galaxy_edge is imported: hides the named top-level packages, as on a device without them.
BLOCK = textwrap.dedent(
    """
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {blocked!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
    sys.meta_path.insert(0, Block())
    """
)


def _run(blocked, code):
    script = BLOCK.format(blocked=set(blocked)) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)


def test_no_interpreter_names_the_install_command(device_models, tmp_path):
    image = tmp_path / "g.png"
    from PIL import Image

    Image.new("RGB", (64, 64)).save(image)
    code = f"""
    from galaxy_edge.cli import main
    sys.argv = ["galaxy-edge", "classify", "--model", {str(device_models["int8"])!r}, {str(image)!r}]
    main()
    """
    result = _run({"ai_edge_litert", "tflite_runtime"}, code)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: no LiteRT interpreter is installed; install one with: pip install ai-edge-litert  "
        "(or, on Python <= 3.11 with numpy < 2: pip install tflite-runtime)"
    )


def test_tflite_runtime_is_the_fallback(device_models, tmp_path):
    # A stand-in `tflite_runtime` package whose Interpreter is the real LiteRT class, loaded first;
    # then ai_edge_litert is hidden and dropped from sys.modules, as on a device without it.
    pkg = tmp_path / "tflite_runtime"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "interpreter.py").write_text("from _real_litert import Interpreter\n")
    (tmp_path / "_real_litert.py").write_text("from ai_edge_litert.interpreter import Interpreter\n")
    preload = f"""
    import sys
    sys.path.insert(0, {str(tmp_path)!r})
    import _real_litert
    for name in [m for m in sys.modules if m.split(".")[0] == "ai_edge_litert"]:
        del sys.modules[name]
    """
    code = f"""
    import numpy as np
    from galaxy_edge.runtime.classifier import Classifier
    clf = Classifier({str(device_models["int8"])!r})
    p = clf.probabilities(np.zeros((128, 128, 3), np.uint8))
    print(clf.runtime_name, round(float(p.sum()), 1))
    """
    script = textwrap.dedent(preload) + BLOCK.format(blocked={"ai_edge_litert"}) + textwrap.dedent(code)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["tflite-runtime", "1.0"]


@pytest.mark.parametrize("where", ["import", "construction"])
def test_a_tflite_runtime_built_for_numpy_1_is_one_line(device_models, tmp_path, where):
    # tflite-runtime 2.14 wheels are built against numpy 1; under numpy 2 their C extension fails
    # with `_ARRAY_API not found`, on import or when the interpreter is made. A stand-in that fails so.
    pkg = tmp_path / "tflite_runtime"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    fail = "raise AttributeError('_ARRAY_API not found')"
    (pkg / "interpreter.py").write_text(
        fail + "\n" if where == "import" else f"class Interpreter:\n    def __init__(self, **kwargs):\n        {fail}\n"
    )
    code = f"""
    sys.path.insert(0, {str(tmp_path)!r})
    from galaxy_edge.cli import main
    sys.argv = ["galaxy-edge", "classify", "--model", {str(device_models["int8"])!r}, {str(tmp_path / "g.png")!r}]
    main()
    """
    result = _run({"ai_edge_litert"}, code)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: tflite-runtime is installed but cannot run (AttributeError: _ARRAY_API not found); ")
    assert line.endswith("pip install 'numpy<2', or pip install ai-edge-litert")
