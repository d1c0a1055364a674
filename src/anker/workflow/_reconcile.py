"""Expected state and reconciliation: level-triggered repair of drifted resources.

A service records what each resource it manages should be (``expect("server-42", {"state":
"ACTIVE", "host": "h1"})``, typically from a workflow's last task). A :class:`Reconciler`
compares it with what its ``observe`` function reports, periodically and on demand, and
starts the repair workflow for each resource that drifted, unless a repair run for it is
still active. It acts on the current difference, not on events: a lost or repeated event, a
crash, or a check run twice does no harm.

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from anker.workflow._errors import RunNotFound, WorkflowError
from anker.workflow._states import ACTIVE

if TYPE_CHECKING:
    from anker.workflow._engine import Engine
    from anker.workflow._model import Workflow

__all__ = ["Drift", "Reconciler"]

log = logging.getLogger("anker.workflow")


@dataclass(frozen=True)
class Drift:
    """A resource whose observed state differs from its expected one; ``repair_run`` is the
    repair run started (or still active) for it."""

    resource: str
    expected: Any
    observed: Any
    repair_run: str | None


class Reconciler:
    """Compares expected with observed state and repairs drift with ``repair``.

    ``observe(resource, expected)`` returns the resource's observed state (JSON), compared
    with ``==`` unless ``matches(expected, observed)`` is given. A repair run gets the inputs
    ``resource``, ``expected`` and ``observed``. :meth:`check` runs once; used as an async
    context manager, the reconciler also checks every ``interval`` seconds.
    """

    def __init__(
        self,
        engine: Engine,
        repair: Workflow,
        observe: Callable[[str, Any], Awaitable[Any]],
        *,
        matches: Callable[[Any, Any], bool] | None = None,
        interval: float = 60.0,
    ) -> None:
        self.engine = engine
        self.repair = repair
        self.observe = observe
        self.matches = matches or (lambda expected, observed: bool(expected == observed))
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def expect(self, resource: str, state: Any) -> None:
        """Record that ``resource`` should be in ``state`` (JSON; None: forget it)."""
        await self.engine.store.set_expected(resource, state)

    async def check(self) -> list[Drift]:
        """Observe every resource with an expected state; start a repair run for each one
        that drifted and has no active repair; the drifted resources."""
        drifts = []
        for expectation in await self.engine.store.expectations():
            observed = await self.observe(expectation.resource, expectation.expected)
            if self.matches(expectation.expected, observed):
                await self.engine.store.observed(expectation.resource, observed, False, None)
                continue
            repair_run = expectation.repair_run
            if not await self._active(repair_run):
                repair_run = await self.engine.submit(
                    self.repair,
                    {
                        "resource": expectation.resource,
                        "expected": expectation.expected,
                        "observed": observed,
                    },
                )
                log.info("drift of %s: repair run %s", expectation.resource, repair_run)
            await self.engine.store.observed(expectation.resource, observed, True, repair_run)
            drifts.append(Drift(expectation.resource, expectation.expected, observed, repair_run))
        return drifts

    async def _active(self, run_id: str | None) -> bool:
        if run_id is None:
            return False
        try:
            return (await self.engine.store.get(run_id)).state in ACTIVE
        except RunNotFound:
            return False

    async def _loop(self) -> None:
        while True:
            try:
                await self.check()
            except WorkflowError as exc:
                log.warning("reconciliation failed: %s", exc)
            except Exception:  # user observe functions: logged, the next round runs
                log.exception("reconciliation failed")
            await asyncio.sleep(self.interval)

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._loop(), name="anker.workflow reconciler")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the periodic checks."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
