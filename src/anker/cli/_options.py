"""Options that several ``anker`` commands share, so they read and behave alike."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from anker.errors import AnkerError

__all__ = ["output_format_option", "reported_errors"]


@contextmanager
def reported_errors() -> Iterator[None]:
    """anker's own errors become a one-line message and exit status 1, never a traceback."""
    try:
        yield
    except AnkerError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:  # a file named on the command line
        where = f"{exc.filename}: " if exc.filename else ""
        raise click.ClickException(f"{where}{exc.strerror or exc}") from exc


def output_format_option(*choices: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--format`` with the given choices (the first is the default), as ``output_format``."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(list(choices)),
        default=choices[0],
        show_default=True,
        help="Output format.",
    )
