"""`galaxy-edge train`: load data, split, train, evaluate, and write a run folder atomically."""

import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from galaxy_edge import CLASS_NAMES, atomic
from galaxy_edge.data import Dataset, class_counts, load_dataset
from galaxy_edge.data.npz import save_npz
from galaxy_edge.errors import DataError, GalaxyEdgeError
from galaxy_edge.metadata import base_metadata, check_run_fields, read_json
from galaxy_edge.metrics import classification_report
from galaxy_edge.plots import confusion_matrix_png

# Per-architecture defaults: the seed keeps the Codecademy recipe (8 epochs, batch 5).
DEFAULTS = {
    "seed": {"epochs": 8, "batch_size": 5, "augment": False, "schedule": "constant", "label_smoothing": 0.0},
    "edge": {"epochs": 8, "batch_size": 32, "augment": True, "schedule": "cosine", "label_smoothing": 0.2},
}
# Measured on the previous release's default model (seed 222): 200 calibration images gave
# 99.0% int8/float agreement on 487 real galaxies, 1,000 gave 99.2%.
CALIBRATION_SAMPLES = 1000


@dataclass
class TrainOptions:
    """Everything `galaxy-edge train` can be told. None means the architecture's default.

    Attributes:
        data: an .npz file or image folder; None trains on the embedded synthetic sky.
        arch: "edge" (default) or "seed".
        epochs: passes over the training split.
        batch_size: images per gradient step.
        seed: seeds the split, the initial weights and the augmentation (222 as in the seed project).
        synth_count: images drawn from the synthetic sky when `data` is None.
        synth_seed: seed of the synthetic sky.
        val_fraction: share of the data held out for validation, stratified.
        augment: random flips, rotations, shifts, zoom, brightness and noise.
        learning_rate: Adam's step size (1e-3; fine-tuning defaults to 1e-4).
        schedule: "constant", or "cosine": decay the step to 5% of `learning_rate` by the last
            batch, so the final weights are not those of one noisy high-step batch.
        init: a run folder to fine-tune from instead of starting from random weights, or
            "default" for the Keras model shipped with galaxy-edge.
        label_smoothing: train towards s / 4 on each wrong class instead of 0 (Keras' rule). On
            the synthetic sky the model is sure of itself; on real galaxies less so. Smoothing keeps
            its logits in a narrower range, and int8 spends its 256 output levels on that range.
    """

    data: str = None
    arch: str = "edge"
    epochs: int = None
    batch_size: int = None
    seed: int = 222
    synth_count: int = 5000
    synth_seed: int = 0
    val_fraction: float = 0.2
    augment: bool = None
    learning_rate: float = None
    schedule: str = None
    init: str = None
    label_smoothing: float = None

    def resolved(self):
        """A copy with every None replaced by its default."""
        d = dict(DEFAULTS[self.arch])
        values = asdict(self)
        for key, default in d.items():
            if values[key] is None:
                values[key] = default
        if values["learning_rate"] is None:
            values["learning_rate"] = 1e-4 if self.init else 1e-3
        return TrainOptions(**values)


def train(options, out, overwrite=False, log=print):
    """Train a model and write its run folder.

    Args:
        options: a TrainOptions.
        out: the run folder to create; written in one rename at the end, so an interrupted
            run leaves nothing behind.
        overwrite: replace `out` if it already holds a run.
        log: where progress lines go.

    Returns:
        (run folder Path, metrics dict).

    Raises:
        GalaxyEdgeError: bad data, a bad --init run, or `out` already exists.
    """
    import keras
    import tensorflow as tf

    from galaxy_edge.train.models import build_model, count_macs, snap_conv_weights
    from galaxy_edge.train.plots import training_curves_png

    opts = options.resolved()
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise GalaxyEdgeError(f"{out}: already exists; choose another --out or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)  # an unusable --out fails now, not after training

    # The model comes before the data, so that a bad --init fails before minutes of drawing or reading.
    keras.utils.set_random_seed(opts.seed)
    if opts.init:
        from galaxy_edge.default_model import resolve_run

        model, init_meta = load_run_model(resolve_run(opts.init))
        if init_meta["class_names"] != list(CLASS_NAMES):
            raise GalaxyEdgeError(f"{opts.init}: model classes {init_meta['class_names']} differ from {list(CLASS_NAMES)}")
        arch = init_meta["arch"]
        log(f"Fine-tuning {arch} model from {opts.init}")
    else:
        arch = opts.arch
        model = build_model(arch, seed=opts.seed)

    dataset = _load(opts, log)
    x_train, x_val, y_train, y_val = split(dataset, opts.val_fraction, opts.seed)
    log(f"Data: {dataset.source}: {len(x_train)} training and {len(x_val)} validation images")

    learning_rate = opts.learning_rate
    if opts.schedule == "cosine":
        steps = opts.epochs * int(np.ceil(len(x_train) / opts.batch_size))
        learning_rate = keras.optimizers.schedules.CosineDecay(opts.learning_rate, decay_steps=steps, alpha=0.05)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=opts.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")],
    )
    n_params, macs = model.count_params(), count_macs(model)
    log(f"Model: {arch}, {n_params:,} parameters, {macs / 1e6:.1f} M multiply-adds per image")

    before = None
    if opts.init:
        before = classification_report(y_val, model.predict(x_val, verbose=0), CLASS_NAMES)
        log(f"Before fine-tuning: validation accuracy {before['accuracy']:.3f}, AUC {_fmt(before['auc'])}")

    train_ds = _tf_dataset(x_train, y_train, opts.batch_size, opts.seed, training=True, augment=opts.augment)
    val_ds = _tf_dataset(x_val, y_val, 64, opts.seed, training=False)
    started = time.monotonic()
    # Keras warns that it cannot shuffle a tf.data pipeline; ours shuffles itself.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
    history = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=opts.epochs,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    train_seconds = time.monotonic() - started

    trained = classification_report(y_val, model.predict(x_val, verbose=0), CLASS_NAMES)
    snap_conv_weights(model)
    probabilities = model.predict(x_val, verbose=0)
    report = classification_report(y_val, probabilities, CLASS_NAMES)
    log(f"Conv weights rounded onto the int8 grid: validation accuracy {trained['accuracy']:.3f} -> {report['accuracy']:.3f}")
    report.update(train_seconds=round(train_seconds, 1), n_train=int(len(x_train)), n_val=int(len(x_val)),
                  accuracy_before_int8_grid=trained["accuracy"])
    if before is not None:
        report["before_fine_tuning"] = before
    log(f"Validation: accuracy {report['accuracy']:.3f}, AUC {_fmt(report['auc'])} ({train_seconds:.0f} s training)")

    meta = base_metadata(arch)
    meta.update(
        parameters=n_params,
        multiply_adds=macs,
        data=dataset.source,
        training={k: v for k, v in asdict(opts).items() if k != "data"},
    )
    meta["versions"].update(tensorflow=tf.__version__, keras=keras.__version__)
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}

    calibration = stratified_sample(y_train, CALIBRATION_SAMPLES, opts.seed)
    try:
        with atomic.staged_dir(out, overwrite=overwrite) as tmp:
            model.save(tmp / "model.keras")
            atomic.write_json(tmp / "metadata.json", meta)
            atomic.write_json(tmp / "history.json", hist)
            atomic.write_json(tmp / "metrics.json", report)
            atomic.write_bytes(tmp / "training_curves.png", training_curves_png(hist))
            atomic.write_bytes(
                tmp / "confusion_matrix.png",
                confusion_matrix_png(report["confusion_matrix"], CLASS_NAMES, "validation confusion matrix"),
            )
            # The export step calibrates and checks parity on exactly these images.
            save_npz(tmp / "validation.npz", x_val, y_val)
            save_npz(tmp / "calibration.npz", x_train[calibration], y_train[calibration])
    except FileExistsError:
        raise GalaxyEdgeError(f"{out}: already exists; choose another --out or pass --overwrite") from None
    return out, report


def split(dataset, val_fraction, seed):
    """Stratified, shuffled train/validation split, as the seed project does it."""
    from sklearn.model_selection import train_test_split

    counts = class_counts(dataset.labels, len(CLASS_NAMES))
    present = counts[counts > 0]
    n_val = int(np.ceil(len(dataset) * val_fraction))
    # The stratified split puts one image of each class present in each part: so every class needs
    # 2, and the validation share of the whole must come to at least one image per class.
    need = max(2 * len(present), int(np.ceil(len(present) / val_fraction - 1e-9)))
    if len(dataset) < need or n_val < len(present) or present.min() < 2:
        raise DataError(
            f"{dataset.source}: too few images to split ({len(dataset)}, per class {counts.tolist()}): "
            f"with {len(present)} classes, each needs at least 2 images and the {val_fraction:.0%} validation "
            f"split at least one of each, so at least {need} images in all"
        )
    return train_test_split(
        dataset.images, dataset.labels, test_size=val_fraction, stratify=dataset.labels, shuffle=True, random_state=seed
    )


def stratified_sample(labels, n, seed):
    """Indices of about `n` items with the classes in their proportions in `labels`."""
    rng = np.random.default_rng(seed)
    if len(labels) <= n:
        return np.arange(len(labels))
    picks = []
    for k in np.unique(labels):
        idx = np.flatnonzero(labels == k)
        take = max(1, round(n * len(idx) / len(labels)))
        picks.append(rng.choice(idx, size=min(take, len(idx)), replace=False))
    return np.sort(np.concatenate(picks))


def load_run_model(path):
    """Load a Keras model and its metadata from a run folder (or a `.keras` file inside one).

    Raises:
        GalaxyEdgeError: the folder or file is missing or not a galaxy-edge run.
    """
    import keras

    path = Path(path)
    run = path.parent if path.suffix == ".keras" else path
    model_file = path if path.suffix == ".keras" else run / "model.keras"
    if not model_file.exists():
        raise GalaxyEdgeError(f"{model_file}: no such model; expected a run folder written by `galaxy-edge train`")
    meta_file = run / "metadata.json"
    if not meta_file.exists():
        raise GalaxyEdgeError(f"{meta_file}: run metadata missing")
    meta = read_json(meta_file)
    check_run_fields(meta, meta_file)
    try:
        model = keras.saving.load_model(model_file)
    except Exception as e:  # Keras raises many types for a damaged archive
        raise GalaxyEdgeError(f"{model_file}: not a readable Keras model ({e})") from None
    return model, meta


def _load(opts, log):
    if opts.data is None:
        from galaxy_edge.data.synth import generate

        log(f"Drawing {opts.synth_count} synthetic galaxies (seed {opts.synth_seed}) ...")
        started = time.monotonic()
        images, labels = generate(opts.synth_count, seed=opts.synth_seed)
        log(f"  {opts.synth_count / (time.monotonic() - started):.0f} images/s")
        return Dataset(images, labels, source=f"synthetic sky (count {opts.synth_count}, seed {opts.synth_seed})")
    dataset = load_dataset(opts.data)
    if dataset.skipped:
        log(f"Skipped {len(dataset.skipped)} unreadable image(s) in {opts.data}")
    return dataset


def _tf_dataset(images, labels, batch_size, seed, training, augment=False):
    import tensorflow as tf

    from galaxy_edge.train.augment import augment_batch

    onehot = np.eye(len(CLASS_NAMES), dtype=np.float32)[labels]
    ds = tf.data.Dataset.from_tensor_slices((images, onehot))
    if training:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y))
    if training and augment:
        stream = tf.random.Generator.from_seed(seed)
        ds = ds.map(lambda x, y: (augment_batch(x, stream), y))
    return ds.prefetch(2)


def _fmt(x):
    return "n/a" if x is None else f"{x:.3f}"

