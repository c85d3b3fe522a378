"""The device commands: classify, evaluate, benchmark, watch. Real .tflite models, no TensorFlow needed."""

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import HAS_TF
from galaxy_edge import CLASS_NAMES
from galaxy_edge.cli import cli

pytestmark = pytest.mark.device

BAD_FILES = {
    "empty.png": "empty file (0 bytes)",
    "notes.jpg": "not a readable image (unknown format, empty or corrupt)",
    "bomb.png": "image is too large (over 64,000,000 pixels)",
    "half.png": "corrupt or truncated image (image file is truncated)",
}


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def png_bomb(path, side=20000):
    """A valid PNG header claiming side x side pixels, and no pixel data."""

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))


def write_bad_files(folder, good_png):
    folder = Path(folder)
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.jpg").write_text("observing log, not an image\n")
    png_bomb(folder / "bomb.png")
    data = Path(good_png).read_bytes()
    (folder / "half.png").write_bytes(data[: len(data) // 2])


@pytest.fixture(scope="session")
def galaxy_images():
    from galaxy_edge.data.synth import generate

    return generate(24, seed=11)


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory, galaxy_images):
    """Six good galaxies in PNG, JPEG and TIFF, one in a sub-folder, in 200x160 (not model size)."""
    images, _ = galaxy_images
    folder = tmp_path_factory.mktemp("images")
    (folder / "night2").mkdir()
    names = ["a.png", "b.jpg", "c.jpeg", "d.tif", "e.tiff", "night2/f.png"]
    for name, im in zip(names, images):
        Image.fromarray(im).resize((200, 160)).save(folder / name)
    return folder


@pytest.fixture(scope="session")
def labelled_npz(tmp_path_factory, galaxy_images):
    from galaxy_edge.data.npz import save_npz

    path = tmp_path_factory.mktemp("npz") / "val.npz"
    save_npz(path, *galaxy_images)
    return path


@pytest.fixture
def int8(device_models):
    return device_models["int8"]


# --- help and errors every command shares ---------------------------------------------------


@pytest.mark.parametrize("command", ["classify", "evaluate", "benchmark", "watch"])
def test_every_device_command_has_help(command):
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Usage: cli " + command in result.output or f"Usage: galaxy-edge {command}" in result.output


def test_classify_help_documents_exit_status():
    assert "3 some images could not be read" in run("classify", "--help").output


@pytest.mark.parametrize(
    "command",
    [
        ["classify", "{img}"],
        ["evaluate", "--data", "{npz}"],
        ["benchmark", "--runs", "1", "--warmup", "0"],
        ["watch", "{dir}", "--out", "{tmp}/r.jsonl", "--once"],
    ],
)
def test_missing_model_is_a_clear_error(command, tmp_path, image_dir, labelled_npz):
    fill = {"img": image_dir / "a.png", "npz": labelled_npz, "dir": image_dir, "tmp": tmp_path}
    args = [a.format(**fill) for a in command]
    result = run(*args, "--model", tmp_path / "nope.tflite")
    assert result.exit_code == 1
    assert result.output.strip().endswith(f"Error: {tmp_path / 'nope.tflite'}: no such model file")
    assert "Traceback" not in result.output


def test_text_file_named_tflite_is_refused(tmp_path, int8, image_dir):
    fake = tmp_path / "model.tflite"
    fake.write_text("this is not a model\n")
    shutil.copy(int8.with_suffix(".json"), tmp_path / "model.json")
    result = run("classify", "--model", fake, image_dir / "a.png")
    assert result.exit_code == 1
    assert f"Error: {fake}: not a loadable TFLite model (" in result.output


def test_model_without_its_sidecar_runs_on_its_embedded_metadata_with_a_warning(tmp_path, int8, image_dir):
    lonely = tmp_path / "model_int8.tflite"
    shutil.copy(int8, lonely)
    result = run("classify", "--model", lonely, "--json", image_dir / "a.png")
    assert result.exit_code == 0
    assert (
        f"Warning: {tmp_path / 'model_int8.json'}: metadata file missing; using the metadata embedded in "
        "model_int8.tflite (its hash cannot be checked without the sidecar)"
    ) in result.stderr
    expected = json_lines(run("classify", "--model", int8, "--json", image_dir / "a.png").stdout)
    assert json_lines(result.stdout) == expected


def test_model_without_sidecar_or_embedded_metadata_is_refused(tmp_path, int8, image_dir):
    import zipfile

    # The model as the converter wrote it: everything before the appended zip of labels and recipe.
    with zipfile.ZipFile(int8) as zf:
        start = min(info.header_offset for info in zf.infolist())
    lonely = tmp_path / "model_int8.tflite"
    lonely.write_bytes(int8.read_bytes()[:start])
    result = run("classify", "--model", lonely, image_dir / "a.png")
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: {tmp_path / 'model_int8.json'}: metadata file missing; it must sit beside model_int8.tflite "
        "(copy the whole export folder, or re-run `galaxy-edge export`)"
    )


# --- classify ---------------------------------------------------------------------------------


def test_classify_folder_json_gives_every_class_in_input_order(int8, image_dir):
    result = run("classify", "--model", int8, "--json", "--top-k", "2", image_dir)
    assert result.exit_code == 0, result.output
    records = json_lines(result.stdout)
    assert [Path(r["path"]).relative_to(image_dir).as_posix() for r in records] == [
        "a.png", "b.jpg", "c.jpeg", "d.tif", "e.tiff", "night2/f.png",
    ]
    for r in records:
        assert set(r["probabilities"]) == set(CLASS_NAMES)
        assert abs(sum(r["probabilities"].values()) - 1) < 0.02
        assert r["label"] == max(r["probabilities"], key=r["probabilities"].get)
        assert r["score"] == r["probabilities"][r["label"]]
        assert len(r["top_k"]) == 2 and r["top_k"][0]["label"] == r["label"]


def test_classify_matches_the_classifier_directly(int8, image_dir):
    from galaxy_edge.preprocess import load_image
    from galaxy_edge.runtime.classifier import Classifier

    clf = Classifier(int8)
    expected = clf.probabilities(load_image(image_dir / "b.jpg"))
    [record] = json_lines(run("classify", "--model", int8, "--json", image_dir / "b.jpg").stdout)
    assert [record["probabilities"][n] for n in CLASS_NAMES] == pytest.approx(expected.tolist(), abs=1e-6)


def test_classify_threads_do_not_change_results_or_order(int8, image_dir, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    sources = ["a.png", "b.jpg", "d.tif"]
    for i in range(30):
        source = image_dir / sources[i % 3]
        shutil.copy(source, folder / f"{i:03d}{source.suffix}")
    write_bad_files(folder, image_dir / "a.png")  # per-file errors in the middle of the threads' chunks
    serial = run("classify", "--model", int8, "--json", "--decode-threads", "1", folder).stdout
    threaded = run("classify", "--model", int8, "--json", "--decode-threads", "3", folder).stdout
    assert serial == threaded
    assert len(json_lines(serial)) == 34
    assert sum("error" in r for r in json_lines(serial)) == 4


def test_classify_threads_each_load_the_model_once_and_keep_it(int8, image_dir):
    from galaxy_edge.preprocess import load_image
    from galaxy_edge.runtime.batch import classify_items
    from galaxy_edge.runtime.classifier import Classifier

    clf = Classifier(int8)
    path = str(image_dir / "a.png")
    expected = clf.probabilities(load_image(path)).tolist()
    for _ in range(3):  # three batches, as a cluster worker runs them
        results = list(classify_items(clf, [(path, None)] * 40, workers=2))
        assert [r.probabilities.tolist() for r in results] == [expected] * 40
    # Each thread ran an interpreter of its own (a LiteRT interpreter must not be shared), made
    # once and kept for the next batch: at most one per thread, none of them the caller's.
    assert 1 <= len(clf._spares) <= 2
    assert len({id(s.interpreter) for s in clf._spares} | {id(clf.interpreter)}) == len(clf._spares) + 1


def test_classify_table_is_the_default(int8, image_dir):
    result = run("classify", "--model", int8, "--top-k", "3", image_dir / "a.png")
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["image", "label", "score", "top2", "top3"]
    assert lines[1].startswith(str(image_dir / "a.png"))
    assert lines[1].split()[1] in CLASS_NAMES


def test_classify_reads_paths_from_stdin(int8, image_dir):
    paths = f"{image_dir / 'a.png'}\n\n{image_dir / 'd.tif'}\n"
    result = run("classify", "--model", int8, "--json", "-", input=paths)
    assert result.exit_code == 0
    assert [r["path"] for r in json_lines(result.stdout)] == [str(image_dir / "a.png"), str(image_dir / "d.tif")]


def test_classify_goes_on_past_bad_files_and_exits_3(int8, image_dir, tmp_path):
    shutil.copy(image_dir / "a.png", tmp_path / "a.png")
    write_bad_files(tmp_path, image_dir / "a.png")
    result = run("classify", "--model", int8, "--json", tmp_path, tmp_path / "missing.png")
    assert result.exit_code == 3
    records = {Path(r["path"]).name: r for r in json_lines(result.stdout)}
    assert "label" in records["a.png"]
    for name, reason in BAD_FILES.items():
        assert records[name] == {"path": str(tmp_path / name), "error": reason}
    assert records["missing.png"]["error"] == "no such file or folder"
    assert "5 of 6 image(s) could not be classified" in result.stderr


def test_classify_skips_hidden_and_partial_files_in_folders(int8, image_dir, tmp_path):
    for name in ("ok.png", ".hidden.png", "landing.png.part", "landing.png.tmp"):
        shutil.copy(image_dir / "a.png", tmp_path / name)
    records = json_lines(run("classify", "--model", int8, "--json", tmp_path).stdout)
    assert [Path(r["path"]).name for r in records] == ["ok.png"]


def test_classify_with_no_images_is_an_error(int8, tmp_path):
    result = run("classify", "--model", int8, tmp_path)
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: no images found in {tmp_path} (looked for .png, .jpg, .jpeg, .tif, .tiff and FITS (.fits, .fit, .fts, also compressed: .gz, .bz2, .fz))"
    )


def test_float32_and_int8_models_mostly_agree(device_models, image_dir):
    labels = {}
    for kind, model in device_models.items():
        labels[kind] = [r["label"] for r in json_lines(run("classify", "--model", model, "--json", image_dir).stdout)]
    agree = np.mean([a == b for a, b in zip(labels["int8"], labels["float32"])])
    assert agree >= 4 / 6


def test_int8_outputs_match_the_reference_kernels_within_one_step(device_models):
    # Label agreement alone would not notice a numerically broken int8 path (as an emulated CPU
    # with SME gives): every raw output (uint8 scores) must be within one quantization step of the outputs
    # recorded where the model was built (tests/make_device_models.py), e.g. x86 against a Pi.
    from galaxy_edge.runtime.classifier import Classifier

    with np.load(device_models["int8"].parent / "reference_int8.npz") as f:
        images, expected = f["images"], f["outputs"]
    clf = Classifier(device_models["int8"])
    got = np.stack([clf.invoke(clf.quantize(image)) for image in images])
    assert got.dtype == np.uint8 and got.shape == expected.shape
    assert np.abs(got.astype(np.int16) - expected).max() <= 1


# --- evaluate ---------------------------------------------------------------------------------


def test_evaluate_json_and_confusion_png(int8, labelled_npz, tmp_path, galaxy_images):
    from galaxy_edge.metrics import classification_report
    from galaxy_edge.runtime.classifier import Classifier

    png = tmp_path / "cm.png"
    result = run("evaluate", "--model", int8, "--data", labelled_npz, "--json", "--confusion-png", png)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    images, labels = galaxy_images
    expected = classification_report(labels, Classifier(int8).probabilities_batch(images), CLASS_NAMES)
    assert report["n"] == 24
    assert report["class_names"] == list(CLASS_NAMES)
    assert report["accuracy"] == pytest.approx(expected["accuracy"])
    assert report["auc"] == pytest.approx(expected["auc"])
    assert report["confusion_matrix"] == expected["confusion_matrix"]
    assert Image.open(png).format == "PNG"


def test_evaluate_table_on_an_image_folder_reports_skipped_files(int8, tmp_path, galaxy_images):
    images, labels = galaxy_images
    for i, (im, label) in enumerate(zip(images[:8], labels[:8])):
        (tmp_path / CLASS_NAMES[label]).mkdir(exist_ok=True)
        Image.fromarray(im).save(tmp_path / CLASS_NAMES[label] / f"{i}.png")
    (tmp_path / CLASS_NAMES[labels[0]] / "broken.png").write_bytes(b"")
    result = run("evaluate", "--model", int8, "--data", tmp_path)
    assert result.exit_code == 0, result.output
    assert "(8 images, 1 skipped)" in result.stdout
    assert "accuracy" in result.stdout and "confusion matrix" in result.stdout


def test_evaluate_missing_data_is_a_clear_error(int8, tmp_path):
    result = run("evaluate", "--model", int8, "--data", tmp_path / "nope.npz")
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {tmp_path / 'nope.npz'}: no such file or folder"


def test_evaluate_confusion_png_under_a_file_is_a_clear_error(int8, labelled_npz, tmp_path):
    blocker = tmp_path / "report"
    blocker.write_text("a file where a folder is needed")
    result = run("evaluate", "--model", int8, "--data", labelled_npz, "--confusion-png", blocker / "cm.png")
    assert result.exit_code == 1
    # One line naming the path the file system refused, as for the library's own errors.
    assert result.stderr.startswith(f"Error: {blocker}: ") and len(result.stderr.strip().splitlines()) == 1
    assert blocker.read_text() == "a file where a folder is needed"


def test_evaluate_never_writes_over_an_existing_confusion_png_unless_told(int8, labelled_npz, tmp_path):
    png = tmp_path / "cm.png"
    png.write_text("someone's notes")
    result = run("evaluate", "--model", int8, "--data", labelled_npz, "--confusion-png", png)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: {png}: already exists; choose another name or pass --overwrite"
    assert png.read_text() == "someone's notes"
    result = run("evaluate", "--model", int8, "--data", labelled_npz, "--confusion-png", png, "--overwrite")
    assert result.exit_code == 0, result.output
    assert Image.open(png).format == "PNG"


# --- benchmark --------------------------------------------------------------------------------


def test_benchmark_json_has_benchmark_model_figures(device_models, image_dir):
    result = run(
        "benchmark", "--model", device_models["int8"], "--compare", device_models["float32"],
        "--runs", "5", "--warmup", "2", "--images", image_dir, "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["machine"]["platform"]
    assert [Path(m["model"]).name for m in report["models"]] == ["model_int8.tflite", "model_float32.tflite"]
    for m in report["models"]:
        assert m["model_size_bytes"] == os.path.getsize(m["model"])
        assert m["runtime"] in ("ai-edge-litert", "tflite-runtime") and m["num_threads"] == 1
        assert m["init_ms"] > 0 and m["first_inference_us"] > 0 and m["warmup"]["count"] == 2
        for part in ("invoke", "decode_preprocess", "per_image"):
            s = m[part]
            assert s["count"] == 5 and s["min_us"] <= s["p50_us"] <= s["p90_us"] <= s["p99_us"] <= s["max_us"]
        # No timing comparison between the parts: on a busy machine one slow invoke can outweigh
        # a decode, and that once failed this test while training ran beside it.
        assert m["peak_rss_mb"] > 0


def test_benchmark_table_with_generated_images(int8):
    result = run("benchmark", "--model", int8, "--runs", "3", "--warmup", "1")
    assert result.exit_code == 0, result.output
    assert "8 generated 424x424 PNGs" in result.stdout
    for row in ("init", "first inference", "invoke p99", "per image p50", "peak RSS"):
        assert row in result.stdout


def test_benchmark_empty_image_folder_is_an_error(int8, tmp_path):
    result = run("benchmark", "--model", int8, "--images", tmp_path)
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {tmp_path}: holds no images (looked for .png, .jpg, .jpeg, .tif, .tiff and FITS (.fits, .fit, .fts, also compressed: .gz, .bz2, .fz))"


# --- no TensorFlow on the device path ---------------------------------------------------------

NO_TF_SCRIPT = """
import sys
from click.testing import CliRunner
from galaxy_edge.cli import cli
model, images, npz, out = sys.argv[1:]
# astropy and sep are for FITS only, Dask and pyarrow for --workers/--scheduler and Parquet files:
# classifying PNG/JPEG/TIFF to stdout or CSV must load none of them.
heavy = ("tensorflow", "keras", "sklearn", "matplotlib", "astropy", "sep", "dask", "distributed", "pyarrow")
for args in (
    ["classify", "--model", model, "--json", images],
    ["classify", "--model", model, "--out", out + ".csv", images],
    ["evaluate", "--model", model, "--data", npz, "--json"],
    ["benchmark", "--model", model, "--runs", "2", "--warmup", "0", "--images", images],
    ["watch", images, "--model", model, "--out", out, "--once", "--interval", "0.01"],
):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, (args, result.output)
    loaded = sorted({m.split(".")[0] for m in sys.modules} & set(heavy))
    assert not loaded, (args[0], loaded)
    # Nor does it load `field`'s module (the FITS command's options): it is registered lazily.
    assert "galaxy_edge.field_cli" not in sys.modules, args[0]
print("clean")
"""


def test_device_commands_never_import_tensorflow(int8, image_dir, labelled_npz, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", NO_TF_SCRIPT, str(int8), str(image_dir), str(labelled_npz), str(tmp_path / "r.jsonl")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("clean")


@pytest.mark.skipif(HAS_TF, reason="only where TensorFlow is absent")
def test_evaluate_on_a_keras_run_without_tensorflow_names_the_extra(tmp_path, labelled_npz):
    (tmp_path / "model.keras").write_bytes(b"")
    result = run("evaluate", "--model", tmp_path, "--data", labelled_npz)
    assert result.exit_code == 1
    assert result.output.strip().endswith(
        "Error: this command needs the training extra (keras is not installed): pip install 'galaxy-edge[train]'"
    )
