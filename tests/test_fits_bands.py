"""Cubes' planes and three single-band files of one galaxy in `classify`, `evaluate` and `watch`: real FITS files."""

import json

import numpy as np
import pytest
from astropy.io import fits
from click.testing import CliRunner

from galaxy_edge.cli import cli
from galaxy_edge.fits.band_files import band_paths, group_items, group_name, parse_bands
from galaxy_edge.fits.render import render
from galaxy_edge.preprocess import from_array, load_image

pytestmark = pytest.mark.device

GRI = ["g", "r", "i"]


def disk(shape=(80, 80), flux=3000.0, seed=0):
    """A linear-flux exponential disk on a noisy sky, float32."""
    rng = np.random.default_rng(seed)
    y, x = np.indices(shape, dtype=np.float32)
    r = np.hypot(x - (shape[1] - 1) / 2, (y - (shape[0] - 1) / 2) / 0.6)
    return (100 + flux * np.exp(-r / 5.0) / 50 + rng.normal(0, 2.0, shape)).astype(np.float32)


def write(path, data):
    fits.PrimaryHDU(data).writeto(path)
    return path


def galaxy_bands(folder, name, shapes=((80, 80),) * 3, bands=GRI):
    """One galaxy as single-band files `name_<band>.fits`, a little redder in each band."""
    return [write(folder / f"{name}_{band}.fits", disk(shape, 2000.0 * (1 + k), seed=k))
            for k, (band, shape) in enumerate(zip(bands, shapes))]


def classify(*args):
    result = CliRunner().invoke(cli, ["classify", "--json", *map(str, args)])
    return result, {r["path"].split("/")[-1]: r for r in map(json.loads, result.stdout.splitlines())}


def test_band_tokens_name_one_galaxy(tmp_path):
    assert group_name("d/NGC7479_g.fits", GRI) == ("d/NGC7479_{g,r,i}.fits", "g")
    assert group_name("frame-r-004874-3-0692.fits.bz2", GRI) == ("frame-{g,r,i}-004874-3-0692.fits.bz2", "r")
    assert group_name("d/cube.fits", GRI) is None and group_name("d/NGC_g.png", GRI) is None
    assert band_paths("d/NGC7479_{g,r,i}.fits") == ["d/NGC7479_g.fits", "d/NGC7479_r.fits", "d/NGC7479_i.fits"]
    items = [("d/A_g.fits", None), ("d/x.png", None), ("d/A_r.fits", None), ("d/B_i.fits", None), ("d/A_i.fits", None)]
    assert group_items(items, GRI) == [
        ("d/A_{g,r,i}.fits", None), ("d/x.png", None),
        ("d/B_{g,r,i}.fits", "band file(s) missing: B_g.fits, B_r.fits (a galaxy needs all three bands)")]
    for bad in ("g,r", "g,g,r", "g,r_x,i"):
        with pytest.raises(ValueError):
            parse_bands(bad)


def test_classify_groups_band_files_and_chooses_cube_planes(device_models, tmp_path):
    int8 = device_models["int8"]
    g, r, i = galaxy_bands(tmp_path, "NGC1")
    galaxy_bands(tmp_path, "NGC2")[2].unlink()  # its i band never came
    galaxy_bands(tmp_path, "NGC3", shapes=((80, 80), (80, 64), (80, 80)))
    write(tmp_path / "cube5.fits", np.stack([disk(seed=k) for k in range(5)]))
    result, records = classify("--model", int8, "--bands", "g,r,i", "--planes", "1,3,5", tmp_path)
    assert result.exit_code == 3, result.output
    assert sorted(records) == ["NGC1_{g,r,i}.fits", "NGC2_{g,r,i}.fits", "NGC3_{g,r,i}.fits", "cube5.fits"]
    assert records["NGC1_{g,r,i}.fits"]["label"] in ("normal", "ringed", "merger", "irregular")
    assert records["NGC2_{g,r,i}.fits"]["error"] == "band file(s) missing: NGC2_i.fits (a galaxy needs all three bands)"
    assert records["NGC3_{g,r,i}.fits"]["error"].startswith("bands are not on one pixel grid: 64 x 80 against 80 x 80")
    assert "label" in records["cube5.fits"]
    # The group is read through the one rendering, bluest first: the same image as its three files stacked.
    stacked = from_array(render(np.stack([fits.getdata(p).astype(np.float32) for p in (g, r, i)])))
    assert np.array_equal(load_image(tmp_path / "NGC1_{g,r,i}.fits"), stacked)
    # Its name given as it is (quoted) is the same galaxy; without --planes the 5-plane cube is one error.
    again, named = classify("--model", int8, tmp_path / "NGC1_{g,r,i}.fits", tmp_path / "cube5.fits")
    assert named["NGC1_{g,r,i}.fits"]["probabilities"] == records["NGC1_{g,r,i}.fits"]["probabilities"]
    assert named["cube5.fits"]["error"].startswith("a cube of 5 planes: choose one or three")
    # Without --bands each band file is an image of its own, as before.
    plain, alone = classify("--model", int8, g, r)
    assert plain.exit_code == 0 and sorted(alone) == ["NGC1_g.fits", "NGC1_r.fits"]


def test_evaluate_takes_band_groups_in_class_folders(device_models, tmp_path):
    for k, name in enumerate(("normal", "ringed", "merger", "irregular")):
        (tmp_path / name).mkdir()
        galaxy_bands(tmp_path / name, f"G{k}")
    galaxy_bands(tmp_path / "normal", "lost")[0].unlink()
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(device_models["int8"]), "--data", str(tmp_path),
                                      "--bands", "g,r,i", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 4
    assert [s["error"] for s in report["skipped"]] == [
        "band file(s) missing: lost_g.fits (a galaxy needs all three bands)"]


def test_watch_takes_a_galaxy_once_all_its_bands_are_there(device_models, tmp_path):
    folder, out = tmp_path / "incoming", tmp_path / "results.jsonl"
    folder.mkdir()
    g, r, i = galaxy_bands(folder, "NGC1")
    i.rename(tmp_path / "later_i.fits")

    def watch():
        result = CliRunner().invoke(cli, ["watch", str(folder), "--model", str(device_models["int8"]), "--out", str(out),
                                          "--once", "--interval", "0.01", "--bands", "g,r,i"])
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in out.read_text().splitlines()]

    first = watch()
    assert [(r["file"], r["error"]) for r in first] == [
        ("NGC1_{g,r,i}.fits", "band file(s) missing: NGC1_i.fits (a galaxy needs all three bands)")]
    assert watch() == first  # nothing changed: not tried again
    (tmp_path / "later_i.fits").rename(folder / "NGC1_i.fits")
    done = watch()
    assert len(done) == 2 and done[1]["file"] == "NGC1_{g,r,i}.fits" and "label" in done[1]
    assert watch() == done  # once classified, never again


def test_watch_frames_in_three_bands(device_models, tmp_path):
    folder, out = tmp_path / "night", tmp_path / "results.jsonl"
    result = CliRunner().invoke(cli, ["synth", "--field", "--out", str(folder / "f.fits"), "--size", "300",
                                      "--count", "3", "--stars", "10", "--bands", "3"])
    assert result.exit_code == 0, result.output
    (folder / "f_truth.csv").unlink()
    result = CliRunner().invoke(cli, ["watch", str(folder), "--model", str(device_models["int8"]), "--out", str(out),
                                      "--once", "--interval", "0.01", "--frames", "--bands", "g,r,i"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["file"] for r in lines} == {"f_{g,r,i}.fits"}
    assert "galaxies" in lines[-1] and all("object" in r for r in lines[:-1])


def test_real_cube_planes_in_classify(shared_data, device_models):
    cube = next((shared_data / "fits" / "hsc-grizy-spiral-cube").glob("*.fits"))
    result, records = classify("--model", device_models["int8"], "--planes", "1,2,3", cube)
    assert result.exit_code == 0, result.output
    assert records[cube.name]["label"] in ("normal", "ringed", "merger", "irregular")
    wrong, refused = classify("--model", device_models["int8"], "--planes", "4,5,6", cube)
    assert wrong.exit_code == 3 and refused[cube.name]["error"] == "plane 6 does not exist: the cube has planes 1 to 5"
