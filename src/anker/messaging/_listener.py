"""Receiving notifications: :class:`NotificationListener` and
:class:`BatchNotificationListener` dispatch them to endpoint objects, which choose them with a
:class:`NotificationFilter` and answer with a :class:`NotificationResult`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from anker.messaging import _wire
from anker.messaging._context import RequestContext
from anker.messaging._errors import InvalidTarget
from anker.messaging._serializer import JsonSerializer, Serializer
from anker.messaging._serving import Consumer
from anker.messaging._signing import notification_route
from anker.messaging._target import Target, check_seconds
from anker.messaging._transport import Incoming, Subscription, Transport

__all__ = [
    "BatchNotificationListener",
    "Notification",
    "NotificationFilter",
    "NotificationListener",
    "NotificationResult",
]

log = logging.getLogger("anker.messaging")


class NotificationResult(enum.Enum):
    """What a listener endpoint returns: ``HANDLED`` (or ``None``) acks the notification,
    ``REQUEUE`` hands it back to the queue (with ``allow_requeue``).

    .. versionadded:: 0.1
    """

    HANDLED = "handled"
    REQUEUE = "requeue"


@dataclass(frozen=True, slots=True)
class Notification:
    """One notification as a batch endpoint receives it."""

    context: RequestContext
    publisher_id: str
    event_type: str
    priority: str
    payload: Any
    metadata: Mapping[str, Any]


class NotificationFilter:
    """Which notifications an endpoint wants: regular expressions that must match (from the
    start) the publisher id, event type, and given context and payload fields.

    Set it as the endpoint's ``filter_rule`` attribute. A field missing from the context or
    payload does not match.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        *,
        publisher_id: str | None = None,
        event_type: str | None = None,
        context: Mapping[str, str] | None = None,
        payload: Mapping[str, str] | None = None,
    ) -> None:
        self.publisher_id = re.compile(publisher_id) if publisher_id is not None else None
        self.event_type = re.compile(event_type) if event_type is not None else None
        self.context = {key: re.compile(value) for key, value in (context or {}).items()}
        self.payload = {key: re.compile(value) for key, value in (payload or {}).items()}

    def matches(
        self, context: Mapping[str, Any], publisher_id: str, event_type: str, payload: Any
    ) -> bool:
        """Whether a notification passes the filter: every pattern given matches."""
        if self.publisher_id is not None and not self.publisher_id.match(publisher_id or ""):
            return False
        if self.event_type is not None and not self.event_type.match(event_type or ""):
            return False
        if not _fields_match(self.context, context):
            return False
        return _fields_match(self.payload, payload if isinstance(payload, Mapping) else {})


def _fields_match(rules: Mapping[str, re.Pattern[str]], values: Mapping[str, Any]) -> bool:
    for key, pattern in rules.items():
        if key not in values or not pattern.match(str(values[key])):
            return False
    return True


def _listened_priorities(endpoints: Sequence[object]) -> list[str]:
    found = [p for p in _wire.PRIORITIES if any(callable(getattr(e, p, None)) for e in endpoints)]
    if not found:
        raise ValueError(
            "no endpoint has a notification method (one of " + ", ".join(_wire.PRIORITIES) + ")"
        )
    return found


class _ListenerBase(Consumer):
    def __init__(
        self,
        transport: Transport,
        targets: Sequence[Target],
        endpoints: Sequence[object],
        *,
        pool: str | None,
        allow_requeue: bool,
        serializer: Serializer | None,
        max_concurrency: int,
        executor_threads: int,
        prefetch: int | None,
        allow_unsigned: bool,
    ) -> None:
        super().__init__(
            transport,
            max_concurrency=max_concurrency,
            executor_threads=executor_threads,
            prefetch=prefetch,
            allow_unsigned=allow_unsigned,
        )
        if not targets:
            raise ValueError("a notification listener needs at least one target")
        for target in targets:
            if target.topic is None:
                raise InvalidTarget(target, "a notification listener needs a topic")
        if pool is not None:  # a queue's name on RabbitMQ: checked as a topic is
            try:
                Target(topic=pool)
            except InvalidTarget as exc:
                reason = exc.reason.replace("topic", "pool", 1)
                raise ValueError(f"a notification listener's {reason}") from None
        self.targets = list(targets)
        self.endpoints = list(endpoints)
        self.priorities = _listened_priorities(self.endpoints)
        self.pool = pool
        self.allow_requeue = allow_requeue
        self.serializer: Serializer = serializer or JsonSerializer()

    async def _subscribe(self) -> Subscription:
        return await self.transport.listen_notifications(
            self.targets, self.priorities, self._deliver, pool=self.pool, prefetch=self.prefetch
        )

    def _read(self, incoming: Incoming) -> Notification:
        message = incoming.message
        metadata = {
            "message_id": message.get("message_id"),
            "timestamp": message.get("timestamp"),
        }
        return Notification(
            context=RequestContext.from_message(message),
            publisher_id=str(message.get("publisher_id", "")),
            event_type=str(message.get("event_type", "")),
            priority=_wire.normal_priority(str(message.get("priority", ""))),
            payload=self.serializer.deserialize(message.get("payload")),
            metadata=metadata,
        )

    def _wants(self, endpoint: object, note: Notification, raw_context: Mapping[str, Any]) -> bool:
        rule = getattr(endpoint, "filter_rule", None)
        if isinstance(rule, NotificationFilter):
            return rule.matches(raw_context, note.publisher_id, note.event_type, note.payload)
        return True

    def _routes(self) -> list[str]:
        """The routes a notification for this listener may have been signed for."""
        return [
            notification_route(self.transport.exchange_of(target), target.topic or "", priority)
            for target in self.targets
            for priority in self.priorities
        ]

    async def _settle(self, incoming: Incoming, result: NotificationResult) -> None:
        if result is NotificationResult.REQUEUE and self.allow_requeue:
            if self.transport.signing is not None:
                self.transport.signing.forget(incoming.message)  # it comes back: no replay
            await incoming.requeue()
        else:
            await incoming.ack()


def _raw_context(message: Mapping[str, Any]) -> dict[str, Any]:
    return {k[len("_context_") :]: v for k, v in message.items() if k.startswith("_context_")}


class NotificationListener(_ListenerBase):
    """Dispatches notifications to endpoints' priority methods.

    An endpoint method is named after the priority (``info``, ``error``, ...) and called as
    ``method(context, publisher_id, event_type, payload, metadata)``; async methods are
    awaited, others run in a thread. Listeners in the same ``pool`` share the notifications;
    every pool gets each one. A method that raises has its notification requeued once (with
    ``allow_requeue``), then acknowledged, so a poison message cannot loop.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        transport: Transport,
        targets: Sequence[Target],
        endpoints: Sequence[object],
        *,
        pool: str | None = None,
        allow_requeue: bool = False,
        serializer: Serializer | None = None,
        max_concurrency: int = 8,
        executor_threads: int = 8,
        prefetch: int | None = None,
        allow_unsigned: bool = False,
    ) -> None:
        super().__init__(
            transport,
            targets,
            endpoints,
            pool=pool,
            allow_requeue=allow_requeue,
            serializer=serializer,
            max_concurrency=max_concurrency,
            executor_threads=executor_threads,
            prefetch=prefetch,
            allow_unsigned=allow_unsigned,
        )

    def __repr__(self) -> str:
        return f"<NotificationListener {[t.topic for t in self.targets]} pool={self.pool}>"

    async def _process(self, incoming: Incoming) -> None:
        if incoming.expired:
            await incoming.ack()
            return
        if await self._refused(incoming, self._routes()):
            return
        note = self._read(incoming)
        if note.priority not in self.priorities:
            # the method called is named by the message: only the priorities listened to
            log.warning(
                "dropped notification %s from %s: unknown priority %r",
                note.metadata.get("message_id"),
                incoming.where,
                note.priority,
            )
            await incoming.ack()
            return
        raw_context = _raw_context(incoming.message)
        result = NotificationResult.HANDLED
        for endpoint in self.endpoints:
            method = getattr(endpoint, note.priority, None)
            if (
                method is None
                or not callable(method)
                or not self._wants(endpoint, note, raw_context)
            ):
                continue
            try:
                outcome = await self._invoke(
                    method,
                    note.context,
                    note.publisher_id,
                    note.event_type,
                    note.payload,
                    dict(note.metadata),
                )
            except Exception:
                log.exception(
                    "notification %s (%s) failed in %s",
                    note.metadata.get("message_id"),
                    note.event_type,
                    endpoint,
                )
                outcome = None if incoming.redelivered else NotificationResult.REQUEUE
            if outcome is NotificationResult.REQUEUE:
                result = NotificationResult.REQUEUE
                break
        await self._settle(incoming, result)


class BatchNotificationListener(_ListenerBase):
    """Dispatches notifications in batches: each endpoint priority method is called with a
    list of :class:`Notification` once ``batch_size`` arrived or ``batch_timeout`` seconds
    passed since the first of the batch.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        transport: Transport,
        targets: Sequence[Target],
        endpoints: Sequence[object],
        *,
        batch_size: int = 100,
        batch_timeout: float = 1.0,
        pool: str | None = None,
        allow_requeue: bool = False,
        serializer: Serializer | None = None,
        executor_threads: int = 4,
        prefetch: int | None = None,
        allow_unsigned: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        check_seconds("batch_timeout", batch_timeout)
        super().__init__(
            transport,
            targets,
            endpoints,
            pool=pool,
            allow_requeue=allow_requeue,
            serializer=serializer,
            # every delivery waits in its batch: room for a whole batch at once
            max_concurrency=batch_size,
            executor_threads=executor_threads,
            prefetch=prefetch if prefetch is not None else batch_size * 2,
            allow_unsigned=allow_unsigned,
        )
        self.batch_size = batch_size
        self.batch_timeout = batch_timeout
        self._batch: list[tuple[Incoming, asyncio.Future[None]]] = []
        self._flush_timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()

    async def _process(self, incoming: Incoming) -> None:
        if incoming.expired:
            await incoming.ack()
            return
        if await self._refused(incoming, self._routes()):
            return
        done = asyncio.get_running_loop().create_future()
        self._batch.append((incoming, done))
        if len(self._batch) >= self.batch_size:
            self._flush_now()
        elif self._flush_timer is None:
            self._flush_timer = asyncio.get_running_loop().call_later(
                self.batch_timeout, self._flush_now
            )
        await done

    def _flush_now(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        batch, self._batch = self._batch, []
        if batch:
            task = asyncio.get_running_loop().create_task(self._flush(batch))
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)

    async def _flush(self, batch: list[tuple[Incoming, asyncio.Future[None]]]) -> None:
        try:
            notes = [(incoming, self._read(incoming)) for incoming, _ in batch]
            requeue = False
            for priority in self.priorities:
                for endpoint in self.endpoints:
                    method = getattr(endpoint, priority, None)
                    if method is None or not callable(method):
                        continue
                    chosen = [
                        note
                        for incoming, note in notes
                        if note.priority == priority
                        and self._wants(endpoint, note, _raw_context(incoming.message))
                    ]
                    if not chosen:
                        continue
                    try:
                        outcome = await self._invoke(method, chosen)
                    except Exception:
                        log.exception(
                            "a batch of %d notifications failed in %s", len(chosen), endpoint
                        )
                        outcome = (
                            None
                            if all(i.redelivered for i, _ in batch)
                            else NotificationResult.REQUEUE
                        )
                    requeue = requeue or outcome is NotificationResult.REQUEUE
            result = NotificationResult.REQUEUE if requeue else NotificationResult.HANDLED
            for incoming, _ in batch:
                with contextlib.suppress(Exception):
                    await self._settle(incoming, result)
        finally:
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    def _deliveries_stopped(self) -> None:
        self._flush_now()  # the batch being gathered is dispatched now: nothing more comes
