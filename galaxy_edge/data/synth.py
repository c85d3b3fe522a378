"""The embedded synthetic galaxy sky: labelled survey-like cutouts drawn with numpy alone.

The default `galaxy-edge train` learns only from these images and is judged on real Galaxy Zoo
cutouts, so the generator aims at the look of real surveys rather than at clean, separable classes:

* the galaxy fills a large part of the frame (tight Galaxy Zoo crops down to smaller DECaLS-like ones);
* a dark, smooth sky with faint correlated noise, field stars, compact background galaxies;
* mergers are two smooth galaxies side by side or overlapping with faint tails or none, two
  close nuclei in one lopsided envelope with broad plumes (the late stage, as SDSS crops show it),
  or a galaxy with a small companion joined to it by tidal light (a minor merger);
* rings come with bars, arms, lenses and partial rings; `normal` spans ellipticals to spirals and
  smooth, nearly bulgeless disks;
* colour is no class shortcut: every class spans red to blue, and the survey colour balance
  (warm SDSS gri, greyish DECaLS grz, HST, UKIDSS), PSF, stretch and JPEG artefacts are randomised.

Everything is drawn in linear flux per RGB channel, blurred by the PSF with one FFT pass, put
through an asinh stretch, then given sky, noise and compression artefacts in display units.
"""

from functools import lru_cache

import numpy as np

from galaxy_edge import CLASS_NAMES

N_CLASSES = len(CLASS_NAMES)

# Stellar-population colours in linear RGB flux: old/red through yellow-white to young/blue (a
# straight red-blue mix would pass through pink, which galaxies are not). A component's colour is
# a point on this path, so every class can take any colour and colour alone says little.
_RED = np.array([1.0, 0.74, 0.5], dtype=np.float32)
_MID = np.array([1.0, 0.93, 0.82], dtype=np.float32)
_BLUE = np.array([0.72, 0.8, 1.0], dtype=np.float32)

# Survey looks: probability, channel gains (R, G, B), colour saturation range, PSF FWHM range in
# pixels of a 128-px frame, sky level range (0-255), chance of a tight crop, field stars,
# chroma share of the sky noise and its correlation (binomial filter passes).
_SURVEYS = {
    "sdss": dict(p=0.45, gains=(1.1, 1.0, 0.84), sat=(0.85, 1.25), fwhm=(3.0, 9.0), sky=(2, 14),
                 tight=0.8, stars=(0, 4), chroma=(0.5, 1.1), passes=(2, 5)),
    "decals": dict(p=0.33, gains=(1.0, 0.98, 0.95), sat=(0.35, 0.8), fwhm=(1.3, 3.0), sky=(10, 22),
                   tight=0.25, stars=(3, 25), chroma=(0.1, 0.35), passes=(0, 2), bg=3),
    "hst": dict(p=0.11, gains=(1.0, 0.95, 1.05), sat=(0.6, 1.2), fwhm=(1.0, 2.5), sky=(0, 12),
                tight=0.5, stars=(0, 8), chroma=(0.5, 1.2), passes=(0, 3)),
    "ukidss": dict(p=0.11, gains=(1.2, 0.95, 0.8), sat=(0.3, 0.9), fwhm=(2.0, 5.0), sky=(4, 18),
                   tight=0.5, stars=(2, 12), chroma=(0.3, 0.8), passes=(1, 3)),
}
_SURVEY_NAMES = tuple(_SURVEYS)
_SURVEY_P = np.array([_SURVEYS[k]["p"] for k in _SURVEY_NAMES])


def generate(count, seed=0, size=128, classes=None, progress=None):
    """Draw a balanced, labelled set of synthetic galaxy images.

    Labels cycle through the classes and are then shuffled with the seed. Image i is drawn from
    its own child of `np.random.SeedSequence(seed)`, so it depends only on (seed, i, its label).

    Args:
        count: number of images.
        seed: integer seed; the same (count, seed, size, classes) gives identical bytes.
        size: side of the square images in pixels.
        classes: optional sequence of class indices to draw (default: all of `CLASS_NAMES`).
        progress: optional callable(n_done), called about every 100 images and at the end.

    Returns:
        (images, labels): (count, size, size, 3) uint8 RGB and (count,) int64.
    """
    classes = np.arange(N_CLASSES) if classes is None else np.asarray(classes, dtype=np.int64)
    if classes.size == 0 or classes.min() < 0 or classes.max() >= N_CLASSES:
        raise ValueError(f"classes must be indices in 0..{N_CLASSES - 1}, got {classes.tolist()}")
    root = np.random.SeedSequence(seed)
    labels = np.resize(classes, count).astype(np.int64)
    np.random.default_rng(root).shuffle(labels)
    images = np.empty((count, size, size, 3), dtype=np.uint8)
    for i, child in enumerate(root.spawn(count)):
        images[i] = render(int(labels[i]), np.random.default_rng(child), size)
        if progress is not None and ((i + 1) % 100 == 0 or i + 1 == count):
            progress(i + 1)
    return images, labels


def render(label, rng, size=128):
    """Draw one survey-like cutout of a galaxy of class `label`.

    Args:
        label: class index into `CLASS_NAMES`.
        rng: a `np.random.Generator`; all randomness comes from it.
        size: side of the square image in pixels.

    Returns:
        (size, size, 3) uint8 RGB image.
    """
    survey = _SURVEYS[_SURVEY_NAMES[rng.choice(len(_SURVEY_NAMES), p=_SURVEY_P)]]
    fwhm = rng.uniform(*survey["fwhm"]) * size / 128
    # A blurry image loses nothing when drawn at half resolution and interpolated up: 4x faster.
    scene = _Scene(size, 2 if fwhm >= 3.8 and size % 2 == 0 else 1, rng)
    # Galaxy size in pixels: Galaxy Zoo crops are framed on the galaxy, tighter for SDSS.
    tight = rng.random() < survey["tight"]
    scale = size * (rng.uniform(0.09, 0.2) if tight else rng.uniform(0.035, 0.1))
    centre = rng.normal(0.0, 0.03 * size, 2)
    _CLASS_PAINTERS[label](scene, rng, centre, scale)
    _add_field(scene, rng, survey, scale)
    return _observe(scene, rng, survey, fwhm)


class _Scene:
    """Linear-flux layers of one image, drawn on a padded canvas, blurred differently before the PSF.

    Coordinates are always in output pixels from the frame centre; the canvas may be coarser
    (`step` output pixels per canvas pixel) and extends `pad` canvas pixels past the frame so the
    periodic FFT blur does not wrap light from one edge to the other.

    Attributes:
        smooth: (3, N, N) analytic light profiles and point sources (stars).
        clumps: (3, N, N) delta functions for star-forming knots and small background galaxies,
            blurred to their size before the PSF.
    """

    def __init__(self, size, step, rng):
        self.size, self.step = size, step
        self.pad = max(4, size // (16 * step))
        self.n = size // step + 2 * self.pad
        self.x, self.y = _grid(self.n, step)
        self.smooth = np.zeros((3, self.n, self.n), dtype=np.float32)
        self.clumps = np.zeros_like(self.smooth)
        self.clump_sigma = rng.uniform(1.0, 2.2) * size / 128
        self.peak = 0.0  # surface brightness scale of the brightest galaxy, for the field
        # Display brightness of the galaxy core; below 1 for low-surface-brightness objects and,
        # so that dimness is no class shortcut, for some galaxies of every class.
        self.dim = rng.uniform(0.55, 0.9) if rng.random() < 0.12 else 1.0

    def add(self, profile, colour):
        """Add a (N, N) profile of the given linear RGB colour to the smooth layer."""
        self.smooth += colour[:, None, None] * profile

    def splat(self, layer, xs, ys, fluxes, colours):
        """Add point sources at output-pixel offsets (xs, ys) from the frame centre to `layer`."""
        half, shift = (self.n - 1) / 2, (self.step - 1) / 2
        fx = (np.asarray(xs) + shift) / self.step + half
        fy = (np.asarray(ys) + shift) / self.step + half
        x0, y0 = np.floor(fx).astype(int), np.floor(fy).astype(int)
        wx, wy = fx - x0, fy - y0
        # Bilinear splatting keeps sub-pixel positions and softens what the PSF must smooth:
        # each point feeds the four canvas pixels around it.
        ix = np.concatenate([x0, x0 + 1, x0, x0 + 1])
        iy = np.concatenate([y0, y0, y0 + 1, y0 + 1])
        w = np.concatenate([(1 - wx) * (1 - wy), wx * (1 - wy), (1 - wx) * wy, wx * wy])
        # Flux per canvas pixel grows with the pixel area when drawing coarser.
        flux = np.tile(np.asarray(fluxes, dtype=np.float64), 4) * w / self.step**2
        values = (flux[:, None] * np.tile(colours, (4, 1))).astype(np.float32)
        ok = (ix >= 0) & (ix < self.n) & (iy >= 0) & (iy < self.n)
        np.add.at(layer, (slice(None), iy[ok], ix[ok]), values[ok].T)


@lru_cache(maxsize=16)
def _grid(n, step):
    """Canvas-pixel-centre coordinates in output pixels from the centre, (N, N) float32 each.

    A coarse canvas is offset by (step - 1) / 2 so that its Fourier interpolation (`_blur`) lands
    exactly on the output pixel centres.
    """
    c = (np.arange(n, dtype=np.float32) - (n - 1) / 2) * np.float32(step) - np.float32((step - 1) / 2)
    y, x = np.meshgrid(c, c, indexing="ij")
    x.flags.writeable = y.flags.writeable = False
    return x, y


def _colour(t):
    """Linear RGB colour (3,) of a stellar population, t=0 old/red to t=1 young/blue."""
    t = min(max(float(t), 0.0), 1.0)
    a, b, w = (_RED, _MID, 2 * t) if t < 0.5 else (_MID, _BLUE, 2 * t - 1)
    return np.float32(1 - w) * a + np.float32(w) * b


def _colours(ts):
    """Linear RGB colours (N, 3) for an array of population parameters t in [0, 1]."""
    ts = np.clip(np.asarray(ts, dtype=np.float32), 0.0, 1.0)[:, None]
    lo, hi = np.minimum(2 * ts, 1), np.maximum(2 * ts - 1, 0)
    return np.where(ts < 0.5, (1 - lo) * _RED + lo * _MID, (1 - hi) * _MID + hi * _BLUE)


def _sersic_b(n):
    """The Sersic b_n making re the half-light radius (Ciotti & Bertin 1999 expansion)."""
    return 2 * n - 1 / 3 + 0.009876 / n


def _sersic(r, re, n):
    """Sersic surface brightness, 1 at the effective radius `re`."""
    return np.exp(np.float32(-_sersic_b(n)) * (np.power(r / np.float32(re), np.float32(1 / n)) - 1))


class _Frame:
    """A galaxy's own coordinates: major axis u, deprojected minor axis v, plane radius and angle.

    Args:
        scene: the scene whose canvas grid is used.
        cx, cy: centre offset from the frame centre in output pixels.
        pa: position angle of the major axis in radians.
        q: axis ratio b/a (inclination).
    """

    def __init__(self, scene, cx, cy, pa, q):
        dx, dy = scene.x - np.float32(cx), scene.y - np.float32(cy)
        c, s = np.float32(np.cos(pa)), np.float32(np.sin(pa))
        self.cx, self.cy, self.pa, self.q = cx, cy, pa, q
        self.u = dx * c + dy * s
        self.v_sky = dy * c - dx * s
        self.v = self.v_sky / np.float32(q)
        # A half-pixel softening keeps the Sersic cusp finite at the centre pixel.
        self.r = np.sqrt(self.u * self.u + self.v * self.v + np.float32(0.25 * scene.step**2))
        self._theta = None

    @property
    def theta(self):
        """Azimuth in the galaxy plane, computed on first use (arctan2 is not cheap)."""
        if self._theta is None:
            self._theta = np.arctan2(self.v, self.u)
        return self._theta

    def to_sky(self, u, v):
        """Map galaxy-plane points (u, v) to output-pixel offsets from the frame centre."""
        v = np.asarray(v) * self.q
        c, s = np.cos(self.pa), np.sin(self.pa)
        return self.cx + u * c - v * s, self.cy + u * s + v * c


# --- galaxy components -------------------------------------------------------------------------


def _bulge(scene, f, rng, re, amp, t, n=None):
    """Add a Sersic bulge (rounder than the disk) of colour t."""
    n = rng.uniform(2.0, 4.5) if n is None else n
    q_b = min(1.0, f.q + rng.uniform(0.1, 0.5))
    r = np.sqrt(f.u * f.u + (f.v_sky / np.float32(q_b)) ** 2 + np.float32(0.25 * scene.step**2))
    scene.add(amp * _sersic(r, re, n), _colour(t))


def _disk_profile(f, h):
    """Exponential disk in the galaxy plane with scale length h, 1 at the centre."""
    return np.exp(-f.r / np.float32(h))


def _spiral(f, rng, h, m=None, pitch=None, sharp=None):
    """Logarithmic spiral arm pattern in [0, 1], fading in over the inner disk."""
    m = rng.choice([1, 2, 2, 2, 3, 4]) if m is None else m
    pitch = np.radians(rng.uniform(10, 30) if pitch is None else pitch)
    sharp = rng.uniform(1.5, 5) if sharp is None else sharp
    phase = m * (f.theta - np.log(f.r / np.float32(h)) / np.float32(np.tan(pitch))) + rng.uniform(0, 6.3)
    arms = ((1 + np.cos(phase)) * 0.5) ** np.float32(sharp)
    return arms * (1 - np.exp(-(f.r / np.float32(0.6 * h)) ** 2))


def _arms(f, rng, h, flocculent):
    """Spiral arm light over the disk: grand design (2-3 long arms) or flocculent (short, patchy ones)."""
    if not flocculent:
        return rng.uniform(0.8, 2.0) * _spiral(f, rng, h, m=rng.choice([2, 2, 3]), pitch=rng.uniform(12, 30),
                                               sharp=rng.uniform(2, 6))
    # Two overlaid many-armed patterns break the arms into pieces.
    pieces = [_spiral(f, rng, h, m=rng.choice([3, 4, 5]), pitch=rng.uniform(20, 40), sharp=rng.uniform(1, 3))
              for _ in range(2)]
    return rng.uniform(0.25, 0.75) * (pieces[0] + pieces[1])


def _ring_profile(f, radius, width, complete, phase):
    """Gaussian ring at plane radius `radius`; `complete` < 1 fades the side opposite `phase`."""
    ring = np.exp(-0.5 * ((f.r - np.float32(radius)) / np.float32(width)) ** 2)
    if complete < 1:
        ring = ring * (complete + (1 - complete) * 0.5 * (1 + np.cos(f.theta - np.float32(phase))))
    return ring


def _bar(scene, f, rng, length, amp, t):
    """Add a bar (flat, elongated Sersic) in the galaxy plane of half-length `length`."""
    beta = rng.uniform(0, np.pi)
    c, s = np.float32(np.cos(beta)), np.float32(np.sin(beta))
    ub, vb = f.u * c + f.v * s, (-f.u * s + f.v * c) / np.float32(rng.uniform(0.2, 0.4))
    r = np.sqrt(ub * ub + vb * vb + np.float32(0.25 * scene.step**2))
    scene.add(amp * _sersic(r, 0.55 * length, rng.uniform(0.4, 0.8)), _colour(t))


def _knots(scene, f, rng, n, radius, flux, t_mean, ring=None):
    """Scatter star-forming knots in the galaxy plane, in a disk or along a ring of given radius."""
    if n <= 0:
        return
    if ring is None:
        rr = radius * np.sqrt(rng.random(n)) * rng.uniform(0.8, 1.2, n)
    else:
        rr = ring * rng.normal(1.0, 0.06, n)
    phi = rng.uniform(0, 2 * np.pi, n)
    xs, ys = f.to_sky(rr * np.cos(phi), rr * np.sin(phi))
    fluxes = flux * rng.lognormal(0, 0.6, n)
    scene.splat(scene.clumps, xs, ys, fluxes, _colours(t_mean + rng.normal(0, 0.1, n)))


def _dust_lane(scene, f, rng, scale, layer_before):
    """Dim the light added since `layer_before` along the major axis (edge-on dust lane)."""
    width = f.q * scale * rng.uniform(0.15, 0.4) + 0.3
    tau = rng.uniform(0.5, 2.0)
    lane = np.exp(-0.5 * ((f.v_sky - np.float32(rng.normal(0, 0.7))) / np.float32(width)) ** 2)
    # Blue light is absorbed more than red, so lanes look reddish-dark.
    atten = np.exp(np.float32(-tau) * lane * np.array([0.7, 0.85, 1.0], dtype=np.float32)[:, None, None])
    added = scene.smooth - layer_before
    scene.smooth -= added * (1 - atten)


def _galaxy(scene, rng, cx, cy, scale, kind, amp=1.0, t_shift=0.0, q=None, pa=None):
    """Paint one galaxy of a given kind; returns its frame.

    Args:
        scene: where to paint.
        rng: random generator.
        cx, cy: centre offset from the frame centre in pixels.
        scale: disk scale length in pixels (sets the galaxy size).
        kind: "elliptical", "lenticular", "disk" (faint arms), "bulgeless" (faint arms, at most a
            faint nucleus, any inclination down to edge-on), "spiral" or "edgeon" (with a dust lane).
        amp: overall surface brightness.
        t_shift: shift of all colours toward blue (+) or red (-).
        q, pa: axis ratio and position angle; drawn when None.
    """
    pa = rng.uniform(0, np.pi) if pa is None else pa
    if q is None:
        q = {"elliptical": rng.uniform(0.45, 1.0), "edgeon": rng.uniform(0.1, 0.25),
             "bulgeless": rng.uniform(0.12, 1.0)}.get(kind, rng.uniform(0.3, 1.0))
    f = _Frame(scene, cx, cy, pa, q)
    t_bulge = rng.beta(1.5, 4.0) + t_shift
    t_disk = t_bulge + rng.uniform(0.1, 0.5)
    scene.peak = max(scene.peak, amp)
    if kind == "elliptical":
        _bulge(scene, f, rng, scale * rng.uniform(1.0, 2.0), amp * 0.15, t_bulge, n=rng.uniform(2.5, 5.0))
        return f
    before = scene.smooth.copy() if kind == "edgeon" else None
    disk = _disk_profile(f, scale)
    if kind == "spiral":
        flocculent = rng.random() < 0.5
        disk = disk * (rng.uniform(0.3, 0.7) + _arms(f, rng, scale, flocculent))
        n_knots = rng.integers(10, 40) if flocculent else rng.integers(0, 20)
        _knots(scene, f, rng, n_knots, 2.5 * scale, amp * scale * 0.12, t_disk + 0.2)
        if rng.random() < 0.35:
            _bar(scene, f, rng, scale * rng.uniform(0.6, 1.2), amp * rng.uniform(0.15, 0.4), t_bulge + 0.1)
    elif kind in ("disk", "bulgeless"):
        # A plain disk: faint arms at most.
        disk = disk * (1 + rng.uniform(0, 0.25) * _spiral(f, rng, scale))
    scene.add(amp * rng.uniform(0.5, 1.0) * disk, _colour(t_disk))
    b_re = scale * rng.uniform(0.2, 0.6)
    bulge_amp = rng.uniform(0.0, 0.06) if kind == "bulgeless" else rng.uniform(0.05, 0.5)
    _bulge(scene, f, rng, b_re, amp * bulge_amp, t_bulge)
    if kind == "edgeon":
        _dust_lane(scene, f, rng, scale, before)
    return f


# --- classes -----------------------------------------------------------------------------------


def _paint_normal(scene, rng, centre, scale):
    """Ellipticals, lenticulars, plain disks and spirals: Galaxy Zoo's "nothing odd" answer.

    Spirals belong here, not elsewhere: in Galaxy Zoo a spiral without a ring, merger or
    irregularity is normal, and most featured galaxies of a DECaLS field are such spirals.
    They are a little bluer, like real star-forming disks. Smooth disks with little or no bulge,
    seen at any angle, are normal too: without them, a real inclined disk with a faint core
    (common in DECaLS) resembled nothing here but an irregular's smooth blobs.
    """
    kind = rng.choice(["elliptical", "lenticular", "disk", "bulgeless", "spiral"], p=[0.24, 0.19, 0.12, 0.15, 0.30])
    t_shift = rng.normal(0, 0.15) + (0.1 if kind == "spiral" else 0.0)
    _galaxy(scene, rng, *centre, scale, kind, t_shift=t_shift)


def _paint_ringed(scene, rng, centre, scale):
    """A disk galaxy with an inner and/or outer ring, often barred, with a lens, arms or a gap.

    The ring's brightness is set against the disk light at its radius, and the disk is dimmed
    just inside it (the depleted zone of resonance rings), so the ring stays visible whatever the
    stretch; how strongly still varies from obvious to subtle, as in Galaxy Zoo.
    """
    t_shift = rng.normal(0, 0.15)
    f = _Frame(scene, *centre, rng.uniform(0, np.pi), rng.uniform(0.4, 1.0))
    scene.peak = max(scene.peak, 1.0)
    t_bulge = rng.beta(1.5, 4.0) + t_shift
    t_ring = t_bulge + rng.uniform(0.0, 0.6)
    h = scale * rng.uniform(0.8, 1.2)
    r_in = h * rng.uniform(0.8, 1.8)
    style = rng.choice(["inner", "outer", "both", "arms"], p=[0.3, 0.2, 0.3, 0.2])
    r_ring = r_in * rng.uniform(1.8, 2.6) if style == "outer" else r_in
    amp_d = rng.uniform(0.25, 0.7)
    gap = 1 - rng.uniform(0.3, 0.9) * np.exp(-0.5 * ((f.r - np.float32(0.75 * r_ring)) / np.float32(0.22 * r_ring)) ** 2)
    scene.add(amp_d * _disk_profile(f, h) * gap, _colour(t_bulge + 0.15))
    _bulge(scene, f, rng, h * rng.uniform(0.15, 0.4), rng.uniform(0.15, 0.8), t_bulge)
    if rng.random() < 0.55:
        _bar(scene, f, rng, r_in * rng.uniform(0.7, 1.0), amp_d * rng.uniform(0.3, 0.8), t_bulge + 0.1)
    elif rng.random() < 0.5:
        # A lens: a flat shelf of light filling the inner ring.
        scene.add(amp_d * rng.uniform(0.2, 0.5) * _sersic(f.r, 0.7 * r_in, rng.uniform(0.3, 0.5)),
                  _colour(t_bulge + 0.1))
    phase = rng.uniform(0, 2 * np.pi)
    complete = rng.uniform(0.25, 1.0) if rng.random() < 0.5 else 1.0
    radii = {"inner": [r_in], "outer": [r_ring], "both": [r_in, r_in * rng.uniform(1.8, 2.6)], "arms": [r_in]}[style]
    for k, r in enumerate(radii):
        local = amp_d * np.exp(-r / h)  # disk surface brightness the ring must stand out from
        ring = _ring_profile(f, r, r * rng.uniform(0.07, 0.2), complete, phase)
        scene.add(np.float32(local * rng.uniform(1.0, 4.0)) * ring, _colour(t_ring + 0.1 * k))
    if style == "arms":
        # Arms leaving the ring and winding outward: a common real ringed look.
        arms = _spiral(f, rng, r_in, m=2, pitch=rng.uniform(8, 20)) * (f.r > r_in)
        local = amp_d * np.exp(-r_in / h)
        scene.add(np.float32(local * rng.uniform(0.6, 1.8)) * arms * np.exp(-(f.r - r_in) / np.float32(r_in)),
                  _colour(t_ring + 0.1))
    if rng.random() < 0.4:
        _knots(scene, f, rng, rng.integers(5, 25), 0, amp_d * scale * 0.1, t_ring + 0.2, ring=radii[-1])


def _paint_merger(scene, rng, centre, scale):
    """Late-stage mergers (close nuclei, one envelope, plumes), galaxies side by side, minor mergers."""
    u = rng.random()
    if u < 0.35:
        _late_merger(scene, rng, centre, scale)
    elif u < 0.7:
        _pair(scene, rng, centre, scale)
    else:
        _minor_merger(scene, rng, centre, scale)


def _pair(scene, rng, centre, scale):
    """Two or three galaxies overlapping or side by side, sometimes with faint tails or a bridge."""
    n_gal = 2 if rng.random() < 0.85 else 3
    t_shift = rng.normal(0, 0.15)
    sep = min(scale * rng.uniform(0.8, 3.5), scene.size * rng.uniform(0.25, 0.5))
    angle = rng.uniform(0, 2 * np.pi)
    offsets = [np.zeros(2), sep * np.array([np.cos(angle), np.sin(angle)])]
    if n_gal == 3:
        a3 = angle + rng.uniform(1.2, 5.0)
        offsets.append(sep * rng.uniform(0.8, 1.3) * np.array([np.cos(a3), np.sin(a3)]))
    offsets = np.array(offsets)
    offsets -= offsets.mean(0) * rng.uniform(0.6, 1.0)  # frame on the system, not the primary
    frames = []
    for k, off in enumerate(offsets):
        kind = rng.choice(["elliptical", "lenticular", "disk", "spiral"], p=[0.35, 0.35, 0.2, 0.1])
        s = scale * (1.0 if k == 0 else rng.uniform(0.5, 1.0))
        amp = 1.0 if k == 0 else rng.uniform(0.4, 1.0)
        frames.append(_galaxy(scene, rng, *(centre + off), s, kind, amp=amp,
                              t_shift=t_shift + rng.normal(0, 0.1)))
    if rng.random() < 0.5:
        _tidal_tails(scene, rng, frames[0], scale, t_shift)
    if rng.random() < 0.3:
        _bridge(scene, rng, frames[0], frames[1], scale, t_shift)
    if rng.random() < 0.4:
        # A shared, lopsided outer envelope: the tell-tale of interacting pairs in blurry images.
        f = _Frame(scene, *(centre + offsets[:2].mean(0)), angle, rng.uniform(0.4, 0.8))
        scene.add(rng.uniform(0.03, 0.12) * _disk_profile(f, sep * 0.8 + scale), _colour(0.3 + t_shift))


def _late_merger(scene, rng, centre, scale):
    """Two close nuclei in one lopsided envelope, with broad plumes reaching the frame edge."""
    t_shift = rng.normal(0, 0.15)
    scale = scale * rng.uniform(1.0, 1.6)
    sep = scale * rng.uniform(0.7, 1.8)
    angle = rng.uniform(0, 2 * np.pi)
    direction = np.array([np.cos(angle), np.sin(angle)])
    nuclei = (centre - 0.4 * sep * direction, centre + 0.6 * sep * direction)
    kinds, p = ["elliptical", "lenticular", "disk"], [0.45, 0.35, 0.2]
    _galaxy(scene, rng, *nuclei[0], scale * rng.uniform(0.5, 0.9), rng.choice(kinds, p=p), t_shift=t_shift)
    _galaxy(scene, rng, *nuclei[1], scale * rng.uniform(0.3, 0.8), rng.choice(kinds, p=p),
            amp=rng.uniform(0.5, 1.0), t_shift=t_shift + rng.normal(0, 0.1))
    env_centre = centre + rng.normal(0, 0.5 * scale, 2)
    env = _Frame(scene, *env_centre, angle + rng.normal(0, 0.5), rng.uniform(0.35, 0.8))
    envelope = _sersic(_lumpy_radius(env, rng), scale * rng.uniform(1.5, 3.0), rng.uniform(0.7, 1.5))
    scene.add(rng.uniform(0.02, 0.08) * envelope, _colour(0.35 + t_shift))
    for _ in range(rng.integers(1, 3)):
        g = _Frame(scene, *nuclei[rng.integers(0, 2)], rng.uniform(0, np.pi), rng.uniform(0.5, 1.0))
        _stream(scene, rng, g, scale, 1, pitch=(20, 45), sharp=(2, 5), reach=(2.5, 5.0), amp=(0.15, 0.5),
                t_shift=t_shift)


def _minor_merger(scene, rng, centre, scale):
    """A galaxy and a small companion close by, with a tidal tail and often a bridge between them.

    Real Galaxy Zoo mergers are often minor: a satellite roughly 3 to 30 times fainter than its
    host, next to it or on its edge. The tidal light is what tells it from a chance neighbour,
    which any class may have.
    """
    t_shift = rng.normal(0, 0.15)
    kind = rng.choice(["elliptical", "lenticular", "disk", "spiral"], p=[0.3, 0.3, 0.2, 0.2])
    host = _galaxy(scene, rng, *centre, scale, kind, t_shift=t_shift)
    sep = scale * rng.uniform(1.2, 3.0)
    angle = rng.uniform(0, 2 * np.pi)
    offset = sep * np.array([np.cos(angle), np.sin(angle)])
    satellite = _galaxy(scene, rng, *(centre + offset), scale * rng.uniform(0.3, 0.6),
                        rng.choice(["elliptical", "lenticular", "disk"]), amp=rng.uniform(0.3, 0.8),
                        t_shift=t_shift + rng.normal(0, 0.1))
    if rng.random() < 0.6:
        _bridge(scene, rng, host, satellite, scale, t_shift)
    _tidal_tails(scene, rng, host if rng.random() < 0.5 else satellite, scale, t_shift)


def _tidal_tails(scene, rng, f, scale, t_shift):
    """Add one or two faint, curved tidal tails leaving galaxy frame f."""
    g = _Frame(scene, f.cx, f.cy, rng.uniform(0, np.pi), rng.uniform(0.5, 1.0))
    _stream(scene, rng, g, scale, rng.choice([1, 1, 2]), pitch=(15, 35), sharp=(4, 10), reach=(1.5, 3.0),
            amp=(0.05, 0.3), t_shift=t_shift)


def _stream(scene, rng, g, scale, m, pitch, sharp, reach, amp, t_shift):
    """Add m lopsided spiral streams of light winding out of frame g: tidal tails or plumes.

    pitch (degrees), sharp, reach (in units of `scale`) and amp are (low, high) ranges.
    """
    streams = _spiral(g, rng, scale, m=m, pitch=rng.uniform(*pitch), sharp=rng.uniform(*sharp))
    # Streams are lopsided, not a symmetric spiral pattern: fade them over part of the azimuth.
    streams = streams * (0.5 + 0.5 * np.cos(g.theta - np.float32(rng.uniform(0, 6.3))))
    envelope = np.exp(-g.r / np.float32(scale * rng.uniform(*reach))) * (1 - np.exp(-(g.r / scale) ** 2))
    scene.add(rng.uniform(*amp) * streams * envelope, _colour(rng.uniform(0.2, 0.7) + t_shift))


def _bridge(scene, rng, f1, f2, scale, t_shift):
    """Add a faint bridge of light along the segment joining two galaxies."""
    ax, ay, bx, by = f1.cx, f1.cy, f2.cx, f2.cy
    dx, dy = bx - ax, by - ay
    t = np.clip(((scene.x - ax) * dx + (scene.y - ay) * dy) / (dx * dx + dy * dy + 1e-6), 0, 1)
    d2 = (scene.x - ax - t * dx) ** 2 + (scene.y - ay - t * dy) ** 2
    width = scale * rng.uniform(0.2, 0.5)
    scene.add(rng.uniform(0.05, 0.2) * np.exp(-0.5 * d2 / np.float32(width * width)), _colour(0.4 + t_shift))


def _paint_irregular(scene, rng, centre, scale):
    """Clumpy, diffuse or lopsided star-forming bodies and a few dust-laned edge-on disks, of any colour.

    Edge-on disks are only 10 % of irregulars: a dust lane is lost in a small or blurry disk, and
    at 25 % the model called many real inclined DECaLS disks `irregular`.
    """
    style = rng.choice(["clumpy", "diffuse", "edgeon", "lopsided"], p=[0.42, 0.24, 0.1, 0.24])
    t_shift = rng.normal(0.1, 0.2)
    if style == "edgeon":
        # Always dust-laned (Galaxy Zoo's "dust lane" odd feature): a plain edge-on disk is normal.
        _galaxy(scene, rng, *centre, scale * rng.uniform(0.9, 1.4), "edgeon", t_shift=t_shift)
        return
    if style == "diffuse":
        # Low surface brightness: shown dimmer and noisier than a galaxy with a bright core.
        scene.dim = rng.uniform(0.45, 0.8)
    # Overlapping low-concentration blobs make an asymmetric body with no dominant nucleus;
    # they overlap more than merging galaxies do, and none has a bulge.
    n_blob = rng.integers(2, 5)
    spread = {"lopsided": 1.0, "clumpy": 0.7, "diffuse": 0.8}[style]
    q, pa = rng.uniform(0.3, 1.0), rng.uniform(0, np.pi)
    main = _Frame(scene, *centre, pa, q)
    scene.peak = max(scene.peak, 1.0)
    t_body = rng.beta(2, 2) + t_shift
    for _ in range(n_blob):
        off = rng.normal(0, spread * scale, 2)
        f = _Frame(scene, *(centre + off), pa + rng.normal(0, 0.3), max(0.45, q * rng.uniform(0.7, 1.2)))
        prof = _sersic(_lumpy_radius(f, rng), scale * rng.uniform(0.8, 1.6), rng.uniform(0.6, 1.2))
        scene.add(rng.uniform(0.2, 0.6) * prof, _colour(t_body + rng.normal(0, 0.1)))
    n_knots = {"clumpy": rng.integers(8, 35), "diffuse": rng.integers(2, 10)}.get(style, rng.integers(3, 15))
    knot_flux = scale * (rng.uniform(0.12, 0.45) if style == "clumpy" else rng.uniform(0.05, 0.3))
    _knots(scene, main, rng, n_knots, 1.8 * scale, knot_flux, t_body + 0.15)


def _lumpy_radius(f, rng):
    """Plane radius with random low-order azimuthal distortions: irregular, non-elliptical outlines."""
    wobble = 1.0
    for m, most in ((1, 0.25), (2, 0.08), (3, 0.05)):
        wobble = wobble + np.float32(rng.uniform(0, most)) * np.cos(m * f.theta - np.float32(rng.uniform(0, 6.3)))
    return f.r * wobble


_CLASS_PAINTERS = (_paint_normal, _paint_ringed, _paint_merger, _paint_irregular)


# --- field and observation ---------------------------------------------------------------------


def _add_field(scene, rng, survey, scale):
    """Field stars, small background galaxies and, sometimes, a bright star with diffraction spikes."""
    size = scene.size
    unit = scene.peak * scale * scale  # flux of the main galaxy, roughly
    n_stars = rng.integers(*survey["stars"])
    if n_stars:
        xs, ys = rng.uniform(-size / 2, size / 2, (2, n_stars))
        # Star counts rise steeply to faint fluxes; a capped power law gives a few bright ones.
        fluxes = unit * 0.01 * np.minimum(rng.pareto(1.3, n_stars), 100)
        scene.splat(scene.smooth, xs, ys, fluxes, _colours(rng.beta(2, 2, n_stars)))
    n_bg = rng.integers(0, survey.get("bg", 1) * survey["stars"][1] + 2)
    if n_bg:
        xs, ys = rng.uniform(-size / 2, size / 2, (2, n_bg))
        fluxes = unit * 0.003 * np.minimum(rng.pareto(1.5, n_bg), 100)
        scene.splat(scene.clumps, xs, ys, fluxes, _colours(rng.beta(1.5, 2, n_bg)))
    if rng.random() < 0.12:
        _bright_star(scene, rng, unit)


def _bright_star(scene, rng, unit):
    """A saturated foreground star off the galaxy, with faint diffraction spikes in sharp surveys."""
    size = scene.size
    angle = rng.uniform(0, 2 * np.pi)
    x0, y0 = 0.5 * size * rng.uniform(0.45, 0.95) * np.array([np.cos(angle), np.sin(angle)])
    flux = unit * rng.uniform(0.3, 3.0)
    colour = _colours([rng.beta(2, 2)])
    scene.splat(scene.smooth, [x0], [y0], [flux], colour)
    if rng.random() < 0.5:
        f = _Frame(scene, x0, y0, rng.choice([0.0, np.pi / 4]) + rng.normal(0, 0.05), 1.0)
        length, width = size * rng.uniform(0.05, 0.2), 0.5 * scene.step
        au, av = np.abs(f.u), np.abs(f.v)
        spikes = np.exp(-au / length - (av / width) ** 2) + np.exp(-av / length - (au / width) ** 2)
        scene.add(np.float32(flux * 0.02 / (length * scene.step**2)) * spikes, colour[0])


@lru_cache(maxsize=8)
def _freq2(n):
    """Squared spatial frequency of each rfft2 coefficient of an n x n canvas, times 2 pi^2."""
    fy = np.fft.fftfreq(n)[:, None]
    fx = np.fft.rfftfreq(n)[None, :]
    f2 = (2 * np.pi**2 * (fx * fx + fy * fy)).astype(np.float32)
    f2.flags.writeable = False
    return f2


@lru_cache(maxsize=8)
def _nyquist_taper(n):
    """exp(-(f / 0.42)^8): flat to f = 0.3 cycles per pixel, about 2% at Nyquist."""
    f2 = _freq2(n) / np.float32(2 * np.pi**2 * 0.42**2)
    taper = np.exp(-(f2 * f2) ** 2)
    taper.flags.writeable = False
    return taper


def _gauss_otf(n, sigma):
    """Fourier transfer function (rfft2 layout, n x n canvas) of a Gaussian of width sigma pixels."""
    return np.exp(np.float32(-sigma * sigma) * _freq2(n))


def _blur(scene, rng, fwhm, halo=None):
    """Blur all layers by the PSF (Gaussian core plus a broad halo, Moffat-like) in one FFT pass.

    A half-resolution canvas is brought to output resolution by zero-padding its spectrum, which
    interpolates the band-limited, blurred image for free within the inverse FFT.

    Args:
        halo: (share of the light, width in core widths) of the halo; drawn when None. A frame
            (synth_field.py) passes one, so that every object in it has the same PSF.

    Returns:
        (3, size, size) float32 linear flux at output resolution.
    """
    n, step = scene.n, scene.step
    sigma = fwhm / 2.355 / step
    share, width = (rng.uniform(0.04, 0.15), None) if halo is None else halo
    width = rng.uniform(2.5, 4.0) if width is None else width
    psf = (1 - share) * _gauss_otf(n, sigma) + share * _gauss_otf(n, sigma * width)
    spec = np.fft.rfft2(scene.smooth)
    if scene.clumps.any():
        spec += np.fft.rfft2(scene.clumps) * _gauss_otf(n, scene.clump_sigma / step)
    spec *= psf
    if step == 2:
        # Roll off near the coarse Nyquist frequency so bright point sources do not ring.
        spec = _zero_pad_spectrum(spec * _nyquist_taper(n), n)
    m = n * step
    img = np.fft.irfft2(spec, s=(m, m))
    lo = scene.pad * step
    return img[:, lo:lo + scene.size, lo:lo + scene.size].astype(np.float32)


def _zero_pad_spectrum(spec, n):
    """Embed the (C, n, n//2+1) rfft2 spectrum of an n x n image in that of a 2n x 2n image.

    The result inverse-transforms to the image interpolated 2x: fine sample 2i + 1/2 is coarse
    pixel i, which `_grid` accounts for.
    """
    out = np.zeros((spec.shape[0], 2 * n, n + 1), dtype=spec.dtype)
    pos = (n + 1) // 2  # rows holding non-negative frequencies
    out[:, :pos, : n // 2 + 1] = spec[:, :pos]
    out[:, 2 * n - (n - pos):, : n // 2 + 1] = spec[:, pos:]
    return out * 4


@lru_cache(maxsize=8)
def _noise_texture(size, passes):
    """A fixed (4, 3*size, 3*size) unit-variance noise texture, correlated by `passes` binomial filters.

    Images take random crops and flips of it: far cheaper than fresh correlated noise per image,
    and as deterministic (its seed is a constant).
    """
    n = np.random.default_rng(20240531).standard_normal((4, 3 * size, 3 * size), dtype=np.float32)
    for _ in range(passes):
        n = np.pad(n, ((0, 0), (1, 1), (1, 1)), mode="wrap")
        n = 0.25 * n[:, :-2] + 0.5 * n[:, 1:-1] + 0.25 * n[:, 2:]
        n = 0.25 * n[:, :, :-2] + 0.5 * n[:, :, 1:-1] + 0.25 * n[:, :, 2:]
    n /= n.std(axis=(1, 2), keepdims=True)
    n.flags.writeable = False
    return n


def _sky_noise(rng, size, passes, chroma):
    """(3, size, size) sky noise of unit grey variance plus `chroma` times independent colour noise."""
    tex = _noise_texture(size, passes)
    oy, ox = rng.integers(0, 2 * size, 2)
    crop = tex[:, oy:oy + size, ox:ox + size]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    if rng.random() < 0.5:
        crop = crop.transpose(0, 2, 1)
    return (crop[:1] + np.float32(chroma) * crop[1:]) / np.float32(np.sqrt(1 + chroma * chroma))


def _observe(scene, rng, survey, fwhm):
    """Turn the scene's linear flux into a displayed 8-bit survey image."""
    img = _blur(scene, rng, fwhm)
    img *= (np.array(survey["gains"]) * rng.normal(1.0, 0.04, 3)).astype(np.float32)[:, None, None]
    lum = np.maximum(_grey(img), 0)
    # Stretch: asinh; the brightest ~0.3% of pixels (the galaxy core) land near the top of the range.
    flat = lum[::2, ::2].ravel()  # a quarter of the pixels estimate the percentile well enough
    k = flat.size - 1 - flat.size // 300
    norm = max(float(np.partition(flat, k)[k]), 1e-12) * rng.uniform(0.6, 1.4)
    q = rng.uniform(3.0, 25.0)
    gain = np.float32(scene.dim * rng.uniform(150, 280) / np.arcsinh(q))
    x = np.float32(q / norm) * lum
    stretched = np.log(x + np.sqrt(x * x + 1)) * gain  # arcsinh, written out: 4x faster in numpy
    img *= stretched / np.maximum(lum, np.float32(1e-6 * norm))
    img = _saturate(img, rng.uniform(*survey["sat"]))
    # Sky pedestal and faint, spatially correlated noise (mostly grey, a little chroma).
    size = scene.size
    passes = int(rng.integers(*survey["passes"])) + (size > 160)
    sky = (rng.uniform(*survey["sky"]) + rng.normal(0, 1.0, 3)).astype(np.float32)
    img += np.float32(rng.uniform(1.5, 5.5)) * _sky_noise(rng, size, passes, rng.uniform(*survey["chroma"]))
    img += sky[:, None, None]
    if rng.random() < 0.5:
        img = _jpeg_like(img, rng.uniform(60, 95))
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return np.stack([img[0], img[1], img[2]], axis=-1)  # stack is the fastest way to channel-last


def _grey(img):
    """Mean of the three channels of a (3, H, W) image (faster than `mean(axis=0)`)."""
    return (img[0] + img[1] + img[2]) * np.float32(1 / 3)


def _saturate(img, factor):
    """Scale colour saturation about the per-pixel grey level (factor < 1 is greyer); clip negatives."""
    grey = _grey(img)
    return np.maximum(grey + (img - grey) * np.float32(factor), 0)


# JPEG's standard luminance and chrominance quantisation tables (ITU T.81, Annex K).
_Q_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.float32).reshape(8, 8)
_Q_CHROMA = np.full((8, 8), 99, dtype=np.float32)
_Q_CHROMA[:4, :4] = np.array([17, 18, 24, 47, 18, 21, 26, 66, 24, 26, 56, 99, 47, 66, 99, 99]).reshape(4, 4)


@lru_cache(maxsize=1)
def _dct_matrix():
    """Orthonormal 8-point DCT-II matrix."""
    k, n = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    d = np.sqrt(2 / 8) * np.cos(np.pi * (2 * n + 1) * k / 16)
    d[0] /= np.sqrt(2)
    return d.astype(np.float32)


def _block_quantise(plane, table):
    """Quantise the 8x8 block DCT of a (H, W) plane (H, W multiples of 8) with an (8, 8) `table`."""
    h, w = plane.shape
    d = _dct_matrix()
    # A stack of 8x8 products: small enough that numpy never hands it to multithreaded BLAS,
    # which stalls on a busy machine.
    blocks = np.ascontiguousarray(plane.reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3))
    coef = d @ blocks @ d.T
    coef = np.round(coef / table) * table
    return (d.T @ coef @ d).transpose(0, 2, 1, 3).reshape(h, w)


def _jpeg_like(img, quality):
    """Imitate JPEG compression of a (3, H, W) image: YCbCr, 4:2:0 chroma, quantised 8x8 DCT blocks.

    Done in numpy rather than with an image library so bytes do not depend on the libjpeg build.
    """
    size = img.shape[1]
    pad = (-size) % 16
    x = np.clip(img, 0, 255)
    if pad:
        x = np.pad(x, ((0, 0), (0, pad), (0, pad)), mode="edge")
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    q_l = np.clip(np.floor((_Q_LUMA * scale + 50) / 100), 1, 255)
    q_c = np.clip(np.floor((_Q_CHROMA * scale + 50) / 100), 1, 255)
    r, g, b = x
    y = _block_quantise(0.299 * r + 0.587 * g + 0.114 * b - 128, q_l) + 128
    h = x.shape[1] // 2
    chroma = []
    for c in (-0.168736 * r - 0.331264 * g + 0.5 * b, 0.5 * r - 0.418688 * g - 0.081312 * b):
        small = c.reshape(h, 2, h, 2).mean(axis=(1, 3))
        if h % 8:
            small = np.pad(small, ((0, (-h) % 8), (0, (-h) % 8)), mode="edge")
        small = _block_quantise(small, q_c)[:h, :h]
        chroma.append(np.repeat(np.repeat(small, 2, axis=0), 2, axis=1))
    cb, cr = chroma
    out = np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb])
    return out[:, :size, :size].astype(np.float32)
