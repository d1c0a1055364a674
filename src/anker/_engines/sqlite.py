"""Opening SQLite database files: created only where asked, private when created."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

__all__ = ["DatabaseMissing", "connect_sqlite", "file_path", "prepare_file"]


class DatabaseMissing(FileNotFoundError):
    """The database file (or the folder it would be created in) does not exist."""


def file_path(url_path: str, url: str = "") -> Path:
    """The file a ``sqlite:///path`` (or ``file:///path``) URL's path names, with one leading
    slash: ``sqlite:////var/lib/app.db``, as SQLAlchemy writes an absolute path, is the same
    file (pathlib keeps a leading ``//``, which SQLite's URI form reads as a host).

    ``sqlite:///:memory:`` is an :class:`~anker.errors.InvalidURL` naming ``url``: anker's
    SQLite URLs name a file, and SQLAlchemy's spelling of an in-memory database would
    otherwise be a file called ``:memory:`` at the root."""
    if url_path.strip("/") == ":memory:":
        from anker.errors import InvalidURL

        raise InvalidURL(
            url or f"sqlite://{url_path}",
            "anker's SQLite URLs name a database file (sqlite:///var/lib/app.db), and an "
            "in-memory database is not shared between connections: use a file (in a "
            "temporary folder, for tests)",
        )
    return Path("/" + url_path.lstrip("/"))


def prepare_file(path: Path, *, create: bool) -> None:
    """Make sure the database file at ``path`` exists before SQLite opens it (with
    ``mode=rw``, so SQLite never creates it): created readable by its owner only when
    ``create`` is true (SQLite gives its ``-wal`` and ``-shm`` files the same mode), never in
    a missing folder. Raises :class:`DatabaseMissing` otherwise."""
    if not path.parent.is_dir():
        raise DatabaseMissing(f"no folder {path.parent} for the database {path.name}")
    if path.is_dir():
        raise DatabaseMissing(f"{path} is a folder, not a database file")
    if create:
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    elif not path.is_file():
        raise DatabaseMissing(f"no database at {path}")


def connect_sqlite(path: Path, *, create: bool, timeout: float) -> sqlite3.Connection:
    """Open the SQLite database at ``path`` in autocommit mode, usable from any thread.

    With ``create=False`` (what a command that only reads uses) the file must exist: nothing
    is created. With ``create=True`` a missing file is created readable by its owner only
    (SQLite gives its ``-wal`` and ``-shm`` files the same mode), but never a missing folder:
    a mistyped path fails instead of leaving directories behind.
    """
    prepare_file(path, create=create)
    # mode=rw: SQLite itself never creates the file (a race with a delete cannot either)
    uri = f"file:{quote(str(path.resolve()))}?mode=rw"
    return sqlite3.connect(
        uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False
    )
