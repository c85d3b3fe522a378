"""The model shipped inside the package: its files belong together, and the device uses it by default."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import needs_tf
from galaxy_edge import CLASS_NAMES
from galaxy_edge.cli import cli
from galaxy_edge.default_model import DEFAULT_RUN, MODELS_DIR, default_model_path
from galaxy_edge.metadata import sha256_file

VARIANTS = ("int8", "float32")


@pytest.mark.device
@pytest.mark.parametrize("variant", VARIANTS)
def test_shipped_models_chain_to_the_shipped_keras_model(variant):
    model = default_model_path(variant)
    side = json.loads(model.with_suffix(".json").read_text())
    assert side["model_sha256"] == sha256_file(model)
    assert side["source_model_sha256"] == sha256_file(DEFAULT_RUN / "model.keras")
    assert side["class_names"] == list(CLASS_NAMES)


@pytest.mark.device
def test_classify_without_model_uses_the_shipped_int8_model(tmp_path):
    from galaxy_edge.data.synth import generate

    images, labels = generate(4, seed=3)
    for i, im in enumerate(images):
        Image.fromarray(im).save(tmp_path / f"{i}.png")
    result = CliRunner().invoke(cli, ["classify", "--json", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert len(records) == 4 and all(r["label"] in CLASS_NAMES for r in records)
    explicit = CliRunner().invoke(cli, ["classify", "--json", "--model", str(default_model_path("int8")), str(tmp_path)])
    assert explicit.output == result.output


@needs_tf
def test_shipped_keras_model_answers_like_the_shipped_float32_model():
    from galaxy_edge.data.synth import generate
    from galaxy_edge.runtime.classifier import Classifier
    from galaxy_edge.train.loop import load_run_model

    images, _ = generate(16, seed=5)
    model, meta = load_run_model(DEFAULT_RUN)
    keras_p = model.predict(images.astype(np.float32), verbose=0)
    tflite_p = Classifier(default_model_path("float32")).probabilities_batch(images)
    assert meta["class_names"] == list(CLASS_NAMES)
    np.testing.assert_allclose(tflite_p, keras_p, atol=1e-4)
    assert MODELS_DIR.joinpath("README.md").is_file()
