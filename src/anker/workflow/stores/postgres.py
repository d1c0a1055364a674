"""``postgresql://user@host/db``: the workflow store in PostgreSQL, shared by engines on many
machines.

Claims take runs with ``FOR UPDATE SKIP LOCKED`` (concurrent engines never wait for each other
nor take the same run) and stamp leases with the server's clock, the same for every engine.
Each transition is fenced by the run's claim generation, so an engine paused past its lease
cannot commit anything once another engine took its runs over. A transition is one statement
(its fence, task rows and history rows as data-modifying CTEs) in autocommit: one round trip.
Create the tables once with ``anker workflow --url URL upgrade``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from anker.workflow._errors import LeaseLost
from anker.workflow.stores._sql import SQLStore
from anker.workflow.stores._writes import PG_WRITE, Transition

__all__ = ["PostgresStore"]


class PostgresStore(SQLStore):
    """Workflow runs in PostgreSQL; see the module docstring."""

    row_locks: ClassVar[bool] = True

    def transition_work(self, transition: Transition) -> Callable[[], bool]:
        parameters = transition.one_statement()
        if parameters is None:
            return super().transition_work(transition)

        def run() -> bool:
            # one statement in autocommit: one round trip, one commit
            with self.engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT")
                cancel = connection.exec_driver_sql(PG_WRITE, parameters).scalar()
            if cancel is None:
                raise LeaseLost(transition.run_id, parameters["generation"])
            return bool(cancel)

        return run
