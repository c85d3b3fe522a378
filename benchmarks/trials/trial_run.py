"""What every training trial shares: its run folder, written as `galaxy-edge train` writes one, for `galaxy-edge export`."""

from dataclasses import asdict
from pathlib import Path

import numpy as np

from galaxy_edge import CLASS_NAMES, atomic
from galaxy_edge.data.npz import save_npz
from galaxy_edge.metadata import base_metadata
from galaxy_edge.metrics import classification_report
from galaxy_edge.train.loop import CALIBRATION_SAMPLES, TrainOptions, split, stratified_sample


def start(seed, xs, ys, quick=False):
    """What every trial starts from: the recipe's options, Keras seeded, the `edge` model, the synthetic split.

    Args:
        seed: the training seed.
        xs, ys: the synthetic sky (images, labels), split as `galaxy-edge train` splits it.
        quick: a smoke test: the first 400 images, 1 epoch.

    Returns:
        (opts, model, split_data): the resolved TrainOptions, the Keras model, (x_train, x_val, y_train, y_val).
    """
    import keras

    from galaxy_edge.data import Dataset
    from galaxy_edge.train.models import build_model

    opts = TrainOptions(seed=seed).resolved()
    keras.utils.set_random_seed(opts.seed)
    model = build_model("edge", seed=opts.seed)
    if quick:
        xs, ys, opts.epochs = xs[:400], ys[:400], 1
    return opts, model, split(Dataset(xs, ys, "synthetic"), opts.val_fraction, opts.seed)


def fit_labelled(model, x_all, y_all, opts):
    """Train `model` on (x_all, y_all) as `galaxy-edge train` does (shuffle, augmentation, cosine step, smoothing).

    Returns:
        training time in seconds.
    """
    import time

    import keras
    import tensorflow as tf

    from galaxy_edge.train.augment import augment_batch

    ds = tf.data.Dataset.from_tensor_slices((x_all, np.eye(len(CLASS_NAMES), dtype=np.float32)[y_all]))
    ds = ds.shuffle(len(x_all), seed=opts.seed, reshuffle_each_iteration=True).batch(opts.batch_size)
    stream = tf.random.Generator.from_seed(opts.seed)
    ds = ds.map(lambda x, y: (augment_batch(tf.cast(x, tf.float32), stream), y)).prefetch(2)
    steps = opts.epochs * int(np.ceil(len(x_all) / opts.batch_size))
    lr = keras.optimizers.schedules.CosineDecay(opts.learning_rate, decay_steps=steps, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=opts.label_smoothing))
    started = time.monotonic()
    model.fit(ds, epochs=opts.epochs, verbose=2)
    return time.monotonic() - started


def save_run(out, clf, opts, split_data, seconds, data, **training):
    """Snap, score on the synthetic validation split and write the 4-class model `clf` as a run folder.

    Args:
        out: run folder (replaced).
        clf: the Keras 4-class model.
        opts: the resolved TrainOptions.
        split_data: (x_train, x_val, y_train, y_val) of the synthetic sky; calibration comes from x_train.
        seconds: training time.
        data: what the model was trained on, for its metadata.
        **training: the trial's own settings, recorded beside the options.
    """
    import keras
    import tensorflow as tf

    from galaxy_edge.train.models import snap_conv_weights

    x_train, x_val, y_train, y_val = split_data
    snap_conv_weights(clf)
    report = classification_report(y_val, clf.predict(x_val, verbose=0), CLASS_NAMES)
    report.update(train_seconds=round(seconds, 1), n_train=int(len(x_train)), n_val=int(len(x_val)))
    print(f"synthetic validation accuracy {report['accuracy']:.3f} ({seconds:.0f} s)")
    meta = base_metadata("edge")
    meta.update(parameters=clf.count_params(), data=data,
                training={**{k: v for k, v in asdict(opts).items() if k != "data"}, **training})
    meta["versions"].update(tensorflow=tf.__version__, keras=keras.__version__)
    cal = stratified_sample(y_train, CALIBRATION_SAMPLES, opts.seed)
    with atomic.staged_dir(Path(out), overwrite=True) as tmp:
        clf.save(tmp / "model.keras")
        atomic.write_json(tmp / "metadata.json", meta)
        atomic.write_json(tmp / "metrics.json", report)
        save_npz(tmp / "validation.npz", x_val, y_val)
        save_npz(tmp / "calibration.npz", np.asarray(x_train[cal]), np.asarray(y_train[cal]))
