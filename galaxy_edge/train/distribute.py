"""Synchronous data-parallel training with tf.distribute: every GPU of one machine, or many machines.

`mirrored` is `tf.distribute.MirroredStrategy` over this machine's GPUs (or its logical CPU
devices where it has none); `multi-worker` is `MultiWorkerMirroredStrategy`, one process per
machine, configured by the TF_CONFIG environment variable as TensorFlow documents it.

`--batch-size` stays the batch of one replica: the global batch is that times the replicas, and
the learning rate is scaled by the same factor (the linear scaling rule of Goyal et al. 2017), so
each example moves the weights about as much as in a one-device run.

Keras 3's `model.fit` cannot run under MultiWorkerMirroredStrategy (keras-team/keras#20585: it
fails reducing its per-replica logs), so both strategies train with the custom loop TensorFlow
documents: `strategy.run` of one step, losses averaged over the global batch, and inputs from
`distribute_datasets_from_function`, each input pipeline reading only its own shard of the files.
"""

import json
import os

import numpy as np

from galaxy_edge.errors import GalaxyEdgeError

# The names TensorFlow documents (type() of the second says CollectiveAllReduceStrategy).
STRATEGIES = {"mirrored": "MirroredStrategy", "multi-worker": "MultiWorkerMirroredStrategy"}
# Images per forward pass when predicting outside the training step.
PREDICT_BATCH = 256


def make_strategy(kind):
    """The tf.distribute strategy for `kind`; create it before any other TensorFlow work.

    Raises:
        GalaxyEdgeError: `multi-worker` without a usable TF_CONFIG.
    """
    import tensorflow as tf

    if kind == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    config = os.environ.get("TF_CONFIG")
    if not config:
        raise GalaxyEdgeError(
            "--distribute multi-worker needs TF_CONFIG: "
            '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}'
        )
    try:
        json.loads(config)["cluster"]["worker"]
    except (ValueError, KeyError, TypeError):
        raise GalaxyEdgeError(f"TF_CONFIG is not a TensorFlow cluster description: {config}") from None
    return tf.distribute.MultiWorkerMirroredStrategy()


def describe(strategy, kind, batch_size, learning_rate):
    """What a distributed run is: replicas, workers, and the scaled global batch and learning rate."""
    resolver = getattr(strategy, "cluster_resolver", None)
    workers = len(resolver.cluster_spec().as_dict().get("worker", [])) if kind == "multi-worker" else 1
    replicas = strategy.num_replicas_in_sync
    return {
        "strategy": STRATEGIES[kind],
        "replicas": replicas,
        "workers": workers,
        "task_index": resolver.task_id if kind == "multi-worker" else 0,
        "batch_size_per_replica": batch_size,
        "global_batch_size": batch_size * replicas,
        "learning_rate_base": learning_rate,
        "learning_rate": learning_rate * replicas,
        "scaling": "linear: global batch and learning rate both x replicas",
    }


def is_chief(plan):
    """Only one process writes the run folder: the single process, or worker 0 of a multi-worker run."""
    return plan["task_index"] == 0


def fit(strategy, model, optimizer, loss_fn, make_dataset, n_train, epochs, global_batch, validate, log):
    """Train `model` for `epochs` epochs of `n_train // global_batch` synchronous steps.

    Args:
        strategy: from `make_strategy`; `model`, `optimizer` and `loss_fn` were made in its scope.
        loss_fn: a Keras loss with reduction=None (per-example losses).
        make_dataset: callable(tf.distribute.InputContext) -> a repeated dataset of per-replica batches
            (float32 images, one-hot labels), reading only that input pipeline's shard.
        validate: callable() -> {"val_loss": ..., "val_accuracy": ..., "val_auc": ...} after each epoch.

    Returns:
        The history: {"loss": [...], "accuracy": [...], "val_loss": [...], ...} per epoch.
    """
    import tensorflow as tf

    steps = max(1, n_train // global_batch)
    dataset = strategy.distribute_datasets_from_function(make_dataset)

    def step(images, labels):
        with tf.GradientTape() as tape:
            probs = model(images, training=True)
            loss = tf.nn.compute_average_loss(loss_fn(labels, probs), global_batch_size=global_batch)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        hits = tf.cast(tf.equal(tf.argmax(probs, 1), tf.argmax(labels, 1)), tf.float32)
        return loss, tf.reduce_sum(hits)

    @tf.function
    def train_step(batch):
        loss, hits = strategy.run(step, args=batch)
        return strategy.reduce("SUM", loss, axis=None), strategy.reduce("SUM", hits, axis=None)

    history = {}
    batches = iter(dataset)
    for epoch in range(epochs):
        total_loss, total_hits = 0.0, 0.0
        for _ in range(steps):
            loss, hits = train_step(next(batches))
            total_loss += float(loss)
            total_hits += float(hits)
        row = {"loss": total_loss / steps, "accuracy": total_hits / (steps * global_batch), **validate()}
        for key, value in row.items():
            history.setdefault(key, []).append(float(value))
        log(f"Epoch {epoch + 1}/{epochs}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items()))
    return history


def predict(model, images):
    """Class probabilities for (N, H, W, 3) images, in plain batches outside any strategy's step."""
    import tensorflow as tf

    forward = tf.function(lambda x: model(tf.cast(x, tf.float32), training=False))
    out = [forward(images[i:i + PREDICT_BATCH]).numpy() for i in range(0, len(images), PREDICT_BATCH)]
    return np.concatenate(out) if out else np.zeros((0, model.output_shape[-1]), np.float32)
