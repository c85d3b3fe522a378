"""FITS cutouts wherever images go in: real FITS files written with astropy, read back through load_image."""

import bz2
import json

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from click.testing import CliRunner

from galaxy_edge.cli import cli
from galaxy_edge.errors import ImageError, ModelError
from galaxy_edge.fits.read import read_bands, read_image
from galaxy_edge.fits.render import RENDERING, render
from galaxy_edge.image_files import is_candidate
from galaxy_edge.preprocess import load_image

pytestmark = pytest.mark.device


def galaxy(shape=(96, 96), sky=100.0, noise=2.0, flux=3000.0, seed=0, centre=None):
    """A linear-flux frame: an exponential disk on a noisy sky, float32 as a camera pipeline writes."""
    rng = np.random.default_rng(seed)
    y, x = np.indices(shape, dtype=np.float32)
    cy, cx = centre or ((shape[0] - 1) / 2, (shape[1] - 1) / 2)
    r = np.hypot((x - cx) / 1.0, (y - cy) / 0.6)
    disk = np.exp(-r / 5.0)
    return (sky + flux * disk / disk.sum() * 20 + rng.normal(0, noise, shape)).astype(np.float32)


def tan_header(shape, ra=150.0, dec=2.0, scale=0.4 / 3600):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [shape[-1] / 2, shape[-2] / 2]
    w.wcs.cdelt = [-scale, scale]
    return w.to_header()


def write(path, data, header=None):
    fits.PrimaryHDU(data, header=header).writeto(path)
    return path


# --- every way a FITS cutout comes ------------------------------------------------------------


def test_fits_cutout_loads_as_model_input_in_every_container(tmp_path):
    data = galaxy()
    plain = load_image(write(tmp_path / "g.fits", data))
    assert plain.shape == (128, 128, 3) and plain.dtype == np.uint8
    # One band is grey.
    assert np.array_equal(plain[..., 0], plain[..., 1]) and np.array_equal(plain[..., 1], plain[..., 2])
    # The galaxy is brighter than the sky around it.
    assert plain[60:68, 60:68].mean() > plain[:10, :10].mean() + 50
    write(tmp_path / "g.fits.gz", data)
    (tmp_path / "g.fit.bz2").write_bytes(bz2.compress((tmp_path / "g.fits").read_bytes()))
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, compression_type="RICE_1", quantize_level=-0.01)]).writeto(
        tmp_path / "g.fits.fz")
    write(tmp_path / "g.fts", data.astype(">f8"))
    for name in ("g.fits.gz", "g.fit.bz2", "g.fits.fz", "g.fts"):
        assert np.abs(load_image(tmp_path / name).astype(int) - plain).max() <= 1, name


def test_fits_suffixes_are_images_in_folders():
    for name in ("a.fits", "a.FIT", "a.fts", "a.fits.gz", "a.fits.bz2", "a.fits.fz", "a.fz", "a.png"):
        assert is_candidate(name), name
    for name in ("a.gz", "a.fits.tmp", ".a.fits", "a.txt"):
        assert not is_candidate(name), name


def test_scaled_integers_blank_nan_and_inf_become_flux_and_sky(tmp_path):
    flux = galaxy()
    raw = np.round((flux - 300.0) / 0.02).astype(np.int16)
    raw[:5, :5] = -32768
    hdu = fits.PrimaryHDU(raw)
    hdu.header["BSCALE"], hdu.header["BZERO"], hdu.header["BLANK"] = 0.02, 300.0, -32768
    hdu.writeto(tmp_path / "scaled.fits")
    data, _ = read_image(tmp_path / "scaled.fits")
    assert data.dtype == np.float32
    assert np.isnan(data[:5, :5]).all()
    assert np.allclose(data[10:, 10:], flux[10:, 10:], atol=0.011)
    # Unscaled integers with BLANK, and float NaN and inf: all are "no data".
    unscaled = fits.PrimaryHDU(np.where(np.isnan(data), -1, np.round(data)).astype(np.int32))
    unscaled.header["BLANK"] = -1
    unscaled.writeto(tmp_path / "blank.fits")
    assert np.isnan(read_image(tmp_path / "blank.fits")[0][:5, :5]).all()
    holes = flux.copy()
    holes[:5, :5], holes[90:, 90:] = np.nan, np.inf
    image = load_image(write(tmp_path / "holes.fits", holes))
    # No data renders as sky: the corners look like the sky beside them.
    assert abs(float(image[:6, -6:].mean()) - float(image[10:16, -16:-10].mean())) < 8
    assert abs(float(image[-6:, :6].mean()) - float(image[-16:-10, 10:16].mean())) < 8


def test_three_plane_cube_is_colour_with_the_reddest_plane_red(tmp_path):
    g = galaxy()
    sky = galaxy(flux=0.0, seed=1)
    cube = np.stack([sky, sky, g])  # only the reddest (third) plane holds the galaxy
    image = load_image(write(tmp_path / "cube.fits", cube))
    centre = image[60:68, 60:68].astype(int).mean(axis=(0, 1))
    assert centre[0] > centre[2] + 50
    five = write(tmp_path / "five.fits", np.stack([sky, sky, g, sky, sky]))
    with pytest.raises(ImageError, match=r"a cube of 5 planes: choose one or three \(bluest first\) with --planes"):
        load_image(five)
    bands = read_bands([five], planes=[3, 4, 5])
    assert bands.data.shape == (3, 96, 96) and np.array_equal(bands.data[0], g)
    with pytest.raises(ImageError, match="plane 6 does not exist: the cube has planes 1 to 5"):
        read_bands([five], planes=[4, 5, 6])
    # A cube with degenerate axes (NAXIS3 = 1) is a plain image.
    assert read_image(write(tmp_path / "deg.fits", g[np.newaxis]))[0].shape == (96, 96)


def test_three_single_band_files_make_one_colour_galaxy(tmp_path):
    h = tan_header((96, 96))
    paths = [write(tmp_path / f"{b}.fits", galaxy(seed=i), h) for i, b in enumerate("gri")]
    bands = read_bands(paths)
    assert bands.data.shape == (3, 96, 96) and bands.names == [str(p) for p in paths]
    rgb = render(bands.data)
    assert rgb.shape == (96, 96, 3) and not np.array_equal(rgb[..., 0], rgb[..., 2])


def test_bands_not_on_one_grid_are_refused(tmp_path):
    g = write(tmp_path / "g.fits", galaxy(), tan_header((96, 96)))
    small = write(tmp_path / "small.fits", galaxy((80, 96)), tan_header((80, 96)))
    with pytest.raises(ImageError, match=r"small.fits: bands are not on one pixel grid: 96 x 80 against 96 x 96 in"):
        read_bands([g, small, g])
    shifted = write(tmp_path / "shifted.fits", galaxy(), tan_header((96, 96), ra=150.001))
    with pytest.raises(ImageError, match=r"shifted.fits: bands are not on one pixel grid: its WCS is 9.0 px off"):
        read_bands([g, g, shifted])


# --- the rendering ----------------------------------------------------------------------------


def test_rendering_does_not_depend_on_flux_units_or_sky_level():
    data = galaxy()
    base = render(data).astype(int)
    assert np.abs(render(data * 1e-9).astype(int) - base).max() <= 1  # nanomaggies or electrons alike
    assert np.abs(render(data + 5000).astype(int) - base).max() <= 1  # the sky level is measured and removed
    # Rows are flipped: FITS row 1 is the bottom of the picture.
    low = galaxy(centre=(20, 48))
    assert render(low)[70:80].mean() > render(low)[15:25].mean() + 30


def test_rendering_of_an_empty_sky_stays_dark():
    sky = galaxy(flux=0.0)
    image = render(sky)
    # No source: the stretch's white point is held at min_white_snr x the noise, not at the noise.
    assert image.mean() < 30 and image.max() < 80


def test_models_carry_the_rendering_and_refuse_another(device_models, tmp_path):
    import shutil

    from galaxy_edge.metadata import read_sidecar

    int8 = device_models["int8"]
    meta = read_sidecar(int8)
    assert meta["input"]["fits_rendering"] == RENDERING
    shutil.copy(int8, tmp_path / "m.tflite")
    meta["input"]["fits_rendering"] = {**RENDERING, "q": 3.0}
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="model expects FITS rendered with"):
        read_sidecar(tmp_path / "m.tflite")


# --- bad FITS: one clear line each --------------------------------------------------------------


def header_only(path, naxis1, naxis2):
    """A FITS header declaring a naxis1 x naxis2 float32 image, and no data at all."""
    header = fits.Header([("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 2), ("NAXIS1", naxis1), ("NAXIS2", naxis2)])
    path.write_bytes(header.tostring().encode("ascii"))
    return path


def bad_fits(folder, good):
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("x", "E", array=np.ones(3))])]).writeto(
        folder / "table.fits")
    (folder / "notes.fits").write_text("SIMPLE? no, an observing log\n" * 100)
    data = good.read_bytes()
    (folder / "half.fits").write_bytes(data[: len(data) // 2])
    header_only(folder / "huge.fits", 200000, 200000)
    write(folder / "nan.fits", np.full((50, 50), np.nan, dtype=np.float32))
    return {
        "table.fits": "no image in this FITS file (its HDUs: PRIMARY (no data), BINTABLE)",
        "notes.fits": "not a readable FITS file (",
        "half.fits": "truncated FITS file (",
        "huge.fits": "the header declares a 200000 x 200000 image (40,000,000,000 pixels), over the 64,000,000-pixel limit; not read",
        "nan.fits": "no valid pixels (all NaN, inf or BLANK)",
    }


def test_bad_fits_files_are_one_clear_reason_each(tmp_path):
    good = write(tmp_path / "good.fits", galaxy((200, 200)))
    for name, reason in bad_fits(tmp_path, good).items():
        with pytest.raises(ImageError) as caught:
            load_image(tmp_path / name)
        assert caught.value.path == str(tmp_path / name)
        assert caught.value.reason.startswith(reason), (name, caught.value.reason)
    # A gigantic declared image is refused from its header: nothing was allocated.
    with pytest.raises(ImageError, match="over the 64,000,000-pixel limit"):
        read_image(header_only(tmp_path / "big.fits", 9000, 9000))


def sparse_image(path, shape):
    """A float32 FITS image of `shape` (numpy order) whose data are a hole in the file: no disk, no time."""
    cards = [("SIMPLE", True), ("BITPIX", -32), ("NAXIS", len(shape))]
    cards += [(f"NAXIS{i + 1}", n) for i, n in enumerate(reversed(shape))]
    head = fits.Header(cards).tostring().encode("ascii")
    data = int(np.prod(shape)) * 4
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(len(head) + -(-data // 2880) * 2880)
    return path


def test_a_fits_cutout_over_the_decode_budget_is_refused_from_its_header(tmp_path):
    import tracemalloc

    # 7000 x 7000 float32 is 187 MB: under the 64 M pixel limit of frames, over the 160 MB of a cutout.
    big = sparse_image(tmp_path / "big.fits", (7000, 7000))
    cube = sparse_image(tmp_path / "cube.fits", (3, 4200, 4200))
    tracemalloc.start()
    try:
        for path, text in ((big, "7000 x 7000 image, 187 MB"), (cube, "4200 x 4200 x 3 image, 202 MB")):
            with pytest.raises(ImageError) as caught:
                load_image(path)
            assert caught.value.reason == (
                f"the header declares a {text} as float32, over the 160 MB "
                "a FITS cutout may take; not read (`galaxy-edge field` reads whole frames up to 64,000,000 pixels)")
        assert tracemalloc.get_traced_memory()[1] < 20 * 2**20  # nothing of the image was allocated
    finally:
        tracemalloc.stop()
    # Three band files share the budget: each may take a third of it.
    third = sparse_image(tmp_path / "r.fits", (4000, 4000))  # 61 MB: alone it is a cutout, as one of three it is not
    assert load_image(third).shape == (128, 128, 3)
    with pytest.raises(ImageError, match="over the 53 MB a FITS cutout may take"):
        read_bands([third, third, third], max_bytes=160 * 2**20)


def test_classify_goes_on_past_bad_fits_and_exits_3(device_models, tmp_path):
    good = write(tmp_path / "good.fits", galaxy((200, 200)))
    reasons = bad_fits(tmp_path, good)
    result = CliRunner().invoke(cli, ["classify", "--model", str(device_models["int8"]), "--json", str(tmp_path)])
    assert result.exit_code == 3, result.output
    records = {r["path"].split("/")[-1]: r for r in map(json.loads, result.stdout.splitlines())}
    assert records["good.fits"]["label"] in ("normal", "ringed", "merger", "irregular")
    for name, reason in reasons.items():
        assert records[name]["error"].startswith(reason), name
    assert "5 of 6 image(s) could not be classified" in result.stderr


# --- the real FITS files in ../shared/data --------------------------------------------------------


def test_real_fits_cutouts_and_frames_load(shared_data):
    fits_dir = shared_data / "fits"
    for path in sorted(fits_dir.glob("*/*.fits*")):
        if "hsc" in path.name:
            with pytest.raises(ImageError, match="a cube of 5 planes"):
                load_image(path)
            assert read_bands([path], planes=[1, 2, 3]).data.shape == (3, 54, 54)
            continue
        image = load_image(path)
        assert image.shape == (128, 128, 3) and 0 < image.mean() < 128, path
    hcg = sorted((fits_dir / "sdss-hcg88-gri").glob("*.bz2"))
    bands = read_bands([p for b in "gri" for p in hcg if f"_{b}." in p.name])
    assert bands.data.shape == (3, 496, 682)


def test_evaluate_and_benchmark_take_fits_folders(device_models, tmp_path):
    from galaxy_edge.data.synth_field import FieldSpec, draw_field

    # Labelled FITS cutouts of synthetic galaxies, one folder per class, as a survey would cut them.
    drawn = draw_field(FieldSpec(size=400, galaxies=4, stars=0, seed=2))
    for t in (t for t in drawn.truth if t["kind"] == "galaxy"):
        x, y = int(round(t["x"])) - 1, int(round(t["y"])) - 1
        folder = tmp_path / "data" / t["class"]
        folder.mkdir(parents=True, exist_ok=True)
        write(folder / f"{t['id']}.fits.gz", drawn.data[0][y - 40:y + 40, x - 40:x + 40])
    model = str(device_models["int8"])
    evaluated = CliRunner().invoke(cli, ["evaluate", "--model", model, "--data", str(tmp_path / "data"), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(evaluated.stdout)
    assert sum(map(sum, report["confusion_matrix"])) == 4
    benched = CliRunner().invoke(cli, ["benchmark", "--model", model, "--runs", "2", "--warmup", "0", "--images",
                                       str(tmp_path / "data"), "--json"])
    assert benched.exit_code == 0, benched.output
