"""A progress bar on standard error for commands that read a large file, shown only to a
person watching (standard error is a terminal) and only when it is worth it."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import BinaryIO

import click

__all__ = ["MIN_SIZE", "reading"]

#: files smaller than this are read too fast for a bar to be of use
MIN_SIZE = 16 * 1024 * 1024


class _Counting:
    """A binary file that reports how many bytes were read from it."""

    def __init__(self, raw: BinaryIO, advance: Callable[[int], None]) -> None:
        self.raw = raw
        self.advance = advance

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.advance(len(data))
        return data


@contextlib.contextmanager
def reading(path: str, label: str, *, show: bool | None = None) -> Iterator[str | BinaryIO]:
    """``path`` itself, or, for a large regular file read in front of a person, the file
    opened with a progress bar that follows the reading (for functions taking either)."""
    if show is None:
        show = sys.stderr.isatty()
    if not show or path == "-" or not os.path.isfile(path) or os.path.getsize(path) < MIN_SIZE:
        yield path
        return
    size = os.path.getsize(path)
    with (
        open(path, "rb") as raw,
        click.progressbar(length=size, label=label, file=sys.stderr, show_eta=True) as bar,
    ):
        yield _Counting(raw, bar.update)  # type: ignore[misc]
