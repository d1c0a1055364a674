"""Sending notifications: :class:`Notifier`.

The format and routing are oslo.messaging's ``messagingv2`` driver's: a notification of
priority ``info`` on topic ``notifications`` goes to the queue ``notifications.info`` of the
control exchange, which the notifier declares so nothing is lost before a listener exists.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Final

from anker.messaging import _wire
from anker.messaging._context import RequestContext, context_entries
from anker.messaging._serializer import JsonSerializer, Serializer
from anker.messaging._signing import notification_route
from anker.messaging._target import Target, check_seconds
from anker.messaging._tracing import producer_span
from anker.messaging._transport import Transport

__all__ = ["Notifier"]

DRIVERS: Final = ("messagingv2", "messaging", "noop")


class Notifier:
    """Sends notifications as ``publisher_id``.

    ::

        notifier = Notifier(transport, "compute.node-1")
        await notifier.info(ctx, "compute.instance.create.end", {"instance_id": id})

    ``driver`` is oslo's: ``messagingv2`` (the envelope, the default), ``messaging`` (the
    bare dict of v1) or ``noop``. Each priority method returns once the broker has taken
    the notification on every topic.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        transport: Transport,
        publisher_id: str,
        *,
        topics: Sequence[str] = ("notifications",),
        driver: str = "messagingv2",
        serializer: Serializer | None = None,
        ttl: float | None = None,
    ) -> None:
        if driver not in DRIVERS:
            raise ValueError(
                f"unknown notification driver {driver!r} (known: {', '.join(DRIVERS)})"
            )
        if not topics:
            raise ValueError("a notifier needs at least one topic")
        check_seconds("ttl", ttl)  # every notification would expire unseen
        self.transport = transport
        self.publisher_id = publisher_id
        self.targets = [Target(topic=topic) for topic in topics]
        self.driver = driver
        self.serializer: Serializer = serializer or JsonSerializer()
        self.ttl = ttl

    def prepare(self, publisher_id: str) -> Notifier:
        """A notifier like this one with another publisher id."""
        clone = Notifier.__new__(Notifier)
        clone.__dict__.update(self.__dict__)
        clone.publisher_id = publisher_id
        return clone

    async def notify(
        self,
        context: RequestContext | Mapping[str, Any] | None,
        event_type: str,
        payload: Any,
        priority: str,
    ) -> None:
        """Send a notification at ``priority`` (one of audit, debug, info, warn, error,
        critical, sample)."""
        priority = _wire.normal_priority(priority)
        if priority not in _wire.PRIORITIES:
            raise ValueError(
                f"unknown notification priority {priority!r} (known: {', '.join(_wire.PRIORITIES)})"
            )
        if self.driver == "noop":
            return
        # No context, no context keys: as oslo's notifier sends it (a listener reads a fresh
        # context with a new request id).
        entries = {} if context is None else context_entries(context)
        # Notifications go to whoever listens: never the caller's token (oslo redacts it too).
        entries.pop("_context_auth_token", None)
        with producer_span(f"notify {event_type}", "producer", entries):
            message = _wire.notification(
                self.publisher_id, event_type, priority, self.serializer.serialize(payload), entries
            )
            envelope = self.driver == "messagingv2"
            signing = self.transport.signing
            sends = [
                self.transport.notify(
                    target,
                    priority,
                    message
                    if signing is None
                    else signing.sign(
                        message,
                        notification_route(
                            self.transport.exchange_of(target), target.topic or "", priority
                        ),
                    ),
                    ttl=self.ttl,
                    envelope=envelope,
                )
                for target in self.targets
            ]
            if len(sends) == 1:
                await sends[0]  # the usual case: no tasks, no extra turns of the loop
            else:
                await asyncio.gather(*sends)

    async def audit(self, context: Any, event_type: str, payload: Any) -> None:
        """Send a notification of priority ``audit``."""
        await self.notify(context, event_type, payload, "audit")

    async def debug(self, context: Any, event_type: str, payload: Any) -> None:
        """Send a notification of priority ``debug``."""
        await self.notify(context, event_type, payload, "debug")

    async def info(self, context: Any, event_type: str, payload: Any) -> None:
        """Send a notification of priority ``info``."""
        await self.notify(context, event_type, payload, "info")

    async def warn(self, context: Any, event_type: str, payload: Any) -> None:
        """Send a notification of priority ``warn``."""
        await self.notify(context, event_type, payload, "warn")

    warning = warn

    async def error(self, context: Any, event_type: str, payload: Any) -> None:
        """Send a notification of priority ``error``."""
        await self.notify(context, event_type, payload, "error")

    async def critical(self, context: Any, event_type: str, payload: Any) -> None:
        """Send a notification of priority ``critical``."""
        await self.notify(context, event_type, payload, "critical")

    async def sample(self, context: Any, event_type: str, payload: Any) -> None:
        """Send a notification of priority ``sample``."""
        await self.notify(context, event_type, payload, "sample")
