"""`galaxy-edge train`: load data, split, train, evaluate, and write a run folder atomically."""

import contextlib
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
# Real normals and as many real pairs with --real-normals: measured with 1,000 of each beside the
# 4,000 synthetic training images (docs/accuracy-history.md).
REAL_COUNT = 1000
# With --stream the validation images are held in memory (metrics, export's parity check): at most this many.
STREAM_VALIDATION_MAX = 5000


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
        augment: random flips, rotations, shifts, zoom, brightness, noise and tone curve.
        learning_rate: Adam's step size (1e-3; fine-tuning defaults to 1e-4).
        schedule: "constant", or "cosine": decay the step to 5% of `learning_rate` by the last
            batch, so the final weights are not those of one noisy high-step batch.
        init: a run folder to fine-tune from instead of starting from random weights, or
            "default" for the Keras model shipped with galaxy-edge.
        label_smoothing: train towards s / 4 on each wrong class instead of 0 (Keras' rule). On
            the synthetic sky the model is sure of itself; on real galaxies less so. Smoothing keeps
            its logits in a narrower range, and int8 spends its 256 output levels on that range.
        distribute: None (one device), "mirrored" or "multi-worker" (see `galaxy_edge.train.distribute`);
            `batch_size` is then per replica, and the global batch and learning rate scale with the replicas.
        stream: read an image folder from disk as training goes (tf.data), instead of loading it into
            memory first; only the validation split (at most STREAM_VALIDATION_MAX images) is loaded.
        real_normals: a folder of real images of ordinary galaxies of one survey: `real_count` of them
            join the training split as `normal`, and `real_count` real-pixel pairs of others as `merger`
            (`galaxy_edge.data.real_pairs`). Validation stays on the synthetic sky.
        real_count: real images per class with `real_normals`.
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
    distribute: str = None
    stream: bool = False
    real_normals: str = None
    real_count: int = REAL_COUNT

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
    if opts.stream and not (opts.data and Path(opts.data).is_dir()):
        raise GalaxyEdgeError(f"{opts.data or 'the synthetic sky'}: --stream reads an image folder (DIR/<class>/)")
    if opts.real_normals and not Path(opts.real_normals).is_dir():
        raise GalaxyEdgeError(f"{opts.real_normals}: --real-normals takes a folder of real galaxy images")
    if opts.real_normals and (opts.stream or opts.distribute):
        raise GalaxyEdgeError(f"{opts.real_normals}: --real-normals is held in memory; it does not combine with "
                              "--stream or --distribute")

    # MultiWorkerMirroredStrategy must exist before any other TensorFlow work.
    strategy, plan = None, None
    if opts.distribute:
        from galaxy_edge.train import distribute

        strategy = distribute.make_strategy(opts.distribute)
        plan = distribute.describe(strategy, opts.distribute, opts.batch_size, opts.learning_rate)
        log(
            f"Distributed: {plan['strategy']}, {plan['replicas']} replica(s) on {plan['workers']} worker(s); "
            f"global batch {plan['global_batch_size']} = {opts.batch_size} per replica x {plan['replicas']}; "
            f"learning rate {plan['learning_rate']:g} = {opts.learning_rate:g} x {plan['replicas']} (linear scaling)"
        )
    scope = strategy.scope if strategy else contextlib.nullcontext
    global_batch = plan["global_batch_size"] if plan else opts.batch_size
    base_rate = plan["learning_rate"] if plan else opts.learning_rate

    # The model comes before the data, so that a bad --init fails before minutes of drawing or reading.
    keras.utils.set_random_seed(opts.seed)
    with scope():
        if opts.init:
            from galaxy_edge.default_model import resolve_run

            model, init_meta = load_run_model(resolve_run(opts.init))
            if init_meta["class_names"] != list(CLASS_NAMES):
                raise GalaxyEdgeError(
                    f"{opts.init}: model classes {init_meta['class_names']} differ from {list(CLASS_NAMES)}"
                )
            arch = init_meta["arch"]
            log(f"Fine-tuning {arch} model from {opts.init}")
        else:
            arch = opts.arch
            model = build_model(arch, seed=opts.seed)

    if opts.stream:
        source, x_train, x_val, y_train, y_val = _stream_split(opts, log)
    else:
        dataset = _load(opts, log)
        source = dataset.source
        x_train, x_val, y_train, y_val = split(dataset, opts.val_fraction, opts.seed)
    log(f"Data: {source}: {len(y_train)} training and {len(y_val)} validation images"
        + (" (training images streamed from disk)" if opts.stream else ""))
    if opts.real_normals:
        from galaxy_edge.data.real_pairs import load_real_set

        # The same real images and pairs whatever the training seed: the seed varies the model, not the data.
        x_real, y_real = load_real_set(opts.real_normals, opts.real_count, seed=0, log=log)
        x_train, y_train = np.concatenate([x_train, x_real]), np.concatenate([y_train, y_real])
        source = f"{source} + {opts.real_count} real normals and {opts.real_count} real pairs from {opts.real_normals}"
        log(f"Real pixels: {opts.real_count} galaxies from {opts.real_normals} as normal, "
            f"{opts.real_count} real-pixel pairs of others as merger (training split only)")

    learning_rate = base_rate
    if opts.schedule == "cosine":
        steps = opts.epochs * (len(y_train) // global_batch if strategy else int(np.ceil(len(y_train) / global_batch)))
        learning_rate = keras.optimizers.schedules.CosineDecay(base_rate, decay_steps=max(1, steps), alpha=0.05)
    with scope():
        optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
        if strategy:
            optimizer.build(model.trainable_variables)
            loss_fn = keras.losses.CategoricalCrossentropy(label_smoothing=opts.label_smoothing, reduction=None)
        else:
            model.compile(
                optimizer=optimizer,
                loss=keras.losses.CategoricalCrossentropy(label_smoothing=opts.label_smoothing),
                metrics=[keras.metrics.CategoricalAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")],
            )
    n_params, macs = model.count_params(), count_macs(model)
    log(f"Model: {arch}, {n_params:,} parameters, {macs / 1e6:.1f} M multiply-adds per image")
    predict = _predictor(model, strategy)

    before = None
    if opts.init:
        before = classification_report(y_val, predict(x_val), CLASS_NAMES)
        log(f"Before fine-tuning: validation accuracy {before['accuracy']:.3f}, AUC {_fmt(before['auc'])}")

    started = time.monotonic()
    if strategy:
        def make_dataset(context):
            return _tf_dataset(x_train, y_train, context.get_per_replica_batch_size(global_batch), opts.seed,
                               training=True, augment=opts.augment, shard=context)

        def validate():
            p = predict(x_val)
            val = classification_report(y_val, p, CLASS_NAMES)
            loss = keras.losses.CategoricalCrossentropy(label_smoothing=opts.label_smoothing)
            return {"val_loss": float(loss(np.eye(len(CLASS_NAMES))[y_val], p)), "val_accuracy": val["accuracy"],
                    "val_auc": val["auc"] if val["auc"] is not None else float("nan")}

        hist = distribute.fit(strategy, model, optimizer, loss_fn, make_dataset, len(y_train), opts.epochs,
                              global_batch, validate, log)
    else:
        train_ds = _tf_dataset(x_train, y_train, opts.batch_size, opts.seed, training=True, augment=opts.augment,
                               repeat=opts.stream)
        val_ds = _tf_dataset(x_val, y_val, 64, opts.seed, training=False)
        # Keras warns that it cannot shuffle a tf.data pipeline; ours shuffles itself.
        warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
        history = model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=opts.epochs,
            # A stream that skips unreadable files has no known length: it repeats, and an epoch is counted.
            steps_per_epoch=int(np.ceil(len(y_train) / opts.batch_size)) if opts.stream else None,
            verbose=1 if sys.stdout.isatty() else 2,
        )
        hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    train_seconds = time.monotonic() - started

    trained = classification_report(y_val, predict(x_val), CLASS_NAMES)
    snap_conv_weights(model)
    probabilities = predict(x_val)
    report = classification_report(y_val, probabilities, CLASS_NAMES)
    log(f"Conv weights rounded onto the int8 grid: validation accuracy {trained['accuracy']:.3f} -> {report['accuracy']:.3f}")
    report.update(train_seconds=round(train_seconds, 1), n_train=int(len(y_train)), n_val=int(len(y_val)),
                  accuracy_before_int8_grid=trained["accuracy"])
    if plan:
        report["distribute"] = plan
    if before is not None:
        report["before_fine_tuning"] = before
    log(f"Validation: accuracy {report['accuracy']:.3f}, AUC {_fmt(report['auc'])} ({train_seconds:.0f} s training)")

    meta = base_metadata(arch)
    meta.update(
        parameters=n_params,
        multiply_adds=macs,
        data=source,
        training={k: v for k, v in asdict(opts).items() if k != "data"},
    )
    meta["versions"].update(tensorflow=tf.__version__, keras=keras.__version__)
    calibration = stratified_sample(y_train, CALIBRATION_SAMPLES, opts.seed)
    x_calibration = _load_paths(x_train, calibration) if opts.stream else x_train[calibration]
    if plan and not distribute.is_chief(plan):
        # Every worker trained the same weights; the chief (worker 0) alone writes the run folder.
        log(f"Worker {plan['task_index']}: done; worker 0 writes the run to {out}")
        return out, report
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
            save_npz(tmp / "calibration.npz", x_calibration, y_train[calibration])
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


def _stream_split(opts, log):
    """Split an image folder by file; only the validation images are read now, the rest as training goes."""
    from galaxy_edge.data.folders import list_image_folder

    paths, labels = list_image_folder(opts.data)
    n_val = min(int(np.ceil(len(labels) * opts.val_fraction)), STREAM_VALIDATION_MAX)
    files = Dataset(np.asarray(paths), labels, source=str(opts.data))
    p_train, p_val, y_train, y_val = split(files, n_val / len(labels), opts.seed)
    log(f"Reading {len(p_val)} validation images into memory ...")
    return files.source, p_train, _load_paths(p_val), y_train, y_val


def _load_paths(paths, index=None):
    from galaxy_edge.preprocess import load_image

    chosen = paths if index is None else paths[index]
    return np.stack([load_image(p) for p in chosen])


def _predictor(model, strategy):
    if strategy is None:
        return lambda images: model.predict(images, verbose=0)
    from galaxy_edge.train.distribute import predict

    return lambda images: predict(model, images)


def _tf_dataset(images, labels, batch_size, seed, training, augment=False, shard=None, repeat=False):
    """The tf.data pipeline for training or validation.

    Args:
        images: (N, H, W, 3) uint8 in memory, or an array of image file names, read and preprocessed
            (`galaxy_edge.preprocess.load_image`) as the pipeline streams; unreadable files are skipped.
        shard: a `tf.distribute.InputContext`: repeat forever and keep only this input pipeline's
            share, before any file is read. Every pipeline shuffles with the same seed, so the shares
            are disjoint.
        repeat: repeat forever (the caller counts the steps of an epoch).
    """
    import tensorflow as tf

    from galaxy_edge.train.augment import augment_batch

    images = np.asarray(images)
    onehot = np.eye(len(CLASS_NAMES), dtype=np.float32)[labels]
    ds = tf.data.Dataset.from_tensor_slices((images, onehot))
    if training:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    if shard is not None or repeat:
        ds = ds.repeat()
    if shard is not None:
        ds = ds.shard(shard.num_input_pipelines, shard.input_pipeline_id)
    if images.dtype.kind in "US":
        ds = ds.map(_read_image, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors()
    ds = ds.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y))
    if training and augment:
        stream = tf.random.Generator.from_seed(seed + (shard.input_pipeline_id if shard else 0))
        ds = ds.map(lambda x, y: (augment_batch(x, stream), y))
    return ds.prefetch(2)


def _read_image(path, label):
    import tensorflow as tf

    from galaxy_edge.preprocess import INPUT_SIZE, load_image

    image = tf.numpy_function(lambda p: load_image(p.decode("utf-8")), [path], tf.uint8)
    image.set_shape((INPUT_SIZE, INPUT_SIZE, 3))
    return image, label


def _fmt(x):
    return "n/a" if x is None else f"{x:.3f}"

