"""classify at survey scale: results files (JSON Lines, CSV, Parquet), --resume, catalogues, and real
Dask clusters (local worker processes, a running scheduler, a worker killed with SIGKILL mid-run)."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from galaxy_edge import CLASS_NAMES
from galaxy_edge.cli import cli

pytestmark = [pytest.mark.device, pytest.mark.cluster]
pq = pytest.importorskip("pyarrow.parquet")
distributed = pytest.importorskip("distributed")

GALAXY_EDGE = [sys.executable, "-m", "galaxy_edge"]


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def int8(device_models):
    return device_models["int8"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Twenty galaxies and one file that is not an image, in two sub-folders."""
    from galaxy_edge.data.synth import generate

    images, _ = generate(20, seed=4)
    root = tmp_path_factory.mktemp("sky")
    for i, im in enumerate(images):
        (root / f"night{i % 2}").mkdir(exist_ok=True)
        Image.fromarray(im).resize((180, 180)).save(root / f"night{i % 2}" / f"g{i:02d}.png")
    (root / "night1" / "notes.png").write_text("not an image\n")
    return root


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory):
    """1,200 424x424 JPEGs (60 distinct galaxies): a run that lasts long enough to be interrupted."""
    from galaxy_edge.data.synth import generate

    images, _ = generate(60, seed=9)
    root = tmp_path_factory.mktemp("archive")
    pictures = [Image.fromarray(im).resize((424, 424)) for im in images]
    for i in range(1200):
        pictures[i % 60].save(root / f"g{i:04d}.jpg", quality=90)
    return root


@pytest.fixture(scope="module")
def reference(int8, folder):
    """What plain `classify --json` says about `folder`, in order."""
    return json_lines(run("classify", "--model", int8, "--json", folder).stdout)


def flat(records):
    """Records as (path, label, error) rows, the part every format keeps exactly."""
    return [(r["path"], r.get("label"), r.get("error")) for r in records]


def read_results(path):
    path = Path(path)
    if path.suffix == ".parquet":
        t = pq.read_table(path).to_pylist()
        return [(r["path"], r["label"], r["error"]) for r in t]
    if path.suffix == ".csv":
        with open(path, newline="") as f:
            return [(r["path"], r["label"] or None, r["error"] or None) for r in csv.DictReader(f)]
    return flat(json_lines(path.read_text()))


# --- results files ----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_results_file_holds_what_stdout_shows(int8, folder, reference, tmp_path, suffix):
    out = tmp_path / f"results{suffix}"
    result = run("classify", "--model", int8, folder, "--out", out)
    assert result.exit_code == 3  # notes.png
    assert result.stdout == ""
    assert read_results(out) == flat(reference)
    assert "20 image(s) classified, 1 failed; results in" in result.stderr


def test_csv_and_parquet_rows_carry_every_class_probability(int8, folder, reference, tmp_path):
    run("classify", "--model", int8, folder, "--out", tmp_path / "r.csv")
    run("classify", "--model", int8, folder, "--out", tmp_path / "r.parquet")
    with open(tmp_path / "r.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    table = pq.read_table(tmp_path / "r.parquet").to_pylist()
    assert list(rows[0]) == ["path", "label", "score", *(f"p_{n}" for n in CLASS_NAMES), "error"]
    for rec, row, prow in zip(reference, rows, table):
        for name in CLASS_NAMES:
            want = rec.get("probabilities", {}).get(name)
            assert (float(row[f"p_{name}"]) if row[f"p_{name}"] else None) == want
            assert prow[f"p_{name}"] == pytest.approx(want, abs=1e-6) if want is not None else prow[f"p_{name}"] is None


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_an_existing_results_file_is_refused_without_resume(int8, folder, tmp_path, suffix):
    out = tmp_path / f"results{suffix}"
    out.write_bytes(b"keep me\n")
    result = run("classify", "--model", int8, folder, "--out", out)
    assert result.exit_code == 1
    assert f"Error: {out}: already exists; pass --resume to finish that run into it, or choose another --out" in result.output
    assert out.read_bytes() == b"keep me\n"


@pytest.mark.parametrize(
    "suffix, content, why",
    [
        (".jsonl", b'{"night": 3}\n', "line 1 is not a result"),
        (".csv", b"ra,dec\n1,2\n", "its header is not path,label,score,"),
        # No final newline: what looks like a torn line must stay, since the file is not ours.
        (".jsonl", b'{"night": 3}\n{"night": 4}', "line 1 is not a result"),
        (".csv", b"ra,dec\n1,2", "its header is not path,label,score,"),
        (".parquet", b"PAR1 not really", "a file; galaxy-edge writes Parquet results as a folder of part files"),
    ],
)
def test_resume_refuses_a_file_that_is_not_ours(int8, folder, tmp_path, suffix, content, why):
    out = tmp_path / f"results{suffix}"
    out.write_bytes(content)
    result = run("classify", "--model", int8, folder, "--out", out, "--resume")
    assert result.exit_code == 1
    assert f"Error: {out}: not a galaxy-edge classify results file ({why}" in result.output
    assert out.read_bytes() == content


@pytest.mark.parametrize("name, why", [
    ("part.0.parquet", "it holds part.0.parquet, which galaxy-edge did not write"),  # as Dask names its parts
    ("part-000000.parquet", "part-000000.parquet holds no galaxy-edge results of classes"),
])
def test_resume_refuses_a_parquet_folder_of_someone_else(int8, folder, tmp_path, name, why):
    import pyarrow as pa

    out = tmp_path / "catalogue.parquet"
    out.mkdir()
    pq.write_table(pa.table({"path": ["a.png"], "label": ["normal"]}), out / name)
    before = (out / name).read_bytes()
    result = run("classify", "--model", int8, folder, "--out", out, "--resume")
    assert result.exit_code == 1
    assert f"Error: {out}: not a galaxy-edge classify results file ({why}" in result.output
    assert [p.name for p in out.iterdir()] == [name] and (out / name).read_bytes() == before


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_resume_classifies_only_what_is_missing(int8, folder, reference, tmp_path, suffix):
    out = tmp_path / f"results{suffix}"
    first = sorted(folder.glob("night0/*.png"))  # an earlier run that saw half the sky
    run("classify", "--model", int8, *first, "--out", out)
    result = run("classify", "--model", int8, folder, "--out", out, "--resume")
    assert result.exit_code == 3
    assert f"Resuming {out}: {len(first)} of {len(reference)} image(s) already done" in result.stderr
    assert f"{len(reference) - len(first) - 1} image(s) classified, 1 failed" in result.stderr
    got = read_results(out)
    assert sorted(got) == sorted(flat(reference))  # every image exactly once


def test_resume_cuts_off_a_torn_last_line(int8, folder, reference, tmp_path):
    out = tmp_path / "results.jsonl"
    lines = [json.dumps(r) for r in reference[:5]]
    out.write_text("\n".join(lines[:4]) + "\n" + lines[4][:30])  # killed while writing the fifth
    result = run("classify", "--model", int8, folder, "--out", out, "--resume")
    assert "4 of 21 image(s) already done" in result.stderr
    assert sorted(read_results(out)) == sorted(flat(reference))


def test_resume_needs_out(int8, folder):
    result = run("classify", "--model", int8, folder, "--resume")
    assert result.exit_code == 2
    assert "--resume needs --out" in result.output


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_a_run_killed_with_sigkill_resumes_to_every_image_once(int8, big_folder, tmp_path, suffix):
    out = tmp_path / f"results{suffix}"
    cmd = [*GALAXY_EDGE, "classify", "--model", str(int8), str(big_folder), "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen = _wait_for_lines(out, 50, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert seen < 1200, "the run ended before it could be interrupted"
    result = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    kept = int(result.stderr.split(f"Resuming {out}: ")[1].split()[0])
    assert kept >= seen - 1  # every result written before the kill (but a torn last line) was kept
    paths = [p for p, _, _ in read_results(out)]
    assert paths == [str(p) for p in sorted(big_folder.glob("*.jpg"))]  # all 1,200, none twice, in order


# A writer of Parquet results with 7-row parts, writing p000000, p000001, ... until it is killed.
ENDLESS_PARQUET_RUN = """
import itertools, sys
from galaxy_edge import CLASS_NAMES
from galaxy_edge.runtime.outputs import open_results_file
writer, _ = open_results_file(sys.argv[1], CLASS_NAMES, part_rows=7)
for i in itertools.count():
    writer.write({"path": f"p{i:06d}", "label": "normal", "score": 1.0, "probabilities": dict.fromkeys(CLASS_NAMES, 0.25)})
"""


@pytest.mark.parametrize("parts", [3, 40])
def test_parquet_parts_and_journal_killed_with_sigkill_resume_exactly_once(tmp_path, parts):
    from galaxy_edge.runtime.outputs import open_results_file

    out = tmp_path / "r.parquet"
    proc = subprocess.Popen([sys.executable, "-c", ENDLESS_PARQUET_RUN, str(out)])
    deadline = time.monotonic() + 60
    while len(list(out.glob("part-*.parquet"))) < parts and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    writer, done = open_results_file(out, CLASS_NAMES, resume=True, part_rows=7)
    n = len(done)
    assert n >= 7 * parts and done == {f"p{i:06d}" for i in range(n)}  # every row reported before the kill
    for i in range(n, n + 10):
        writer.write({"path": f"p{i:06d}", "error": "the rest of the run"})
    writer.close()
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith("part-")) == []  # no journal, no temporary
    assert pq.read_table(out).column("path").to_pylist() == [f"p{i:06d}" for i in range(n + 10)]


def test_parquet_resume_drops_the_journal_of_a_part_already_written(tmp_path):
    from galaxy_edge.runtime.outputs import open_results_file

    out = tmp_path / "r.parquet"
    writer, _ = open_results_file(out, CLASS_NAMES, part_rows=5)
    for i in range(10):
        writer.write({"path": f"p{i}", "error": "x"})
        if i == 5:
            journal = (out / "_part-000001.jsonl").read_bytes()
    writer.close()
    # As a kill leaves it between writing a part and removing its journal, and while writing a part.
    (out / "_part-000001.jsonl").write_bytes(journal + b'{"path": "p6", "la')
    (out / ".part-000002.parquet.x1y2.tmp").write_bytes(b"PAR1")
    writer, done = open_results_file(out, CLASS_NAMES, resume=True, part_rows=5)
    assert done == {f"p{i}" for i in range(10)}
    writer.write({"path": "p10", "error": "x"})
    writer.close()
    assert sorted(p.name for p in out.iterdir()) == [f"part-00000{i}.parquet" for i in range(3)]
    assert pq.read_table(out).column("path").to_pylist() == [f"p{i}" for i in range(11)]


# --- catalogues -------------------------------------------------------------------------------


def test_csv_and_parquet_catalogues_of_relative_paths(int8, folder, reference, tmp_path):
    import pyarrow as pa

    names = [os.path.relpath(r["path"], folder) for r in reference]
    with open(folder / "list.csv", "w", newline="") as f:
        csv.writer(f).writerows([["path", "ra"], *([n, 1.0] for n in names)])
    pq.write_table(pa.table({"path": names}), folder / "list.parquet")
    try:
        for catalogue in ("list.csv", "list.parquet"):
            got = json_lines(run("classify", "--model", int8, "--json", folder / catalogue).stdout)
            assert [(os.path.relpath(r["path"], folder), r.get("label")) for r in got] == [
                (n, r.get("label")) for n, r in zip(names, reference)
            ]
    finally:
        (folder / "list.csv").unlink()
        (folder / "list.parquet").unlink()


def test_a_catalogue_without_a_path_column_is_a_clear_error(int8, tmp_path):
    (tmp_path / "list.csv").write_text("file,ra\na.png,1\n")
    result = run("classify", "--model", int8, tmp_path / "list.csv")
    assert result.exit_code == 1
    assert f"Error: {tmp_path / 'list.csv'}: a catalogue needs a 'path' column; found ['file', 'ra']" in result.output


# --- on a cluster -----------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [["--workers", "2", "--batch-size", "3"],
                                     ["--workers", "1", "--decode-threads", "2", "--batch-size", "5"]],
                         ids=["two-one-thread-workers", "one-worker-of-two-threads"])
def test_local_cluster_gives_plain_classify_records_in_input_order(int8, folder, reference, workers):
    result = run("classify", "--model", int8, "--json", folder, *workers)
    assert result.exit_code == 3
    assert json_lines(result.stdout) == reference  # the unreadable file is a per-file error record


def test_running_scheduler_by_address_and_by_scheduler_file(int8, folder, reference, tmp_path):
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None) as cluster:
        by_address = run("classify", "--model", int8, "--json", folder, "--scheduler", cluster.scheduler_address)
        info = tmp_path / "scheduler.json"
        info.write_text(json.dumps({"address": cluster.scheduler_address, "type": "Scheduler"}))
        out = tmp_path / "r.parquet"
        by_file = run("classify", "--model", int8, folder, "--scheduler", info, "--out", out, "--batch-size", "4")
    assert json_lines(by_address.stdout) == reference
    assert by_file.exit_code == 3
    assert read_results(out) == flat(reference)


def test_unreachable_scheduler_is_a_clear_error(int8, folder):
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        result = run("classify", "--model", int8, folder, "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code == 1
    assert result.output.startswith("Error: tcp://127.0.0.1:9: cannot reach the Dask scheduler (")


def test_workers_and_scheduler_together_is_a_usage_error(int8, folder):
    result = run("classify", "--model", int8, folder, "--workers", "2", "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code == 2


def test_worker_killed_mid_run_loses_nothing_and_duplicates_nothing(int8, big_folder, tmp_path):
    import psutil

    out = tmp_path / "results.jsonl"
    cmd = [*GALAXY_EDGE, "classify", "--model", str(int8), str(big_folder), "--out", str(out),
           "--workers", "2", "--batch-size", "8", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = _wait_for_lines(out, 100, proc)
    workers = [p for p in psutil.Process(proc.pid).children(recursive=True) if "spawn_main" in " ".join(p.cmdline())]
    assert len(workers) == 2, [p.cmdline() for p in workers]
    os.kill(workers[0].pid, signal.SIGKILL)
    _, stderr = proc.communicate(timeout=300)
    assert seen < 1200, "the run ended before a worker could be killed"
    assert proc.returncode == 0, stderr
    paths = [p for p, _, _ in read_results(out)]
    assert paths == [str(p) for p in sorted(big_folder.glob("*.jpg"))]  # every image, once, in order


def _wait_for_lines(path, n, proc, timeout=120):
    """Wait until `path` (or the journals of a Parquet folder) holds at least `n` lines; return how many then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            files = sorted(path.glob("_part-*.jsonl")) if path.is_dir() else [path]
            lines = sum(f.read_bytes().count(b"\n") for f in files)
            if lines >= n:
                return lines
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early ({proc.returncode})")
        time.sleep(0.02)
    raise AssertionError(f"{path} never reached {n} lines")


def test_field_on_a_local_cluster_writes_the_same_catalogue(int8, tmp_path):
    pytest.importorskip("sep")
    for seed in (4, 5):
        made = run("synth", "--field", "--out", tmp_path / f"f{seed}.fits", "--size", 400, "--count", 5, "--stars", 30,
                   "--seed", seed)
        assert made.exit_code == 0, made.output
    (tmp_path / "nan.fits").write_bytes(b"SIMPLE  = not a FITS file")
    frames = [tmp_path / "f4.fits", tmp_path / "nan.fits", tmp_path / "f5.fits"]
    plain = run("field", *frames, "--model", int8, "--out", tmp_path / "plain.csv")
    clustered = run("field", *frames, "--model", int8, "--out", tmp_path / "cluster.csv", "--workers", "2")
    assert plain.exit_code == clustered.exit_code == 3
    assert clustered.stdout == plain.stdout  # the same galaxies, frame by frame, in order
    assert (tmp_path / "cluster.csv").read_text() == (tmp_path / "plain.csv").read_text()
    assert f"Error: {tmp_path / 'nan.fits'}: " in clustered.stderr


@pytest.mark.parametrize("sig, status, word", [(signal.SIGINT, 130, "Interrupted"), (signal.SIGTERM, 143, "Terminated")])
def test_ctrl_c_and_sigterm_stop_a_cluster_run_which_resumes(int8, big_folder, tmp_path, sig, status, word):
    out = tmp_path / "results.jsonl"
    cmd = [*GALAXY_EDGE, "classify", "--model", str(int8), str(big_folder), "--out", str(out), "--workers", "2",
           "--batch-size", "16", "--no-progress"]
    # A default SIGINT handler even when the test runner was started in the background (SIG_IGN).
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = _wait_for_lines(out, 50, proc)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert seen < 1200, "the run ended before it could be interrupted"
    assert proc.returncode == status
    assert stderr.strip().splitlines()[-1] == word  # one line, no worker's complaint after it
    result = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert [p for p, _, _ in read_results(out)] == [str(p) for p in sorted(big_folder.glob("*.jpg"))]


def test_field_positions_and_resume_on_a_local_cluster(int8, tmp_path):
    pytest.importorskip("sep")
    import pyarrow as pa

    for seed in (4, 5):
        made = run("synth", "--field", "--out", tmp_path / f"f{seed}.fits", "--size", 300, "--count", 4, "--stars", 25,
                   "--seed", seed)
        assert made.exit_code == 0, made.output
    frames = [tmp_path / "f4.fits", tmp_path / "f5.fits"]
    whole = run("field", *frames, "--model", int8, "--out", tmp_path / "whole.csv")
    assert whole.exit_code == 0, whole.output
    text = (tmp_path / "whole.csv").read_text()
    lines = text.splitlines(keepends=True)
    (tmp_path / "cut.csv").write_text("".join(lines[:3]))  # the first frame cut short
    resumed = run("field", *frames, "--model", int8, "--out", tmp_path / "cut.csv", "--resume", "--workers", "2")
    assert resumed.exit_code == 0, resumed.output
    assert (tmp_path / "cut.csv").read_text() == text
    # The galaxies found, as a Parquet catalogue of targets, plus one on a frame that is not there.
    found = list(csv.DictReader(open(tmp_path / "whole.csv")))
    names = ["f4.fits" if r["frame"].endswith("f4.fits") else "f5.fits" for r in found] + ["gone.fits"]
    pq.write_table(pa.table({"frame": names, "x": [float(r["x"]) for r in found] + [3.0],
                             "y": [float(r["y"]) for r in found] + [3.0],
                             "size": [int(r["cutout"]) for r in found] + [None]}), tmp_path / "targets.parquet")
    local = run("field", "--positions", tmp_path / "targets.parquet", "--model", int8, "--out", tmp_path / "local.csv")
    clustered = run("field", "--positions", tmp_path / "targets.parquet", "--model", int8, "--out", tmp_path / "dask.csv",
                    "--workers", "2")
    assert local.exit_code == clustered.exit_code == 3
    assert (tmp_path / "dask.csv").read_text() == (tmp_path / "local.csv").read_text()
    rows = list(csv.DictReader(open(tmp_path / "dask.csv")))
    assert [r["id"] for r in rows] == [str(i) for i in range(1, len(found) + 2)]
    assert [r["label"] for r in rows[:-1]] == [r["label"] for r in found]
    assert "gone.fits: no such file" in rows[-1]["error"] and rows[-1]["label"] == ""
