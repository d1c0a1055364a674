"""Options that several ``anker`` commands share, so they read and behave alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

__all__ = ["output_format_option"]


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
