"""The step path of the SQL workflow stores: a fenced write of a run's transitions.

This is what an engine does for every task transition, so it is plain SQL with fixed text
(no statement built per call; PostgreSQL's driver prepares it after a few uses), sent through
the engine's connection (errors translated as every statement's). Three statements in one
transaction: the fence (the run's row, guarded by the writer's claim generation), the tasks'
rows, their history rows. PostgreSQL runs all three as one statement (data-modifying CTEs, the
task and history rows passed as arrays) in autocommit: one round trip, one commit. SQLite runs
them under its write lock (``BEGIN IMMEDIATE``), one ``executemany`` per table.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from anker.workflow._errors import LeaseLost

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from anker.workflow._store import Change

__all__ = ["PG_WRITE", "Transition", "named"]

FENCE = """UPDATE anker_workflow_runs
SET updated = %(updated)s, state = COALESCE(%(state)s, state), error = COALESCE(%(error)s, error)
WHERE id = %(run_id)s AND generation = %(generation)s
RETURNING cancel_requested"""
# None in a task's row leaves the column as it is (a Change's None: unchanged), except error
TASK = """UPDATE anker_workflow_tasks
SET state = %(state)s, error = %(error)s, attempts = COALESCE(%(attempts)s, attempts),
  output = COALESCE(%(output)s, output), started = COALESCE(%(started)s, started),
  finished = COALESCE(%(finished)s, finished), succeeded = COALESCE(%(succeeded)s, succeeded)
WHERE run_id = %(run_id)s AND name = %(name)s"""
HISTORY = """INSERT INTO anker_workflow_history (run_id, task, old, new, at, attempt, error)
VALUES (%(run_id)s, %(task)s, %(old)s, %(new)s, %(updated)s, %(attempt)s, %(error)s)"""

TASK_COLUMNS = (
    "name text, state text, error text, attempts int, output text, started float8,"
    " finished float8, succeeded float8"
)
HISTORY_COLUMNS = "n int, task text, old text, new text, attempt int, error text"

PG_WRITE = f"""WITH fence AS ({FENCE}),
changed AS (
  UPDATE anker_workflow_tasks AS t
  SET state = c.state, error = c.error, attempts = COALESCE(c.attempts, t.attempts),
    output = COALESCE(c.output, t.output), started = COALESCE(c.started, t.started),
    finished = COALESCE(c.finished, t.finished), succeeded = COALESCE(c.succeeded, t.succeeded)
  FROM json_to_recordset(%(tasks)s::json) AS c({TASK_COLUMNS})
  -- the names twice: an index condition on both key columns, whatever the planner guesses
  WHERE t.run_id = %(run_id)s AND t.name = ANY(%(names)s::text[]) AND t.name = c.name
    AND EXISTS (SELECT FROM fence)
),
logged AS (
  INSERT INTO anker_workflow_history (run_id, task, old, new, at, attempt, error)
  SELECT %(run_id)s, h.task, h.old, h.new, %(updated)s, h.attempt, h.error
  FROM json_to_recordset(%(history)s::json) AS h({HISTORY_COLUMNS})
  WHERE EXISTS (SELECT FROM fence)
  ORDER BY h.n
)
SELECT cancel_requested FROM fence"""


def named(sql: str) -> str:
    """``sql`` with ``%(name)s`` parameters written ``:name`` (sqlite3's named style)."""
    return re.sub(r"%\((\w+)\)s", r":\1", sql)


class Transition:
    """The rows one fenced write changes, from the engine's changes."""

    __slots__ = ("fence", "history", "run_id", "tasks")

    def __init__(self, run_id: str, generation: int, changes: Sequence[Change]) -> None:
        now = time.time()
        self.run_id = run_id
        self.fence: dict[str, Any] = {
            "run_id": run_id,
            "generation": generation,
            "updated": now,
            "state": None,
            "error": None,
        }
        self.tasks: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        for change in changes:
            if change.task is not None and change.new is not None:
                output = None
                if change.set_output:
                    output = (
                        change.encoded if change.encoded is not None else json.dumps(change.output)
                    )
                self.tasks.append(
                    {
                        "run_id": run_id,
                        "name": change.task,
                        "state": change.new.value,
                        "error": change.error,
                        "attempts": change.attempts,
                        "output": output,
                        "started": change.started,
                        "finished": change.finished,
                        "succeeded": change.succeeded,
                    }
                )
                self.history.append(
                    {
                        "run_id": run_id,
                        "task": change.task,
                        "old": None if change.old is None else change.old.value,
                        "new": change.new.value,
                        "updated": now,
                        "attempt": change.attempts or 0,
                        "error": change.error,
                    }
                )
            if change.run_new is not None:
                self.fence["state"] = change.run_new.value
                if change.run_error is not None:  # the first reason stays while reverting
                    self.fence["error"] = change.run_error
                self.history.append(
                    {
                        "run_id": run_id,
                        "task": None,
                        "old": None if change.run_old is None else change.run_old.value,
                        "new": change.run_new.value,
                        "updated": now,
                        "attempt": 0,
                        "error": change.run_error,
                    }
                )

    def one_statement(self) -> dict[str, Any] | None:
        """The parameters of :data:`PG_WRITE` (the rows as JSON: one parameter each, which
        the server unpacks); None when a task changes twice here (one ``UPDATE`` cannot change
        a row twice: those go statement by statement)."""
        names = [row["name"] for row in self.tasks]
        if len(set(names)) < len(names):
            return None
        history = [{**row, "n": n} for n, row in enumerate(self.history)]
        return {
            **self.fence,
            "tasks": json.dumps(self.tasks),
            "history": json.dumps(history),
            "names": names,
        }

    def apply(self, connection: Connection, fence: str, task: str, history: str) -> bool:
        """Run the three statements (in the caller's transaction); whether a cancel was
        requested. Raises LeaseLost (nothing written) when the generation is not the run's."""
        cancel = connection.exec_driver_sql(fence, self.fence).scalar()
        if cancel is None:
            raise LeaseLost(self.run_id, self.fence["generation"])
        if self.tasks:
            connection.exec_driver_sql(task, self.tasks)
        if self.history:
            connection.exec_driver_sql(history, self.history)
        return bool(cancel)
