"""anker.db: SQLAlchemy engines configured from anker.config, hardened for production.

:func:`create_engine` and :func:`create_async_engine` make SQLAlchemy 2 engines from an anker
URL (``postgresql://``, ``mysql://``/``mariadb://``, ``sqlite:///path``) or a
:class:`DatabaseOptions` group, with timeouts on every layer; every driver error comes out as
one of the same :class:`DBError` classes on every database; :func:`retrying` runs a unit of
work again after a deadlock or a lost connection; :class:`Migrations` runs a service's Alembic
migrations when asked (never at start-up); :func:`probe` tells a health check whether the
database answers. SQLAlchemy and Alembic are imported on first use. See
``docs/db.md``.
"""

from anker._exports import show_public_paths
from anker.db._engine import create_async_engine, create_engine
from anker.db._errors import (
    DBAccessDenied,
    DBConnectionError,
    DBConstraintError,
    DBDataError,
    DBDeadlock,
    DBDuplicateEntry,
    DBError,
    DBPoolTimeout,
)
from anker.db._migrations import MigrationError, Migrations, Revision, SchemaNotCurrent
from anker.db._options import DatabaseOptions
from anker.db._probe import probe, probe_async
from anker.db._retry import retrying

__all__ = [
    "DBAccessDenied",
    "DBConnectionError",
    "DBConstraintError",
    "DBDataError",
    "DBDeadlock",
    "DBDuplicateEntry",
    "DBError",
    "DBPoolTimeout",
    "DatabaseOptions",
    "MigrationError",
    "Migrations",
    "Revision",
    "SchemaNotCurrent",
    "create_async_engine",
    "create_engine",
    "probe",
    "probe_async",
    "retrying",
]

show_public_paths(__name__, globals(), __all__)
