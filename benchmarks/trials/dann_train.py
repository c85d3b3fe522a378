"""Trial: the default recipe plus domain-adversarial alignment (Ganin et al. 2016, DANN) of synthetic and real normals.

A domain head on the pooled features learns to tell real gz1-sdss-pool galaxies from synthetic `normal`
galaxies; a gradient-reversal layer in front of it makes the backbone unlearn that difference, so the
features of a real galaxy look like those of a synthetic one of its class. Only normals are aligned
because the pool holds only normal galaxies (elliptical, spiral, edge-on): aligning the pool with the
whole synthetic sky would pull synthetic rings and mergers towards normals (the label-shift failure of
plain DANN). The 4-class head sees synthetic images only, so looking real cannot predict a class.
The reversal strength ramps as Ganin's 2 / (1 + exp(-10 p)) - 1 over training progress p, times --weight.

    python benchmarks/trials/dann_train.py runs/dann-seed222 --seed 222 [--weight 1.0]
Writes a standard run folder (4-class model only) that `galaxy-edge export` takes.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from aux_train import pool, synth  # noqa: E402  (the trials' cached synthetic sky and real pool)
from trial_run import save_run, start  # noqa: E402

from galaxy_edge import CLASS_NAMES  # noqa: E402

NORMAL = CLASS_NAMES.index("normal")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=222)
    ap.add_argument("--weight", type=float, default=1.0, help="final strength of the gradient reversal")
    ap.add_argument("--quick", action="store_true", help="smoke test: 400 images, 1 epoch")
    args = ap.parse_args()
    import keras
    import tensorflow as tf

    from galaxy_edge.train.augment import augment_batch

    class GradientReversal(keras.layers.Layer):
        """Identity forward; gradient times -strength backward."""

        def __init__(self, **kw):
            super().__init__(**kw)
            self.strength = self.add_weight(shape=(), initializer="zeros", trainable=False, name="strength")

        def call(self, x):
            strength = tf.convert_to_tensor(self.strength.value)

            @tf.custom_gradient
            def reverse(t):
                return tf.identity(t), lambda dy: -strength * dy

            return reverse(x)

    opts, base, split_data = start(args.seed, *synth(), quick=args.quick)
    reversal = GradientReversal(name="reverse")
    d = reversal(base.get_layer("pool").output)
    d = keras.layers.Dense(64, activation="relu", name="domain_hidden")(d)
    domain = keras.layers.Dense(1, activation="sigmoid", name="domain")(d)
    model = keras.Model(base.input, [base.output, domain])

    x_train, _, y_train, _ = split_data
    xr, _ = pool()
    if args.quick:
        xr = xr[::20]
    n_s, n_r = len(x_train), len(xr)
    syn_normal = (y_train == NORMAL).astype(np.float32)
    x_all = np.concatenate([x_train, xr])
    y4 = np.concatenate([np.eye(4, dtype=np.float32)[y_train], np.zeros((n_r, 4), np.float32)])
    yd = np.concatenate([np.zeros((n_s, 1), np.float32), np.ones((n_r, 1), np.float32)])
    w4 = np.concatenate([np.ones(n_s, np.float32), np.zeros(n_r, np.float32)])
    # Both domains weigh the same in the domain loss: the synthetic normals are ~1,000, the real ~3,000.
    wd = np.concatenate([syn_normal * (n_r / max(syn_normal.sum(), 1)), np.ones(n_r, np.float32)])

    ds = tf.data.Dataset.from_tensor_slices((x_all, (y4, yd), (w4, wd)))
    ds = ds.shuffle(len(x_all), seed=opts.seed, reshuffle_each_iteration=True).batch(opts.batch_size)
    stream = tf.random.Generator.from_seed(opts.seed)
    ds = ds.map(lambda x, y, w: (augment_batch(tf.cast(x, tf.float32), stream), y, w)).prefetch(2)

    steps = opts.epochs * int(np.ceil(len(x_all) / opts.batch_size))

    class Ramp(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.step = 0

        def on_train_batch_begin(self, batch, logs=None):
            p = self.step / steps
            reversal.strength.assign(args.weight * (2 / (1 + np.exp(-10 * p)) - 1))
            self.step += 1

    lr = keras.optimizers.schedules.CosineDecay(opts.learning_rate, decay_steps=steps, alpha=0.05)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr),
        loss=[keras.losses.CategoricalCrossentropy(label_smoothing=opts.label_smoothing),
              keras.losses.BinaryCrossentropy()],
        metrics=[[], ["accuracy"]],
    )
    started = time.monotonic()
    model.fit(ds, epochs=opts.epochs, verbose=2, callbacks=[Ramp()])

    save_run(args.out, keras.Model(base.input, base.output), opts, split_data, time.monotonic() - started,
             "synthetic sky, normals aligned with gz1-sdss-pool by DANN (trial)", dann_weight=args.weight)


if __name__ == "__main__":
    main()
