"""The device path under hostile files and faults: special files, signals, full disks, closed pipes,
unreadable folders, files that are not ours, slow writers and memory. Real files, real processes."""

import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.device


def galaxy_edge(*args, timeout=60, **kwargs):
    """Run the real CLI in a child process; a hang fails the test instead of hanging it."""
    return subprocess.run(
        [sys.executable, "-m", "galaxy_edge", *map(str, args)],
        capture_output=kwargs.pop("capture_output", True), text=True, timeout=timeout, **kwargs,
    )


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def our_lines(stderr):
    """stderr without the line LiteRT's C++ logs when it creates the XNNPACK delegate."""
    return [line for line in stderr.strip().splitlines() if not line.startswith("INFO: Created TensorFlow Lite")]


def one_error_line(stderr):
    """stderr is a single `Error: ...` line, with no traceback."""
    lines = our_lines(stderr)
    assert "Traceback" not in stderr and len(lines) == 1 and lines[0].startswith("Error: "), stderr
    return lines[0]


@pytest.fixture(scope="module")
def galaxy_png(tmp_path_factory):
    from galaxy_edge.data.synth import generate

    images, _ = generate(1, seed=5)
    path = tmp_path_factory.mktemp("src") / "galaxy.png"
    Image.fromarray(images[0]).resize((424, 424)).save(path)
    return path


@pytest.fixture
def int8(device_models):
    return device_models["int8"]


@pytest.fixture
def public_model(int8):
    """The int8 model and sidecar in a folder anyone can read (for children without root's overrides)."""
    folder = Path(tempfile.mkdtemp(prefix="galaxy-edge-test-"))
    os.chmod(folder, 0o755)
    for f in (int8, int8.with_suffix(".json")):
        shutil.copy(f, folder / f.name)
    yield folder / int8.name
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KB tmpfs: a real full disk. Skips where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk, leave=0):
    """Fill `disk` until at most `leave` bytes are free; returns the filler file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    with contextlib.suppress(OSError):
        while True:
            os.write(fd, b"\0" * 1024)
    os.close(fd)
    assert os.statvfs(disk).f_bavail == 0
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


# --- class 1: special files never hang anything; signals stop promptly ----------------------------


@pytest.fixture
def special_folder(tmp_path, galaxy_png):
    """normal/ with a good image, a FIFO, a socket and a folder named like images; then a good one."""
    folder = tmp_path / "sky"
    (folder / "normal" / "d.jpg").mkdir(parents=True)
    shutil.copy(galaxy_png, folder / "normal" / "a.png")
    os.mkfifo(folder / "normal" / "x.png")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "normal" / "s.png"))
    shutil.copy(galaxy_png, folder / "normal" / "z.png")
    yield folder
    sock.close()


def test_classify_passes_special_files_with_a_reason_and_never_opens_them(int8, special_folder):
    result = galaxy_edge("classify", "--json", "--model", int8, special_folder, timeout=30)
    assert result.returncode == 3, result.stderr
    records = {Path(r["path"]).name: r for r in json_lines(result.stdout)}
    assert set(records) == {"a.png", "s.png", "x.png", "z.png"}
    assert "label" in records["a.png"] and "label" in records["z.png"]
    assert records["x.png"]["error"] == "is a named pipe (FIFO), not a regular file"
    assert records["s.png"]["error"] == "is a socket, not a regular file"


def test_every_device_command_gets_past_a_fifo(int8, special_folder, tmp_path):
    bench = galaxy_edge("benchmark", "--model", int8, "--images", special_folder, "--runs", "2", "--warmup", "0", timeout=30)
    assert bench.returncode == 0, bench.stderr
    assert "x.png: is a named pipe (FIFO), not a regular file" in bench.stdout
    evaluate = galaxy_edge("evaluate", "--model", int8, "--data", special_folder, "--json", timeout=30)
    assert evaluate.returncode == 0, evaluate.stderr
    report = json.loads(evaluate.stdout)
    assert report["n"] == 2 and {Path(s["path"]).name for s in report["skipped"]} == {"x.png", "s.png"}
    out = tmp_path / "r.jsonl"
    watch = galaxy_edge("watch", special_folder, "--model", int8, "--out", out, "--once", "--interval", "0.01", timeout=30)
    assert watch.returncode == 0, watch.stderr
    by_file = {r["file"]: r for r in json_lines(out.read_text())}
    assert "label" in by_file["normal/a.png"] and "label" in by_file["normal/z.png"]
    assert by_file["normal/x.png"]["error"] == "is a named pipe (FIFO), not a regular file"


@pytest.mark.parametrize("make", ["fifo", "device"])
def test_a_special_file_as_model_sidecar_or_data_is_one_error_line(int8, tmp_path, galaxy_png, make):
    def special(path):
        if make == "fifo":
            os.mkfifo(path)
            return path
        return Path("/dev/zero")

    model = special(tmp_path / "m.tflite")
    result = galaxy_edge("classify", "--model", model, galaxy_png, timeout=30)
    assert result.returncode == 1
    kind = "a named pipe (FIFO)" if make == "fifo" else "a character device"
    assert one_error_line(result.stderr) == f"Error: {model}: is {kind}, not a regular file"

    lonely = tmp_path / "model_int8.tflite"
    shutil.copy(int8, lonely)
    if make == "fifo":
        os.mkfifo(tmp_path / "model_int8.json")
        result = galaxy_edge("classify", "--model", lonely, galaxy_png, timeout=30)
        assert one_error_line(result.stderr) == f"Error: {tmp_path / 'model_int8.json'}: is {kind}, not a regular file"
        data = special(tmp_path / "val.npz")
        result = galaxy_edge("evaluate", "--model", int8, "--data", data, timeout=30)
        assert one_error_line(result.stderr) == f"Error: {data}: is {kind}, not a regular file"
    result = galaxy_edge("classify", "--json", "--model", int8, "/dev/zero", timeout=30)
    assert result.returncode == 3
    assert json_lines(result.stdout) == [{"path": "/dev/zero", "error": "is a character device, not a regular file"}]


@pytest.mark.parametrize("sig, status, word", [(signal.SIGINT, 130, "Interrupted"), (signal.SIGTERM, 143, "Terminated")])
def test_ctrl_c_and_sigterm_stop_classify_at_once(int8, galaxy_png, tmp_path, sig, status, word):
    folder = tmp_path / "many"
    folder.mkdir()
    big = Image.open(galaxy_png).resize((3000, 3000))
    for i in range(40):
        big.save(folder / f"{i:03d}.png", compress_level=1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "galaxy_edge", "classify", "--json", "--decode-threads", "2", "--model", str(int8), str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"),
        # A shell that starts the suite in the background ignores SIGINT for it, and the child
        # inherits that: give it back the default, as a terminal's foreground job has.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout.readline().startswith("{")  # the first result is out: both decoders are at work
        proc.send_signal(sig)
        sent = time.monotonic()
        _, stderr = proc.communicate(timeout=20)
        stopped = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status
    assert our_lines(stderr) == [word]
    assert stopped < 5


# --- class 2: never write into a file that is not ours ------------------------------------------


@pytest.mark.parametrize("content", [b"TFL3 a model's bytes \x00\x01", b"observing notes\nline two\n", b'{"not": "ours"}\n'])
def test_watch_refuses_a_results_file_that_is_not_ours(int8, galaxy_png, tmp_path, content):
    sky = tmp_path / "sky"
    sky.mkdir()
    shutil.copy(galaxy_png, sky / "g.png")
    out = tmp_path / "precious.jsonl"
    out.write_bytes(content)
    result = galaxy_edge("watch", sky, "--model", int8, "--out", out, "--once", timeout=30)
    assert result.returncode == 1
    assert one_error_line(result.stderr) == (
        f"Error: {out}: not a galaxy-edge watch results file (it does not start with a result line); "
        "refusing to write into it: choose another --out"
    )
    assert out.read_bytes() == content


def test_watch_refuses_a_fifo_as_results_file(int8, galaxy_png, tmp_path):
    sky = tmp_path / "sky"
    sky.mkdir()
    os.mkfifo(tmp_path / "r.jsonl")
    result = galaxy_edge("watch", sky, "--model", int8, "--out", tmp_path / "r.jsonl", "--once", timeout=30)
    assert one_error_line(result.stderr) == (
        f"Error: {tmp_path / 'r.jsonl'}: cannot open the results file (is a named pipe (FIFO), not a regular file)"
    )


# --- class 3: a file that changes after it failed is tried again --------------------------------


def test_a_slow_writer_that_pauses_gets_its_image_classified_when_done(int8, galaxy_png, tmp_path):
    sky, out = tmp_path / "sky", tmp_path / "r.jsonl"
    sky.mkdir()
    data = galaxy_png.read_bytes()
    (sky / "slow.png").write_bytes(data[: len(data) // 3])  # the camera paused mid-file
    galaxy_edge("watch", sky, "--model", int8, "--out", out, "--once", "--interval", "0.01")
    [failed] = json_lines(out.read_text())
    assert failed["error"].startswith("corrupt or truncated image")
    # Nothing changed: a restart does not try it again.
    galaxy_edge("watch", sky, "--model", int8, "--out", out, "--once", "--interval", "0.01")
    assert len(json_lines(out.read_text())) == 1
    (sky / "slow.png").write_bytes(data)  # the writer finished
    again = galaxy_edge("watch", sky, "--model", int8, "--out", out, "--once", "--interval", "0.01")
    assert again.returncode == 0, again.stderr
    records = json_lines(out.read_text())
    assert len(records) == 2 and records[-1]["file"] == "slow.png" and "label" in records[-1]
    assert "1 image(s) classified, 0 failed" in again.stderr


def test_an_image_unreadable_until_its_permission_is_fixed_is_classified(public_model, galaxy_png, unprivileged):
    work = Path(tempfile.mkdtemp(prefix="galaxy-edge-test-"))
    try:
        sky, out = work / "sky", work / "r.jsonl"
        sky.mkdir()
        shutil.copy(galaxy_png, sky / "locked.png")
        os.chmod(sky / "locked.png", 0)
        args = ("watch", sky, "--model", public_model, "--out", out, "--once", "--interval", "0.01")
        galaxy_edge(*args, preexec_fn=unprivileged)
        assert [r.get("error") for r in json_lines(out.read_text())] == ["cannot be read (permission denied)"]
        os.chmod(sky / "locked.png", 0o644)
        galaxy_edge(*args, preexec_fn=unprivileged)
        assert "label" in json_lines(out.read_text())[-1]
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- class 6: full disks and closed pipes -------------------------------------------------------


@pytest.mark.parametrize("command", ["classify", "evaluate", "benchmark"])
def test_output_to_a_full_disk_is_one_line_and_exit_1(int8, galaxy_png, labelled_npz, command):
    args = {
        "classify": ["classify", "--json", "--model", int8, galaxy_png],
        "evaluate": ["evaluate", "--json", "--model", int8, "--data", labelled_npz],
        "benchmark": ["benchmark", "--model", int8, "--runs", "2", "--warmup", "0"],
    }[command]
    with open("/dev/full", "w") as full:
        result = galaxy_edge(*args, stdout=full, stderr=subprocess.PIPE, capture_output=False)
    assert result.returncode == 1
    assert one_error_line(result.stderr) == "Error: standard output: No space left on device; output stopped"


def test_a_closed_pipe_is_one_line_and_exit_1(int8, galaxy_png, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(300):
        os.link(galaxy_png, folder / f"{i:03d}.png")
    proc = subprocess.Popen(
        [sys.executable, "-m", "galaxy_edge", "classify", "--json", "--model", str(int8), str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    proc.stdout.readline()
    proc.stdout.close()  # `| head -1`
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=30) == 1
    assert one_error_line(stderr) == "Error: standard output: the reader closed the pipe; output stopped"


@pytest.fixture(scope="module")
def labelled_npz(tmp_path_factory):
    from galaxy_edge.data.npz import save_npz
    from galaxy_edge.data.synth import generate

    path = tmp_path_factory.mktemp("npz") / "val.npz"
    save_npz(path, *generate(8, seed=2))
    return path


def test_watch_on_a_full_disk_stops_with_one_line_and_resumes_when_freed(int8, galaxy_png, tmp_path, small_disk):
    sky, out = tmp_path / "sky", small_disk / "results.jsonl"
    sky.mkdir()
    for i in range(6):
        shutil.copy(galaxy_png, sky / f"{i}.png")
    filler = fill(small_disk, leave=700)  # room for about two result lines
    args = ("watch", sky, "--model", int8, "--out", out, "--once", "--interval", "0.01")
    result = galaxy_edge(*args)
    assert result.returncode == 1
    assert one_error_line(result.stderr) == f"Error: {out}: cannot write results (No space left on device); stopping"
    text = out.read_text()
    assert text == "" or text.endswith("\n")
    written = len(json_lines(text))
    assert written < 6
    filler.unlink()
    resumed = galaxy_edge(*args)
    assert resumed.returncode == 0, resumed.stderr
    files = [r["file"] for r in json_lines(out.read_text())]
    assert sorted(files) == [f"{i}.png" for i in range(6)]  # each exactly once


def test_a_failed_artifact_write_names_the_users_file(int8, labelled_npz, small_disk):
    fill(small_disk)
    png = small_disk / "cm.png"
    result = galaxy_edge("evaluate", "--model", int8, "--data", labelled_npz, "--confusion-png", png)
    assert one_error_line(result.stderr) == f"Error: {png}: No space left on device"
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


# --- class 7: nothing skipped silently ----------------------------------------------------------


def test_an_unreadable_subfolder_is_reported_by_classify_and_watch(public_model, galaxy_png, unprivileged):
    work = Path(tempfile.mkdtemp(prefix="galaxy-edge-test-"))
    os.chmod(work, 0o755)
    try:
        sky = work / "sky"
        (sky / "locked").mkdir(parents=True)
        shutil.copy(galaxy_png, sky / "a.png")
        shutil.copy(galaxy_png, sky / "locked" / "b.png")
        os.chmod(sky / "locked", 0)
        result = galaxy_edge("classify", "--json", "--model", public_model, sky, preexec_fn=unprivileged)
        assert result.returncode == 3
        records = json_lines(result.stdout)
        assert "label" in records[0]
        assert records[1] == {
            "path": str(sky / "locked"),
            "error": "folder cannot be read (permission denied); the images in it were not seen",
        }
        out = work / "r.jsonl"
        watch = galaxy_edge("watch", sky, "--model", public_model, "--out", out, "--once", "--interval", "0.01",
                            preexec_fn=unprivileged)
        assert watch.returncode == 0, watch.stderr
        assert f"Warning: {sky / 'locked'}: folder cannot be read (permission denied)" in watch.stderr
        os.chmod(sky / "locked", 0o755)
        galaxy_edge("watch", sky, "--model", public_model, "--out", out, "--once", "--interval", "0.01",
                    preexec_fn=unprivileged)
        assert sorted(r["file"] for r in json_lines(out.read_text())) == ["a.png", "locked/b.png"]
    finally:
        os.chmod(work / "sky" / "locked", 0o755)
        shutil.rmtree(work, ignore_errors=True)


# --- class 8: messages that name the user's file and the real reason ------------------------------


def test_symlink_loops_and_dangling_links_say_so(int8, galaxy_png, tmp_path):
    os.symlink("loop.png", tmp_path / "loop.png")
    os.symlink("nowhere.png", tmp_path / "dangling.png")
    shutil.copy(galaxy_png, tmp_path / "ok.png")
    folder = galaxy_edge("classify", "--json", "--model", int8, tmp_path)
    by_name = {Path(r["path"]).name: r for r in json_lines(folder.stdout)}
    assert by_name["loop.png"]["error"] == "is a symbolic link loop (it points, in the end, back to itself)"
    assert by_name["dangling.png"]["error"] == "no such file"
    named = galaxy_edge("classify", "--json", "--model", int8, tmp_path / "loop.png", tmp_path / "dangling.png")
    assert [r["error"] for r in json_lines(named.stdout)] == [
        "is a symbolic link loop (it points, in the end, back to itself)",
        "is a symbolic link to nowhere.png, which does not exist",
    ]


def test_an_unreadable_image_is_a_permission_error_not_a_corrupt_one(public_model, galaxy_png, unprivileged):
    work = Path(tempfile.mkdtemp(prefix="galaxy-edge-test-"))
    os.chmod(work, 0o755)
    try:
        shutil.copy(galaxy_png, work / "locked.png")
        os.chmod(work / "locked.png", 0)
        result = galaxy_edge("classify", "--json", "--model", public_model, work / "locked.png", preexec_fn=unprivileged)
        assert json_lines(result.stdout) == [{"path": str(work / "locked.png"), "error": "cannot be read (permission denied)"}]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_a_keras_model_given_to_classify_says_export_it(galaxy_png, tmp_path):
    keras_file = tmp_path / "model.keras"
    with zipfile.ZipFile(keras_file, "w") as z:
        z.writestr("config.json", "{}")
    result = galaxy_edge("classify", "--model", keras_file, galaxy_png)
    assert one_error_line(result.stderr) == (
        f"Error: {keras_file}: is a Keras model (a training run); the device runs an exported .tflite: "
        f"run `galaxy-edge export {keras_file}` and pass --model export/model_int8.tflite"
    )


# --- class 4: sizes judged before allocating; bounded memory -------------------------------------


def forged_npz(path, n=200_000):
    """A small npz whose 'data' header declares n 128x128 RGB images."""
    import io

    def npy(shape, dtype, body=b""):
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape})
        return buf.getvalue() + body

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("data.npy", npy((n, 128, 128, 3), np.uint8, b"\0" * 64))
        z.writestr("labels.npy", npy((n,), np.int64, b"\0" * 64))
    return path


def limited(megabytes):
    """A `preexec_fn` that caps the child's address space, as `ulimit -v` does."""

    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (megabytes * 2**20, megabytes * 2**20))

    return apply


@pytest.fixture(scope="module")
def address_space_limits():
    """Skip where `ulimit -v` is not enforced (qemu-user, in `make test-aarch64`, ignores RLIMIT_AS)."""
    probe = subprocess.run([sys.executable, "-c", "bytearray(2**31)"], preexec_fn=limited(1024), capture_output=True)
    if probe.returncode == 0:
        pytest.skip("RLIMIT_AS is not enforced here (an emulator?): a 2 GB allocation under a 1 GB limit succeeded")


def test_an_npz_header_declaring_more_than_the_file_holds_is_refused_before_allocating(int8, tmp_path):
    # Under a limit where it is enforced; elsewhere the check before allocating is what is tested.
    path = forged_npz(tmp_path / "forged.npz")
    assert path.stat().st_size < 1000
    result = galaxy_edge("evaluate", "--model", int8, "--data", path, preexec_fn=limited(2048))
    assert one_error_line(result.stderr).startswith(
        f"Error: {path}: 'data' declares shape (200000, 128, 128, 3) (9,830,400,000 bytes) but the file holds at most"
    )


def test_an_npz_of_empty_images_is_refused(int8, tmp_path):
    path = tmp_path / "empty.npz"
    np.savez(path, data=np.zeros((5, 0, 0, 3), np.uint8), labels=np.arange(5) % 4)
    result = galaxy_edge("evaluate", "--model", int8, "--data", path)
    assert one_error_line(result.stderr) == f"Error: {path}: its images are 0x0 pixels: nothing to classify"


@pytest.fixture(scope="module")
def big_images(tmp_path_factory):
    """Accepted images at the decode limit (16-bit greyscale 64 M pixels; RGB 36 M pixels) and one over it."""
    folder = tmp_path_factory.mktemp("big")
    ramp = np.linspace(0, 65535, 8000, dtype=np.uint16)
    grey = np.broadcast_to(ramp, (8000, 8000)).copy()
    Image.fromarray(grey).save(folder / "grey16.png", compress_level=1)
    del grey
    Image.new("RGB", (6000, 6000), (40, 20, 10)).save(folder / "rgb36.png", compress_level=1)
    Image.new("RGB", (8000, 7000), (40, 20, 10)).save(folder / "rgb56.png", compress_level=1)
    return folder


def child_peak_mb(args):
    """Peak RSS of one CLI run, in MB, read by the child itself at exit.

    VmHWM, not ru_maxrss: a child's ru_maxrss starts from its parent's RSS at fork (this pytest,
    with TensorFlow loaded, is over 1 GB); VmHWM belongs to the memory of the exec'd program alone.
    """
    script = (
        "import sys\n"
        "from galaxy_edge.cli import cli\n"
        "try:\n"
        "    cli(sys.argv[1:], prog_name='galaxy-edge', standalone_mode=False)\n"
        "finally:\n"
        "    hwm = [line for line in open('/proc/self/status') if line.startswith('VmHWM:')][0]\n"
        "    print('PEAK', int(hwm.split()[1]) // 1024, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True, timeout=300)
    peak = int(result.stderr.rsplit("PEAK ", 1)[1].split()[0])
    return result, peak


@pytest.mark.parametrize("name", ["grey16.png", "rgb36.png"])
def test_classify_on_a_big_accepted_image_peaks_under_300_mb(int8, big_images, name):
    result, peak = child_peak_mb(["classify", "--json", "--model", int8, big_images / name])
    assert result.returncode == 0, result.stderr
    assert "label" in json.loads(result.stdout.splitlines()[0])
    assert peak <= 300, f"{name}: peak RSS {peak} MB"


def test_a_folder_of_big_images_decodes_them_one_at_a_time(int8, big_images):
    result, peak = child_peak_mb(["classify", "--json", "--decode-threads", "2", "--model", int8, big_images])
    records = {Path(r["path"]).name: r for r in json_lines(result.stdout)}
    assert "label" in records["grey16.png"] and "label" in records["rgb36.png"]
    assert records["rgb56.png"]["error"] == (
        "image is too large to decode (8000x7000 RGB needs 214 MB; the limit is 160 MB)"
    )
    assert peak <= 300, f"peak RSS {peak} MB"


def zeros_npz(path, n, side):
    """An honest npz of n black side x side images, written in chunks (the test never holds it whole)."""
    import io

    def header(shape, dtype):
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape})
        return buf.getvalue()

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open("data.npy", "w", force_zip64=True) as f:
            f.write(header((n, side, side, 3), np.uint8))
            row = bytes(side * side * 3)
            for _ in range(n):
                f.write(row)
        z.writestr("labels.npy", header((n,), np.int64) + (np.arange(n) % 4).astype(np.int64).tobytes())
    return path


def test_evaluate_under_a_memory_limit_is_one_line(int8, tmp_path, address_space_limits):
    # Declared honestly, but more than the process may allocate under `ulimit -v`.
    path = zeros_npz(tmp_path / "large.npz", 12, 6000)
    result = galaxy_edge("evaluate", "--model", int8, "--data", path, preexec_fn=limited(1200))
    assert result.returncode == 1
    assert one_error_line(result.stderr) == f"Error: {path}: 12 images of 6000x6000 do not fit in the memory available"


def test_truncated_fits_read_in_parallel_threads_are_each_named_truncated(int8, tmp_path):
    # astropy only warns about a truncated FITS file, and catching warnings is process-wide state:
    # decoder threads reading FITS at once must not catch each other's warnings (or none).
    from astropy.io import fits

    good = tmp_path / "good.fits"
    fits.PrimaryHDU(np.random.default_rng(0).normal(100, 5, (300, 300)).astype(np.float32)).writeto(good)
    data = good.read_bytes()
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(40):
        (folder / f"t{i:02d}.fits").write_bytes(data[: len(data) - 2880 * (1 + i % 5)])
    result = galaxy_edge("classify", "--json", "--decode-threads", "4", "--model", int8, folder)
    assert result.returncode == 3
    errors = [r["error"] for r in json_lines(result.stdout)]
    assert len(errors) == 40 and all(e.startswith("truncated FITS file (") for e in errors), set(errors)
