"""The exporter: real int8 conversion, parity with Keras through the device runtime, the gate, errors."""

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import needs_tf
from galaxy_edge.cli import cli

pytestmark = needs_tf


def test_int8_model_is_integer_inside_and_takes_raw_uint8_pixels(built_models):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(built_models["int8"]))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    assert (inp["dtype"], inp["quantization"]) == (np.uint8, (1.0, 0))
    assert (out["dtype"], out["quantization"]) == (np.uint8, (1 / 256, 0))
    # Weights and activations int8, biases int32; uint8 only at the two ends.
    dtypes = {np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}
    assert dtypes == {"int8", "int32", "uint8"}
    uint8 = [t["name"] for t in interpreter.get_tensor_details() if t["dtype"] == np.uint8]
    assert sorted(uint8) == sorted([inp["name"], out["name"]])


@pytest.mark.parametrize("variant", ["int8", "float32"])
def test_exported_model_embeds_tflite_metadata(built_models, variant):
    import zipfile

    from galaxy_edge import CLASS_NAMES
    from galaxy_edge.vendor import metadata_schema_py_generated as md
    from tensorflow.lite.tools import flatbuffer_utils

    path = built_models[variant]
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(path.read_bytes()))
    [entry] = [m for m in model.metadata if m.name == b"TFLITE_METADATA"]
    data = bytes(model.buffers[entry.buffer].data)
    assert md.ModelMetadata.ModelMetadataBufferHasIdentifier(data, 0)
    meta = md.ModelMetadataT.InitFromObj(md.ModelMetadata.GetRootAs(data, 0))
    assert meta.name == f"galaxy-edge galaxy morphology classifier ({variant})".encode()
    assert (meta.author, meta.license, meta.minParserVersion) == (b"galaxy-edge", b"MIT", b"1.0.0")
    assert meta.version.startswith(b"galaxy-edge ") and meta.description
    [image], [scores] = meta.subgraphMetadata[0].inputTensorMetadata, meta.subgraphMetadata[0].outputTensorMetadata
    assert image.content.contentProperties.colorSpace == md.ColorSpaceType.RGB
    [norm] = image.processUnits
    assert (list(norm.options.mean), list(norm.options.std)) == ([0.0], [1.0])
    [labels] = scores.associatedFiles
    assert (labels.name, labels.type) == (b"labels.txt", md.AssociatedFileType.TENSOR_AXIS_LABELS)
    with zipfile.ZipFile(path) as zf:
        assert zf.read("labels.txt").decode().split() == list(CLASS_NAMES)
        recipe = json.loads(zf.read("galaxy_edge.json"))
        assert all(info.compress_type == zipfile.ZIP_STORED for info in zf.infolist())
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert recipe["input"] == sidecar["input"] and recipe["variant"] == variant
    # The sidecar's hash is of the final file, metadata included.
    from galaxy_edge.metadata import sha256_file

    assert sidecar["model_sha256"] == sha256_file(path)


@pytest.mark.parametrize("cap", [3.0, None])
def test_export_copy_computes_what_the_trained_model_did(cap):
    # A capped model is rebuilt with ReLU6 and rescaled weights; an uncapped one is copied as is.
    import keras

    from galaxy_edge import CLASS_NAMES
    from galaxy_edge.export import _fixed_batch_copy
    from galaxy_edge.train.models import build_model

    model = build_model("edge", cap=cap, seed=1)
    rng = np.random.default_rng(0)
    for i in range(1, 9):
        # Batch-norm parameters and statistics as after training, so activations do reach the cap.
        bn = model.get_layer(f"bn{i}")
        shape = bn.get_weights()[0].shape
        bn.set_weights([rng.uniform(1, 3, shape), rng.normal(0.5, 0.5, shape), rng.normal(0, 0.5, shape),
                        rng.uniform(0.5, 2, shape)])
    images = rng.integers(0, 256, (4, 128, 128, 3)).astype(np.float32)
    fixed = _fixed_batch_copy(model, {"arch": "edge", "class_names": list(CLASS_NAMES)}, 128)

    assert fixed.get_layer("relu1").max_value == (6.0 if cap else None)
    if cap:
        probe = keras.Model(model.input, model.get_layer("relu3").output)
        assert probe.predict(images, verbose=0).max() == pytest.approx(cap)
    expected = model.predict(images, verbose=0)
    got = np.concatenate([fixed.predict(image[None], verbose=0) for image in images])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_int8_conv_weights_are_the_keras_weights_exactly(built_models):
    # Training rounds each conv kernel onto the converter's int8 grid, so conversion adds no
    # weight error: the int8 codes in the file are the Keras kernel divided by its channel scale.
    import keras
    from ai_edge_litert.interpreter import Interpreter

    model = keras.saving.load_model(built_models["run"] / "model.keras")
    interpreter = Interpreter(model_path=str(built_models["int8"]))
    filters = {}  # (out channels, in channels) -> int8 filter (out, 3, 3, in); unique in the edge CNN
    for t in interpreter.get_tensor_details():
        if len(t["shape"]) == 4 and list(t["shape"][1:3]) == [3, 3] and t["dtype"] == np.int8:
            filters[(t["shape"][0], t["shape"][3])] = interpreter.get_tensor(t["index"])
    assert len(filters) == 8
    for i in range(1, 9):
        kernel = model.get_layer(f"conv{i}").get_weights()[0]  # (3, 3, in, out)
        codes = kernel / (np.abs(kernel).max(axis=(0, 1, 2)) / 127)
        np.testing.assert_allclose(codes, np.round(codes), atol=1e-3)
        in_file = filters[(kernel.shape[3], kernel.shape[2])].transpose(1, 2, 3, 0)
        np.testing.assert_array_equal(in_file, np.round(codes).astype(np.int8))


def test_int8_export_agrees_with_keras_and_reports_it(built_models):
    folder = built_models["int8"].parent
    report = json.loads((folder / "parity_report.json").read_text())
    # Agreement only means something if the Keras model tells the classes apart.
    keras_predicted = np.array(report["keras"]["confusion_matrix"]).sum(axis=0)
    assert (keras_predicted > 0).sum() >= 3 and report["keras"]["auc"] >= 0.9
    int8 = report["variants"]["int8"]
    assert int8["agreement"] >= 0.9
    assert int8["max_abs_probability_difference"] < 0.2
    assert int8["xnnpack_partitions"] == 1
    assert "SHAPE" not in int8["ops"] and "CONV_2D" in int8["ops"]
    assert int8["size_vs_float32"] <= 0.40
    assert report["variants"]["float32"]["agreement"] == 1.0
    side = json.loads((folder / "model_int8.json").read_text())
    assert side["quantization"]["input"] == {"dtype": "uint8", "scale": 1.0, "zero_point": 0}
    assert side["source_model_sha256"] == report["source_model_sha256"]
    assert "Gate: top-1 agreement >= 0%: PASS" in (folder / "parity_report.txt").read_text()


def test_widest_spread_picks_the_most_confident_images():
    from galaxy_edge.export import widest_spread

    # Logit spreads 0, 1, 4, 2, 3 (softmax is unchanged by a common shift, so offsets are arbitrary).
    logits = np.array([[0, 0, 0, 0], [1, 0, 0, 0], [5, 1, 2, 3], [2, 0, 1, 1], [0, -3, -1, -2]], float) + 7
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert widest_spread(probs, 0.4).tolist() == [2, 4]
    assert widest_spread(probs, 0.2).tolist() == [2]
    assert widest_spread(probs, 0.0).tolist() == []


def test_int8_calibration_leaves_out_the_widest_spread(built_models):
    folder = built_models["int8"].parent
    with np.load(built_models["run"] / "calibration.npz") as f:
        n_run = len(f["data"])
    side = json.loads((folder / "model_int8.json").read_text())
    assert side["calibration"]["n"] == n_run - round(0.02 * n_run) < n_run
    assert json.loads((folder / "parity_report.json").read_text())["calibration_trim"] == 0.02


def test_gate_fails_on_bad_calibration_keeps_the_report_and_the_earlier_models(built_models, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(built_models["int8"].parent, out)  # an earlier, passing export
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    # Calibrating on black frames squeezes every activation range: int8 then disagrees with Keras.
    black = tmp_path / "black.npz"
    np.savez(black, data=np.zeros((60, 128, 128, 3), np.uint8), labels=np.arange(60) % 4)
    result = CliRunner().invoke(
        cli, ["export", str(built_models["run"]), "--int8", "--calibration-data", str(black), "--out", str(out)]
    )
    assert result.exit_code == 1
    assert "Error: int8 agrees with the Keras model on" in result.output
    assert f"below --min-agreement 98%; nothing was installed in {out}; see {out / 'parity_report.failed.txt'}" in result.output
    report = json.loads((out / "parity_report.failed.json").read_text())
    assert report["passed"] is False and report["variants"]["int8"]["agreement"] < 0.98
    assert {f.name: f.read_bytes() for f in out.iterdir() if ".failed." not in f.name} == before
    assert not [f for f in out.iterdir() if f.name.startswith(".")]


@pytest.mark.parametrize("name", ["model_int8.json", "model_int8.tflite", "parity_report.txt"])
def test_export_never_replaces_a_file_it_did_not_write(built_models, tmp_path, name):
    out = tmp_path / "out"
    out.mkdir()
    (out / name).write_text("someone's notes\n")
    result = CliRunner().invoke(cli, ["export", str(built_models["run"]), "--int8", "--out", str(out)])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: {out / name}: not a file galaxy-edge export wrote; it would be replaced, so nothing was "
        "exported (move it away or choose another --out)"
    )
    assert [f.name for f in out.iterdir()] == [name] and (out / name).read_text() == "someone's notes\n"


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda m: m.pop("arch"), 'field "arch" must be a string (missing)'),
        (lambda m: m["input"].pop("height"), 'field "input.height" must be a positive integer (missing)'),
        (lambda m: m.update(class_names={"normal": 0}), 'metadata has no list of class names (field "class_names")'),
    ],
)
def test_run_metadata_with_a_bad_field_names_it(built_models, tmp_path, damage, message):
    run = tmp_path / "run"
    shutil.copytree(built_models["run"], run)
    meta = json.loads((run / "metadata.json").read_text())
    damage(meta)
    (run / "metadata.json").write_text(json.dumps(meta))
    for args in (["export", str(run), "--out", str(tmp_path / "out")], ["train", "--init", str(run), "--out", str(tmp_path / "t")]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1
        assert result.output.strip() == f"Error: {run / 'metadata.json'}: {message}"


def test_export_of_a_non_model_leaves_out_empty(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_text("not a model")
    from galaxy_edge.metadata import base_metadata

    (run / "metadata.json").write_text(json.dumps(base_metadata("edge")))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["export", str(run), "--int8", "--out", str(out)])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {run / 'model.keras'}: not a readable Keras model")
    assert not out.exists() or not any(out.iterdir())


def test_export_refuses_a_tflite_file(built_models, tmp_path):
    result = CliRunner().invoke(cli, ["export", str(built_models["int8"]), "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "already a TFLite model; export takes a training run folder" in result.output


@pytest.mark.parametrize(
    "data, message",
    [
        (np.zeros((0, 128, 128, 3), np.uint8), "contains no images"),
        (np.zeros((4, 64, 64, 3), np.uint8), "calibration images are 64x64, the model takes 128x128"),
    ],
)
def test_bad_calibration_data_is_refused(built_models, tmp_path, data, message):
    path = tmp_path / "cal.npz"
    np.savez(path, data=data, labels=np.arange(len(data)) % 4)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["export", str(built_models["run"]), "--int8", "--calibration-data", str(path), "--out", str(out)]
    )
    assert result.exit_code == 1
    assert f"Error: {path}: {message}" in result.output
    assert not any(out.iterdir()) if out.exists() else True


def test_export_with_no_runs_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["export", "--int8"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: no training run under runs/; run `galaxy-edge train` first, or name a run folder"


@pytest.mark.filterwarnings("ignore:Statistics for quantized inputs were expected")
def test_int8_input_models_of_earlier_exports_still_run(built_models, tmp_path):
    # Users have int8-input models (zero point -128) from before the uint8 input: the runtime shifts their pixels.
    import tensorflow as tf

    from galaxy_edge.export import _fixed_batch_copy, write_sidecar
    from galaxy_edge.runtime.classifier import Classifier
    from galaxy_edge.train.loop import load_run_model

    model, meta = load_run_model(built_models["run"])
    with np.load(built_models["run"] / "calibration.npz") as f:
        calibration = f["data"]
    converter = tf.lite.TFLiteConverter.from_keras_model(_fixed_batch_copy(model, meta, 128))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([im[np.newaxis].astype(np.float32)] for im in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    old = tmp_path / "model_int8.tflite"
    old.write_bytes(converter.convert())
    # Its own sidecar, as an earlier export wrote it: the hash of this file, int8 input quantization.
    sidecar = json.loads(built_models["int8"].with_suffix(".json").read_text())
    sidecar["quantization"]["input"] = {"dtype": "int8", "scale": 1.0, "zero_point": -128}
    write_sidecar(old, sidecar)

    images = calibration[:16]
    then, now = Classifier(old), Classifier(built_models["int8"])
    assert (then.input_dtype, then.input_details["quantization"]) == (np.int8, (1.0, -128))
    p_then, p_now = then.probabilities_batch(images), now.probabilities_batch(images)
    assert np.abs(p_then - p_now).max() < 0.05
    assert (p_then.argmax(1) == p_now.argmax(1)).mean() >= 0.9
