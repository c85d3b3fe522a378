"""How well does `galaxy-edge field` find, separate, place and classify galaxies, and what does one band cost?

On synthetic three-band fields (`galaxy_edge.data.synth_field`, 1024 x 1024, 24 galaxies of known
class and 120 stars each, PSF FWHM 3 px) run through `classify_frame` exactly as `galaxy-edge field
--bands` runs them:

1. detection completeness: share of the galaxies above --min-snr (optimal S/N of the noise-free
   galaxy) with a catalogue galaxy within max(3 px, their half-light radius) (target >= 95 %);
2. stars mistaken for galaxies: share of the stars above the same S/N with a catalogue galaxy within
   3 px (target <= 5 %), and share of the catalogue's rows that are such stars;
3. position error: median and 90th percentile distance of matched galaxies from their true centroid;
4. classification: accuracy of the field's galaxies (a missed galaxy counts as wrong) against the
   same galaxies classified from their ideal cutouts: the galaxy alone (no neighbours, no stars),
   the same noise, centred on its true centroid, framed by its true half-light radius, rendered by
   the same rendering (target ratio >= 0.95);
5. one band against three: the ideal cutouts rendered from the r band alone (grey) against g, r, i.

And on the real frames in ../shared/data/fits (when present): what was found.

Usage:
    python benchmarks/field_accuracy.py MODEL [--fields 200] [--first-seed 1000] [--deblend-cont 0.005] [--out benchmarks/results/field_accuracy.json]
"""

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from galaxy_edge import CLASS_NAMES, atomic  # noqa: E402
from galaxy_edge.data.synth_field import FieldSpec, _bands, draw_field  # noqa: E402
from galaxy_edge.fits.detect import DetectOptions  # noqa: E402
from galaxy_edge.fits.field import FieldOptions, classify_frame  # noqa: E402
from galaxy_edge.fits.render import render  # noqa: E402
from galaxy_edge.preprocess import from_array  # noqa: E402
from galaxy_edge.runtime.classifier import Classifier  # noqa: E402

SHARED_FITS = ROOT.parent / "shared" / "data" / "fits"
REAL_FRAMES = {
    "SDSS Hickson 88, g,r,i": [f"sdss-hcg88-gri/reprojected_sdss_{b}.fits.bz2" for b in "gri"],
    "HST Abell 2744 F105W": ["hst-a2744-f105w-field/abell_2744_cd_galaxy_f105w.fits.gz"],
    "VST r, GAMA G202627": ["vst-r-g202627-disturbed/VST_r.fits"],
    "WAVES r wide frame (no WCS)": ["waves-r-wide-frame/r.fits"],
}


def ideal_label(clf, stamp, corner, cx, cy, r50, scale, n_bands, rng):
    """Classify the galaxy alone: its noise-free stamp plus fresh noise, cut and rendered as `field` does.

    `corner` is the frame pixel of the stamp's first pixel; (cx, cy) the true centroid (0-based).
    """
    from galaxy_edge.data.synth_field import NOISE, STAMP

    bands = _bands(stamp, n_bands)
    side = int(np.clip(round(scale * r50), 24, 1024))
    canvas = np.zeros((bands.shape[0], side, side), dtype=np.float32)
    ox, oy = int(round(cx)) - side // 2, int(round(cy)) - side // 2
    sx, sy = corner
    # The overlap of the cutout [ox, ox + side) and the stamp [sx, sx + STAMP), in frame pixels.
    x0, x1 = max(ox, sx), min(ox + side, sx + STAMP)
    y0, y1 = max(oy, sy), min(oy + side, sy + STAMP)
    canvas[:, y0 - oy:y1 - oy, x0 - ox:x1 - ox] = bands[:, y0 - sy:y1 - sy, x0 - sx:x1 - sx]
    canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * np.float32(NOISE)
    image = from_array(render(canvas, sky=0.0, noise=[NOISE] * bands.shape[0]), clf.input_size)
    return int(np.argmax(clf.probabilities(image)))


def synthetic(clf, n_fields, first_seed, min_snr, options):
    rng = np.random.default_rng(2026)
    per = []
    galaxies = stars = found = stars_hit = rows_total = 0
    offsets, field_right, ideal_right, grey_right, agree = [], 0, 0, 0, 0
    per_class = {c: [0, 0, 0, 0] for c in CLASS_NAMES}  # n, field right, ideal right, grey right
    start = time.perf_counter()
    for seed in range(first_seed, first_seed + n_fields):
        spec = FieldSpec(seed=seed, bands=3)
        drawn = draw_field(spec, keep_stamps=True)
        # Each field's three FITS files (12 MB) last only while it is classified: 200 fields would leave 2.4 GB.
        with tempfile.TemporaryDirectory(prefix="field-bench-") as tmp:
            result = classify_frame(_write_fits(drawn, Path(tmp)), clf, options)
        rows_total += len(result.rows)
        xy = np.array([[r["x"], r["y"]] for r in result.rows]).reshape(-1, 2)
        labels = [CLASS_NAMES.index(r["label"]) for r in result.rows]
        stamps = iter(drawn.stamps)
        for t in drawn.truth:
            p = np.array([t["x"], t["y"]])
            d = np.hypot(*(xy - p).T) if len(xy) else np.array([np.inf])
            k = int(np.argmin(d))
            if t["kind"] == "galaxy":
                stamp, corner = next(stamps)
                if t["snr"] < min_snr:
                    continue
                galaxies += 1
                truth = CLASS_NAMES.index(t["class"])
                hit = d[k] <= max(3.0, t["r50"])
                found += hit
                if hit:
                    offsets.append(float(d[k]))
                got = labels[k] if hit else -1
                cx, cy = t["x"] - 1, t["y"] - 1
                ideal = ideal_label(clf, stamp, corner, cx, cy, t["r50"], options.cutout_scale, 3, rng)
                grey = ideal_label(clf, stamp, corner, cx, cy, t["r50"], options.cutout_scale, 1, rng)
                field_right += got == truth
                ideal_right += ideal == truth
                grey_right += grey == truth
                agree += got == ideal
                c = per_class[t["class"]]
                c[0] += 1
                c[1] += got == truth
                c[2] += ideal == truth
                c[3] += grey == truth
            elif t["snr"] >= min_snr:
                stars += 1
                stars_hit += bool(d[k] <= 3.0)
        per.append({"seed": spec.seed, "sources": result.sources, "galaxy_rows": len(result.rows),
                    "psf_r50": round(result.psf_r50, 3)})
    field_acc, ideal_acc, grey_acc = field_right / galaxies, ideal_right / galaxies, grey_right / galaxies
    return {
        "fields": n_fields,
        "first_seed": first_seed,
        "field_spec": {k: v for k, v in FieldSpec(bands=3).__dict__.items() if k != "seed"},
        "min_snr": min_snr,
        "galaxies_above_snr": galaxies,
        "stars_above_snr": stars,
        "completeness": round(found / galaxies, 4),
        "stars_called_galaxies": round(stars_hit / max(stars, 1), 4),
        "catalogue_rows": rows_total,
        "catalogue_rows_that_are_stars": round(stars_hit / max(rows_total, 1), 4),
        "position_error_px": {"median": round(float(np.median(offsets)), 3),
                              "p90": round(float(np.percentile(offsets, 90)), 3)},
        "accuracy": {"field": round(field_acc, 4), "ideal_cutouts": round(ideal_acc, 4),
                     "ratio_field_to_ideal": round(field_acc / ideal_acc, 4) if ideal_acc else None,
                     "field_agrees_with_ideal": round(agree / galaxies, 4)},
        "one_band_vs_three": {"ideal_three_bands": round(ideal_acc, 4), "ideal_r_band_only": round(grey_acc, 4),
                              "ratio_one_to_three": round(grey_acc / ideal_acc, 4) if ideal_acc else None},
        "per_class": {c: {"n": v[0], "field": v[1], "ideal": v[2], "grey": v[3]} for c, v in per_class.items()},
        "per_field": per,
        "seconds": round(time.perf_counter() - start, 1),
    }


def _write_fits(drawn, folder):
    """The drawn bands as three FITS files in `folder` (classify_frame reads files, as the CLI does); their paths."""
    from astropy.io import fits

    paths = []
    for i, band in enumerate(drawn.data):
        path = folder / f"f_{'gri'[i]}.fits"
        fits.PrimaryHDU(band, header=drawn.header).writeto(path)
        paths.append(str(path))
    return paths


def real(clf, options):
    found = {}
    for name, files in REAL_FRAMES.items():
        paths = [SHARED_FITS / f for f in files]
        if not all(p.exists() for p in paths):
            continue
        start = time.perf_counter()
        result = classify_frame([str(p) for p in paths] if len(paths) > 1 else str(paths[0]), clf, options)
        labels = [r["label"] for r in result.rows]
        found[name] = {
            "size": f"{result.shape[1]}x{result.shape[0]}",
            "sources": result.sources,
            "galaxies": len(result.rows),
            "unflagged_galaxies": sum(r["flags"] == 0 for r in result.rows),
            "psf_r50_px": round(result.psf_r50, 2),
            "psf_from": result.psf_from,
            "labels": {c: labels.count(c) for c in CLASS_NAMES},
            "warnings": result.warnings,
            "seconds": round(time.perf_counter() - start, 2),
        }
    return found


def markdown(report):
    s, a, b = report["synthetic"], report["synthetic"]["accuracy"], report["synthetic"]["one_band_vs_three"]
    lines = [
        "# `galaxy-edge field` on synthetic and real frames",
        "",
        f"Model: `{report['model']}`. {report['machine']}, {report['date']}.",
        f"Rerun: `{report['command']}`",
        "",
        f"Cutouts framed by {report['cutout_scale']:g} half-light radii; stars in them "
        + ("replaced by sky noise (`field`'s default)." if report.get("mask_stars", True) else "kept (`--keep-stars`)."),
        "",
        f"## {s['fields']} synthetic g,r,i fields (1024 x 1024, 24 galaxies and 120 stars each, PSF FWHM 3 px)",
        "",
        "| figure | measured | target |",
        "|---|---|---|",
        f"| detection completeness, galaxies with optimal S/N >= {s['min_snr']:g} ({s['galaxies_above_snr']}) | **{s['completeness']:.1%}** | >= 95 % |",
        f"| stars (S/N >= {s['min_snr']:g}, {s['stars_above_snr']}) called galaxies | **{s['stars_called_galaxies']:.1%}** | <= 5 % |",
        f"| catalogue rows that are stars | {s['catalogue_rows_that_are_stars']:.1%} of {s['catalogue_rows']} | |",
        f"| position error of found galaxies | median {s['position_error_px']['median']} px, 90 % within {s['position_error_px']['p90']} px | |",
        f"| classification accuracy: field / ideal cutouts | **{a['ratio_field_to_ideal']}** ({a['field']:.1%} / {a['ideal_cutouts']:.1%}) | >= 0.95 |",
        f"| field label = ideal-cutout label | {a['field_agrees_with_ideal']:.1%} | |",
        f"| one band (r, grey) / three bands (g,r,i), ideal cutouts | **{b['ratio_one_to_three']}** ({b['ideal_r_band_only']:.1%} / {b['ideal_three_bands']:.1%}) | |",
        "",
        "Per class (galaxies, right in the field, from ideal cutouts, from ideal r-band cutouts):",
        "",
        "| class | n | field | ideal g,r,i | ideal r only |",
        "|---|---|---|---|---|",
    ]
    for c, v in s["per_class"].items():
        lines.append(f"| {c} | {v['n']} | {v['field']} | {v['ideal']} | {v['grey']} |")
    lines += ["", "## Real frames (../shared/data/fits)", "",
              "| frame | size | sources | galaxies (unflagged) | PSF r50 | labels | time |", "|---|---|---|---|---|---|---|"]
    for name, r in report["real"].items():
        labels = ", ".join(f"{c} {n}" for c, n in r["labels"].items())
        lines.append(f"| {name} | {r['size']} | {r['sources']} | {r['galaxies']} ({r['unflagged_galaxies']}) | "
                     f"{r['psf_r50_px']} px ({r['psf_from']}) | {labels} | {r['seconds']} s |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--fields", type=int, default=200,
                        help="How many fields (about 21 galaxies above S/N 50 each); 30 left completeness 2 points "
                             "higher than 200 others did.")
    parser.add_argument("--first-seed", type=int, default=1000,
                        help="Fields are drawn with seeds FIRST_SEED, FIRST_SEED + 1, ...; another range checks a "
                             "choice made on the default one.")
    parser.add_argument("--min-snr", type=float, default=50.0)
    parser.add_argument("--deblend-cont", type=float, default=DetectOptions().deblend_cont,
                        help="sep's deblending contrast (DetectOptions.deblend_cont).")
    parser.add_argument("--cutout-scale", type=float, default=FieldOptions().cutout_scale)
    parser.add_argument("--keep-stars", action="store_true", help="As `field --keep-stars`: stars stay in the cutouts.")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "field_accuracy.json")
    args = parser.parse_args()
    clf = Classifier(args.model)
    detect = DetectOptions(deblend_cont=args.deblend_cont)
    options = FieldOptions(detect=detect, cutout_scale=args.cutout_scale, mask_stars=not args.keep_stars)
    report = {
        "model": str(args.model),
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {platform.platform()}, Python {platform.python_version()}",
        "command": "python benchmarks/field_accuracy.py " + " ".join(sys.argv[1:]),
        "detect_options": detect.__dict__,
        "cutout_scale": args.cutout_scale,
        "mask_stars": options.mask_stars,
        "synthetic": synthetic(clf, args.fields, args.first_seed, args.min_snr, options),
        "real": real(clf, options),
    }
    atomic.write_json(args.out, report)
    atomic.write_text(args.out.with_suffix(".md"), markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
