"""Augmentation for galaxies, which have no preferred orientation: the 8 flips and right-angle
rotations, small shifts and zooms, brightness, noise and a tone curve. Runs in tf.data on raw 0-255
pixels."""

import math

import tensorflow as tf

# Widest gamma of the tone curve, either way (docs/accuracy-history.md: the tone-curve trial).
MAX_GAMMA = 1.6


def augment_batch(images, seed_stream):
    """Randomly transform a float32 (B, H, W, 3) batch of 0-255 pixels.

    Args:
        images: the batch.
        seed_stream: a `tf.random.Generator`, so a run with the same seed augments the same way.
    """
    b = tf.shape(images)[0]
    size = images.shape[1]
    g = seed_stream

    # Dihedral group: optional transpose then optional flips gives all 8 symmetries of a square.
    transpose = g.uniform([b, 1, 1, 1]) < 0.5
    images = tf.where(transpose, tf.transpose(images, [0, 2, 1, 3]), images)
    images = tf.where(g.uniform([b, 1, 1, 1]) < 0.5, tf.reverse(images, [1]), images)
    images = tf.where(g.uniform([b, 1, 1, 1]) < 0.5, tf.reverse(images, [2]), images)

    # Zoom (0.85-1.15) and shift (up to 8% of the side), sampled with bilinear interpolation.
    scale = g.uniform([b], 0.85, 1.15)
    shift = g.uniform([b, 2], -0.08, 0.08) * size
    boxes = _crop_boxes(scale, shift, size)
    images = tf.image.crop_and_resize(images, boxes, tf.range(b), [size, size], extrapolation_value=0.0)

    # Brightness and contrast of the whole stretch, then a little sky noise.
    gain = g.uniform([b, 1, 1, 1], 0.75, 1.25)
    colour = g.uniform([b, 1, 1, 3], 0.9, 1.1)
    images = images * gain * colour
    noise_sigma = g.uniform([b, 1, 1, 1], 0.0, 4.0)
    images = images + g.normal(tf.shape(images)) * noise_sigma
    images = tf.clip_by_value(images, 0.0, 255.0)

    # Tone curve: surveys stretch faint light differently (SDSS's asinh, HSC's deeper and brighter),
    # and without this the model read how bright faint light is drawn as a class (HSC tidal tails
    # came out `ringed`). Gamma is log-uniform in [1 / MAX_GAMMA, MAX_GAMMA].
    gamma = tf.exp(g.uniform([b, 1, 1, 1], -math.log(MAX_GAMMA), math.log(MAX_GAMMA)))
    return 255.0 * tf.pow(images / 255.0, gamma)


def _crop_boxes(scale, shift, size):
    # crop_and_resize takes normalised [y1, x1, y2, x2]; a box larger than the image zooms out.
    half = 0.5 / scale
    cy = 0.5 + shift[:, 0] / size
    cx = 0.5 + shift[:, 1] / size
    return tf.stack([cy - half, cx - half, cy + half, cx + half], axis=1)
