"""The Codecademy `galaxydata.npz` format: `data` (N, H, W, 3) uint8 and `labels` (N, 4) one-hot."""

import zipfile

import numpy as np

from galaxy_edge import CLASS_NAMES
from galaxy_edge.data import Dataset
from galaxy_edge.errors import DataError
from galaxy_edge.preprocess import from_arrays


def load_npz(path, resize=True):
    """Load and validate a labelled `.npz` file. Integer labels (N,) are accepted as well as one-hot.

    Raises:
        DataError: not an npz, missing keys, wrong shapes or dtypes, labels out of range.
    """
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a readable .npz file (not a zip archive)")
    try:
        # allow_pickle=False: an npz from the internet must never run code on load.
        with np.load(path, allow_pickle=False) as f:
            keys = set(f.files)
            missing = {"data", "labels"} - keys
            if missing:
                raise DataError(
                    f"{path}: missing array(s) {', '.join(sorted(missing))}; "
                    f"expected 'data' and 'labels', found {', '.join(sorted(keys)) or 'none'}"
                )
            data, labels = f["data"], f["labels"]
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable .npz file ({e})") from None
    except ValueError as e:
        raise DataError(f"{path}: contains object arrays, which are refused for safety ({e})") from None

    if data.ndim != 4 or data.shape[-1] != 3:
        raise DataError(f"{path}: 'data' must have shape (N, H, W, 3), got {data.shape}")
    if data.dtype != np.uint8:
        raise DataError(f"{path}: 'data' must be uint8 pixels 0-255, got {data.dtype}")
    labels = _label_indices(path, labels)
    if len(labels) != len(data):
        raise DataError(f"{path}: {len(data)} images but {len(labels)} labels")
    if len(data) == 0:
        raise DataError(f"{path}: contains no images")
    return Dataset(images=from_arrays(data) if resize else data, labels=labels, source=str(path))


def save_npz(path, images, labels):
    """Write images and integer labels in the Codecademy layout (one-hot labels), atomically."""
    import io

    from galaxy_edge.atomic import write_bytes

    onehot = np.eye(len(CLASS_NAMES), dtype=np.float32)[labels]
    buf = io.BytesIO()
    np.savez_compressed(buf, data=images, labels=onehot)
    write_bytes(path, buf.getvalue())


def _label_indices(path, labels):
    n = len(CLASS_NAMES)
    if labels.ndim == 2:
        if labels.shape[1] != n:
            raise DataError(f"{path}: 'labels' must have {n} columns (one per class), got {labels.shape[1]}")
        if not np.all(np.isin(labels, (0, 1))) or not np.all(labels.sum(axis=1) == 1):
            raise DataError(f"{path}: 'labels' rows must be one-hot (a single 1 per row)")
        return labels.argmax(axis=1).astype(np.int64)
    if labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer):
        if labels.size and (labels.min() < 0 or labels.max() >= n):
            raise DataError(f"{path}: integer 'labels' must lie in 0..{n - 1}")
        return labels.astype(np.int64)
    raise DataError(f"{path}: 'labels' must be (N, {n}) one-hot or (N,) integers, got {labels.shape} {labels.dtype}")
