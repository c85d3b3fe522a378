"""Conversion time and size of every export variant, as ratios against float32 from the same run.

    python benchmarks/export_variants.py [RUN]      # default: the latest run under runs/

Exports RUN to a temporary folder with all four variants (the parity check runs too) and writes
benchmarks/results/export_variants.json and .md. The int8 file should be at most 0.40 of float32.
"""

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from galaxy_edge import atomic  # noqa: E402
from galaxy_edge.export import VARIANTS, ExportOptions, export_run, latest_run  # noqa: E402


def main():
    run = Path(sys.argv[1]) if len(sys.argv) > 1 else latest_run(ROOT / "runs")
    with tempfile.TemporaryDirectory() as out:
        started = time.monotonic()
        report = export_run(run, out, ExportOptions(variants=list(VARIANTS), min_agreement=0.0), log=lambda *a: None)
        total = time.monotonic() - started
    f32 = report["variants"]["float32"]
    rows = {
        v: {
            "size_bytes": r["size_bytes"],
            "size_vs_float32": round(r["size_bytes"] / f32["size_bytes"], 3),
            "conversion_seconds": r["conversion_seconds"],
            "conversion_vs_float32": round(r["conversion_seconds"] / f32["conversion_seconds"], 2),
            "agreement_with_keras": r["agreement"],
            "xnnpack_partitions": r["xnnpack_partitions"],
        }
        for v, r in report["variants"].items()
    }
    result = {"run": str(run), "validation_images": report["keras"]["n"], "export_seconds_all": round(total, 1), "variants": rows}
    lines = [
        f"# Export variants of `{run}`",
        "",
        f"Command: `python benchmarks/export_variants.py {run}`; whole export with parity checks {total:.0f} s.",
        "",
        "| variant | size | size / float32 | conversion s | conversion / float32 | agreement with Keras | XNNPACK partitions |",
        "|---|---|---|---|---|---|---|",
    ]
    for v, r in rows.items():
        lines.append(
            f"| {v} | {r['size_bytes'] / 1024:.1f} KB | {r['size_vs_float32']:.2f} | {r['conversion_seconds']:.1f} | "
            f"{r['conversion_vs_float32']:.2f} | {r['agreement_with_keras']:.1%} | {r['xnnpack_partitions']} |"
        )
    atomic.write_json(ROOT / "benchmarks/results/export_variants.json", result)
    atomic.write_text(ROOT / "benchmarks/results/export_variants.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
