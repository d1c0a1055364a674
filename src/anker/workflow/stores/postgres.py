"""``postgresql://user@host/db``: the workflow store in PostgreSQL, shared by engines on many
machines.

Claims take runs with ``FOR UPDATE SKIP LOCKED`` (concurrent engines never wait for each other
nor take the same run) and stamp leases with the server's clock, the same for every engine.
Each transition is fenced by the run's claim generation, so an engine paused past its lease
cannot commit anything once another engine took its runs over. Create the tables once with
``anker workflow --url URL upgrade``.
"""

from __future__ import annotations

from typing import ClassVar

from anker.workflow.stores._sql import SQLStore

__all__ = ["PostgresStore"]


class PostgresStore(SQLStore):
    """Workflow runs in PostgreSQL; see the module docstring."""

    row_locks: ClassVar[bool] = True
