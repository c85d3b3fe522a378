"""Which files are images to read: one rule for classifying, watching, benchmarking and training."""

import os
from pathlib import Path

from galaxy_edge.preprocess import IMAGE_SUFFIXES

# The suffixes looked for, as error messages name them.
SUFFIXES_TEXT = ", ".join(IMAGE_SUFFIXES)

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


def find_images(folder):
    """Image files below `folder`, recursively, sorted; hidden files and folders are skipped."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(root, f) for f in sorted(files) if is_candidate(f))
    return found
