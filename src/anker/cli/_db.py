"""``anker db``: run a service's Alembic migrations on purpose (anker never does at start-up)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from anker.cli._options import MACHINE_FORMATS, dump, output_format_option, reported_errors

if TYPE_CHECKING:
    from anker._url import BackendURL
    from anker.db import DatabaseOptions, Migrations

__all__ = ["db"]

DEFAULT_VERSION_TABLE = "alembic_version"  # Alembic's own, as anker.db's Migrations


def _database_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every ``anker db`` command takes: where the database and scripts are."""
    for option in reversed(
        (
            click.option(
                "--url",
                envvar="ANKER_DATABASE_URL",
                metavar="URL",
                help="The database, e.g. postgresql://svc@db/svc (default: $ANKER_DATABASE_URL).",
            ),
            click.option(
                "--config-file",
                "config_files",
                multiple=True,
                metavar="PATH",
                help="A config file whose [database] section names the database (repeatable).",
            ),
            click.option(
                "--migrations",
                envvar="ANKER_MIGRATIONS",
                metavar="DIR|PACKAGE:RESOURCE",
                help="The Alembic script directory (default: $ANKER_MIGRATIONS).",
            ),
            click.option(
                "--version-table",
                default=DEFAULT_VERSION_TABLE,
                show_default=True,
                metavar="NAME",
                help="The table that records this history's revision.",
            ),
        )
    ):
        command = option(command)
    return command


@contextmanager
def _migrations(
    url: str | None,
    config_files: tuple[str, ...],
    migrations: str | None,
    version_table: str,
    *,
    needs_database: bool = True,
    read_only: bool = False,
) -> Iterator[Migrations]:
    """The service's migrations; anker's errors leave as one line on stderr."""
    from anker.db import Migrations

    if not migrations:
        raise click.UsageError("name the script directory with --migrations DIR|PACKAGE:RESOURCE")
    if url and config_files:
        raise click.UsageError("give --url or --config-file, not both")
    with _one_line():
        database: str | BackendURL | DatabaseOptions | None = url or None
        if config_files:
            database = _from_config(config_files)
        if database is None and needs_database:
            raise click.UsageError(
                "name the database with --url URL, ANKER_DATABASE_URL or --config-file"
            )
        # a command that only reads never creates a database (a mistyped SQLite path)
        # nor turns an existing one to write-ahead logging (which persists in the file)
        options = {"sqlite_create": False, "sqlite_wal": False} if read_only else {}
        if options and isinstance(database, str):  # these win over the URL's own
            from anker._url import parse_url

            database = parse_url(database).without(*options)
        found = Migrations(database, migrations, version_table=version_table, **options)
        try:
            yield found
        finally:
            found.dispose()


@contextmanager
def _one_line() -> Iterator[None]:
    """anker's errors as one line on stderr (a driver's message may span several)."""
    try:
        with reported_errors():
            yield
    except click.UsageError:
        raise
    except click.ClickException as exc:
        raise click.ClickException(" ".join(exc.message.split())) from exc.__cause__


def _from_config(files: tuple[str, ...]) -> DatabaseOptions:
    """The ``[database]`` group of the config files (one line for every problem)."""
    from anker.config import Config, ConfigError
    from anker.db import DatabaseOptions

    # built from objects: this module's annotations are strings anker.config cannot resolve
    fields = {"__annotations__": {"database": DatabaseOptions}}
    service: type[Config] = type("Service", (Config,), fields)
    try:
        return service.load(files=list(files)).database  # type: ignore[attr-defined,no-any-return]
    except ConfigError as exc:
        problems = "; ".join(_problem_text(problem, files) for problem in exc.errors)
        raise click.ClickException(f"the configuration is invalid: {problems}") from exc


def _problem_text(problem: Any, files: tuple[str, ...]) -> str:
    """One problem of the config files, in this command's terms: a missing URL is set in
    the files or given as --url (the service's --database.connection is no option here)."""
    if (problem.code, problem.section, problem.option) == ("required", "database", "connection"):
        return (
            f"[database] connection is required but not set in {', '.join(files)}; set it"
            " there (the URL of the database), or give --url instead of --config-file"
        )
    return str(problem)


def _revisions(revisions: tuple[str, ...]) -> str:
    return ", ".join(revisions) or "(none)"


class _RelativeTarget(click.Command):
    """A command whose TARGET may be relative, ``-1``: not an option, though it looks like one."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" not in args:
            steps = [arg for arg in args if re.fullmatch(r"-\d+", arg)]
            args = [arg for arg in args if arg not in steps] + (["--", *steps] if steps else [])
        return super().parse_args(ctx, args)


@click.group()
def db() -> None:
    """Schema migrations (Alembic) of a service's database, run on purpose.

    anker never migrates at start-up: an operator (or a deployment job) runs these commands.
    """


@db.command(cls=_RelativeTarget)
@click.argument("target", default="head")
@_database_options
@output_format_option("text", "json")
def upgrade(target: str, output_format: str, **where: Any) -> None:
    """Apply migrations up to TARGET (default: head; or a revision, +1)."""
    with _migrations(**where) as migrations:
        before = migrations.current()
        after = migrations.upgrade(target)
    _report_move(output_format, before, after)


@db.command(cls=_RelativeTarget)
@click.argument("target")
@_database_options
@output_format_option("text", "json")
def downgrade(target: str, output_format: str, **where: Any) -> None:
    """Revert migrations down to TARGET (a revision, -1, or base: every one)."""
    with _migrations(**where) as migrations:
        before = migrations.current()
        after = migrations.downgrade(target)
    _report_move(output_format, before, after)


def _report_move(output_format: str, before: tuple[str, ...], after: tuple[str, ...]) -> None:
    if output_format in MACHINE_FORMATS:
        click.echo(dump(output_format, {"from": list(before), "to": list(after)}))
    elif before == after:
        click.echo(f"nothing to do: at {_revisions(after)}")
    else:
        click.echo(f"migrated from {_revisions(before)} to {_revisions(after)}")


@db.command()
@_database_options
@output_format_option("text", "json")
def current(output_format: str, **where: Any) -> None:
    """The revision the database is at."""
    with _migrations(**where, read_only=True) as migrations:
        found = migrations.current()
        heads = migrations.heads()
    if output_format in MACHINE_FORMATS:
        click.echo(dump(output_format, {"current": list(found), "heads": list(heads)}))
    else:
        marker = " (head)" if found and set(found) == set(heads) else ""
        click.echo(f"{_revisions(found)}{marker}")


@db.command()
@_database_options
@output_format_option("text", "json")
def history(output_format: str, **where: Any) -> None:
    """Every revision of the scripts, newest first (the database is not read)."""
    with _migrations(**where, needs_database=False) as migrations:
        revisions = migrations.history()
    rows: list[dict[str, Any]] = [
        {
            "revision": found.revision,
            "down_revisions": list(found.down_revisions),
            "message": found.message,
            "head": found.is_head,
        }
        for found in revisions
    ]
    if output_format in MACHINE_FORMATS:
        click.echo(dump(output_format, rows))
        return
    for row in rows:
        down = ", ".join(row["down_revisions"]) or "<base>"
        head = " (head)" if row["head"] else ""
        click.echo(f"{down} -> {row['revision']}{head}: {row['message']}")


@db.command()
@_database_options
@output_format_option("text", "json")
def check(output_format: str, **where: Any) -> None:
    """Exit 0 if the database is at the head of the migrations, 1 if not."""
    from anker.db import SchemaNotCurrent

    with _migrations(**where, read_only=True) as migrations:
        heads = migrations.heads()
        found = migrations.current()
        unknown = migrations.unknown(found)
    up_to_date = set(found) == set(heads)
    if output_format in MACHINE_FORMATS:
        click.echo(
            dump(output_format, {"up_to_date": up_to_date, "current": found, "heads": heads})
        )
    elif up_to_date:
        click.echo(f"up to date: at {_revisions(heads)}")
    if not up_to_date:
        if output_format == "text":
            error = SchemaNotCurrent(found, heads, where["version_table"], unknown)
            click.echo(f"Error: {error}", err=True)
        sys.exit(1)


@db.command()
@click.option("-m", "--message", required=True, help="What the migration does.")
@click.option(
    "--autogenerate",
    is_flag=True,
    help="Fill it with what turns the database's schema into --metadata's (review it).",
)
@click.option(
    "--metadata",
    "metadata_spec",
    metavar="MODULE:ATTRIBUTE",
    help="The service's SQLAlchemy MetaData, for --autogenerate.",
)
@click.option("--rev-id", metavar="ID", help="The new revision's id (default: a random one).")
@_database_options
@output_format_option("text", "json")
def revision(
    message: str,
    autogenerate: bool,
    metadata_spec: str | None,
    rev_id: str | None,
    output_format: str,
    **where: Any,
) -> None:
    """Write a new migration script on the head (it reads the database only to autogenerate)."""
    if autogenerate and not metadata_spec:
        raise click.UsageError("--autogenerate needs --metadata MODULE:ATTRIBUTE")
    metadata = _metadata(metadata_spec) if metadata_spec else None
    with _migrations(**where, needs_database=autogenerate) as migrations:
        written = migrations.revision(
            message, autogenerate=autogenerate, metadata=metadata, rev_id=rev_id
        )
    if output_format in MACHINE_FORMATS:
        click.echo(dump(output_format, {"revision": written.revision, "path": written.path}))
    else:
        click.echo(f"wrote {written.revision}: {written.path}")


def _metadata(spec: str) -> Any:
    from anker._drivers import require
    from anker.cli._config import _import

    with _one_line():
        sqlalchemy = require("sqlalchemy", extra="db", needed_for="anker db revision")

    module_name, _, attribute = spec.partition(":")
    try:
        found = getattr(_import(module_name), attribute or "metadata")
    except (ImportError, AttributeError) as exc:
        raise click.BadParameter(f"cannot load {spec}: {exc}", param_hint="--metadata") from exc
    if not isinstance(found, sqlalchemy.MetaData):
        raise click.BadParameter(f"{spec} is not a SQLAlchemy MetaData", param_hint="--metadata")
    return found
