"""Open a user's file only when it is a regular file.

A named pipe called `x.png` blocks whoever opens it until a writer comes, possibly forever; a
socket cannot be opened at all; `/dev/zero` never ends. So every file galaxy-edge reads or
appends to is opened without blocking, checked with `fstat` on the open descriptor (no race with
a rename in between) and refused, with what it really is, unless it is a regular file.
"""

import errno
import os
import stat

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class NotRegularFileError(OSError):
    """The path exists but is not a regular file; `strerror` says what it is instead."""

    def __init__(self, path, kind):
        self.kind = kind
        super().__init__(errno.EINVAL, f"is {kind}, not a regular file", str(path))


def kind_of(mode):
    """What a file of this `st_mode` is, in words ("a named pipe (FIFO)", ...), or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def open_regular(path):
    """Open `path` for binary reading, refusing anything but a regular file (symlinks are followed).

    Raises:
        NotRegularFileError: a folder, named pipe, socket or device.
        OSError: the file cannot be opened (missing, permission denied, symlink loop, ...).
    """
    fd = _open_fd(path, os.O_RDONLY)
    return os.fdopen(fd, "rb")


def open_regular_for_append(path, mode=0o644):
    """A raw descriptor open for reading and appending, created if missing; regular files only.

    Raises:
        NotRegularFileError, OSError: as `open_regular`.
    """
    return _open_fd(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, mode)


def _open_fd(path, flags, mode=0o644):
    # O_NONBLOCK: opening a FIFO returns at once instead of waiting for its other end.
    try:
        fd = os.open(path, flags | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError as e:
        # A socket (ENXIO) or a FIFO without a reader, opened for writing (ENXIO): say what it is.
        if e.errno in (errno.ENXIO, errno.EOPNOTSUPP):
            try:
                kind = kind_of(os.stat(path).st_mode)
            except OSError:
                kind = None
            if kind:
                raise NotRegularFileError(path, kind) from None
        raise
    try:
        kind = kind_of(os.fstat(fd).st_mode)
        if kind:
            raise NotRegularFileError(path, kind)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def describe_os_error(e):
    """A user's reason for an OSError met while opening a file: what the file system said, plainly."""
    if isinstance(e, NotRegularFileError):
        return e.strerror
    if e.errno == errno.ELOOP:
        return "is a symbolic link loop (it points, in the end, back to itself)"
    if e.errno in (errno.EACCES, errno.EPERM):
        return "cannot be read (permission denied)"
    if e.errno == errno.ENOENT:
        return "no such file"
    return f"cannot be opened ({e.strerror or e})"
