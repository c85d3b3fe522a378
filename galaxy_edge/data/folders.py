"""Image folders: `DIR/<class>/*.png|jpg|jpeg|tif`, one sub-folder per class."""

import sys
from pathlib import Path

import numpy as np

from galaxy_edge import CLASS_NAMES
from galaxy_edge.data import Dataset
from galaxy_edge.errors import DataError, ImageError
from galaxy_edge.image_files import SUFFIXES_TEXT, find_images
from galaxy_edge.preprocess import load_image

# Other names the same classes go by (Codecademy's file names, Galaxy Zoo's answers).
ALIASES = {"ring": "ringed", "other": "irregular", "other_irregular": "irregular", "mergers": "merger"}


def list_image_folder(folder, unreadable=None, bands=None):
    """The image files under `folder/<class>/` and their class indices, without reading any image.

    Args:
        unreadable: a list to which `(path, reason)` is added for each entry that cannot be read as
            a file (a broken link, a folder without permission); see `find_images`.
        bands: three band names: single-band FITS files of one galaxy are one entry, named as
            `galaxy_edge.fits.band_files` names them; a galaxy missing a band goes to `unreadable`.

    Returns:
        (paths, labels): sorted by class folder, then file name; labels an (N,) int64 array.

    Raises:
        DataError: no class folders, an unknown class folder, or a class folder with no image.
    """
    folder = Path(folder)
    subdirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not subdirs:
        raise DataError(f"{folder}: no class folders; expected sub-folders named {', '.join(CLASS_NAMES)}")
    unknown = [d.name for d in subdirs if _class_index(d.name) is None]
    if unknown:
        raise DataError(
            f"{folder}: unknown class folder(s) {', '.join(unknown)}; expected {', '.join(CLASS_NAMES)}"
        )
    paths, labels = [], []
    for d in subdirs:
        bad = []
        files = find_images(d, bad)
        if bands:
            from galaxy_edge.fits.band_files import group_items

            grouped = group_items([(f, None) for f in files], bands)
            files = [f for f, error in grouped if error is None]
            bad.extend((f, error) for f, error in grouped if error is not None)
        if unreadable is not None:
            unreadable.extend(bad)
        if not files:
            raise DataError(f"{d}: class folder holds no images (looked for {SUFFIXES_TEXT})"
                            + (f"; {bad[0][1]}" if bad else ""))
        paths.extend(str(f) for f in files)
        labels.extend([_class_index(d.name)] * len(files))
    return paths, np.asarray(labels, dtype=np.int64)


def load_image_folder(folder, warn=True, bands=None, planes=None):
    """Load every image under `folder/<class>/`. Unreadable images are skipped, each with a warning.

    `bands` and `planes` say how FITS files make images (`list_image_folder`, `preprocess.load_image`).

    Raises:
        DataError: no class folders, an unknown class folder, or no readable image at all.
    """
    unreadable = []
    files, classes = list_image_folder(folder, unreadable, bands)
    images, labels, paths, skipped = [], [], [], []
    for path, reason in unreadable:
        skipped.append((str(path), reason))
        if warn:
            print(f"Warning: skipping {path}: {reason}", file=sys.stderr)
    for f, label in zip(files, classes):
        try:
            images.append(load_image(f, planes=planes))
        except ImageError as e:
            skipped.append((str(f), e.reason))
            if warn:
                print(f"Warning: skipping {e}", file=sys.stderr)
            continue
        labels.append(label)
        paths.append(f)
    if not images:
        raise DataError(f"{folder}: none of the images could be read")
    return Dataset(
        images=np.stack(images),
        labels=np.asarray(labels, dtype=np.int64),
        source=str(folder),
        paths=paths,
        skipped=skipped,
    )


def _class_index(name):
    name = name.lower().lstrip("0123456789_-")
    name = ALIASES.get(name, name)
    return CLASS_NAMES.index(name) if name in CLASS_NAMES else None
