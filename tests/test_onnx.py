"""The ONNX export: its parity report through onnxruntime, and running it beside LiteRT."""

import importlib.util
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from galaxy_edge.cli import cli

HAS_ONNXRUNTIME = importlib.util.find_spec("onnxruntime") is not None
needs_onnxruntime = pytest.mark.skipif(not HAS_ONNXRUNTIME, reason="needs onnxruntime (the [onnx] extra)")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    from make_device_models import toy_galaxies

    folder = tmp_path_factory.mktemp("onnx-images")
    for i, image in enumerate(toy_galaxies(8, seed=31)[0]):
        Image.fromarray(image).save(folder / f"g{i}.png")
    return folder


@needs_onnxruntime
def test_onnx_export_agrees_with_keras_through_onnxruntime(built_models):
    folder = built_models["onnx"].parent
    report = json.loads((folder / "parity_report.json").read_text())
    onnx = report["variants"]["onnx"]
    assert onnx["runtime"].startswith("onnxruntime ")
    # float32 in both: the same function up to float rounding.
    assert onnx["agreement"] == 1.0 and onnx["max_abs_probability_difference"] < 1e-4
    assert "Conv" in onnx["ops"] and onnx["xnnpack_partitions"] is None
    side = json.loads((folder / "model.json").read_text())
    assert side["variant"] == "onnx" and side["model_sha256"] == onnx["sha256"]
    assert "onnx " in (folder / "parity_report.txt").read_text()


@needs_onnxruntime
def test_onnx_model_classifies_like_the_float32_tflite(device_models, images):
    def probabilities(model):
        out = run("classify", "--json", "--model", model, images)
        assert out.exit_code == 0, out.output
        return np.array([list(json.loads(line)["probabilities"].values()) for line in out.stdout.splitlines()])

    np.testing.assert_allclose(probabilities(device_models["onnx"]), probabilities(device_models["float32"]), atol=1e-4)


@needs_onnxruntime
def test_benchmark_compares_onnxruntime_beside_litert(device_models, images):
    result = run("benchmark", "--model", device_models["float32"], "--compare", device_models["onnx"],
                 "--runs", "5", "--warmup", "1", "--images", images, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    litert, onnx = report["models"]
    assert litert["runtime"] in ("ai-edge-litert", "tflite-runtime") and onnx["runtime"] == "onnxruntime"
    assert onnx["input_dtype"] == "float32" and onnx["invoke"]["count"] == 5 and onnx["invoke"]["p50_us"] > 0
    assert report["onnxruntime_import_ms"] >= 0


@pytest.mark.device
@pytest.mark.skipif(HAS_ONNXRUNTIME, reason="onnxruntime is installed here")
def test_onnx_model_without_onnxruntime_says_what_to_install(device_models, images):
    result = run("classify", "--model", device_models["onnx"], images)
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: {device_models['onnx']}: running an ONNX model needs onnxruntime: "
        "pip install 'galaxy-edge[onnx]'  (onnxruntime)"
    )
