"""The exported models in a real TFLite client: MediaPipe's ImageClassifier, in its own venv.

`make test-mediapipe` runs this file in .venv-mediapipe (mediapipe from PyPI and the base
install, no TensorFlow) on the models `make test-device` built. MediaPipe reads the labels and
normalization from the metadata embedded in each model; its answers must match
`galaxy-edge classify` on the same 128x128 image files. Elsewhere mediapipe is absent: skipped.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import SHARED_DATA
from galaxy_edge import CLASS_NAMES
from make_device_models import toy_galaxies

pytestmark = pytest.mark.mediapipe
mp = pytest.importorskip("mediapipe")


@pytest.fixture(scope="module")
def images_128(tmp_path_factory):
    """128x128 image files (so no client resizes): toy galaxies as PNG, and real ones when present."""
    from galaxy_edge.preprocess import load_image

    folder = tmp_path_factory.mktemp("mediapipe-images")
    images, _ = toy_galaxies(12, seed=21)
    paths = []
    for i, image in enumerate(images):
        paths.append(folder / f"toy_{i:02d}.png")
        Image.fromarray(image).save(paths[-1])
    if SHARED_DATA.is_dir():
        # Real SDSS cut-outs, cropped and resized once by galaxy-edge, then written losslessly.
        real = [p for folder in sorted((SHARED_DATA / "gz1-sdss").glob("*/")) for p in sorted(folder.glob("*.jpeg"))[:3]]
        for path in real:
            paths.append(folder / f"sdss_{path.stem}.png")
            Image.fromarray(load_image(path)).save(paths[-1])
    return paths


def classify_with_galaxy_edge(model, paths):
    # A separate process: LiteRT and MediaPipe's own TFLite are not meant to share one.
    out = subprocess.run(
        [sys.executable, "-m", "galaxy_edge", "classify", "--json", "--model", str(model), *map(str, paths)],
        capture_output=True, text=True, check=True,
    ).stdout
    records = [json.loads(line) for line in out.splitlines()]
    return np.array([[r["probabilities"][name] for name in CLASS_NAMES] for r in records])


def classify_with_mediapipe(model, paths):
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=str(model)), max_results=-1)
    scores = np.full((len(paths), len(CLASS_NAMES)), np.nan)
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for i, path in enumerate(paths):
            [head] = classifier.classify(mp.Image.create_from_file(str(path))).classifications
            for category in head.categories:
                # The names come from the labels.txt embedded in the model.
                assert category.category_name == CLASS_NAMES[category.index]
                scores[i, category.index] = category.score
    return scores


@pytest.mark.parametrize("variant", ["int8", "float32", "shipped int8"])
def test_mediapipe_image_classifier_agrees_with_galaxy_edge_classify(device_models, images_128, variant):
    from galaxy_edge.default_model import default_model_path

    # The test models, and the trained default model shipped in the package.
    model = default_model_path("int8") if variant == "shipped int8" else device_models[variant]
    ours = classify_with_galaxy_edge(model, images_128)
    theirs = classify_with_mediapipe(model, images_128)
    assert not np.isnan(theirs).any()
    # One quantization step of the uint8 scores for int8 (1/256); float32 to rounding.
    step = 1e-4 if variant == "float32" else 1 / 256
    np.testing.assert_allclose(theirs, ours, atol=step + 1e-6, rtol=0)
    top_ours, top_theirs = ours.argmax(1), theirs.argmax(1)
    for i in np.flatnonzero(top_ours != top_theirs):
        # Only a tie within one step may swap the top label.
        assert ours[i, top_theirs[i]] >= ours[i, top_ours[i]] - step, images_128[i]
    if variant != "shipped int8":
        assert len(set(top_ours)) >= 3  # the toy galaxies exercise most classes of the toy models, not one
