"""How `field` finds and frames galaxies: the options and their defaults, in one place (standard library only,
so the command line can show the defaults without importing numpy, astropy or sep)."""

from dataclasses import dataclass, field

# The one rendering from flux to the model's input (fits/render.py): here, with no numpy, so that the
# model metadata can name it without loading the renderer.
RENDERING = {
    "method": "sky-subtracted (3-sigma-clipped median), Lupton et al. 2004 asinh on the mean of the bands",
    "q": 10.0,
    "white_percentile": 99.7,
    "white_level": 0.84,
    "min_white_snr": 50.0,
    "sky_level": 0.03,
    "sigma_clip": 3.0,
}


@dataclass
class DetectOptions:
    """How sources are found and which are galaxies.

    Attributes:
        threshold: detection threshold in sky sigma.
        min_area: fewest connected pixels above the threshold.
        deblend_cont: smallest share of a footprint's flux a branch needs to become its own source.
        background_mesh: side in pixels of the boxes of the background map.
        min_snr: fewest signal-to-noise (Kron flux / its error) a galaxy needs to be classified.
        galaxy_size: a galaxy's half-light radius is more than this many times the PSF's.
        psf_r50: the PSF's half-light radius in pixels; default: measured from the frame's stars.
        saturation: pixel value of saturation; default: the SATURATE keyword, else none.
    """

    threshold: float = 3.0
    min_area: int = 10
    deblend_cont: float = 0.005
    background_mesh: int = 64
    min_snr: float = 20.0
    galaxy_size: float = 1.5
    psf_r50: float = None
    saturation: float = None


@dataclass
class FieldOptions:
    """How a frame becomes classified galaxies.

    Attributes:
        detect: detection and star/galaxy separation (DetectOptions).
        cutout_scale: side of a galaxy's cutout in half-light radii. The synthetic training sky
            frames a galaxy with a side of 3 to 17 of its half-light radii, most often 4 to 8;
            on synthetic fields 5 to 7 classified best (benchmarks/field_accuracy.py).
        min_cutout: smallest cutout side in pixels (a barely resolved galaxy still gets some sky).
        max_cutout: largest cutout side in pixels.
        planes: for a cube, the 1-based planes to use, bluest first.
        cutout_size: side in pixels of the cutout at a target's position (`field --positions`)
            when its catalogue row gives no size: a galaxy of 9 px half-light radius at cutout_scale.
    """

    detect: DetectOptions = field(default_factory=DetectOptions)
    cutout_scale: float = 7.0
    min_cutout: int = 24
    max_cutout: int = 1024
    planes: list = None
    cutout_size: int = 64
