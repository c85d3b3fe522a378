"""Which files are images to read: one rule for classifying, watching, benchmarking and training."""

import os
from pathlib import Path

from galaxy_edge.preprocess import IMAGE_SUFFIXES, PICTURE_SUFFIXES

# The suffixes looked for, as error messages name them (the FITS ones in short: twelve spellings).
SUFFIXES_TEXT = ", ".join(PICTURE_SUFFIXES) + " and FITS (.fits, .fit, .fts, also compressed: .gz, .bz2, .fz)"

# Names a writer uses while a file is still incomplete; never read.
PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".download", ".swp")


def is_candidate(path):
    """True for a file name that may be an image: a known suffix, not hidden, not a partial download."""
    name = Path(path).name
    return (
        not name.startswith(".")
        and not name.endswith("~")
        and not name.lower().endswith(PARTIAL_SUFFIXES)
        and name.lower().endswith(IMAGE_SUFFIXES)
    )


def find_images(folder, unreadable=None):
    """Image files below `folder`, recursively, sorted; hidden files and folders are skipped.

    Names are judged, not contents: a named pipe or device called `x.png` is listed, and refused
    with its reason when it is opened (`galaxy_edge.regular_files`).

    Args:
        folder: the folder to search.
        unreadable: a list; each folder that cannot be listed (permissions, ...) is appended to it
            as (path, reason), so that callers can say what was not searched. None: not reported.
    """
    def note(error):
        if unreadable is not None:
            unreadable.append((error.filename or str(folder), folder_error(error)))

    found = []
    for root, dirs, files in os.walk(folder, onerror=note):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(root, f) for f in sorted(files) if is_candidate(f))
    return found


def folder_error(error):
    """Why a folder could not be searched, in a user's words."""
    reason = "permission denied" if isinstance(error, PermissionError) else (error.strerror or str(error))
    return f"folder cannot be read ({reason}); the images in it were not seen"
