"""What RPC servers and notification listeners share: taking deliveries with bounded
concurrency, running endpoint methods (sync ones in a bounded thread pool), and draining.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import logging
import sys
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Self

from anker.messaging._context import CURRENT_CONTEXT, RequestContext
from anker.messaging._errors import ServerStopped
from anker.messaging._signing import Refusals
from anker.messaging._tracing import consumer_span
from anker.messaging._transport import Incoming, Subscription, Transport

__all__ = ["Consumer"]

log = logging.getLogger("anker.messaging")

DEFAULT_STOP_DEADLINE = 30.0


class Consumer(ABC):
    """Takes deliveries from a subscription and processes each in its own task.

    At most ``max_concurrency`` messages are processed at once; the transport's prefetch
    bounds how many more wait here. ``stop`` drains: it stops deliveries at once, hands
    every message not yet started back to the broker, and lets the running ones finish
    until the deadline.
    """

    #: the OpenTelemetry span kind of handling one message (RPC servers: "server")
    span_kind = "consumer"

    def __init__(
        self,
        transport: Transport,
        *,
        max_concurrency: int,
        executor_threads: int,
        prefetch: int | None,
        allow_unsigned: bool = False,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        if executor_threads < 1:
            raise ValueError(f"executor_threads must be at least 1, got {executor_threads}")
        self.transport = transport
        self.max_concurrency = max_concurrency
        # Unsettled deliveries allowed: at least the transport's prefetch, so that messages
        # keep flowing while the running ones finish, and room for twice the concurrency.
        self.prefetch = (
            prefetch
            if prefetch is not None
            else max(transport.settings.prefetch, 2 * max_concurrency)
        )
        self._executor_threads = executor_threads
        self._executor: ThreadPoolExecutor | None = None
        self._waiting: deque[Incoming] = deque()
        self._running: set[asyncio.Task[None]] = set()
        self._subscription: Subscription | None = None
        self._state = "new"  # new -> running -> stopping -> stopped
        self._idle = asyncio.Event()
        self._idle.set()
        #: called as ``observer(method, seconds, failed)`` after each endpoint method returns or
        #: raises (anker.service's metrics set it)
        self.observer: Callable[[str, float, bool], object] | None = None
        #: with a signing transport: whether unsigned messages are taken (oslo.messaging peers)
        self.allow_unsigned = allow_unsigned
        self._refusals = Refusals(type(self).__name__)

    async def _refused(self, incoming: Incoming, routes: Iterable[str]) -> bool:
        """With a signing transport, whether ``incoming`` is refused (then acknowledged, so
        that it never blocks the queue nor comes back, and counted)."""
        signing = self.transport.signing
        if signing is None:
            return False
        problem = signing.problem(incoming.message, routes, allow_unsigned=self.allow_unsigned)
        if problem is None:
            return False
        what = incoming.message.get("method") or incoming.message.get("event_type")
        self._refusals.refused(problem, incoming.where, repr(what))
        await incoming.ack()
        return True

    # -- life cycle ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._state == "running"

    async def start(self) -> None:
        """Start consuming. A stopped server cannot be started again."""
        if self._state == "running":
            return
        if self._state != "new":
            raise ServerStopped(f"{type(self).__name__} was stopped; create a new one")
        self._state = "running"
        try:
            self._subscription = await self._subscribe()
        except BaseException:
            self._state = "stopped"
            raise

    async def stop(self, deadline: float = DEFAULT_STOP_DEADLINE) -> None:
        """Drain and stop: no new deliveries, unstarted messages back to the queue, running
        ones finish (up to ``deadline`` seconds, then they are cancelled and requeued)."""
        if self._state in ("stopping", "stopped"):
            await self._idle.wait()
            return
        self._state = "stopping"
        try:
            if self._subscription is not None:
                await self._subscription.cancel()
            self._deliveries_stopped()
            while self._waiting:
                await self._give_back(self._waiting.popleft())
            if self._running:
                _, late = await asyncio.wait(list(self._running), timeout=deadline)
                for task in late:
                    task.cancel()
                if late:
                    log.warning(
                        "%s: %d message(s) still running after the %g s stop deadline were "
                        "cancelled and handed back to the broker",
                        self,
                        len(late),
                        deadline,
                    )
                    await asyncio.wait(late, timeout=deadline)  # a task may ignore cancel
        finally:
            self._state = "stopped"
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
            self._idle.set()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- deliveries ---------------------------------------------------------------------

    def _deliver(self, incoming: Incoming) -> None:
        """The transport's handler: start the message, or keep it until a slot is free."""
        if self._state != "running":
            self._spawn_settle(self._give_back(incoming))
            return
        if len(self._running) < self.max_concurrency:
            self._start(incoming)
        else:
            self._waiting.append(incoming)

    def _start(self, incoming: Incoming) -> None:
        self._idle.clear()
        task = asyncio.get_running_loop().create_task(self._guarded(incoming))
        self._running.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if self._state == "running" and self._waiting:
            self._start(self._waiting.popleft())
        elif not self._running and self._state != "stopping":
            self._idle.set()

    async def _guarded(self, incoming: Incoming) -> None:
        try:
            await self._process(incoming)
        except asyncio.CancelledError:
            await asyncio.shield(self._give_back(incoming))
            raise
        except Exception:
            if incoming.redelivered:
                # failed before too: a poison message, not a passing fault. Rejected (to the
                # dead-letter queue where there is one), so it cannot loop.
                log.exception(
                    "%s: processing a message from %s failed again; rejected", self, incoming.where
                )
                with contextlib.suppress(Exception):
                    await incoming.reject()
            else:
                log.exception(
                    "%s: processing a message from %s failed; requeued", self, incoming.where
                )
                await self._give_back(incoming)

    async def _give_back(self, incoming: Incoming) -> None:
        with contextlib.suppress(Exception):  # a lost connection requeues it anyway
            await incoming.requeue()

    def _spawn_settle(self, settle: Any) -> None:
        task = asyncio.get_running_loop().create_task(settle)
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    # -- endpoint methods ---------------------------------------------------------------

    async def _invoke(self, function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run an endpoint method: awaited if async, else in the bounded thread pool.

        A request context given first is the current one while it runs
        (:func:`~anker.messaging.current_context`, which log lines read), in the thread too.
        """
        context = args[0] if args and isinstance(args[0], RequestContext) else None
        if context is not None:
            CURRENT_CONTEXT.set(context)  # each message runs in a task (a context) of its own
            if "opentelemetry.trace" in sys.modules:  # the service traces (see _tracing)
                name = f"handle {getattr(function, '__name__', '?')}"
                with consumer_span(name, self.span_kind, context.extras):
                    return await self._observed(function, *args, **kwargs)
        if self.observer is None and _is_async(function):
            return await function(*args, **kwargs)  # the common case, without two more frames
        return await self._observed(function, *args, **kwargs)

    async def _observed(self, function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        if self.observer is None:
            return await self._call_endpoint(function, *args, **kwargs)
        started = time.perf_counter()
        failed = True
        try:
            result = await self._call_endpoint(function, *args, **kwargs)
            failed = False
            return result
        finally:
            name = getattr(function, "__name__", "?")
            self.observer(name, time.perf_counter() - started, failed)

    async def _call_endpoint(
        self, function: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Any:
        if _is_async(function):
            return await function(*args, **kwargs)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self._executor_threads,
                thread_name_prefix=f"anker-{type(self).__name__}",
            )
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, function, *args, **kwargs)
        result = await loop.run_in_executor(self._executor, call)
        if inspect.isawaitable(result):
            return await result
        return result

    # -- what subclasses do -------------------------------------------------------------

    def _deliveries_stopped(self) -> None:  # noqa: B027 - a hook; most consumers need none
        """Called by ``stop`` once no more messages can arrive."""

    @abstractmethod
    async def _subscribe(self) -> Subscription: ...

    @abstractmethod
    async def _process(self, incoming: Incoming) -> None:
        """Process one message and settle it."""


def _is_async(function: Callable[..., Any]) -> bool:
    """Whether an endpoint method is ``async def`` (asked once per underlying function)."""
    try:
        return _is_coroutine_function(getattr(function, "__func__", function))
    except TypeError:  # an unhashable callable object: asked each time
        return inspect.iscoroutinefunction(function)


@functools.lru_cache(maxsize=1024)
def _is_coroutine_function(function: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(function)
