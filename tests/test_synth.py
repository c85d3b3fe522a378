"""The embedded synthetic sky: determinism, shapes, balance and per-class sanity."""

import numpy as np
import pytest

from galaxy_edge import CLASS_NAMES
from galaxy_edge.data import synth


@pytest.fixture(scope="module")
def batch():
    return synth.generate(48, seed=7)


def test_shapes_and_dtypes(batch):
    images, labels = batch
    assert images.shape == (48, 128, 128, 3) and images.dtype == np.uint8
    assert labels.shape == (48,) and labels.dtype == np.int64


def test_labels_balanced_and_shuffled(batch):
    _, labels = batch
    assert np.bincount(labels, minlength=len(CLASS_NAMES)).tolist() == [12, 12, 12, 12]
    assert labels.tolist() != [i % 4 for i in range(48)]


def test_same_seed_same_bytes_other_seed_differs(batch):
    images, labels = synth.generate(48, seed=7)
    assert np.array_equal(images, batch[0]) and np.array_equal(labels, batch[1])
    other, _ = synth.generate(48, seed=8)
    assert not np.array_equal(other, images)


def test_image_depends_on_index_not_count():
    small, small_labels = synth.generate(8, seed=3, classes=[2])
    large, _ = synth.generate(12, seed=3, classes=[2])
    assert (small_labels == 2).all()
    assert np.array_equal(small, large[:8])


def test_classes_subset_and_validation():
    _, labels = synth.generate(9, seed=1, classes=[0, 3])
    assert set(labels.tolist()) == {0, 3}
    with pytest.raises(ValueError):
        synth.generate(4, classes=[4])


@pytest.mark.parametrize("label", range(len(CLASS_NAMES)))
def test_each_class_shows_a_galaxy_on_dark_sky(label):
    rng = np.random.default_rng(label)
    for _ in range(6):
        grey = synth.render(label, rng).astype(np.float64).mean(axis=2)
        centre = grey[40:88, 40:88].mean()
        corners = np.median(np.concatenate([grey[:12, :12], grey[:12, -12:], grey[-12:, :12], grey[-12:, -12:]]))
        assert grey.max() > 80, "blank image"
        assert corners < 70, "sky is not dark"
        assert centre > corners + 10, "centre is not brighter than the sky"


@pytest.mark.parametrize("size", [64, 97, 128, 200])
def test_render_respects_size(size):
    image = synth.render(1, np.random.default_rng(0), size=size)
    assert image.shape == (size, size, 3) and image.dtype == np.uint8


def test_progress_is_reported():
    seen = []
    synth.generate(5, seed=0, progress=seen.append)
    assert seen[-1] == 5
