"""`galaxy-edge watch`: each image exactly once, across restarts, crashes and bad files."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from galaxy_edge.cli import cli

pytestmark = pytest.mark.device


@pytest.fixture(scope="module")
def galaxy_png(tmp_path_factory):
    from galaxy_edge.data.synth import generate

    images, _ = generate(2, seed=5)
    path = tmp_path_factory.mktemp("src") / "galaxy.png"
    Image.fromarray(images[0]).save(path)
    return path


@pytest.fixture
def int8(device_models):
    return device_models["int8"]


def watch_once(folder, model, out):
    result = CliRunner().invoke(
        cli, ["watch", str(folder), "--model", str(model), "--out", str(out), "--once", "--interval", "0.01"]
    )
    assert result.exit_code == 0, result.output
    return result


def records(out):
    return [json.loads(line) for line in Path(out).read_text().splitlines()]


def test_watch_once_classifies_each_image_and_a_restart_repeats_none(int8, galaxy_png, tmp_path):
    sky, out = tmp_path / "sky", tmp_path / "results.jsonl"
    (sky / "n1").mkdir(parents=True)
    shutil.copy(galaxy_png, sky / "g1.png")
    shutil.copy(galaxy_png, sky / "n1" / "g2.png")
    first = watch_once(sky, int8, out)
    assert sorted(r["file"] for r in records(out)) == ["g1.png", "n1/g2.png"]
    assert "2 image(s) classified, 0 failed; 2 done in all" in first.stderr
    assert all(set(r) >= {"file", "path", "time", "label", "score", "probabilities"} for r in records(out))

    watch_once(sky, int8, out)
    assert len(records(out)) == 2

    shutil.copy(galaxy_png, sky / "g3.png")
    again = watch_once(sky, int8, out)
    assert [r["file"] for r in records(out)][2:] == ["g3.png"]
    assert "1 image(s) classified, 0 failed; 3 done in all" in again.stderr


def test_watch_writes_an_error_line_for_a_bad_file_and_goes_on(int8, galaxy_png, tmp_path):
    sky, out = tmp_path / "sky", tmp_path / "results.jsonl"
    sky.mkdir()
    (sky / "empty.png").write_bytes(b"")
    (sky / "junk.jpg").write_text("not a picture")
    shutil.copy(galaxy_png, sky / "good.png")
    watch_once(sky, int8, out)
    by_file = {r["file"]: r for r in records(out)}
    assert by_file["empty.png"]["error"] == "empty file (0 bytes)"
    assert by_file["junk.jpg"]["error"] == "not a readable image (unknown format, empty or corrupt)"
    assert "label" in by_file["good.png"]
    watch_once(sky, int8, out)
    assert len(records(out)) == 3


def test_watch_ignores_hidden_and_partial_files(int8, galaxy_png, tmp_path):
    sky, out = tmp_path / "sky", tmp_path / "results.jsonl"
    sky.mkdir()
    for name in (".incoming.png", "landing.png.part", "landing.png.tmp", "notes.txt"):
        shutil.copy(galaxy_png, sky / name)
    watch_once(sky, int8, out)
    assert records(out) == []


def test_watch_cuts_a_torn_last_line_and_redoes_that_image(int8, galaxy_png, tmp_path):
    sky, out = tmp_path / "sky", tmp_path / "results.jsonl"
    sky.mkdir()
    for name in ("a.png", "b.png"):
        shutil.copy(galaxy_png, sky / name)
    watch_once(sky, int8, out)
    whole = out.read_bytes()
    out.write_bytes(whole[:-25])  # a crash in the middle of writing the second line
    result = watch_once(sky, int8, out)
    assert f"Warning: {out} ended in a torn line (an interrupted write); it was cut off" in result.stderr
    assert sorted(r["file"] for r in records(out)) == ["a.png", "b.png"]


def test_a_file_still_being_written_waits_for_two_equal_polls(int8, galaxy_png, tmp_path):
    from galaxy_edge.runtime.classifier import Classifier
    from galaxy_edge.runtime.watch import Watcher

    sky = tmp_path / "sky"
    sky.mkdir()
    target = sky / "slow.png"
    data = galaxy_png.read_bytes()
    target.write_bytes(data[:100])
    w = Watcher(sky, Classifier(int8), tmp_path / "r.jsonl", interval=0.01)
    w._open()
    try:
        assert w._poll(empty_grace=0) == ([], True)
        with open(target, "ab") as f:
            f.write(data[100:])
        assert w._poll(empty_grace=0) == ([], True)
        assert w._poll(empty_grace=0) == (["slow.png"], False)
    finally:
        w._close()


def test_a_second_watcher_on_the_same_results_is_refused(int8, galaxy_png, tmp_path):
    from galaxy_edge.runtime.classifier import Classifier
    from galaxy_edge.runtime.watch import Watcher

    (tmp_path / "sky").mkdir()
    out = tmp_path / "r.jsonl"
    first = Watcher(tmp_path / "sky", Classifier(int8), out)
    first._open()
    try:
        result = CliRunner().invoke(cli, ["watch", str(tmp_path / "sky"), "--model", str(int8), "--out", str(out), "--once"])
        assert result.exit_code == 1
        assert result.output.strip().endswith(f"Error: {out}: another `galaxy-edge watch` is writing to this file")
    finally:
        first._close()


def test_watch_missing_folder_is_a_clear_error(int8, tmp_path):
    result = CliRunner().invoke(
        cli, ["watch", str(tmp_path / "nope"), "--model", str(int8), "--out", str(tmp_path / "r.jsonl"), "--once"]
    )
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {tmp_path / 'nope'}: no such folder"


def test_watch_classifies_arrivals_and_stops_cleanly_on_sigterm(int8, galaxy_png, tmp_path):
    sky, out = tmp_path / "sky", tmp_path / "results.jsonl"
    sky.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "galaxy_edge", "watch", str(sky), "--model", str(int8), "--out", str(out),
         "--interval", "0.05"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # The telescope's way: write under a temporary name, rename when complete.
        shutil.copy(galaxy_png, sky / "arrival.png.part")
        os.replace(sky / "arrival.png.part", sky / "arrival.png")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (out.exists() and out.read_text().endswith("\n")):
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert [r["file"] for r in records(out)] == ["arrival.png"]
    assert stdout.startswith("arrival.png  ")
    assert "1 image(s) classified, 0 failed; 1 done in all" in stderr
    assert "Traceback" not in stderr


def test_probabilities_in_results_match_classify(int8, galaxy_png, tmp_path):
    sky, out = tmp_path / "sky", tmp_path / "results.jsonl"
    sky.mkdir()
    shutil.copy(galaxy_png, sky / "g.png")
    watch_once(sky, int8, out)
    classified = CliRunner().invoke(cli, ["classify", "--model", str(int8), "--json", str(sky / "g.png")])
    expected = json.loads(classified.stdout)
    [got] = records(out)
    assert got["probabilities"] == expected["probabilities"]
    assert np.isclose(sum(got["probabilities"].values()), 1, atol=0.02)
