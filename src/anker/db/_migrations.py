"""``Migrations``: a service's Alembic migrations, run on purpose against an anker engine.

anker is the migration environment: it opens the engine with :func:`create_engine` (anker's
URLs, timeouts, masking and error translation) and drives Alembic's runtime itself, so a
script directory needs its ``versions/`` and ``script.py.mako`` but no ``alembic.ini`` and no
``env.py`` (one that is there is not run). Each history keeps its own version table, so
several components share one database. Nothing in anker migrates implicitly.

Alembic and SQLAlchemy are imported on first use.
"""

from __future__ import annotations

import importlib.resources
from argparse import Namespace
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anker._drivers import require
from anker.errors import AnkerError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory
    from sqlalchemy import Connection, Engine, MetaData

    from anker._url import BackendURL
    from anker.db._options import DatabaseOptions

__all__ = ["MigrationError", "Migrations", "Revision", "SchemaNotCurrent"]

_EXTRA = "db"
DEFAULT_VERSION_TABLE = "alembic_version"


class MigrationError(AnkerError):
    """The migrations cannot run: no such script directory, an unknown revision, a broken
    script. (The database's own failures are :class:`~anker.db.DBError`.)"""


class SchemaNotCurrent(MigrationError):
    """The database is not at the head of its migrations (``current`` and ``heads``);
    ``unknown``: the current revisions the scripts do not have (a newer release's)."""

    def __init__(
        self,
        current: tuple[str, ...],
        heads: tuple[str, ...],
        table: str,
        unknown: tuple[str, ...] = (),
    ) -> None:
        self.current = current
        self.heads = heads
        self.unknown = unknown
        at = ", ".join(current) or "no revision (empty)"
        head = ", ".join(heads) or "none"
        if unknown:  # an upgrade cannot help: the database is ahead of these scripts
            super().__init__(
                f"the database is at {at} in {table}, which these migrations do not have"
                f" ({', '.join(unknown)}: a newer release's?); their head is {head}"
            )
            return
        super().__init__(
            f"the database is at {at} in {table}; the head is {head} (run anker db upgrade)"
        )


@dataclass(frozen=True)
class Revision:
    """One migration script."""

    revision: str
    down_revisions: tuple[str, ...]
    message: str
    is_head: bool
    path: str


class Migrations:
    """The migrations in ``scripts`` (a directory, or ``"package:resource"``) for the
    database at ``url`` (an anker URL, a :class:`~anker.db.DatabaseOptions` group, or an
    engine from :func:`~anker.db.create_engine`), recorded in ``version_table``.

    ``options`` are the engine's (as for :func:`~anker.db.create_engine`). Nothing connects
    until a method needs the database; :meth:`history` and :meth:`revision` without
    autogenerate never do.
    """

    def __init__(
        self,
        url: str | BackendURL | DatabaseOptions | Engine | None,
        scripts: str | Path,
        *,
        version_table: str = DEFAULT_VERSION_TABLE,
        **options: object,
    ) -> None:
        if not version_table or not version_table.replace("_", "").isalnum():
            raise MigrationError(
                f"version table {version_table!r}: use letters, digits and underscores"
            )
        self.directory = _directory(scripts)
        self.version_table = version_table
        self._url = url
        self._options = options
        self._engine: Engine | None = None

    def __repr__(self) -> str:
        return f"Migrations({str(self.directory)!r}, version_table={self.version_table!r})"

    # -- the database ---------------------------------------------------------------------

    def upgrade(self, target: str = "head") -> tuple[str, ...]:
        """Apply migrations up to ``target`` (a revision, ``head``, ``+1``); the revisions
        the database is at afterwards."""
        config, script = self._script()

        def steps(revision: Any, _context: Any) -> Any:
            return script._upgrade_revs(target, revision)

        self._run(config, script, steps, destination=target)
        return self.current()

    def downgrade(self, target: str) -> tuple[str, ...]:
        """Revert migrations down to ``target`` (a revision, ``-1``, ``base``); the revisions
        the database is at afterwards."""
        config, script = self._script()

        def steps(revision: Any, _context: Any) -> Any:
            return script._downgrade_revs(target, revision)

        self._run(config, script, steps, destination=target)
        return self.current()

    def current(self) -> tuple[str, ...]:
        """The revisions the database is at (empty before the first upgrade)."""
        migration = require("alembic.migration", extra=_EXTRA, needed_for="anker.db migrations")
        with self._connection() as connection:
            context = migration.MigrationContext.configure(
                connection, opts={"version_table": self.version_table}
            )
            return tuple(sorted(context.get_current_heads()))

    def check(self) -> tuple[str, ...]:
        """The heads, when the database is at them; else :class:`SchemaNotCurrent`."""
        heads = self.heads()
        current = self.current()
        if set(current) != set(heads):
            raise SchemaNotCurrent(current, heads, self.version_table, self.unknown(current))
        return heads

    def unknown(self, revisions: Sequence[str]) -> tuple[str, ...]:
        """Those of ``revisions`` that no script of the directory has."""
        with _alembic_errors(self.directory):
            known = {script.revision for script in self._script()[1].walk_revisions()}
        return tuple(revision for revision in revisions if revision not in known)

    # -- the scripts ----------------------------------------------------------------------

    def heads(self) -> tuple[str, ...]:
        """The newest revisions of the scripts."""
        with _alembic_errors(self.directory):
            return tuple(sorted(self._script()[1].get_heads()))

    def history(self) -> list[Revision]:
        """Every revision, newest first."""
        with _alembic_errors(self.directory):
            return [_revision(script) for script in self._script()[1].walk_revisions()]

    def revision(
        self,
        message: str,
        *,
        autogenerate: bool = False,
        metadata: MetaData | None = None,
        rev_id: str | None = None,
    ) -> Revision:
        """Write a new migration script on the heads. With ``autogenerate``, its operations
        are what turns the database's schema into ``metadata``'s (review them: Alembic does
        not see every change, e.g. renames)."""
        if autogenerate and metadata is None:
            raise MigrationError("autogenerate compares the database with models: give metadata")
        autogenerate_module = require(
            "alembic.autogenerate", extra=_EXTRA, needed_for="anker.db migrations"
        )
        config, script = self._script()
        arguments = {
            "message": message,
            "autogenerate": autogenerate,
            "sql": False,
            "head": "head",
            "splice": False,
            "branch_label": None,
            "version_path": None,
            "rev_id": rev_id,
            "depends_on": None,
        }
        context = autogenerate_module.RevisionContext(config, script, arguments)
        if autogenerate:
            self.check()  # models compare with the head's schema, nothing older

            def compare(revision: Any, migration_context: Any) -> list[Any]:
                context.run_autogenerate(revision, migration_context)
                return []

            self._run(config, script, compare, metadata=metadata, revision_context=context)
        with _alembic_errors(self.directory):
            written = [found for found in context.generate_scripts() if found is not None]
        return _revision(written[0])

    # -- plumbing -------------------------------------------------------------------------

    def dispose(self) -> None:
        """Close the engine's connections (an engine that was passed in is left open)."""
        if self._engine is not None and self._engine is not self._url:
            self._engine.dispose()
        self._engine = None

    def _script(self) -> tuple[AlembicConfig, ScriptDirectory]:
        config = self._config()
        script = require("alembic.script", extra=_EXTRA, needed_for="anker.db migrations")
        if not (self.directory / "versions").is_dir():
            raise MigrationError(f"{self.directory}: no versions/ folder of migration scripts")
        with _alembic_errors(self.directory):
            found: ScriptDirectory = script.ScriptDirectory.from_config(config)
        return config, found

    def _config(self) -> AlembicConfig:
        config = require("alembic.config", extra=_EXTRA, needed_for="anker.db migrations")
        # quiet: Alembic would print "Generating ..." to stdout, which is the caller's
        alembic_config: AlembicConfig = config.Config(cmd_opts=Namespace(quiet=True))
        alembic_config.set_main_option("path_separator", "os")  # a path may hold spaces
        alembic_config.set_main_option("script_location", str(self.directory))
        alembic_config.set_main_option("version_locations", str(self.directory / "versions"))
        return alembic_config

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        if self._engine is None:
            if self._url is None:
                raise MigrationError("no database given (a URL or a [database] group)")
            sqlalchemy = require("sqlalchemy", extra=_EXTRA, needed_for="anker.db")
            if isinstance(self._url, sqlalchemy.Engine):
                self._engine = self._url
            else:
                from anker.db._engine import create_engine

                self._engine = create_engine(self._url, **self._options)  # type: ignore[arg-type]
        with self._engine.connect() as connection:
            yield connection

    def _run(
        self,
        config: AlembicConfig,
        script: ScriptDirectory,
        steps: Callable[[Any, Any], Any],
        *,
        destination: str | None = None,
        metadata: MetaData | None = None,
        revision_context: Any = None,
    ) -> None:
        """Alembic's migration run, as an ``env.py`` would start it, on anker's engine."""
        environment = require(
            "alembic.runtime.environment", extra=_EXTRA, needed_for="anker.db migrations"
        )
        extra: dict[str, Any] = {}
        if revision_context is not None:
            extra = {
                "template_args": revision_context.template_args,
                "revision_context": revision_context,
            }
        with self._connection() as connection, _alembic_errors(self.directory):
            with environment.EnvironmentContext(
                config, script, fn=steps, destination_rev=destination, **extra
            ) as context:
                context.configure(
                    connection=connection,
                    version_table=self.version_table,
                    target_metadata=metadata,
                    render_as_batch=connection.dialect.name == "sqlite",
                )
                with context.begin_transaction():
                    context.run_migrations()
            connection.commit()


def _directory(scripts: str | Path) -> Path:
    """The script directory ``scripts`` names: a path, or ``package:resource``."""
    text = str(scripts)
    package, colon, resource = text.partition(":")
    if colon and not Path(text).exists() and package.replace(".", "").isidentifier():
        try:
            root = importlib.resources.files(package)
        except ModuleNotFoundError as exc:
            raise MigrationError(f"migrations {text}: no package {exc.name}") from None
        found = Path(str(root.joinpath(resource)))
    else:
        found = Path(text).expanduser()
    if not found.is_dir():
        raise MigrationError(f"migrations {text}: no such directory ({found})")
    return found.resolve()


def _revision(script: Any) -> Revision:
    down = script.down_revision
    downs = () if down is None else (down,) if isinstance(down, str) else tuple(down)
    return Revision(
        revision=script.revision,
        down_revisions=downs,
        message=(script.doc or "").strip(),
        is_head=bool(script.is_head),
        path=str(script.path),
    )


@contextmanager
def _alembic_errors(directory: Path) -> Iterator[None]:
    """Alembic's errors (an unknown revision, a missing template) as :class:`MigrationError`."""
    util = require("alembic.util", extra=_EXTRA, needed_for="anker.db migrations")
    revision = require("alembic.script.revision", extra=_EXTRA, needed_for="anker.db migrations")
    try:
        yield
    except (util.CommandError, revision.RevisionError) as exc:
        raise MigrationError(f"migrations {directory}: {' '.join(str(exc).split())}") from exc
    except AnkerError:
        raise
    except (SyntaxError, ImportError) as exc:  # a script that does not load
        where = getattr(exc, "filename", None) or directory
        raise MigrationError(f"migrations: {where}: {type(exc).__name__}: {exc}") from exc


def revisions_text(revisions: Sequence[str]) -> str:
    """``revisions`` for a person: comma-separated, or ``(none)``."""
    return ", ".join(revisions) or "(none)"
