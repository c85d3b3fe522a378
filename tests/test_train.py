"""The trainer: models, a short real training run, every command's --help, error texts."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import needs_tf
from galaxy_edge.cli import cli

COMMANDS = ["synth", "train", "export", "visualize", "classify", "evaluate", "benchmark", "watch"]


@pytest.mark.device
@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_command_has_help(command):
    args = [command, "--help"] if command else ["--help"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output and "--help" in result.output


def test_train_help_states_the_defaults_train_uses():
    # The help texts are literals (importing the trainer would slow every device command's
    # start), so this keeps them from going stale when a default in loop.DEFAULTS changes.
    from galaxy_edge.train.loop import DEFAULTS

    help_text = " ".join(CliRunner().invoke(cli, ["train", "--help"]).output.split())

    def shown(arch, key):
        value = DEFAULTS[arch][key]
        return value if isinstance(value, str) else f"{value:g}"  # 0.0 shows as 0, as the help writes it

    for key in ("batch_size", "schedule", "label_smoothing"):
        assert f"Default: {shown('edge', key)} (edge), {shown('seed', key)} (seed)." in help_text, key
    epochs = DEFAULTS["edge"]["epochs"]
    assert DEFAULTS["seed"]["epochs"] == epochs and f"Default: {epochs} (both architectures)." in help_text


@needs_tf
def test_seed_model_is_the_codecademy_cnn():
    from galaxy_edge.train.models import build_model, count_macs

    model = build_model("seed")
    assert model.count_params() == 7164
    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer", "Rescaling", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense",
    ]
    assert model.input_shape == (None, 128, 128, 3) and model.output_shape == (None, 4)
    assert count_macs(model) < 1_100_000


@needs_tf
def test_edge_model_stays_edge_sized():
    from galaxy_edge.train.models import build_model, count_macs

    model = build_model("edge")
    assert 20_000 < model.count_params() <= 100_000
    assert count_macs(model) <= 20_000_000


@needs_tf
def test_short_training_run_writes_every_artifact(built_models):
    run = built_models["run"]
    for name in ["model.keras", "metadata.json", "history.json", "metrics.json", "training_curves.png",
                 "confusion_matrix.png", "validation.npz", "calibration.npz"]:
        assert (run / name).is_file(), name
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["class_names"] == ["normal", "ringed", "merger", "irregular"]
    assert meta["input"]["height"] == 128 and meta["arch"] == "edge"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_val"] == 32 and metrics["n_train"] == 128
    assert np.array(metrics["confusion_matrix"]).sum() == 32
    assert set(metrics["per_class"]) == set(meta["class_names"])
    history = json.loads((run / "history.json").read_text())
    assert len(history["loss"]) == meta["training"]["epochs"] == 8 and "val_auc" in history
    assert (run / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_tf
def test_train_refuses_to_overwrite_a_run(built_models):
    run = built_models["run"]
    before = (run / "model.keras").stat().st_mtime
    result = CliRunner().invoke(cli, ["train", "--data", str(built_models["data"]), "--out", str(run), "--epochs", "1"])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {run}: already exists; choose another --out or pass --overwrite"
    assert (run / "model.keras").stat().st_mtime == before


@needs_tf
def test_train_with_a_missing_init_run_fails_before_drawing_the_data(tmp_path):
    missing = tmp_path / "no-such-run"
    result = CliRunner().invoke(cli, ["train", "--init", str(missing), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    # Only the error: no "Drawing ..." or "Data: ..." line, so the 5,000 default images were not drawn first.
    assert result.output.strip() == (
        f"Error: {missing / 'model.keras'}: no such model; expected a run folder written by `galaxy-edge train`"
    )
    assert not (tmp_path / "run").exists()


@needs_tf
def test_train_with_an_unusable_out_fails_before_training(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(cli, ["train", "--synth-count", "40", "--epochs", "1", "--out", str(blocker / "run")])
    assert result.exit_code == 1
    # One line naming the path the file system refused; no image drawn, no training lost.
    assert result.output.startswith(f"Error: {blocker}: ") and len(result.output.strip().splitlines()) == 1


@needs_tf
def test_train_with_too_few_images_says_so(tmp_path):
    data = tmp_path / "tiny.npz"
    np.savez(data, data=np.zeros((3, 128, 128, 3), np.uint8), labels=np.array([0, 1, 2]))
    result = CliRunner().invoke(cli, ["train", "--data", str(data), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "too few images to split (3, per class [1, 1, 1, 0])" in result.output
    assert not (tmp_path / "run").exists()


@needs_tf
def test_train_with_real_normals_adds_them_and_their_pairs_to_the_training_split(tmp_path):
    from PIL import Image

    from galaxy_edge.data.synth import generate

    real = tmp_path / "real" / "spiral"
    real.mkdir(parents=True)
    for i, g in enumerate(generate(12, seed=3, classes=[0])[0]):
        Image.fromarray(g).save(real / f"{i}.png")
    run = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "--synth-count", "40", "--epochs", "1", "--real-normals",
                                      str(tmp_path / "real"), "--real-count", "4", "--out", str(run)])
    assert result.exit_code == 0, result.output
    assert "4 real-pixel pairs of others as merger" in result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_train"] == 32 + 8 and metrics["n_val"] == 8  # validation stays synthetic
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["training"]["real_normals"] == str(tmp_path / "real") and meta["training"]["real_count"] == 4
    assert "4 real normals and 4 real pairs" in meta["data"]


@needs_tf
def test_train_with_a_missing_real_normals_folder_fails_before_drawing_the_data(tmp_path):
    missing = tmp_path / "nope"
    result = CliRunner().invoke(cli, ["train", "--real-normals", str(missing), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {missing}: --real-normals takes a folder of real galaxy images"


@needs_tf
def test_fine_tuning_reports_the_gain(built_models, tmp_path):
    result = CliRunner().invoke(
        cli,
        ["train", "--data", str(built_models["data"]), "--init", str(built_models["run"]), "--epochs", "1",
         "--out", str(tmp_path / "tuned")],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "tuned" / "metrics.json").read_text())
    assert "accuracy" in metrics["before_fine_tuning"] and metrics["n_val"] == 32


@needs_tf
def test_visualize_writes_a_feature_map_grid(built_models, tmp_path):
    from PIL import Image

    image = tmp_path / "g.png"
    Image.fromarray(np.load(built_models["data"])["data"][0]).save(image)
    out = tmp_path / "maps.png"
    result = CliRunner().invoke(cli, ["visualize", str(image), "--run", str(built_models["run"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    with Image.open(out) as im:
        assert im.width > 300 and im.height > 300
