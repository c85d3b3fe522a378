"""The device commands: `classify`, `evaluate`, `benchmark`, `watch`. Click and the standard library only.

Each callback imports its backend from `galaxy_edge.runtime` (numpy, Pillow, LiteRT) when it runs,
so the CLI starts fast; none of them imports TensorFlow, except `evaluate` on a Keras model.
"""

import contextlib
import json
import os
import sys
import time
from pathlib import Path

import click

from galaxy_edge.output import echo as _echo
from galaxy_edge.output import flush_stdout

# Exit status of `classify` when at least one image could not be classified. Click itself uses 2
# for a bad command line and galaxy-edge uses 1 for `Error: ...`, so scripts can tell them apart.
EXIT_SOME_FAILED = 3

# Show progress on a non-terminal stderr only for batches at least this large.
PROGRESS_MIN_BATCH = 500

def _model_or_default(ctx, param, value):
    # Resolved here, once, so every device command defaults to the model shipped in the package.
    if value is not None:
        return value
    from galaxy_edge.default_model import default_model_path

    return default_model_path("int8")


MODEL_OPTION = click.option(
    "--model",
    type=click.Path(path_type=Path),
    callback=_model_or_default,
    help="A .tflite (or, with onnxruntime, .onnx) file from `galaxy-edge export`, with its .json metadata "
    "beside it. Default: the int8 model shipped with galaxy-edge.",
)


def _plane_numbers(ctx, param, value):
    if value is None:
        return None
    try:
        return tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected plane numbers like 1,2,3, got {value!r}") from None


def _band_names(ctx, param, value):
    if value is None:
        return None
    from galaxy_edge.fits.band_files import parse_bands

    try:
        return parse_bands(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


PLANES_OPTION = click.option(
    "--planes", callback=_plane_numbers, metavar="P1,P2,P3",
    help="For FITS cubes: the planes (1-based, bluest first) to use, one or three. Default: all of a 1- or 3-plane cube.",
)
BANDS_OPTION = click.option(
    "--bands", callback=_band_names, metavar="B1,B2,B3",
    help="Single-band FITS files whose names differ only by these band tokens, bluest first, are one galaxy: "
    "--bands g,r,i makes NGC7479_g.fits, _r and _i one image, NGC7479_{g,r,i}.fits.",
)
THREADS_OPTION = click.option(
    "--num-threads",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Interpreter threads per invoke.",
)


def _info(message):
    click.echo(message, err=True)


def _classifier(model, num_threads):
    from galaxy_edge.runtime.classifier import open_model

    clf = open_model(model, num_threads=num_threads)
    for warning in clf.warnings:
        _info(f"Warning: {warning}")
    return clf


class _Progress:
    """`n/N images` on stderr: redrawn in place on a terminal, every ~10% otherwise, silent for small batches."""

    def __init__(self, total, enabled):
        tty = sys.stderr.isatty()
        self.total = total
        self.tty = tty
        self.enabled = enabled and total > 1 and (tty or total >= PROGRESS_MIN_BATCH)
        self.done = 0
        self.failed = 0
        self.start = time.perf_counter()
        self._last = 0.0
        self._step = max(1, total // 10)

    def update(self, failed):
        self.done += 1
        self.failed += failed
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.tty and (now - self._last > 0.1 or self.done == self.total):
            self._last = now
            click.echo(f"\r{self._text(now)}", err=True, nl=False)
        elif not self.tty and (self.done % self._step == 0 or self.done == self.total):
            _info(self._text(now))

    def close(self):
        if self.enabled and self.tty:
            click.echo("", err=True)

    def _text(self, now):
        rate = self.done / max(now - self.start, 1e-9)
        failed = f", {self.failed} failed" if self.failed else ""
        return f"{self.done}/{self.total} images ({rate:.0f}/s{failed})"


@click.command()
@click.argument("images", nargs=-1, required=True)
@MODEL_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line on stdout instead of a table.")
@click.option("--out", type=click.Path(path_type=Path), help="Write results to this file instead: .jsonl, .csv or .parquet.")
@click.option("--resume", is_flag=True, help="Finish an interrupted run: classify only the images not yet in --out.")
@click.option("--top-k", type=click.IntRange(1), default=1, show_default=True, help="Classes shown per image.")
@THREADS_OPTION
@click.option("--decode-threads", type=click.IntRange(1),
              help="Threads that decode and classify, in each process. Default: one per core; "
              "with --workers, cores / workers; with --scheduler, 1 (one per Dask worker thread).")
@click.option("--workers", type=click.IntRange(1), help="Run on a local Dask cluster of this many worker processes.")
@click.option("--scheduler", metavar="ADDRESS", help="Run on a running Dask cluster: tcp://host:8786 or a scheduler file.")
@click.option("--batch-size", type=click.IntRange(1), default=256, show_default=True, help="Images per cluster task.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress on stderr for long batches.")
@BANDS_OPTION
@PLANES_OPTION
def classify(images, model, as_json, out, resume, top_k, num_threads, decode_threads, workers, scheduler, batch_size,
             progress, bands, planes):
    """Classify galaxy images with a .tflite model, without TensorFlow.

    IMAGES are PNG, JPEG, TIFF or FITS files, folders (searched recursively, hidden files skipped),
    catalogues (.csv or .parquet with a `path` column, relative to the catalogue's folder), or -
    to read paths from stdin, one per line. Results keep the order of the inputs.

    \b
    FITS: --planes 1,2,3 chooses a cube's planes (bluest first). --bands g,r,i makes three
    single-band files of one galaxy (NGC7479_g.fits, _r, _i) one record, NGC7479_{g,r,i}.fits;
    such a name can also be given as it is, quoted. A galaxy missing a band is an error record.

    \b
    --json writes one line per image:
      {"path": ..., "label": ..., "score": ..., "probabilities": {"normal": ..., ...}, "top_k": [...]}
    and for an image that cannot be read: {"path": ..., "error": ...}.
    --out FILE writes the same to a JSON Lines file, or one row per image (path, label, score,
    p_<class>..., error) to CSV or Parquet (a .parquet is a dataset folder of part files, read
    whole by pandas.read_parquet); an existing FILE is refused unless --resume. Every result
    is on disk as soon as it is reported, so a killed run resumes with --resume.

    \b
    On a cluster (needs the [cluster] extra: dask, distributed, pyarrow), tasks are batches
    of images and each worker loads the model once; workers must see the same paths:
      --workers 8                       a local cluster: every core of this machine
      --scheduler tcp://head:8786       a running cluster (Slurm, Kubernetes, Raspberry Pis)

    \b
    Exit status: 0 every image classified; 3 some images could not be read (the others
    are still classified and printed); 1 an error that stopped the run (bad model, no
    images); 2 a bad command line.
    """
    from galaxy_edge.errors import DataError
    from galaxy_edge.image_files import SUFFIXES_TEXT
    from galaxy_edge.runtime.batch import expand_inputs

    if resume and not out:
        raise click.UsageError("--resume needs --out: the results file of the run to finish")
    if out and as_json:
        raise click.UsageError("--json is for stdout; with --out the format follows the file name")
    if workers and scheduler:
        raise click.UsageError("--workers starts a local cluster, --scheduler uses a running one: pass one of them")
    items = expand_inputs(images, stdin=sys.stdin if "-" in images else None)
    if bands:
        from galaxy_edge.fits.band_files import group_items

        items = group_items(items, bands)
    if not items:
        raise DataError(f"no images found in {', '.join(images)} (looked for {SUFFIXES_TEXT})")
    clf = _classifier(model, num_threads)
    names = clf.class_names
    top_k = min(top_k, len(names))
    writer, done = _open_writer(out, resume, as_json, names, top_k, items)
    todo = [item for item in items if item[0] not in done] if done else items
    if done:
        _info(f"Resuming {out}: {len(items) - len(todo)} of {len(items)} image(s) already done")
    bar = _Progress(len(todo), progress)
    if workers or scheduler:
        records = _cluster_records(model, todo, num_threads, top_k, workers, scheduler, batch_size, decode_threads,
                                   planes)
    else:
        from galaxy_edge.runtime.batch import classify_items

        records = (r.record(names, top_k) for r in classify_items(clf, todo, workers=decode_threads, planes=planes))
    try:
        with contextlib.closing(records):  # decoders or a cluster are shut down here, even when a write fails
            for rec in records:
                writer.write(rec)
                bar.update("error" in rec)
    finally:
        bar.close()
        writer.close()
    flush_stdout()
    if out:
        _info(f"{bar.done - bar.failed} image(s) classified, {bar.failed} failed; results in {out}")
    if bar.failed:
        _info(f"{bar.failed} of {bar.total} image(s) could not be classified")
        sys.exit(EXIT_SOME_FAILED)


def _open_writer(out, resume, as_json, names, top_k, items):
    from galaxy_edge.runtime import outputs

    if out:
        return outputs.open_results_file(out, names, resume=resume)
    if as_json:
        return outputs.JsonLinesWriter(_echo), set()
    return outputs.TableWriter(_echo, min(max(len(str(p)) for p, _ in items), 60), top_k), set()


def _cluster_records(model, items, num_threads, top_k, workers, scheduler, batch_size, decode_threads, planes=None):
    """Records from the cluster, in input order; the Dask imports happen only here."""
    from galaxy_edge.runtime.cluster import ClassifyBatch, dask_client, local_decode_threads, ordered_records

    if decode_threads is None:
        decode_threads = local_decode_threads(workers) if workers else 1
    task = ClassifyBatch(str(Path(model).resolve()), num_threads, top_k, cwd=os.getcwd(), decode_threads=decode_threads,
                         planes=planes)
    with dask_client(scheduler, workers) as client:
        for _, records in ordered_records(client, task, items, batch_size=batch_size):
            yield from records


@click.command()
@MODEL_OPTION
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    required=True,
    help="Labelled .npz (Codecademy format) or DIR/<class>/ images.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of a table.")
@click.option("--confusion-png", type=click.Path(path_type=Path), help="Also draw the confusion matrix to this PNG.")
@click.option("--overwrite", is_flag=True, help="Replace the --confusion-png file if it exists.")
@THREADS_OPTION
@BANDS_OPTION
@PLANES_OPTION
def evaluate(model, data, as_json, confusion_png, overwrite, num_threads, bands, planes):
    """Accuracy, macro AUC, per-class precision/recall and confusion matrix of a model on labelled data.

    --model is a .tflite file (run with LiteRT, no TensorFlow), or a run folder or its
    model.keras (needs the [train] extra), to compare the two on the same images.
    """
    from galaxy_edge.data import load_dataset
    from galaxy_edge.runtime.evaluate import evaluate as run_evaluation
    from galaxy_edge.runtime.evaluate import format_report

    if not model.exists():
        from galaxy_edge.errors import ModelError

        raise ModelError(f"{model}: no such model file")
    if confusion_png and (confusion_png.exists() or confusion_png.is_symlink()) and not overwrite:
        from galaxy_edge.errors import DataError

        # Checked before the evaluation, so a long run does not end by refusing to write.
        raise DataError(f"{confusion_png}: already exists; choose another name or pass --overwrite")
    report = run_evaluation(model, load_dataset(data, bands=bands, planes=planes), num_threads=num_threads)
    if confusion_png:
        from galaxy_edge import atomic
        from galaxy_edge.plots import confusion_matrix_png

        title = f"{model.name} on {Path(report['data']).name}: accuracy {report['accuracy']:.3f}"
        atomic.write_bytes(confusion_png, confusion_matrix_png(report["confusion_matrix"], report["class_names"], title))
        report["confusion_png"] = str(confusion_png)
    if as_json:
        _echo(json.dumps(report, indent=2))
    else:
        _echo(format_report(report))
        if confusion_png:
            _info(f"Wrote the confusion matrix to {confusion_png}")


@click.command()
@MODEL_OPTION
@click.option("--compare", type=click.Path(path_type=Path), multiple=True,
              help="Another .tflite, or an .onnx (run by onnxruntime), to measure alongside.")
@click.option("--runs", type=click.IntRange(1), default=100, show_default=True, help="Steady-state iterations.")
@click.option("--warmup", type=click.IntRange(0), default=10, show_default=True, help="Warm-up iterations.")
@THREADS_OPTION
@click.option(
    "--images",
    type=click.Path(path_type=Path),
    help="Folder of real images for the per-image path. Default: 8 generated 424x424 PNGs.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of a table.")
def benchmark(model, compare, runs, warmup, num_threads, images, as_json):
    """Measure a model on this machine, like TFLite's benchmark_model, plus the whole per-image path.

    Reports init time, first inference, warm-up average, then mean/std/min/max and
    p50/p90/p99 of invoke() alone, of decoding and resizing, and of the whole per-image path
    (decode, preprocess, invoke); peak RSS, model size, threads, runtime and machine.
    """
    from galaxy_edge.runtime.bench import format_report, run_benchmarks

    report = run_benchmarks([model, *compare], images, runs=runs, warmup=warmup, num_threads=num_threads)
    _echo(json.dumps(report, indent=2) if as_json else format_report(report))


@click.command()
@click.argument("folder", type=click.Path(path_type=Path))
@MODEL_OPTION
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Results file (JSON Lines), appended to.")
@click.option("--interval", type=click.FloatRange(0.01), default=1.0, show_default=True, help="Seconds between polls.")
@click.option("--once", is_flag=True, help="Classify what is in FOLDER now, then exit.")
@THREADS_OPTION
@click.option("--quiet", is_flag=True, help="No line per image on stdout.")
@click.option("--frames", is_flag=True,
              help="FITS files are telescope frames: append one line per galaxy found (as `field` finds them).")
@BANDS_OPTION
@PLANES_OPTION
def watch(folder, model, out, interval, once, num_threads, quiet, frames, bands, planes):
    """Classify every image that lands in FOLDER, exactly once, appending to a JSON Lines file.

    \b
    Each new PNG/JPEG/TIFF (recursively) is classified once it is completely written: its
    size and modification time must hold still across two polls; hidden files and names
    ending in .tmp/.part/.partial are ignored, so a writer can rename when done.
    Each result is one line in --out, flushed to disk before the next image:
      {"file": ..., "path": ..., "time": ..., "label": ..., "score": ..., "probabilities": {...}}
    or, for a file that cannot be read, {"file": ..., "path": ..., "time": ..., "error": ...}.
    A restart reads --out and skips what is done; a torn last line from a crash is cut off
    and that image classified again. A file that failed is tried again when it changes (a slow
    writer finished it, a permission was fixed): the last record of a file is the one that
    counts. --out must be empty or a results file already; anything else is refused.
    Ctrl-C or SIGTERM finish the image in hand, then stop.

    \b
    With --frames, each FITS file is a frame: one line per galaxy, keyed by file and object,
      {"file": ..., "object": <id>, "path": ..., "time": ..., <the columns of `field`>}
    then one line closing the frame: {"file": ..., "path": ..., "time": ..., "galaxies": N, ...}.
    A frame cut short by a crash is searched again; only galaxies not yet written are appended.

    \b
    --bands g,r,i: single-band FITS files of one galaxy (or frame) are taken together once all
    three are complete, keyed "NGC7479_{g,r,i}.fits"; a band still to come is waited for
    (with --once, it is an error line). --planes chooses the planes of FITS cubes.
    """
    from galaxy_edge.runtime.watch import Watcher

    clf = _classifier(model, num_threads)
    options = None
    if frames:
        from galaxy_edge.fits.options import FieldOptions

        options = FieldOptions(planes=planes)
    watcher = Watcher(folder, clf, out, interval=interval, echo=None if quiet else _echo, warn=_info, frames=options,
                      bands=bands, planes=planes)
    if not once:
        _info(f"Watching {folder} every {interval:g} s; results in {out}. Ctrl-C to stop.")
    stats = watcher.run(once=once)
    if stats.repaired_torn_line:
        _info(f"Warning: {out} ended in a torn line (an interrupted write); it was cut off")
    if stats.skipped_lines:
        _info(f"Warning: {out}: ignored {len(stats.skipped_lines)} unreadable line(s): {stats.skipped_lines[:5]}")
    galaxies = f" ({stats.galaxies} galaxies from frames)" if frames else ""
    # A frame's galaxies are (file, object) pairs in `done`; files are its strings.
    done = sum(isinstance(k, str) for k in watcher.done)
    _info(f"{stats.classified} image(s) classified{galaxies}, {stats.failed} failed; {done} done in all, in {out}")
