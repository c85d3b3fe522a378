"""A model's integrity at load: its hash, its sidecar's checksum, and every field named when malformed."""

import json
import shutil

import pytest
from click.testing import CliRunner

from galaxy_edge.cli import cli
from galaxy_edge.metadata import seal

pytestmark = pytest.mark.device


@pytest.fixture
def model_copy(device_models, tmp_path):
    """A private copy of the int8 model and its sidecar, free to damage."""
    src = device_models["int8"]
    for f in (src, src.with_suffix(".json")):
        shutil.copy(f, tmp_path / f.name)
    return tmp_path / src.name


@pytest.fixture
def image(tmp_path_factory):
    from PIL import Image

    path = tmp_path_factory.mktemp("img") / "g.png"
    Image.new("RGB", (64, 64), (30, 20, 10)).save(path)
    return path


def classify(model, image):
    result = CliRunner().invoke(cli, ["classify", "--model", str(model), str(image)])
    assert "Traceback" not in result.output
    return result


def sidecar(model):
    return json.loads(model.with_suffix(".json").read_text())


def write_sidecar(model, meta):
    model.with_suffix(".json").write_text(json.dumps(meta))


def test_a_sidecar_from_another_export_is_refused(model_copy, device_models, image):
    shutil.copy(device_models["float32"].with_suffix(".json"), model_copy.with_suffix(".json"))
    result = classify(model_copy, image)
    assert result.exit_code == 1
    assert f"Error: {model_copy}: does not match its metadata model_int8.json (SHA-256 " in result.output
    assert "copy both files from one export folder" in result.output


def test_a_changed_model_file_is_refused(model_copy, image):
    data = bytearray(model_copy.read_bytes())
    data[-10] ^= 0xFF
    model_copy.write_bytes(bytes(data))
    assert "does not match its metadata" in classify(model_copy, image).output


def test_reordered_class_names_are_refused(model_copy, image):
    meta = sidecar(model_copy)
    meta["class_names"] = meta["class_names"][::-1]
    write_sidecar(model_copy, meta)
    result = classify(model_copy, image)
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {model_copy.with_suffix('.json')}: was changed after export")


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda m: m.update(input="128x128"), 'field "input" must be an object (got "128x128")'),
        (lambda m: m["input"].pop("height"), 'field "input.height" must be a positive integer (missing)'),
        (lambda m: m["input"].update(width=-3), 'field "input.width" must be a positive integer (got -3)'),
        (lambda m: m.update(format_version="1"), 'field "format_version" must be an integer (got "1")'),
        (lambda m: m.update(class_names="normal,ringed"), 'metadata has no list of class names (field "class_names")'),
        (lambda m: m.update(class_names=["a", "a", "b", "c"]), 'field "class_names" names a class twice'),
        (lambda m: m.pop("model_sha256"), 'field "model_sha256" must be a SHA-256 in hex (re-run `galaxy-edge export`) (missing)'),
    ],
)
def test_a_malformed_sidecar_field_is_named(model_copy, image, damage, message):
    meta = sidecar(model_copy)
    damage(meta)
    write_sidecar(model_copy, seal(meta))  # resealed: the field check itself must catch it
    result = classify(model_copy, image)
    assert result.exit_code == 1
    assert result.output.strip().startswith(f"Error: {model_copy.with_suffix('.json')}: {message}")
