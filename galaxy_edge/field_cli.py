"""The `field` command: FITS frames in, a classified galaxy catalogue out. Click and the standard library only.

astropy, sep and LiteRT are imported when the command runs (galaxy_edge.fits, galaxy_edge.runtime).
"""

import contextlib
import sys
from pathlib import Path

import click

from galaxy_edge.device_cli import EXIT_SOME_FAILED, MODEL_OPTION, PLANES_OPTION, THREADS_OPTION, _classifier
from galaxy_edge.fits.options import DetectOptions, FieldOptions
from galaxy_edge.output import echo

_DETECT, _FIELD = DetectOptions(), FieldOptions()


def _info(message):
    click.echo(message, err=True)


@click.command()
@click.argument("frames", nargs=-1, type=click.Path(path_type=Path))
@MODEL_OPTION
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="The catalogue: .csv, .jsonl or .fits (a FITS binary table).")
@click.option("--bands", multiple=True, metavar="B1,B2,B3",
              help="Three single-band frames of one field on one grid, bluest first (g,r,i): one colour frame. Repeatable.")
@PLANES_OPTION
@click.option("--preview", type=click.Path(path_type=Path),
              help="Also draw the frame with a labelled box on each galaxy to this PNG (one per frame: NAME-<frame>.png).")
@click.option("--threshold", type=click.FloatRange(0, min_open=True), default=_DETECT.threshold, show_default=True,
              help="Detection threshold in sky sigma.")
@click.option("--min-area", type=click.IntRange(1), default=_DETECT.min_area, show_default=True, help="Fewest connected pixels of a source.")
@click.option("--min-snr", type=click.FloatRange(0), default=_DETECT.min_snr, show_default=True,
              help="Fewest signal-to-noise a galaxy needs to be classified.")
@click.option("--galaxy-size", type=click.FloatRange(1), default=_DETECT.galaxy_size, show_default=True,
              help="A galaxy's half-light radius is more than this many times the PSF's.")
@click.option("--psf-r50", type=click.FloatRange(0, min_open=True),
              help="PSF half-light radius in pixels. Default: measured from the frame's stars.")
@click.option("--saturation", type=float, help="Saturation level in pixel units. Default: the SATURATE keyword.")
@click.option("--cutout-scale", type=click.FloatRange(1), default=_FIELD.cutout_scale, show_default=True,
              help="Side of a galaxy's cutout in half-light radii (the training images frame galaxies so).")
@click.option("--mask-stars/--keep-stars", default=_FIELD.mask_stars, show_default=True,
              help="Replace the stars in a galaxy's cutout by sky noise (training images hold no foreground stars), or keep them.")
@THREADS_OPTION
@click.option("--workers", type=click.IntRange(1), help="Run on a local Dask cluster of this many worker processes.")
@click.option("--scheduler", metavar="ADDRESS", help="Run on a running Dask cluster: tcp://host:8786 or a scheduler file.")
@click.option("--overwrite", is_flag=True, help="Replace --out and --preview if they exist.")
def field(frames, model, out, bands, planes, preview, threshold, min_area, min_snr, galaxy_size, psf_r50, saturation,
          cutout_scale, mask_stars, num_threads, workers, scheduler, overwrite):
    """Find the galaxies in FITS frames, classify each, and write one catalogue row per galaxy.

    FRAMES are FITS images (.fits, .fit, .fts, .gz, .bz2, tile-compressed .fz; the first HDU
    holding an image). sep subtracts the background, detects and deblends sources; the PSF is
    measured from the frame's stars, and sources larger than it are galaxies. Each galaxy is
    cut out, rendered like the training images and classified.

    \b
    Columns: frame, id, x, y (FITS pixels, first pixel 1), ra, dec (degrees, empty without
    WCS), flux, flux_err (frame units), snr, r50 (half-light radius, px), axis_ratio, theta
    (degrees from +x), cutout (side, px), flags, label, score, p_<class> for every class.
    Flags (bits): 1 blended, 2 edge (touches the frame edge or missing data), 4 saturated.

    \b
    --workers N (a local cluster) or --scheduler ADDRESS (a running one) send the frames to
    Dask workers, one frame per task, in order (needs the [cluster] extra; docs/scale.md).

    \b
    Exit status: 0 every frame done (a frame without galaxies adds no rows); 3 some frames
    could not be read (the others are still in the catalogue); 1 an error that stopped the run.
    """
    from galaxy_edge.errors import DataError
    from galaxy_edge.fits.catalogue import catalogue_format, write_catalogue
    from galaxy_edge.fits.field import COLUMNS

    units = [str(f) for f in frames] + [[b.strip() for b in spec.split(",")] for spec in bands]
    if not units:
        raise click.UsageError("give at least one FRAME or --bands")
    if workers and scheduler:
        raise click.UsageError("--workers starts a local cluster, --scheduler uses a running one: pass one of them")
    for spec in bands:
        if len(spec.split(",")) != 3:
            raise click.BadParameter(f"expected three files, bluest first, got {spec!r}", param_hint="--bands")
    catalogue_format(out)
    for path in [out] + ([preview] if preview else []):
        if path.exists() and not overwrite:
            raise DataError(f"{path}: already exists; choose another name or pass --overwrite")
    # As every device command opens its model: .tflite or .onnx, and a lost sidecar's warning said.
    clf = _classifier(model, num_threads)
    options = FieldOptions(
        detect=DetectOptions(threshold=threshold, min_area=min_area, min_snr=min_snr, galaxy_size=galaxy_size,
                             psf_r50=psf_r50, saturation=saturation),
        cutout_scale=cutout_scale,
        planes=planes,
        mask_stars=mask_stars,
    )
    columns = list(COLUMNS) + [f"p_{name}" for name in clf.class_names]
    echo(f"{'frame':<24} {'id':>5} {'x':>8} {'y':>8} {'ra':>11} {'dec':>11}  {'label':<10} {'score':>5}  flags")
    jobs = [(unit, _preview_path(preview, unit, len(units))) for unit in units]
    if workers or scheduler:
        results = _cluster_frames(model, options, num_threads, workers, scheduler, jobs)
    else:
        results = ((unit, shot, _frame_or_error(unit, clf, options, shot)) for unit, shot in jobs)
    with contextlib.closing(results):  # a cluster is shut down here, even when a write fails
        rows, failed = _collect(results, len(units))
    meta = {"MODEL": (Path(model).name, "galaxy-edge model"), "NFRAMES": (len(units) - failed, "frames in this catalogue")}
    write_catalogue(out, rows, columns, meta)
    _info(f"Wrote {len(rows)} galaxies from {len(units) - failed} frame(s) to {out}")
    if failed:
        _info(f"{failed} of {len(units)} frame(s) could not be read")
        sys.exit(EXIT_SOME_FAILED)


def _collect(results, count):
    """Print each frame's galaxies as its result comes; return all rows and the number of frames that failed."""
    from galaxy_edge.errors import DataError
    from galaxy_edge.fits.detect import FLAG_NAMES

    rows, failed = [], 0
    for unit, shot, result in results:
        name = unit if isinstance(unit, str) else ",".join(unit)
        if isinstance(result, str):
            if count == 1:
                raise DataError(result)
            failed += 1
            _info(f"Error: {result}")
            continue
        for row in result.rows:
            ra = "" if row["ra"] is None else f"{row['ra']:.6f}"
            dec = "" if row["dec"] is None else f"{row['dec']:.6f}"
            flag_text = ",".join(n for bit, n in FLAG_NAMES.items() if row["flags"] & bit)
            echo(f"{_short(name):<24} {row['id']:>5} {row['x']:>8.1f} {row['y']:>8.1f} {ra:>11} {dec:>11}  "
                       f"{row['label']:<10} {row['score']:5.3f}  {flag_text}".rstrip())
        rows.extend(result.rows)
        for note in result.warnings:
            _info(f"Warning: {name}: {note}")
        psf = f"PSF r50 {result.psf_r50:.2f} px ({result.psf_from})" if result.psf_r50 == result.psf_r50 else "no PSF"
        _info(f"{name}: {result.shape[1]}x{result.shape[0]} px, {result.sources} sources, "
              f"{len(result.rows)} galaxies; {psf}")
        if shot:
            _info(f"Preview: {shot}")
    return rows, failed


def _frame_or_error(unit, clf, options, shot):
    from galaxy_edge.errors import GalaxyEdgeError
    from galaxy_edge.fits.field import classify_frame

    try:
        return classify_frame(unit, clf, options, preview=shot)
    except GalaxyEdgeError as e:
        return str(e)


def _cluster_frames(model, options, num_threads, workers, scheduler, jobs):
    """(frame, preview, FrameResult or error text) from Dask workers, in order; Dask is imported only here."""
    import os

    from galaxy_edge.runtime.cluster import FieldBatch, dask_client, ordered_records

    task = FieldBatch(str(Path(model).resolve()), options, num_threads, cwd=os.getcwd())
    sent = [(unit, None if shot is None else str(shot)) for unit, shot in jobs]
    with dask_client(scheduler, workers) as client:
        for (unit, shot), (result,) in ordered_records(client, task, sent, batch_size=1):
            yield unit, shot, result


def _short(name, width=24):
    name = Path(name.split(",")[0]).name + ("+" if "," in name else "")
    return name if len(name) <= width else "..." + name[-(width - 3):]


def _preview_path(preview, unit, count):
    if preview is None or count == 1:
        return preview
    first = Path(unit if isinstance(unit, str) else unit[0]).name.split(".")[0]
    return preview.with_name(f"{preview.stem}-{first}{preview.suffix or '.png'}")
