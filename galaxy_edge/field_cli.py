"""The `field` command: FITS frames in, a classified galaxy catalogue out. Click and the standard library only.

astropy, sep and LiteRT are imported when the command runs (galaxy_edge.fits, galaxy_edge.runtime).
"""

import contextlib
import sys
from pathlib import Path

import click

from galaxy_edge.device_cli import EXIT_SOME_FAILED, MODEL_OPTION, THREADS_OPTION, _classifier
from galaxy_edge.fits.options import DetectOptions, FieldOptions
from galaxy_edge.output import echo

_DETECT, _FIELD = DetectOptions(), FieldOptions()


def _info(message):
    click.echo(message, err=True)


def _numbers(ctx, param, value):
    if value is None:
        return None
    try:
        return [int(v) for v in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected plane numbers like 1,2,3, got {value!r}") from None


@click.command()
@click.argument("frames", nargs=-1, type=click.Path(path_type=Path))
@MODEL_OPTION
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="The catalogue: .csv, .jsonl or .fits (a FITS binary table).")
@click.option("--positions", type=click.Path(path_type=Path),
              help="A catalogue (.csv or .parquet) of targets: classify the galaxy at each position instead of detecting.")
@click.option("--bands", multiple=True, metavar="B1,B2,B3",
              help="Three single-band frames of one field on one grid, bluest first (g,r,i): one colour frame. Repeatable.")
@click.option("--planes", callback=_numbers, metavar="P1,P2,P3",
              help="For a cube: the planes (1-based, bluest first) to use, one or three. Default: all of a 1- or 3-plane cube.")
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
@click.option("--cutout-size", type=click.IntRange(1), default=_FIELD.cutout_size, show_default=True,
              help="With --positions: the cutout's side in pixels for a target whose row has no size.")
@THREADS_OPTION
@click.option("--workers", type=click.IntRange(1), help="Run on a local Dask cluster of this many worker processes.")
@click.option("--scheduler", metavar="ADDRESS", help="Run on a running Dask cluster: tcp://host:8786 or a scheduler file.")
@click.option("--resume", is_flag=True,
              help="Finish an interrupted run into --out (.csv or .jsonl): only the frames and targets not yet in it.")
@click.option("--overwrite", is_flag=True, help="Replace --out and --preview if they exist.")
def field(frames, model, out, positions, bands, planes, preview, threshold, min_area, min_snr, galaxy_size, psf_r50,
          saturation, cutout_scale, cutout_size, num_threads, workers, scheduler, resume, overwrite):
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
    --positions TARGETS: a CSV or Parquet table with a frame (or path) column, x and y (FITS
    pixels) or ra and dec (degrees), and optionally id and size (cutout side, px): the galaxy
    at each position is cut out and classified, nothing is detected. Rows keep the id (default
    the row number); the measured columns stay empty, and an error column says why a row has no
    label (no such frame, off the frame, RA/Dec on a frame without WCS); the others go on.

    \b
    --workers N (a local cluster) or --scheduler ADDRESS (a running one) send the frames to
    Dask workers, one frame per task, in order (needs the [cluster] extra; docs/scale.md).

    \b
    CSV and JSON Lines catalogues are written frame by frame; --resume finishes a run that
    was stopped (even by kill -9) into its own catalogue: frames and targets already in it
    are skipped, the last frame in it is done again and only its missing galaxies appended.

    \b
    Exit status: 0 every frame done (a frame without galaxies adds no rows); 3 some frames
    (or targets) could not be read (the others are still in the catalogue); 1 an error that
    stopped the run.
    """
    from galaxy_edge.errors import DataError
    from galaxy_edge.fits.catalogue import CatalogueFile, catalogue_format, check_new
    from galaxy_edge.fits.field import COLUMNS

    units = [str(f) for f in frames] + [[b.strip() for b in spec.split(",")] for spec in bands]
    if positions and units:
        raise click.UsageError("give FRAMES (or --bands) to detect galaxies, or --positions to classify targets: not both")
    if not units and not positions:
        raise click.UsageError("give at least one FRAME, --bands or --positions")
    if positions and preview:
        raise click.UsageError("--preview draws the galaxies detected in FRAMES; --positions detects none")
    if workers and scheduler:
        raise click.UsageError("--workers starts a local cluster, --scheduler uses a running one: pass one of them")
    if resume and overwrite:
        raise click.UsageError("--resume finishes the run in --out, --overwrite replaces it: pass one of them")
    for spec in bands:
        if len(spec.split(",")) != 3:
            raise click.BadParameter(f"expected three files, bluest first, got {spec!r}", param_hint="--bands")
    if catalogue_format(out) == "fits" and resume:
        raise click.UsageError("--resume needs a .csv or .jsonl catalogue (written frame by frame); "
                               "a FITS table is written once, at the end")
    check_new(out, resume, overwrite)  # before any work, as the preview below
    if preview and preview.exists() and not (overwrite or resume):
        raise DataError(f"{preview}: already exists; choose another name or pass --overwrite")
    # As every device command opens its model: .tflite or .onnx, and a lost sidecar's warning said.
    clf = _classifier(model, num_threads)
    options = FieldOptions(
        detect=DetectOptions(threshold=threshold, min_area=min_area, min_snr=min_snr, galaxy_size=galaxy_size,
                             psf_r50=psf_r50, saturation=saturation),
        cutout_scale=cutout_scale,
        cutout_size=cutout_size,
        planes=planes,
    )
    columns = list(COLUMNS) + [f"p_{name}" for name in clf.class_names] + (["error"] if positions else [])
    catalogue = CatalogueFile(out, columns, resume=resume, overwrite=overwrite)
    if catalogue.done:
        _info(f"Resuming {out}: {len(catalogue.done)} row(s) of {len(catalogue.frames)} frame(s) already in it")
    if positions:
        from galaxy_edge.fits.positions import read_targets

        # Targets already in the catalogue are skipped; a frame with none left is not read at all.
        jobs = ((frame, kept) for frame, targets in read_targets(positions)
                if (kept := [t for t in targets if (frame, str(t.id)) not in catalogue.done]))
    else:
        # A frame in the catalogue is done, but the last one, which a kill may have cut short.
        names = [(unit, unit if isinstance(unit, str) else ",".join(unit)) for unit in units]
        jobs = [(unit, _preview_path(preview, unit, len(units))) for unit, name in names
                if name not in catalogue.frames or name == catalogue.last]
    echo(f"{'frame':<24} {'id':>5} {'x':>8} {'y':>8} {'ra':>11} {'dec':>11}  {'label':<10} {'score':>5}  flags")
    if workers or scheduler:
        results = _cluster_frames(model, options, num_threads, workers, scheduler, jobs, positions)
    elif positions:
        from galaxy_edge.fits.field import classify_positions

        results = ((frame, None, classify_positions(frame, targets, clf, options)) for frame, targets in jobs)
    else:
        results = ((unit, shot, _frame_or_error(unit, clf, options, shot)) for unit, shot in jobs)
    # A cluster is shut down, and what was written is closed, even when a frame or a write fails.
    with contextlib.closing(catalogue), contextlib.closing(results):
        galaxies, frames_done, failed = _collect(results, catalogue, single=len(units) == 1)
        catalogue.finish({"MODEL": (Path(model).name, "galaxy-edge model"), "NFRAMES": (frames_done, "frames in this catalogue")})
    _info(f"Wrote {galaxies} galaxies from {frames_done} frame(s) to {out}")
    if failed:
        _info(f"{failed} target(s) could not be classified" if positions else
              f"{failed} of {len(jobs)} frame(s) could not be read")
        sys.exit(EXIT_SOME_FAILED)


def _collect(results, catalogue, single):
    """Print and write each frame's rows as its result comes; return galaxies written, frames done, failures."""
    from galaxy_edge.errors import DataError

    galaxies = frames = failed = 0
    for unit, shot, result in results:
        name = unit if isinstance(unit, str) else ",".join(unit)
        if isinstance(result, str):
            if single:
                raise DataError(result)
            failed += 1
            _info(f"Error: {result}")
            continue
        rows = catalogue.write(result if isinstance(result, list) else result.rows)
        for row in rows:
            _print_row(name, row)
        frames += 1
        galaxies += sum(row.get("error") is None for row in rows)
        failed += sum(row.get("error") is not None for row in rows)
        if isinstance(result, list):
            continue
        for note in result.warnings:
            _info(f"Warning: {name}: {note}")
        psf = f"PSF r50 {result.psf_r50:.2f} px ({result.psf_from})" if result.psf_r50 == result.psf_r50 else "no PSF"
        _info(f"{name}: {result.shape[1]}x{result.shape[0]} px, {result.sources} sources, "
              f"{len(result.rows)} galaxies; {psf}")
        if shot:
            _info(f"Preview: {shot}")
    return galaxies, frames, failed


def _print_row(name, row):
    from galaxy_edge.fits.detect import FLAG_NAMES

    if row.get("error") is not None:
        echo(f"{_short(name):<24} {row['id']:>5}  error: {row['error']}")
        return
    ra = "" if row["ra"] is None else f"{row['ra']:.6f}"
    dec = "" if row["dec"] is None else f"{row['dec']:.6f}"
    flag_text = ",".join(n for bit, n in FLAG_NAMES.items() if row["flags"] & bit)
    echo(f"{_short(name):<24} {row['id']:>5} {row['x']:>8.1f} {row['y']:>8.1f} {ra:>11} {dec:>11}  "
         f"{row['label']:<10} {row['score']:5.3f}  {flag_text}".rstrip())


def _frame_or_error(unit, clf, options, shot):
    from galaxy_edge.errors import GalaxyEdgeError
    from galaxy_edge.fits.field import classify_frame

    try:
        return classify_frame(unit, clf, options, preview=shot)
    except GalaxyEdgeError as e:
        return str(e)


def _cluster_frames(model, options, num_threads, workers, scheduler, jobs, positions):
    """(frame, preview, result) from Dask workers, in order, one frame per task; Dask is imported only here.

    A result is a FrameResult or an error text, or with `positions` a frame's rows.
    """
    import os

    from galaxy_edge.runtime.cluster import FieldBatch, PositionsBatch, dask_client, ordered_records

    task = (PositionsBatch if positions else FieldBatch)(str(Path(model).resolve()), options, num_threads, cwd=os.getcwd())
    sent = jobs if positions else ((unit, None if shot is None else str(shot)) for unit, shot in jobs)
    with dask_client(scheduler, workers) as client:
        for (unit, shot), (result,) in ordered_records(client, task, sent, batch_size=1):
            yield unit, None if positions else shot, result


def _short(name, width=24):
    name = Path(name.split(",")[0]).name + ("+" if "," in name else "")
    return name if len(name) <= width else "..." + name[-(width - 3):]


def _preview_path(preview, unit, count):
    if preview is None or count == 1:
        return preview
    first = Path(unit if isinstance(unit, str) else unit[0]).name.split(".")[0]
    return preview.with_name(f"{preview.stem}-{first}{preview.suffix or '.png'}")
