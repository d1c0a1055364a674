"""Options that several ``anker`` commands share, so they read and behave alike."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from anker.errors import AnkerError

__all__ = [
    "Duration",
    "emit_rows",
    "one_line",
    "output_format_option",
    "reported_errors",
    "store_timeout_option",
]


@contextmanager
def reported_errors() -> Iterator[None]:
    """anker's own errors become a one-line message and exit status 1, never a traceback."""
    try:
        yield
    except AnkerError as exc:
        raise click.ClickException(one_line(str(exc))) from exc
    except OSError as exc:  # a file named on the command line
        where = f"{exc.filename}: " if exc.filename else ""
        raise click.ClickException(one_line(f"{where}{exc.strerror or exc}")) from exc


def one_line(message: str) -> str:
    """``message`` on one line: a driver's text may span several (libpq's "connection
    refused" adds a tab-indented hint on a second line)."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


class Duration(click.ParamType[float]):
    """A duration as anker's configuration reads one (``30s``, ``250ms``, ``2m``, ``1h30m``; a
    bare number such as ``1.5`` is seconds), as float seconds of at least ``minimum``."""

    name = "duration"

    def __init__(self, minimum: float = 0.0) -> None:
        self.minimum = minimum

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        """Seconds in ``value``; a value that is no duration, or below the minimum (a
        negative one, ``nan``), fails naming the option."""
        from datetime import timedelta

        from anker.config._kinds import BadValue
        from anker.config._units import DurationKind

        low = timedelta(seconds=self.minimum) if self.minimum else None
        try:
            found = DurationKind(low, None).convert(value)
        except BadValue as exc:
            self.fail(str(exc), param, ctx)
        assert isinstance(found, timedelta)
        return found.total_seconds()


#: ``--timeout`` of the commands that open a store (``anker quota``, ``anker workflow``): at
#: least 100ms, as the stores' own ``?timeout=`` (which refuses less)
store_timeout_option = click.option(
    "--timeout",
    type=Duration(minimum=0.1),
    help="Per store call, e.g. 30s, 2m or 1.5 (seconds); default: the URL's ?timeout=, else 5s.",
)


#: the formats for programs: one document on standard output (YAML wherever JSON is offered)
MACHINE_FORMATS = ("json", "yaml")


def dump(output_format: str, data: Any) -> str:
    """``data`` as a JSON (indented) or YAML document."""
    if output_format == "yaml":
        import yaml

        text: str = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
        return text.rstrip("\n")
    return json.dumps(data, indent=2)


def output_format_option(*choices: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--format`` with the given choices (the first is the default), as ``output_format``;
    ``yaml`` too wherever ``json`` is one."""
    if "json" in choices and "yaml" not in choices:
        choices = (
            *choices[: choices.index("json") + 1],
            "yaml",
            *choices[choices.index("json") + 1 :],
        )
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(list(choices)),
        default=choices[0],
        show_default=True,
        help="Output format.",
    )


def emit_rows(output_format: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """``rows`` as JSON or YAML (a list of objects), or as a table of ``columns`` aligned for people
    (``-`` for a missing value, ``(none)`` for no rows)."""
    if output_format in MACHINE_FORMATS:
        click.echo(dump(output_format, rows))
        return
    if not rows:
        click.echo("(none)")
        return
    table = [columns] + [["-" if row[c] is None else str(row[c]) for c in columns] for row in rows]
    widths = [max(len(line[index]) for line in table) for index in range(len(columns))]
    for line in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
