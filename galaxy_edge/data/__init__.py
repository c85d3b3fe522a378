"""Labelled galaxy images from an `.npz` file or an image folder, and the embedded synthetic sky.

No TensorFlow here: calibration and on-device evaluation use these loaders too.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from galaxy_edge.errors import DataError


@dataclass
class Dataset:
    """Images ready for the model, with integer labels.

    Attributes:
        images: (N, 128, 128, 3) uint8 RGB.
        labels: (N,) int64 class indices into `galaxy_edge.CLASS_NAMES`.
        source: where the data came from, for reports.
        paths: one file path per image for image folders, else None.
        skipped: (path, reason) for every file of a folder that could not be read.
    """

    images: np.ndarray
    labels: np.ndarray
    source: str
    paths: list = None
    skipped: list = field(default_factory=list)

    def __len__(self):
        return len(self.labels)


def load_dataset(path, resize=True, bands=None, planes=None):
    """Load a labelled `.npz` file or a `DIR/<class>/*.png|jpg` folder.

    Args:
        resize: bring npz arrays of another size to the model's input size. Image files are
            always cropped and resized: that is the preprocessing.
        bands: in a folder, single-band FITS files of one galaxy are one image (`fits.band_files`).
        planes: in a folder, the planes of FITS cubes to use, bluest first.

    Raises:
        DataError: the path is missing or its contents are malformed.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{path}: no such file or folder")
    if p.is_dir():
        from galaxy_edge.data.folders import load_image_folder

        return load_image_folder(p, bands=bands, planes=planes)
    if p.suffix.lower() == ".npz":
        from galaxy_edge.data.npz import load_npz

        return load_npz(p, resize=resize)
    raise DataError(f"{path}: expected an .npz file or a folder of class sub-folders")


def class_counts(labels, n_classes):
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes)
