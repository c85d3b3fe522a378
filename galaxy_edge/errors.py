"""Errors a user can meet and act on. The CLI prints them as `Error: ...` with exit code 1."""


class GalaxyEdgeError(Exception):
    """Base class: a problem with the user's input or environment, not a bug."""


class DataError(GalaxyEdgeError):
    """A data file or folder is missing, malformed or inconsistent."""


class ImageError(DataError):
    """One image file cannot be read as an image.

    Args:
        path: the file.
        reason: what is wrong with it, in words a user understands.
    """

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ModelError(GalaxyEdgeError):
    """A model file or its metadata is missing, malformed or does not fit."""


class RuntimeMissingError(GalaxyEdgeError):
    """No runtime for the model is installed: a LiteRT interpreter, or onnxruntime for an `.onnx` file."""


class OutputError(GalaxyEdgeError):
    """Standard output cannot be written: a full disk, a closed pipe. Nothing more can be said there.

    Args:
        error: the OSError the write raised.
    """

    def __init__(self, error):
        import errno

        self.error = error
        reason = "the reader closed the pipe" if error.errno == errno.EPIPE else (error.strerror or str(error))
        super().__init__(f"standard output: {reason}; output stopped")


class ClusterError(GalaxyEdgeError):
    """The Dask cluster cannot be used: the extra is missing, the scheduler is unreachable, or work was lost."""
