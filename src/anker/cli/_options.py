"""Options that several ``anker`` commands share, so they read and behave alike."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

from anker.errors import AnkerError

if TYPE_CHECKING:
    from anker._url import BackendURL

__all__ = [
    "Duration",
    "emit_rows",
    "one_line",
    "output_format_option",
    "reported_errors",
    "run_store",
    "store_target",
    "store_timeout_option",
    "store_url_option",
    "text_only",
]

T = TypeVar("T")

#: what a boolean URL option takes (anything else is left for the store to refuse)
_BOOLEAN_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "1", "0"})


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
    help="Per store call, e.g. 30s, 2m or 1.5 (seconds); replaces the URL's ?timeout= "
    "(default: the URL's, else 5s).",
)


def text_only(
    refused: str,
) -> Callable[[click.Context, click.Parameter, str | None], str | None]:
    """A click callback taking a value as given, refused if it is not text: bytes no UTF-8
    decodes (as argv brings them), which a store could not even use (its error named neither
    them nor the store); ``refused`` ends the error, saying what it means here."""

    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        try:
            if value is not None:
                value.encode("utf-8")
        except UnicodeEncodeError:
            raise click.BadParameter(f"{value!r} is not UTF-8 text: {refused}") from None
        return value

    return check


def store_url_option(envvar: str, example: str) -> Callable[[Callable[..., Any]], Any]:
    """``--url`` of a command group that opens a store, from ``envvar`` by default; ``example``
    is a URL for its help."""
    return click.option(
        "--url",
        envvar=envvar,
        metavar="URL",
        callback=text_only("name the store in text"),
        help=f"The store, e.g. {example} (default: ${envvar}).",
    )


def store_target(
    url: str,
    timeout: float | None,
    *,
    create: bool,
    takes_create: Callable[[BackendURL], bool] = lambda target: target.scheme == "sqlite",
) -> tuple[BackendURL, dict[str, Any]]:
    """The backend's URL and the options to open it with, by one rule for every command that
    opens a store or backend (``anker quota``, ``anker workflow``, ``anker coord``).

    The URL may be a service's own, options included. ``--timeout``, when given, replaces the
    URL's ``?timeout=`` (the user's word on this command line, not a conflict). Unless
    ``create`` (the command may create the storage: ``upgrade``), a backend that
    ``takes_create`` (it creates its storage when missing) is opened with ``create=False``
    whatever the URL's ``?create=`` says, so that reading never creates a file (a value no
    boolean is stays, for the backend to name).
    """
    from anker._url import parse_url

    target = parse_url(url)
    options: dict[str, Any] = {}
    dropped: set[str] = set()
    if timeout is not None:
        dropped.add("timeout")
        options["timeout"] = timeout
    if not create and takes_create(target):
        if all(v.lower() in _BOOLEAN_WORDS for v in target.query.get("create", ())):
            dropped.add("create")
        options["create"] = False
    return target.without(*dropped), options


def run_store(
    main: Callable[[], Coroutine[Any, Any, T]],
    in_cli_terms: Callable[[Exception], str | None] = lambda exc: None,
) -> T:
    """Run a store command's ``main``, its errors one line: ``in_cli_terms`` may say one
    (a library error naming a Python method) as the command line would; a store without its
    tables is told to run its ``upgrade`` command, without the advice of code
    ("or open it with upgrade=True"); a bad URL option or value is named as the library does."""
    with reported_errors():
        try:
            return asyncio.run(main())
        except Exception as exc:
            said = in_cli_terms(exc)
            if said is None:
                said = _without_advice_to_code(exc)
            if said is not None:
                raise click.ClickException(said) from exc
            if isinstance(exc, ValueError) and not isinstance(exc, AnkerError):
                raise click.ClickException(one_line(str(exc))) from exc
            raise


def _without_advice_to_code(exc: Exception) -> str | None:
    # (loaded only if a store opened SQL tables: a store on Redis needs no SQLAlchemy)
    tables = sys.modules.get("anker.db._store_tables")
    migrations = sys.modules.get("anker.db._migrations")
    if tables is None or migrations is None or not isinstance(exc, migrations.SchemaNotCurrent):
        return None
    advice: str = tables.UPGRADE_IN_CODE
    return one_line(str(exc)).removesuffix(advice)


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
