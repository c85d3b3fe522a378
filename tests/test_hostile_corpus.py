"""A hostile-input corpus, generated at test time, through every device command.

Each command must end without a traceback and with its documented exit status, still classify
the good files, and leave every file that was already there byte for byte as it was.
"""

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.device

GOOD = ("normal/good.png", "ringed/good.jpg", "merger/good.tif", "irregular/good16.png", "merger/good.fits")


def _png_claiming(side):
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


def _encoded(im, fmt, **kw):
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _npy(shape, dtype, body=b""):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape})
    return buf.getvalue() + body


def build_corpus(root):
    """Class folders of good and bad images, special files, and a set of bad .npz files.

    Returns:
        (images folder, list of npz paths, the good files' relative paths)
    """
    rng = np.random.default_rng(0)
    sky = (rng.random((300, 260, 3)) * 255).astype(np.uint8)
    rgb = Image.fromarray(sky)
    images = root / "images"
    for cls in ("normal", "ringed", "merger", "irregular"):
        (images / cls).mkdir(parents=True)
    rgb.save(images / GOOD[0])
    rgb.save(images / GOOD[1])
    rgb.save(images / GOOD[2])
    Image.fromarray((rng.random((200, 200)) * 65535).astype(np.uint16)).save(images / GOOD[3])
    good_png = (images / GOOD[0]).read_bytes()
    bad = {
        "empty.png": b"",
        "text.jpg": b"observing log, not an image\n",
        "truncated.png": good_png[: len(good_png) // 2],
        "header_only.png": good_png[:40],
        "bomb.png": _png_claiming(20000),
        "gif_named.png": _encoded(rgb.convert("P"), "GIF"),
        "zeros.tif": bytes(4096),
        "jpeg_head.jpg": _encoded(rgb, "JPEG")[:300],
        "html.png": b"<html><body>404 Not Found</body></html>",
    }
    for name, data in bad.items():
        (images / "normal" / name).write_bytes(data)
    # Every mode Pillow writes: each must come out as an RGB image (or a clear error).
    for mode in ("1", "L", "P", "LA", "RGBA", "I", "F", "CMYK"):
        im = rgb.convert(mode if mode not in ("I", "F") else "L").convert(mode) if mode != "LA" else rgb.convert("LA")
        im.save(images / "ringed" / f"mode_{mode}.tif")
    Image.new("RGB", (1, 1)).save(images / "merger" / "one_pixel.png")
    Image.new("L", (4000, 3)).save(images / "merger" / "thin_strip.png")
    # FITS frames: a good one, and the ways one can be bad.
    from astropy.io import fits

    flux = rng.normal(100, 5, (120, 110)).astype(np.float32)
    fits.PrimaryHDU(flux).writeto(images / "merger" / "good.fits")
    whole = (images / "merger" / "good.fits").read_bytes()
    (images / "merger" / "header_only.fits").write_bytes(whole[:2880])
    (images / "merger" / "truncated.fits").write_bytes(whole[: len(whole) - 3000])
    huge = fits.Header({"SIMPLE": True, "BITPIX": -32, "NAXIS": 2, "NAXIS1": 100000, "NAXIS2": 100000})
    (images / "merger" / "declares_10g_pixels.fits").write_bytes(huge.tostring().encode("ascii"))
    (images / "merger" / "notes.fits").write_text("SIMPLE? no: observing notes\n")
    fits.BinTableHDU.from_columns([fits.Column(name="x", format="E", array=np.zeros(3))]).writeto(
        images / "merger" / "table_only.fits")
    os.mkfifo(images / "merger" / "pipe.fits")
    # Special files and links.
    os.mkfifo(images / "irregular" / "pipe.png")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(images / "irregular" / "socket.jpg"))
    (images / "irregular" / "folder.jpg").mkdir()
    os.symlink("loop.png", images / "irregular" / "loop.png")
    os.symlink("/nonexistent/x.png", images / "irregular" / "dangling.png")
    os.symlink(os.path.abspath(images / GOOD[0]), images / "irregular" / "link_to_good.png")

    npzs = root / "npz"
    npzs.mkdir()
    labels = np.arange(4) % 4

    def zipped(name, members):
        with zipfile.ZipFile(npzs / name, "w", zipfile.ZIP_DEFLATED) as z:
            for member, data in members.items():
                z.writestr(member, data)

    np.savez(npzs / "pickled.npz", data=np.array([{"a": 1}], dtype=object), labels=np.array([0]))
    zipped("forged_header.npz", {"data.npy": _npy((200000, 128, 128, 3), np.uint8, b"\0" * 64),
                                 "labels.npy": _npy((200000,), np.int64, b"\0" * 64)})
    np.savez(npzs / "zero_by_zero.npz", data=np.zeros((4, 0, 0, 3), np.uint8), labels=labels)
    np.savez(npzs / "no_labels.npz", data=np.zeros((4, 8, 8, 3), np.uint8))
    np.savez(npzs / "float_pixels.npz", data=np.zeros((4, 8, 8, 3), np.float32), labels=labels)
    np.savez(npzs / "label_mismatch.npz", data=np.zeros((4, 8, 8, 3), np.uint8), labels=np.arange(3))
    np.savez(npzs / "bad_labels.npz", data=np.zeros((4, 8, 8, 3), np.uint8), labels=np.array([0, 1, 2, 9]))
    (npzs / "not_zip.npz").write_bytes(b"PK but not really")
    good_npz = io.BytesIO()
    np.savez(good_npz, data=np.zeros((4, 8, 8, 3), np.uint8), labels=labels)
    (npzs / "truncated.npz").write_bytes(good_npz.getvalue()[:200])
    os.mkfifo(npzs / "pipe.npz")
    return images, sorted(npzs.iterdir()), sock


def snapshot(root):
    """Every regular file under `root` and its SHA-256 (special files are left alone, never read)."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            if p.is_file() and not p.is_symlink():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def run(*args):
    result = subprocess.run([sys.executable, "-m", "galaxy_edge", *map(str, args)], capture_output=True, text=True,
                            timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    images, npzs, sock = build_corpus(root)
    yield root, images, npzs
    sock.close()


def test_every_device_command_survives_the_corpus(device_models, corpus, tmp_path):
    root, images, npzs = corpus
    model = device_models["int8"]
    before = snapshot(root)

    result = run("classify", "--json", "--model", model, images)
    assert result.returncode == 3
    records = {Path(r["path"]).relative_to(images).as_posix(): r for r in map(json.loads, result.stdout.splitlines())}
    for good in GOOD + ("irregular/link_to_good.png",):
        assert "label" in records[good], records[good]
    for name in ("irregular/pipe.png", "irregular/socket.jpg", "irregular/loop.png", "irregular/dangling.png",
                 "merger/header_only.fits", "merger/truncated.fits", "merger/declares_10g_pixels.fits",
                 "merger/notes.fits", "merger/table_only.fits", "merger/pipe.fits"):
        assert "error" in records[name], records[name]
    assert "irregular/folder.jpg" not in records
    for record in records.values():
        assert ("label" in record) != ("error" in record)
        assert record.get("error", "x") and "Errno" not in record.get("error", "")

    # Each file named on its own: same outcome, one record, never a hang.
    for path in sorted(p for p in images.rglob("*") if not p.is_dir()):
        one = run("classify", "--json", "--model", model, path)
        assert one.returncode in (0, 3), (path, one.stderr)
        assert len(one.stdout.splitlines()) == 1
    empty_folder = run("classify", "--model", model, images / "irregular" / "folder.jpg")
    assert empty_folder.returncode == 1 and empty_folder.stderr.startswith("Error: no images found in ")

    evaluate = run("evaluate", "--json", "--model", model, "--data", images)
    assert evaluate.returncode == 0, evaluate.stderr
    report = json.loads(evaluate.stdout)
    assert report["n"] >= len(GOOD) and report["skipped"]

    for npz in npzs:
        bad = run("evaluate", "--model", model, "--data", npz)
        assert bad.returncode == 1, npz
        [line] = [ln for ln in bad.stderr.splitlines() if not ln.startswith("INFO: ")]
        assert line.startswith(f"Error: {npz}: "), line

    bench = run("benchmark", "--model", model, "--images", images, "--runs", "3", "--warmup", "0")
    assert bench.returncode == 0, bench.stderr
    assert "skipped" in bench.stdout

    out = tmp_path / "results.jsonl"
    watch = run("watch", images, "--model", model, "--out", out, "--once", "--interval", "0.01")
    assert watch.returncode == 0, watch.stderr
    watched = {r["file"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(watched) == set(records)
    for good in GOOD:
        assert watched[good]["probabilities"] == records[good]["probabilities"]
    again = run("watch", images, "--model", model, "--out", out, "--once", "--interval", "0.01")
    assert again.returncode == 0 and len(out.read_text().splitlines()) == len(watched)

    assert snapshot(root) == before
