"""The `galaxy-edge` command line: click and the standard library only at import time.

Each command imports its backend inside the callback, so `galaxy-edge --help` and the device
commands start fast and never import TensorFlow.
"""

import contextlib
import os
import signal
import sys
from pathlib import Path

import click

from galaxy_edge import __version__
from galaxy_edge.errors import GalaxyEdgeError, OutputError
from galaxy_edge.output import flush_stdout

RUNS_DIR = Path("runs")


class Group(click.Group):
    """Turns the library's and the file system's errors into `Error: ...` and exit code 1, without a traceback.

    Ctrl-C and SIGTERM stop the program at once with one line (exit 130 and 143), without waiting
    for worker threads that may be stuck on a slow disk.
    """

    # Commands defined in modules of their own, imported only when asked for (or for `--help`'s list):
    # `classify` on a JPEG does not pay at start-up for `field`'s FITS options.
    LAZY = {"field": "galaxy_edge.field_cli"}

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.LAZY))

    def get_command(self, ctx, name):
        if name in self.LAZY and name not in self.commands:
            import importlib

            self.add_command(getattr(importlib.import_module(self.LAZY[name]), name))
        return super().get_command(ctx, name)

    def invoke(self, ctx):
        previous = signal.signal(signal.SIGTERM, _terminate) if _in_main_thread() else None
        try:
            result = super().invoke(ctx)
            flush_stdout()
            return result
        except OutputError as e:
            _silence_stdout()
            raise click.ClickException(str(e)) from None
        except GalaxyEdgeError as e:
            raise click.ClickException(str(e)) from None
        except ModuleNotFoundError as e:
            if e.name and e.name.split(".")[0] in ("tensorflow", "keras", "sklearn", "matplotlib"):
                raise click.ClickException(
                    f"this command needs the training extra ({e.name} is not installed): "
                    "pip install 'galaxy-edge[train]'"
                ) from None
            raise
        except OSError as e:
            # A path the file system refused (a file where a folder should be, a read-only
            # folder, a full disk): the user can fix it from the file name and reason alone.
            if e.filename is None:
                raise
            raise click.ClickException(f"{e.filename}: {e.strerror}") from None
        except MemoryError:
            raise click.ClickException("not enough memory for this command on this machine") from None
        except KeyboardInterrupt:
            _stop_now(_Terminated.status if _Terminated.status else 130)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


class _Terminated:
    # The exit status to stop with once a SIGTERM has turned into KeyboardInterrupt.
    status = None


def _terminate(signum, frame):
    _Terminated.status = 128 + signum
    raise KeyboardInterrupt


def _in_main_thread():
    import threading

    return threading.current_thread() is threading.main_thread()


def _stop_now(status):
    """Exit at once with `status`: os._exit does not join threads, which a blocked read could hold forever."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    with contextlib.suppress(Exception):
        click.echo("Interrupted" if status == 130 else "Terminated", err=True)
        sys.stderr.flush()
    os._exit(status)


def _silence_stdout():
    # What is still buffered cannot be written either; point the descriptor at /dev/null so the
    # interpreter's last flush at exit does not print a traceback of its own.
    with contextlib.suppress(Exception):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="galaxy-edge")
def cli():
    """Classify galaxies as normal, ringed, merger or irregular, from training to the telescope.

    \b
    Train and export (needs the [train] extra, with TensorFlow):
      galaxy-edge train                 train on the embedded synthetic sky
      galaxy-edge export --int8         quantize the latest run and prove it agrees
    Run on the device (no TensorFlow):
      galaxy-edge classify --model export/model_int8.tflite IMAGES...
      galaxy-edge field --model export/model_int8.tflite FRAME.fits --out catalogue.csv
    """


def _quiet_tensorflow():
    # TensorFlow's C++ start-up chatter (CPU features, oneDNN) drowns the progress lines.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _info(message):
    click.echo(message, err=True)


@cli.command()
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="An .npz file, or a folder for images; with --field, a FITS file (.fits, .fits.gz, .fits.bz2).")
@click.option("--count", type=click.IntRange(1), help="Number of galaxies. Default: 400 (24 with --field).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same images.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "npz", "png", "jpg"]),
    default="auto",
    show_default=True,
    help="auto: .npz when --out ends in .npz, else PNG files in DIR/<class>/.",
)
@click.option("--field", "as_field", is_flag=True,
              help="Draw a telescope frame in linear flux instead: galaxies among stars, PSF, sky noise, TAN WCS, "
                   "and OUT_truth.csv beside it.")
@click.option("--size", type=click.IntRange(256), default=1024, show_default=True, help="With --field: frame side in pixels.")
@click.option("--stars", type=click.IntRange(0), default=120, show_default=True, help="With --field: number of stars.")
@click.option("--bands", type=click.Choice(["1", "3"]), default="1", show_default=True,
              help="With --field: one band (r), or three (OUT_g, OUT_r, OUT_i on one grid).")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def synth(out, count, seed, fmt, as_field, size, stars, bands, overwrite):
    """Draw synthetic galaxies (the embedded default training data) to an .npz or image folder, or a FITS frame."""
    if as_field:
        from galaxy_edge.data.synth_field import FieldSpec, write_field

        spec = FieldSpec(size=size, galaxies=count or FieldSpec.galaxies, stars=stars, bands=int(bands), seed=seed)
        frames, truth = write_field(out, spec, overwrite=overwrite)
        _info(f"Wrote a {size}x{size} frame with {spec.galaxies} galaxies and {stars} stars to "
              f"{', '.join(map(str, frames))}; truth in {truth}")
        return
    from galaxy_edge.data.synth_io import write_synthetic

    count = count or 400
    path = write_synthetic(out, count, seed, fmt, overwrite, log=_info)
    _info(f"Wrote {count} synthetic galaxies to {path}")


@cli.command()
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    help="Labelled .npz (Codecademy format) or DIR/<class>/ images. Default: the embedded synthetic sky.",
)
@click.option("--arch", type=click.Choice(["edge", "seed"]), default="edge", show_default=True, help="Model.")
@click.option("--epochs", type=click.IntRange(1), help="Default: 8 (both architectures).")
@click.option("--batch-size", type=click.IntRange(1), help="Default: 32 (edge), 5 (seed). Per replica with --distribute.")
@click.option("--seed", type=int, default=222, show_default=True, help="Split, weights and augmentation.")
@click.option("--synth-count", type=click.IntRange(8), default=5000, show_default=True, help="Synthetic images.")
@click.option("--augment/--no-augment", default=None, help="Default: on (edge), off (seed).")
@click.option("--learning-rate", type=click.FloatRange(0, min_open=True), help="Default: 1e-3 (1e-4 with --init).")
@click.option(
    "--schedule", type=click.Choice(["constant", "cosine"]), help="Learning-rate schedule. Default: cosine (edge), constant (seed)."
)
@click.option(
    "--label-smoothing", type=click.FloatRange(0, 1, max_open=True), help="Default: 0.2 (edge), 0 (seed)."
)
@click.option("--init", type=click.Path(path_type=Path),
              help="Fine-tune the model of this run folder; `default`: the model shipped with galaxy-edge.")
@click.option(
    "--distribute",
    type=click.Choice(["mirrored", "multi-worker"]),
    help="mirrored: every GPU of this machine; multi-worker: several machines, described by TF_CONFIG.",
)
@click.option("--stream", is_flag=True, help="Read a --data image folder from disk as training goes, not into memory.")
@click.option("--real-normals", type=click.Path(path_type=Path),
              help="A folder of real images of ordinary galaxies of one survey: some train as normal, pairs of others as merger.")
@click.option("--real-count", type=click.IntRange(1), default=1000, show_default=True,
              help="Real images per class with --real-normals (the folder needs three times as many).")
@click.option("--out", type=click.Path(path_type=Path), help="Run folder. Default: runs/<time>-<arch>.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def train(data, arch, epochs, batch_size, seed, synth_count, augment, learning_rate, schedule, label_smoothing, init,
          distribute, stream, real_normals, real_count, out, overwrite):
    """Train a galaxy classifier and write a run folder.

    The folder holds the Keras model, its metadata, history, validation metrics
    (metrics.json), training curves and confusion matrix (PNG), and the images
    `export` calibrates and checks parity on.

    \b
    With --distribute, --batch-size is per replica: the global batch and the learning
    rate are both multiplied by the number of replicas (linear scaling), as the log and
    metrics.json state. For multi-worker, start the same command on every machine with
    its own TF_CONFIG; worker 0 writes the run folder.
    """
    _quiet_tensorflow()
    import time

    from galaxy_edge.train.loop import TrainOptions
    from galaxy_edge.train.loop import train as run_training

    options = TrainOptions(
        data=str(data) if data else None,
        arch=arch,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        synth_count=synth_count,
        augment=augment,
        learning_rate=learning_rate,
        schedule=schedule,
        label_smoothing=label_smoothing,
        init=str(init) if init else None,
        distribute=distribute,
        stream=stream,
        real_normals=str(real_normals) if real_normals else None,
        real_count=real_count,
    )
    out = out or RUNS_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}-{arch}"
    run, report = run_training(options, out, overwrite=overwrite, log=_info)
    if report.get("distribute", {}).get("task_index", 0) != 0:
        return
    _info(f"Run written to {run}/ (metrics.json, training_curves.png, model.keras)")
    _info(f"Next: galaxy-edge export {run} --int8")


@cli.command()
@click.argument("run", required=False, type=click.Path(path_type=Path))
@click.option("--int8", "int8", is_flag=True, help="Full-integer int8 inside, uint8 input (raw pixels) and output: what MediaPipe and the Task Library take.")
@click.option("--float16", "float16", is_flag=True, help="float16 weights.")
@click.option("--dynamic", is_flag=True, help="Dynamic-range: int8 weights, float activations.")
@click.option("--float32", "float32", is_flag=True, help="Plain float32 (the default when no variant is named).")
@click.option("--onnx", is_flag=True, help="Also model.onnx (float32, via tf2onnx) for onnxruntime, TensorRT or OpenVINO.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("export"), show_default=True)
@click.option("--calibration-samples", type=click.IntRange(1), default=1000, show_default=True, help="Images of the representative dataset for int8.")
@click.option("--calibration-data", type=click.Path(path_type=Path), help="An .npz or image folder to calibrate on.")
@click.option("--calibration-trim", type=click.FloatRange(0, 0.5), default=0.02, show_default=True,
              help="Share of calibration images, those with the widest logit spread, left out: a finer int8 logit step.")
@click.option("--validation-data", type=click.Path(path_type=Path), help="Labelled data for the parity check.")
@click.option(
    "--min-agreement",
    type=click.FloatRange(0, 1),
    default=0.98,
    show_default=True,
    help="Fail when an exported model's top-1 agrees with Keras on fewer images than this.",
)
def export(run, int8, float16, dynamic, float32, onnx, out, calibration_samples, calibration_data, calibration_trim,
           validation_data, min_agreement):
    """Convert a trained run to TFLite and prove the result agrees with the Keras model.

    RUN is a run folder or its model.keras; default: the latest folder under runs/.
    Each variant is written as export/model_<variant>.tflite with its metadata beside it
    (model_<variant>.json) and embedded (TFLite Model Metadata: labels and normalization, for
    MediaPipe and the Task Library), plus parity_report.json and parity_report.txt.
    --onnx adds model.onnx (+ model.json), checked through onnxruntime in the same report.
    """
    _quiet_tensorflow()
    from galaxy_edge.export import ExportOptions, export_run, latest_run

    variants = [v for v, on in (("int8", int8), ("float16", float16), ("dynamic", dynamic), ("float32", float32)) if on]
    options = ExportOptions(
        variants=variants or ["float32"],
        calibration_samples=calibration_samples,
        calibration_data=calibration_data,
        calibration_trim=calibration_trim,
        validation_data=validation_data,
        min_agreement=min_agreement,
        onnx=onnx,
    )
    run = run or latest_run(RUNS_DIR)
    export_run(run, out, options, log=_info)


@cli.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--run", type=click.Path(path_type=Path), help="Run folder. Default: the latest under runs/.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("feature_maps.png"), show_default=True)
@click.option("--max-maps", type=click.IntRange(1), default=8, show_default=True, help="Feature maps per layer.")
def visualize(images, run, out, max_maps):
    """Draw each convolutional layer's feature maps for the given images, as one PNG grid."""
    _quiet_tensorflow()
    from galaxy_edge.export import latest_run
    from galaxy_edge.train.visualize import feature_maps_png
    from galaxy_edge import atomic

    run = run or latest_run(RUNS_DIR)
    atomic.write_bytes(out, feature_maps_png(run, images, max_maps))
    _info(f"Wrote feature maps of {len(images)} image(s) to {out}")


from galaxy_edge.device_cli import benchmark, classify, evaluate, watch  # noqa: E402

for _command in (classify, evaluate, benchmark, watch):
    cli.add_command(_command)


def main():
    cli(prog_name="galaxy-edge")


if __name__ == "__main__":
    sys.exit(main())
