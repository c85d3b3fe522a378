"""Soak `galaxy-edge watch`: kill -9 at random moments while images arrive, slow writers, a full disk freed later.

    python benchmarks/watch_soak.py --model export/model_int8.tflite [--images 400] [--seed 0]

A writer drops images into a folder: most the careful way (a `.part` name, renamed when whole),
some by a slow writer that stops half-way for longer than the poll interval and finishes later.
Meanwhile `watch` is killed with SIGKILL at random moments and started again at once. The results
file lives on a small tmpfs that fills up part-way (watch must stop with one line); the disk is then
enlarged, as if freed, and watch goes on. At the end a last `watch --once` drains the folder and the
results file is checked: every image must have exactly one classification as its final record, no
line may be torn, and nothing may be classified twice.

The full-disk phase needs root (to mount a tmpfs); without it that phase is skipped and said so.
Writes benchmarks/results/watch_soak.json and .md.
"""

import argparse
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def watch_cmd(sky, model, out, once=False):
    cmd = [sys.executable, "-m", "galaxy_edge", "watch", str(sky), "--model", str(model), "--out", str(out),
           "--interval", "0.1", "--quiet"]
    return cmd + (["--once"] if once else [])


def writer(sky, pngs, rng, slow_share, log):
    """Write every image; a `slow_share` of them stop half-way for 0.5-1.5 s (several polls)."""
    for i, data in enumerate(pngs):
        name = f"frame_{i:05d}.png"
        if rng.random() < slow_share:
            with open(sky / name, "wb") as f:
                f.write(data[: len(data) // 2])
                f.flush()
                time.sleep(rng.uniform(0.5, 1.5))
                f.write(data[len(data) // 2:])
            log["slow"] += 1
        else:
            (sky / f"{name}.part").write_bytes(data)
            os.replace(sky / f"{name}.part", sky / name)
        time.sleep(rng.uniform(0.0, 0.08))


def mount_tmpfs(path, size):
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True).returncode == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slow-share", type=float, default=0.1)
    parser.add_argument("--tag", default="")
    args = parser.parse_args()

    from PIL import Image

    from galaxy_edge.data.synth import generate

    rng = random.Random(args.seed)
    images, _ = generate(16, seed=args.seed)
    pngs = []
    for i in range(args.images):
        buf = io.BytesIO()
        Image.fromarray(images[i % 16]).resize((200, 200)).save(buf, "PNG")
        pngs.append(buf.getvalue())

    work = Path(tempfile.mkdtemp(prefix="watch-soak-"))
    sky, disk = work / "sky", work / "disk"
    sky.mkdir()
    disk.mkdir()
    # About 250 bytes a line: a disk that fills at about a third of the run.
    full_disk = mount_tmpfs(disk, "32k")
    out = disk / "results.jsonl"
    log = Counter()
    started = time.monotonic()
    thread = threading.Thread(target=writer, args=(sky, pngs, rng, args.slow_share, log), daemon=True)
    thread.start()
    freed = False
    try:
        while thread.is_alive():
            proc = subprocess.Popen(watch_cmd(sky, args.model, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True)
            deadline = time.monotonic() + rng.uniform(0.3, 2.5)
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.02)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                log["kills"] += 1
            else:
                stderr = proc.stderr.read()
                tb = "Traceback" in stderr
                log["tracebacks"] += tb
                if "No space left on device" in stderr:
                    log["full_disk_stops"] += 1
                    if not freed and full_disk:
                        # The operator frees space: the disk grows; watch is started again and goes on.
                        subprocess.run(["mount", "-o", "remount,size=4m", str(disk)], check=True)
                        freed = True
                else:
                    log["other_exits"] += 1
            proc.stderr.close()
        thread.join()
        time.sleep(0.2)
        final = subprocess.run(watch_cmd(sky, args.model, out, once=True), capture_output=True, text=True, timeout=600)
        log["tracebacks"] += "Traceback" in final.stderr
        data = out.read_bytes()
    finally:
        if full_disk:
            subprocess.run(["umount", "-l", str(disk)], check=False)
        shutil.rmtree(work, ignore_errors=True)

    lines = data.split(b"\n")
    torn = int(bool(lines[-1]))
    records, bad = [], 0
    for line in lines[:-1]:
        try:
            records.append(json.loads(line))
        except ValueError:
            bad += 1
    successes = Counter(r["file"] for r in records if "error" not in r)
    errors = Counter(r["file"] for r in records if "error" in r)
    final_record = {r["file"]: r for r in records}
    names = {f"frame_{i:05d}.png" for i in range(args.images)}
    result = {
        "images": args.images,
        "slow_writers": log["slow"],
        "kills": log["kills"],
        "full_disk": "tmpfs 32 KB, enlarged to 4 MB once full" if full_disk else "skipped (cannot mount a tmpfs)",
        "full_disk_stops": log["full_disk_stops"],
        "other_exits": log["other_exits"],
        "tracebacks": log["tracebacks"],
        "result_lines": len(records) + bad,
        "classified": len(successes),
        "duplicates": sum(n - 1 for n in successes.values()),
        "missing": len(names - set(successes)),
        "error_records_later_classified": sum(1 for f in errors if f in successes),
        "final_record_is_error": sum(1 for f in names if "error" in final_record.get(f, {"error": 1})),
        "torn_lines": torn + bad,
        "seconds": round(time.monotonic() - started, 1),
        "seed": args.seed,
    }
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"watch_soak{args.tag}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    md = [
        "# `watch` soak (benchmarks/watch_soak.py)",
        "",
        f"`python benchmarks/watch_soak.py --model MODEL --images {args.images} --seed {args.seed}`: a writer drops "
        f"{args.images} PNGs ({log['slow']} of them by a slow writer that stops half-way for 0.5-1.5 s), `watch` "
        f"(poll 0.1 s) is killed with SIGKILL at random moments and restarted, and its results file sits on a "
        f"{result['full_disk']}.",
        "",
        "| what | count |",
        "|---|---|",
    ] + [f"| {k.replace('_', ' ')} | {v} |" for k, v in result.items() if k not in ("seed",)] + [
        "",
        "Duplicates, missing, torn lines, tracebacks and final error records must all be 0.",
        "",
    ]
    stem.with_suffix(".md").write_text("\n".join(md))
    print(json.dumps(result, indent=2))
    ok = not (result["duplicates"] or result["missing"] or result["torn_lines"] or result["tracebacks"]
              or result["final_record_is_error"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
