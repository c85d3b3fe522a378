"""galaxy-edge: a compact galaxy-morphology classifier, trained with Keras and run with LiteRT at the edge.

The package imports no TensorFlow at import time: `galaxy_edge.runtime`, `preprocess`, `metadata`
and `data` are the device path. Training and export live behind the `[train]` extra.
"""

__version__ = "0.1.0"

# Galaxy Zoo classes of the Codecademy data, in label-index order.
CLASS_NAMES = ("normal", "ringed", "merger", "irregular")
