"""The device path on real telescope images from ../shared/data, when they are there (skipped when not)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from galaxy_edge.cli import cli
from galaxy_edge.preprocess import load_image

pytestmark = pytest.mark.device


def test_classify_real_sdss_and_decals_images(device_models, shared_data):
    files = sorted((shared_data / "codecademy-examples" / "tiles").glob("*.png"))
    files += sorted((shared_data / "decals-rings" / "ring").glob("*.jpg"))[:10]
    result = CliRunner().invoke(cli, ["classify", "--json", "--model", str(device_models["int8"]), *map(str, files)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["path"] for line in lines] == [str(f) for f in files]
    for line in lines:
        assert line["label"] in ("normal", "ringed", "merger", "irregular")
        assert sum(line["probabilities"].values()) == pytest.approx(1.0, abs=0.03)


def test_real_images_of_any_size_become_model_input(shared_data):
    # Codecademy tiles are ~270 px PNG screenshots, DECaLS cutouts 424 px JPEGs.
    png = next((shared_data / "codecademy-examples" / "tiles").glob("*_0.png"))
    jpg = next((shared_data / "decals-rings" / "not_ring").glob("*.jpg"))
    for path in (png, jpg):
        image = load_image(path)
        assert image.shape == (128, 128, 3) and image.dtype == np.uint8
        assert image[54:74, 54:74].mean() > image[:10, :10].mean()  # the galaxy is brighter than the sky
