"""Standard output that fails clearly: a full disk or a closed pipe is one `Error:` line, not a traceback."""

import sys

import click

from galaxy_edge.errors import OutputError


def echo(text):
    """Write one line to standard output.

    Raises:
        OutputError: the write failed (full disk, closed pipe, ...).
    """
    try:
        click.echo(text)
    except OSError as e:
        raise OutputError(e) from None


def flush_stdout():
    """Flush standard output now, so a failed write is reported as such rather than at exit.

    Raises:
        OutputError: the write failed.
    """
    try:
        sys.stdout.flush()
    except OSError as e:
        raise OutputError(e) from None
