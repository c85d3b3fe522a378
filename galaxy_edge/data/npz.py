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
    from galaxy_edge.regular_files import describe_os_error, open_regular

    try:
        f = open_regular(path)
    except OSError as e:
        raise DataError(f"{path}: {describe_os_error(e)}") from None
    with f:
        if not zipfile.is_zipfile(f):
            raise DataError(f"{path}: not a readable .npz file (not a zip archive)")
        f.seek(0)
        data, labels = _read_arrays(path, f)
    labels = _label_indices(path, labels)
    return Dataset(images=from_arrays(data) if resize else data, labels=labels, source=str(path))


def _read_arrays(path, f):
    """'data' and 'labels' from an open npz, each judged by its header before anything is allocated.

    Raises:
        DataError: not a zip, arrays missing, object arrays, wrong shapes or dtypes, or a header
            that declares more data than the archive holds.
    """
    headers = {}
    try:
        with zipfile.ZipFile(f) as z:
            members = {name[: -len(".npy")]: name for name in z.namelist() if name.endswith(".npy")}
            missing = {"data", "labels"} - set(members)
            if missing:
                raise DataError(
                    f"{path}: missing array(s) {', '.join(sorted(missing))}; "
                    f"expected 'data' and 'labels', found {', '.join(sorted(members)) or 'none'}"
                )
            headers = {key: _array_header(path, z, members[key], key) for key in ("data", "labels")}
            _check_headers(path, headers)
            f.seek(0)
            # allow_pickle=False: an npz from the internet must never run code on load.
            with np.load(f, allow_pickle=False) as arrays:
                return arrays["data"], arrays["labels"]
    except DataError:
        raise
    except MemoryError:
        what = "its images" if "data" not in headers else f"{headers['data'][0][0]} images of {headers['data'][0][2]}x{headers['data'][0][1]}"
        raise DataError(f"{path}: {what} do not fit in the memory available") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise DataError(f"{path}: not a readable .npz file ({e})") from None


def _array_header(path, z, member, key):
    """(shape, dtype) from the .npy header of one member, checked against what the archive can hold."""
    fmt = np.lib.format
    info = z.getinfo(member)
    with z.open(info) as m:
        try:
            version = fmt.read_magic(m)
            if version == (1, 0):
                shape, _, dtype = fmt.read_array_header_1_0(m)
            elif version == (2, 0):
                shape, _, dtype = fmt.read_array_header_2_0(m)
            else:
                raise ValueError(f"npy format version {version} is not supported")
        except ValueError as e:
            raise DataError(f"{path}: '{key}' is not a readable array ({e})") from None
    if dtype.hasobject:
        raise DataError(f"{path}: '{key}' contains object arrays, which are refused for safety (never unpickled)")
    declared = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    # The zip's own sizes bound what the member can hold: deflate expands at most ~1032 times.
    holds = info.file_size if info.compress_type == zipfile.ZIP_STORED else min(info.file_size, 1100 * info.compress_size + 1024)
    if declared > holds:
        raise DataError(
            f"{path}: '{key}' declares shape {tuple(shape)} ({declared:,} bytes) but the file holds at most "
            f"{holds:,} bytes of it: a damaged or forged header"
        )
    return tuple(shape), dtype


def _check_headers(path, headers):
    (shape, dtype), (label_shape, _) = headers["data"], headers["labels"]
    if len(shape) != 4 or shape[-1] != 3:
        raise DataError(f"{path}: 'data' must have shape (N, H, W, 3), got {shape}")
    if dtype != np.uint8:
        raise DataError(f"{path}: 'data' must be uint8 pixels 0-255, got {dtype}")
    if shape[0] == 0:
        raise DataError(f"{path}: contains no images")
    if shape[1] == 0 or shape[2] == 0:
        raise DataError(f"{path}: its images are {shape[2]}x{shape[1]} pixels: nothing to classify")
    if not label_shape or label_shape[0] != shape[0]:
        raise DataError(f"{path}: {shape[0]} images but {label_shape[0] if label_shape else 'no'} labels")


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
