"""Time and peak memory of `galaxy-edge field` on large frames, against a bare astropy + sep script.

The baseline is the least any such tool must do, measured here, now, on the same file: a script
that opens the frame with astropy, makes it native float32 (sep needs that), and runs sep's
background and extraction with the same settings. Targets: `field` <= 1.5x its time and <= 1.5x
its peak RSS. Frames:

1. the 2600 x 2600 tile-compressed real frame in ../shared/data/fits/waves-r-wide-frame (when present);
2. a 4096 x 4096 float32 synthetic frame (64 MB of pixels) from `galaxy-edge synth --field`.

Each process is timed from launch to exit; its peak RSS is read from `os.wait4`'s rusage for that
child alone. Medians over --repeats runs, the commands taking turns so the shared machine's load
falls on all of them alike.

Usage:
    python benchmarks/field_speed.py [--model M] [--python .venv-device/bin/python] [--repeats 3]
        [--out benchmarks/results/field_speed.json]
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from galaxy_edge import atomic  # noqa: E402

REAL_FRAME = ROOT.parent / "shared" / "data" / "fits" / "waves-r-wide-frame" / "r.fits"

# What every FITS source finder must do, and nothing more; the settings are galaxy-edge's defaults.
BARE = """
import sys
import numpy as np
import sep
from astropy.io import fits
with fits.open(sys.argv[1]) as hdul:
    hdu = next(h for h in hdul if h.header.get("NAXIS", 0) >= 2)
    data = hdu.data.astype(np.float32)
mask = np.isnan(data)
data[mask] = 0
sep.set_extract_pixstack(3_000_000)
sep.set_sub_object_limit(4096)
bkg = sep.Background(data, mask=mask, bw=64, bh=64, fw=3, fh=3)
bkg.subfrom(data)
objects = sep.extract(data, 3.0, err=bkg.globalrms, mask=mask, minarea=10, deblend_cont=0.005)
print(len(objects))
"""


def timed(cmd):
    """Run `cmd`; return (wall seconds, peak RSS MB of that child alone)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{err}")
    return wall, usage.ru_maxrss / 1024


def summary(runs):
    return {
        "seconds": round(statistics.median(r[0] for r in runs), 3),
        "peak_rss_mb": round(statistics.median(r[1] for r in runs), 1),
        "all_seconds": [round(r[0], 3) for r in runs],
    }


def interleaved(commands, repeats):
    """Medians of each command, run in turn (A, B, A, B, ...) so that the machine's load drifts over both alike."""
    runs = [[] for _ in commands]
    for _ in range(repeats):
        for i, cmd in enumerate(commands):
            runs[i].append(timed(cmd))
    return [summary(r) for r in runs]


def measure(python, frame, model, repeats, work):
    field = [python, "-m", "galaxy_edge", "field", str(frame), "--out", str(work / "c.csv"), "--overwrite"]
    if model:
        field += ["--model", str(model)]
    bare, ours, with_preview = interleaved(
        [[python, "-c", BARE, str(frame)], field, field + ["--preview", str(work / "p.png"), "--overwrite"]], repeats)
    return {
        "frame": str(frame),
        "bare_astropy_sep": bare,
        "field": ours,
        "field_with_preview": with_preview,
        "time_ratio": round(ours["seconds"] / bare["seconds"], 3),
        "rss_ratio": round(ours["peak_rss_mb"] / bare["peak_rss_mb"], 3),
    }


def markdown(report):
    lines = [
        "# `galaxy-edge field` on large frames: time and peak RSS against a bare astropy + sep script",
        "",
        f"{report['machine']}, {report['date']}; medians of {report['repeats']} runs; python: `{report['python']}`.",
        f"Load average (1, 5, 15 min) before the run: {report['load_average']['before']}; after: {report['load_average']['after']} "
        "(the machine is shared: the commands run in turn, so that its load falls on all of them alike).",
        f"Rerun: `{report['command']}`",
        "",
        "| frame | `field` time / bare | peak RSS / bare | `field` | bare astropy + sep | `field --preview` |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in report["frames"].items():
        f, b, p = r["field"], r["bare_astropy_sep"], r["field_with_preview"]
        lines.append(f"| {name} | **{r['time_ratio']}** (≤ 1.5) | **{r['rss_ratio']}** (≤ 1.5) | "
                     f"{f['seconds']} s, {f['peak_rss_mb']} MB | {b['seconds']} s, {b['peak_rss_mb']} MB | "
                     f"{p['seconds']} s, {p['peak_rss_mb']} MB |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="Default: the model shipped with galaxy-edge.")
    parser.add_argument("--python", default=sys.executable, help="The Python of the install to measure.")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "field_speed.json")
    args = parser.parse_args()
    frames = {}
    load_before = [round(v, 2) for v in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="field-speed-") as tmp:
        work = Path(tmp)
        if REAL_FRAME.exists():
            frames["real 2600x2600 tile-compressed float32 (WAVES r)"] = REAL_FRAME
        synth = work / "synth4k.fits"
        subprocess.run([args.python, "-m", "galaxy_edge", "synth", "--field", "--out", str(synth), "--size", "4096",
                        "--count", "200", "--stars", "2000", "--seed", "1"], check=True, capture_output=True)
        frames["synthetic 4096x4096 float32 (64 MB)"] = synth
        report = {
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{platform.machine()} {platform.platform()} ({os.cpu_count()} CPUs)",
            "python": args.python,
            "repeats": args.repeats,
            "command": "python benchmarks/field_speed.py " + " ".join(sys.argv[1:]),
            "frames": {name: measure(args.python, path, args.model, args.repeats, work) for name, path in frames.items()},
        }
    report["load_average"] = {"before": load_before, "after": [round(v, 2) for v in os.getloadavg()]}
    atomic.write_json(args.out, report)
    atomic.write_text(args.out.with_suffix(".md"), markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
