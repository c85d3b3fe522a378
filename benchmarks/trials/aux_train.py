"""Trial, measured and not kept (docs/accuracy-history.md): the default recipe plus an auxiliary head trained on real gz1-sdss-pool
images with their GZ1 classes (elliptical, spiral, edge_on), sharing the backbone. The 4-class head
sees synthetic images only (weight 0 on real images), so 'looks real' cannot predict a class.

    python benchmarks/trials/aux_train.py runs/aux-seed222 --seed 222 [--aux-weight 1.0]
Writes a standard run folder (4-class model only) that `galaxy-edge export` takes.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from galaxy_edge.preprocess import load_image  # noqa: E402

CACHE = ROOT / "runs" / "trial-cache"
POOL = ROOT.parent / "shared" / "data" / "gz1-sdss-pool"
AUX_CLASSES = ["elliptical", "spiral", "edge_on"]


def synth():
    f = CACHE / "synth_5000_0.npz"
    if not f.exists():
        from galaxy_edge.data.synth import generate

        x, y = generate(5000, seed=0)
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez(f, x=x, y=y)
    d = np.load(f)
    return d["x"], d["y"]


def pool():
    f = CACHE / "pool.npz"
    if not f.exists():
        import csv

        rows = list(csv.DictReader(open(POOL / "labels.csv")))
        x = np.stack([load_image(POOL / r["file"]) for r in rows])
        y = np.array([AUX_CLASSES.index(r["gz1_class"]) for r in rows])
        np.savez(f, x=x, y=y)
    d = np.load(f)
    return d["x"], d["y"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=222)
    ap.add_argument("--aux-weight", type=float, default=1.0)
    ap.add_argument("--quick", action="store_true", help="smoke test: 400 images, 1 epoch")
    args = ap.parse_args()
    import keras
    import tensorflow as tf

    from galaxy_edge.train.augment import augment_batch
    from trial_run import save_run, start

    opts, base, split_data = start(args.seed, *synth(), quick=args.quick)
    feats = base.get_layer("dropout").output
    aux = keras.layers.Dense(len(AUX_CLASSES), activation="softmax", name="gz1")(feats)
    model = keras.Model(base.input, [base.output, aux])

    x_train, _, y_train, _ = split_data
    xr, yr = pool()
    if args.quick:
        xr, yr = xr[::20], yr[::20]
    n_s, n_r = len(x_train), len(xr)
    x_all = np.concatenate([x_train, xr])
    y4 = np.concatenate([np.eye(4, dtype=np.float32)[y_train], np.zeros((n_r, 4), np.float32)])
    y3 = np.concatenate([np.zeros((n_s, 3), np.float32), np.eye(3, dtype=np.float32)[yr]])
    w4 = np.concatenate([np.ones(n_s, np.float32), np.zeros(n_r, np.float32)])
    w3 = np.concatenate([np.zeros(n_s, np.float32), np.full(n_r, args.aux_weight, np.float32)])

    ds = tf.data.Dataset.from_tensor_slices((x_all, (y4, y3), (w4, w3)))
    ds = ds.shuffle(len(x_all), seed=opts.seed, reshuffle_each_iteration=True).batch(opts.batch_size)
    stream = tf.random.Generator.from_seed(opts.seed)
    ds = ds.map(lambda x, y, w: (augment_batch(tf.cast(x, tf.float32), stream), y, w)).prefetch(2)

    steps = opts.epochs * int(np.ceil(len(x_all) / opts.batch_size))
    lr = keras.optimizers.schedules.CosineDecay(opts.learning_rate, decay_steps=steps, alpha=0.05)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr),
        loss=[keras.losses.CategoricalCrossentropy(label_smoothing=opts.label_smoothing),
              keras.losses.CategoricalCrossentropy()],
    )
    started = time.monotonic()
    model.fit(ds, epochs=opts.epochs, verbose=2)
    save_run(args.out, keras.Model(base.input, base.output), opts, split_data, time.monotonic() - started,
             "synthetic sky + gz1-sdss-pool auxiliary head (trial)", aux_weight=args.aux_weight)


if __name__ == "__main__":
    main()
