"""Real pixels in two classes (`galaxy_edge.data.real_pairs`): normals as they are, pairs as mergers."""

import numpy as np
import pytest
from PIL import Image

from galaxy_edge import CLASS_NAMES
from galaxy_edge.data.real_pairs import load_real_set, pair, real_set
from galaxy_edge.data.synth import generate
from galaxy_edge.errors import DataError

NORMAL, MERGER = CLASS_NAMES.index("normal"), CLASS_NAMES.index("merger")


@pytest.fixture(scope="module")
def galaxies():
    images, _ = generate(12, seed=5, classes=[NORMAL])
    return images


def test_a_pair_adds_the_companion_beside_the_host_and_keeps_the_host(galaxies):
    host, companion = galaxies[0], galaxies[1]
    out = pair(host, companion, np.random.default_rng(0))
    assert out.shape == host.shape and out.dtype == np.uint8
    # Screen blending only brightens: nothing of the host is lost.
    assert (out >= host).all()
    added = out.astype(float).sum(axis=2) - host.astype(float).sum(axis=2)
    assert (added > 10).sum() > 20  # a galaxy's worth of pixels, not noise
    # The companion's light is off the host's centre, not on top of it.
    yy, xx = np.mgrid[:128, :128] - 63.5
    centroid = np.hypot((added * yy).sum() / added.sum(), (added * xx).sum() / added.sum())
    assert centroid > 3


def test_real_set_uses_distinct_images_for_normals_hosts_and_companions(galaxies):
    x, y = real_set(galaxies, 4, seed=0)
    assert x.shape == (8, 128, 128, 3) and list(y) == [NORMAL] * 4 + [MERGER] * 4
    index = {g.tobytes(): i for i, g in enumerate(galaxies)}
    normals = [index[im.tobytes()] for im in x[:4]]  # normals are real images as they are
    # Each pair brightens its host only, so its host is the one image it is brighter than or equal to everywhere.
    hosts = [next(i for i, g in enumerate(galaxies) if (im >= g).all() and i not in normals) for im in x[4:]]
    assert len(set(normals) | set(hosts)) == 8
    np.testing.assert_array_equal(real_set(galaxies, 4, seed=0)[0], x)  # seeded


def test_load_real_set_reads_a_folder_recursively_and_skips_what_it_cannot_read(galaxies, tmp_path):
    for i, g in enumerate(galaxies[:9]):
        sub = tmp_path / ("spiral" if i % 2 else "elliptical")
        sub.mkdir(exist_ok=True)
        Image.fromarray(g).save(sub / f"{i}.png")
    (tmp_path / "spiral" / "broken.png").write_bytes(b"not a png")
    lines = []
    x, y = load_real_set(tmp_path, 3, seed=0, log=lines.append)
    assert len(x) == 6 and list(y) == [NORMAL] * 3 + [MERGER] * 3
    assert len(lines) == 1 and "broken.png" in lines[0]
    with pytest.raises(DataError, match=r": 9 readable images .*; 4 normals and 4 pairs need at least 12$"):
        load_real_set(tmp_path, 4, seed=0, log=lines.append)
