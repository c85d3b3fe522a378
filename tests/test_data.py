"""Loaders and preprocessing on files made in the test: npz, image folders, odd image modes."""

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import HAS_TF, needs_tf
from galaxy_edge.cli import cli
from galaxy_edge.data import load_dataset
from galaxy_edge.errors import DataError, ImageError
from galaxy_edge.preprocess import load_image

pytestmark = pytest.mark.device


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_npz_with_one_hot_labels_loads_as_indices(tmp_path):
    data = np.random.default_rng(0).integers(0, 255, (6, 128, 128, 3), dtype=np.uint8)
    onehot = np.eye(4)[[0, 1, 2, 3, 0, 1]]
    ds = load_dataset(_npz(tmp_path / "g.npz", data=data, labels=onehot))
    assert ds.images.shape == (6, 128, 128, 3) and ds.images.dtype == np.uint8
    assert ds.labels.tolist() == [0, 1, 2, 3, 0, 1]


def test_npz_with_integer_labels_and_other_size_is_resized(tmp_path):
    data = np.zeros((3, 64, 80, 3), dtype=np.uint8)
    ds = load_dataset(_npz(tmp_path / "g.npz", data=data, labels=np.array([3, 2, 1])))
    assert ds.images.shape == (3, 128, 128, 3)
    assert ds.labels.tolist() == [3, 2, 1]


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"images": np.zeros((2, 8, 8, 3), np.uint8), "labels": np.eye(4)[:2]},
         "missing array(s) data; expected 'data' and 'labels', found images, labels"),
        ({"data": np.zeros((2, 8, 8, 3), np.uint8), "labels": np.eye(4)[:3]}, "2 images but 3 labels"),
        ({"data": np.zeros((2, 8, 8), np.uint8), "labels": np.eye(4)[:2]}, "'data' must have shape (N, H, W, 3)"),
        ({"data": np.zeros((2, 8, 8, 3), np.float32), "labels": np.eye(4)[:2]}, "'data' must be uint8"),
        ({"data": np.zeros((2, 8, 8, 3), np.uint8), "labels": np.eye(5)[:2]}, "'labels' must have 4 columns"),
        ({"data": np.zeros((2, 8, 8, 3), np.uint8), "labels": np.array([0, 7])}, "integer 'labels' must lie in 0..3"),
    ],
)
def test_malformed_npz_is_refused_with_the_reason(tmp_path, arrays, message):
    path = _npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError) as e:
        load_dataset(path)
    assert str(e.value) == f"{path}: {message}" or str(e.value).startswith(f"{path}: {message}")


def test_npz_is_never_unpickled(tmp_path):
    path = _npz(tmp_path / "p.npz", data=np.array([{"a": 1}], dtype=object), labels=np.array([0]))
    with pytest.raises(DataError, match="object arrays, which are refused"):
        load_dataset(path)


def test_not_an_npz_file(tmp_path):
    path = tmp_path / "fake.npz"
    path.write_text("hello")
    with pytest.raises(DataError, match="not a readable .npz file"):
        load_dataset(path)


def _write(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def test_image_folder_any_mode_and_size(tmp_path):
    _write(tmp_path / "normal" / "a.png", Image.new("RGB", (300, 200), (200, 150, 100)))
    _write(tmp_path / "ringed" / "b.png", Image.new("RGBA", (64, 64), (10, 20, 30, 0)))
    _write(tmp_path / "merger" / "c.jpg", Image.new("L", (500, 500), 128))
    _write(tmp_path / "irregular" / "d.png", Image.fromarray(np.full((40, 60), 65535, np.uint16)))
    ds = load_dataset(tmp_path)
    assert ds.images.shape == (4, 128, 128, 3)
    assert ds.labels.tolist() == [3, 2, 0, 1]  # class folders in name order
    assert tuple(ds.images[2, 64, 64]) == (200, 150, 100)
    assert ds.images[3].max() == 0  # fully transparent pixels are black sky
    assert ds.images[0].min() == 255  # 16-bit full scale stays full scale


def test_image_folder_skips_hidden_files_and_partial_downloads(tmp_path, capsys):
    # macOS leaves "._name.png" resource forks beside copied files; they are not images.
    _write(tmp_path / "normal" / "a.png", Image.new("RGB", (128, 128)))
    (tmp_path / "normal" / "._a.png").write_bytes(b"\x00\x05\x16\x07 Mac OS X resource fork")
    (tmp_path / "normal" / "b.png.part").write_bytes(b"\x89PNG half of a download")
    _write(tmp_path / "normal" / ".thumbnails" / "c.png", Image.new("RGB", (16, 16)))
    ds = load_dataset(tmp_path)
    assert ds.paths == [str(tmp_path / "normal" / "a.png")]
    assert ds.skipped == []
    assert capsys.readouterr().err == ""


def test_centre_crop_keeps_the_middle(tmp_path):
    a = np.zeros((100, 300, 3), np.uint8)
    a[:, 100:200] = 255  # only the central square is white
    path = _write(tmp_path / "wide.png", Image.fromarray(a))
    assert load_image(path).min() > 200


def test_corrupt_image_in_a_folder_is_skipped_with_a_warning(tmp_path, capsys):
    _write(tmp_path / "normal" / "good.png", Image.new("RGB", (128, 128)))
    (tmp_path / "normal" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    ds = load_dataset(tmp_path)
    assert len(ds) == 1
    assert ds.skipped == [(str(tmp_path / "normal" / "broken.png"), "corrupt or truncated image (Truncated File Read)")]
    assert "Warning: skipping" in capsys.readouterr().err


def test_truncated_jpeg_names_the_file(tmp_path):
    path = _write(tmp_path / "t.jpg", Image.new("RGB", (256, 256), (50, 60, 70)))
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ImageError) as e:
        load_image(path)
    assert str(e.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    "layout, message",
    [
        ({}, "no class folders; expected sub-folders named normal, ringed, merger, irregular"),
        ({"spiral/a.png": True}, "unknown class folder(s) spiral; expected normal, ringed, merger, irregular"),
    ],
)
def test_bad_folder_layout(tmp_path, layout, message):
    for rel in layout:
        _write(tmp_path / rel, Image.new("RGB", (8, 8)))
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path)
    assert str(e.value) == f"{tmp_path}: {message}"


def test_empty_class_folder(tmp_path):
    (tmp_path / "normal").mkdir()
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path)
    assert str(e.value) == f"{tmp_path / 'normal'}: class folder holds no images (looked for .png, .jpg, .jpeg, .tif, .tiff and FITS (.fits, .fit, .fts, also compressed: .gz, .bz2, .fz))"


@needs_tf
def test_train_on_missing_path_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(cli, ["train", "--data", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {tmp_path / 'nope.npz'}: no such file or folder"
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(HAS_TF, reason="only meaningful on the device install, without the [train] extra")
def test_train_without_the_extra_names_the_install_command(tmp_path):
    result = CliRunner().invoke(cli, ["train", "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert result.output.startswith("Error: this command needs the training extra (")
    assert result.output.strip().endswith("is not installed): pip install 'galaxy-edge[train]'")


@pytest.mark.parametrize("name, fmt", [("sky.npz", "auto"), ("sky", "png"), ("sky", "jpg")])
def test_synth_command_writes_loadable_data(tmp_path, name, fmt):
    out = tmp_path / name
    result = CliRunner().invoke(cli, ["synth", "--out", str(out), "--count", "8", "--seed", "4", "--format", fmt])
    assert result.exit_code == 0, result.output
    ds = load_dataset(out)
    assert ds.images.shape == (8, 128, 128, 3)
    assert sorted(ds.labels.tolist()) == [0, 0, 1, 1, 2, 2, 3, 3]


def test_synth_refuses_to_overwrite(tmp_path):
    out = tmp_path / "sky.npz"
    out.write_bytes(b"keep me")
    result = CliRunner().invoke(cli, ["synth", "--out", str(out), "--count", "4"])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {out}: already exists; choose another --out or pass --overwrite"
    assert out.read_bytes() == b"keep me"


def test_synth_with_an_unusable_out_fails_before_drawing(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"keep me")
    result = CliRunner().invoke(cli, ["synth", "--out", str(blocker / "sky.npz"), "--count", "200"])
    assert result.exit_code == 1
    # One line naming the path the file system refused, and no "n/200 drawn" progress before it.
    assert result.output.startswith(f"Error: {blocker}: ") and len(result.output.strip().splitlines()) == 1
    assert blocker.read_bytes() == b"keep me"
