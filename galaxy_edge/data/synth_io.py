"""Write the synthetic sky to disk, as an .npz or as a `DIR/<class>/NNNNN.png` image folder."""

from pathlib import Path

from PIL import Image

from galaxy_edge import CLASS_NAMES, atomic
from galaxy_edge.data.npz import save_npz
from galaxy_edge.errors import GalaxyEdgeError


def write_synthetic(out, count, seed, fmt="auto", overwrite=False, log=print):
    """Generate `count` galaxies with `seed` and write them to `out`; returns the path written.

    Args:
        fmt: "npz", "png", "jpg", or "auto" (npz when `out` ends in .npz, else png).

    Raises:
        GalaxyEdgeError: `out` exists and `overwrite` is false.
    """
    from galaxy_edge.data.synth import generate

    out = Path(out)
    if fmt == "auto":
        fmt = "npz" if out.suffix.lower() == ".npz" else "png"
    if out.exists() and not overwrite and (out.is_file() or any(out.iterdir())):
        raise GalaxyEdgeError(f"{out}: already exists; choose another --out or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)  # an unusable --out fails now, not after drawing
    images, labels = generate(count, seed=seed, progress=lambda n: log(f"  {n}/{count} drawn"))
    if fmt == "npz":
        save_npz(out, images, labels)
        return out
    with atomic.staged_dir(out, overwrite=True) as tmp:
        for i, (image, label) in enumerate(zip(images, labels)):
            folder = tmp / CLASS_NAMES[label]
            folder.mkdir(exist_ok=True)
            Image.fromarray(image).save(folder / f"{i:05d}.{fmt}", quality=95)
    return out
