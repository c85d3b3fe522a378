"""The Keras models: the seed CNN, kept as a baseline, and the default edge CNN.

Both take raw uint8 pixels (as float) and rescale to [0, 1] inside the model, so an int8
export's uint8 input gets a scale of 1 and zero point 0: the device feeds the pixels as they are.
Both have a fixed batch of 1 at export time (see `galaxy_edge.export`), which keeps the
TFLite graph free of dynamic-shape ops and in a single XNNPACK partition.
"""

import keras
import numpy as np
from keras import layers

from galaxy_edge import CLASS_NAMES
from galaxy_edge.preprocess import INPUT_SIZE

ARCHS = ("edge", "seed")
DEFAULT_ARCH = "edge"
# (filters, stride) of the edge CNN's 3x3 conv blocks: 128 px in, 4x4 out.
EDGE_BLOCKS = ((16, 2), (24, 2), (24, 1), (32, 2), (32, 1), (48, 2), (48, 1), (64, 2))
# The edge CNN's activations are capped at 3 (ReLU clipped at 3 batch-norm units) when it trains.
# int8 gives each activation tensor 256 levels over its calibrated range; uncapped, a few outliers
# (up to 23, against a typical activation of 0.4) stretched that range, and the rounding error
# grew to 6% of the signal by the last layer. Export rescales every block by EXPORT_CAP / cap,
# so the cap becomes a ReLU6 fused into its convolution (see `rescale_caps`).
ACTIVATION_CAP = 3.0
EXPORT_CAP = 6.0


def build_model(arch=DEFAULT_ARCH, n_classes=len(CLASS_NAMES), size=INPUT_SIZE, batch_size=None, seed=0,
                cap=ACTIVATION_CAP):
    """Build an uncompiled model.

    Args:
        arch: "edge" (the default) or "seed" (exactly the Codecademy seed CNN).
        batch_size: None for training; 1 for a clean TFLite graph.
        seed: seeds the weight initialisers.
        cap: the edge CNN's activation ceiling (None: plain ReLU, as in runs before the cap).
    """
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3), batch_size=batch_size, name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    if arch == "seed":
        outputs = _seed_body(x, n_classes)
    elif arch == "edge":
        outputs = _edge_body(x, n_classes, cap)
    else:
        raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHS)}")
    return keras.Model(inputs, outputs, name=f"galaxy_{arch}")


def _seed_body(x, n_classes):
    # The Codecademy seed, layer for layer: 7,164 parameters.
    x = layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = layers.MaxPooling2D(pool_size=(2, 2), strides=2)(x)
    x = layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = layers.MaxPooling2D(pool_size=(2, 2), strides=2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    return layers.Dense(n_classes, activation="softmax", name="probabilities")(x)


def _edge_body(x, n_classes, cap):
    # Strided 3x3 conv blocks with batch norm (folded into the conv on export), then global
    # average pooling: no Flatten, so the head sees no fixed position, which suits galaxies
    # that have no preferred orientation or exact centre.
    for i, (filters, stride) in enumerate(EDGE_BLOCKS):
        x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        # momentum 0.9 (not Keras' 0.99): the moving statistics settle within the few hundred
        # steps of a short run or a fine-tune, so validation sees the weights it trained.
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{i + 1}")(x)
        x = layers.ReLU(max_value=cap, name=f"relu{i + 1}")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    return layers.Dense(n_classes, activation="softmax", name="probabilities")(x)


def activation_cap(model):
    """The ceiling of an edge model's activations (None if uncapped)."""
    return model.get_layer("relu1").max_value


def rescale_caps(model, factor):
    """Scale every conv block's output by `factor` and the next layer's weights by 1 / factor, in place.

    ReLU commutes with a positive scale (min(relu(k x), k c) = k min(relu(x), c)), so a model
    built with cap `c * factor` and given these weights computes exactly what the model with cap
    `c` did. Batch norm's gamma and beta carry the scale; the next conv or the dense head undoes it.
    """
    for i in range(1, len(EDGE_BLOCKS) + 1):
        bn = model.get_layer(f"bn{i}")
        gamma, beta, mean, var = bn.get_weights()
        bn.set_weights([gamma * factor, beta * factor, mean, var])
        following = model.get_layer(f"conv{i + 1}" if i < len(EDGE_BLOCKS) else "probabilities")
        weights = following.get_weights()
        weights[0] = weights[0] / factor
        following.set_weights(weights)


def snap_conv_weights(model):
    """Round every conv kernel, in place, onto the int8 grid the TFLite converter will quantize it to.

    The converter quantizes each output channel of a kernel symmetrically: scale = max|w| / 127,
    w_int8 = round(w / scale). Folding batch norm and the input rescaling into the kernel scales
    a whole channel, which moves its grid with it, so a kernel on this grid converts with no
    weight error at all: the int8 model then differs from the float one only by how it rounds
    activations. Measured on five trained models: int8/float top-1 agreement on 487 real galaxy
    images rose from 98.1 % to 99.0 % on average; most of the weight error came from the first
    conv, whose zero-sum filters ride on the sky level. The rounding moves the float model's own
    answers on 1-2 % of real images, and its accuracy by no more than seed noise.
    """
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            weights = layer.get_weights()
            kernel = weights[0]
            scale = np.abs(kernel).max(axis=(0, 1, 2), keepdims=True) / 127
            scale[scale == 0] = 1  # an all-zero channel stays zero
            weights[0] = np.round(kernel / scale) * scale
            layer.set_weights(weights)


def count_macs(model):
    """Multiply-adds of one forward pass through the Conv2D and Dense layers (the rest is noise)."""
    macs = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            kh, kw = layer.kernel_size
            _, h, w, c_out = layer.output.shape
            c_in = layer.input.shape[-1]
            macs += h * w * c_out * kh * kw * c_in
        elif isinstance(layer, layers.Dense):
            macs += layer.input.shape[-1] * layer.units
    return int(macs)
