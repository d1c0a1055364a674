"""``memory://[name]``: the in-process transport, with the semantics of the real ones.

Transports of one process that name the same broker (``memory://`` by default, or
``memory://billing`` for a separate one) share its queues. Messages are stored encoded, as a
broker would hold them, so a value the wire cannot carry fails at send, a receiver never
shares objects with the sender, and ``max_message_size`` applies. Queues, routing, prefetch,
acknowledgement, requeue, TTL, fanout and notification pools work as on RabbitMQ, so a
service's tests need no broker.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import weakref
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from anker._drivers import DriverSettings
from anker._url import BackendURL
from anker.messaging import _topics, _wire
from anker.messaging._errors import DeliveryFailure, InvalidMessage, TransportClosed
from anker.messaging._raw import RawHandler, RawMessage
from anker.messaging._target import Target
from anker.messaging._transport import (
    Handler,
    Incoming,
    ReplyHandler,
    Subscription,
    Transport,
)

__all__ = ["MemoryTransport"]

log = logging.getLogger("anker.messaging.memory")


@dataclass(slots=True)
class _Stored:
    body: bytes
    deadline: float | None  # monotonic
    redelivered: bool = False
    raw: tuple[str, str, dict[str, str]] | None = None  # a raw message's exchange, key, headers
    deliveries: int = 0


class _Queue:
    def __init__(self, name: str) -> None:
        self.name = name
        self.messages: deque[_Stored] = deque()
        self.consumers: list[_Consumer] = []
        self._turn = itertools.count()

    def put(self, stored: _Stored, *, front: bool = False) -> None:
        if front:
            self.messages.appendleft(stored)
        else:
            self.messages.append(stored)
        self.deliver()

    def deliver(self) -> None:
        """Hand queued messages to consumers with room, in turn, dropping expired ones."""
        while self.messages:
            ready = [c for c in self.consumers if c.has_room()]
            if not ready:
                return
            stored = self.messages.popleft()
            now = time.monotonic()
            if stored.deadline is not None and now >= stored.deadline:
                continue  # expired in the queue: a broker drops it too
            consumer = ready[next(self._turn) % len(ready)]
            consumer.take(self, stored, now)


class _Consumer:
    def __init__(
        self,
        handler: Handler,
        prefetch: int,
        loop: asyncio.AbstractEventLoop,
        raw: RawHandler | None = None,
    ) -> None:
        self.handler = handler
        self.raw = raw
        self.prefetch = prefetch
        self.loop = loop
        self.unsettled: set[_MemoryIncoming] = set()
        self.queues: list[_Queue] = []
        self.active = True

    def has_room(self) -> bool:
        return self.active and len(self.unsettled) < self.prefetch

    def take(self, queue: _Queue, stored: _Stored, now: float) -> None:
        stored.deliveries += 1
        if self.raw is not None:
            self._take_raw(queue, stored)
            return
        try:
            message = _wire.unwrap(stored.body, queue.name)
        except InvalidMessage as exc:
            log.error("dropped a message that cannot be read: %s", exc)
            return
        except Exception:  # whatever a body holds, it must not break the sender's send()
            log.exception("dropped a message from %s that cannot be read", queue.name)
            return
        ttl = None if stored.deadline is None else stored.deadline - now
        incoming = _MemoryIncoming(self, queue, stored, message, ttl)
        self.unsettled.add(incoming)
        self.loop.call_soon(self._hand_over, incoming)

    def _take_raw(self, queue: _Queue, stored: _Stored) -> None:
        exchange, key, headers = stored.raw or ("", queue.name, {})  # an oslo message
        incoming = _MemoryIncoming(self, queue, stored, {}, None)
        self.unsettled.add(incoming)
        raw = RawMessage(
            stored.body,
            headers=headers,
            exchange=exchange,
            key=key,
            queue=queue.name,
            redelivered=stored.redelivered,
            delivery_count=stored.deliveries,
            settle=incoming.settle,
        )
        self.loop.call_soon(self._hand_over_raw, incoming, raw)

    def _hand_over_raw(self, incoming: _MemoryIncoming, raw: RawMessage) -> None:
        if not self.active:
            incoming.give_back()
            return
        assert self.raw is not None
        self.raw(raw)

    def _hand_over(self, incoming: _MemoryIncoming) -> None:
        if not self.active:  # cancelled after the message was taken: it goes back
            incoming.give_back()
            return
        try:
            self.handler(incoming)
        except Exception:
            log.exception("a message handler raised; the message goes back to its queue")
            incoming.give_back()

    def settled(self, incoming: _MemoryIncoming) -> None:
        self.unsettled.discard(incoming)
        for queue in self.queues:
            queue.deliver()


class _MemoryIncoming(Incoming):
    __slots__ = ("_consumer", "_queue", "_stored")

    def __init__(
        self,
        consumer: _Consumer,
        queue: _Queue,
        stored: _Stored,
        message: dict[str, Any],
        ttl: float | None,
    ) -> None:
        super().__init__(message, where=queue.name, redelivered=stored.redelivered, ttl=ttl)
        self._consumer = consumer
        self._queue = queue
        self._stored = stored

    def give_back(self) -> None:
        if not self._settle():
            self._back()

    async def settle(self, how: str) -> None:
        """Settle as a raw message's driver does: ``ack``, ``requeue`` or ``reject``."""
        await {"ack": self.ack, "requeue": self.requeue, "reject": self.reject}[how]()

    def _back(self) -> None:
        self._stored.redelivered = True
        self._consumer.settled(self)
        self._queue.put(self._stored, front=True)

    async def _ack(self) -> None:
        self._consumer.settled(self)

    async def _requeue(self) -> None:
        self._back()

    async def _reject(self) -> None:
        log.warning("a message from %s was rejected and dropped", self._queue.name)
        self._consumer.settled(self)


class _Broker:
    """The queues and bindings of one named in-process broker."""

    def __init__(self) -> None:
        self.queues: dict[str, _Queue] = {}
        # (exchange, routing key) -> queue names; fanout exchange name -> queue names
        self.bindings: dict[tuple[str, str], set[str]] = {}
        self.fanouts: dict[str, set[str]] = {}
        # raw exchange -> queue name -> binding patterns (AMQP topic matching)
        self.raw: dict[str, dict[str, set[str]]] = {}

    def raw_routed(self, exchange: str, key: str) -> list[str]:
        bound = self.raw.get(exchange, {})
        return [
            name
            for name, patterns in bound.items()
            if any(_topics.matcher(pattern)(key) for pattern in patterns)
        ]

    def declare(self, name: str) -> _Queue:
        queue = self.queues.get(name)
        if queue is None:
            queue = self.queues[name] = _Queue(name)
        return queue

    def bind(self, name: str, exchange: str, key: str) -> _Queue:
        self.bindings.setdefault((exchange, key), set()).add(name)
        return self.declare(name)

    def publish(
        self,
        names: Iterable[str],
        body: bytes,
        ttl: float | None,
        raw: tuple[str, str, dict[str, str]] | None = None,
    ) -> None:
        deadline = None if ttl is None else time.monotonic() + ttl
        for name in sorted(set(names)):
            queue = self.queues.get(name)
            if queue is not None:
                queue.put(_Stored(body, deadline, raw=raw))

    def routed(self, exchange: str, key: str) -> set[str]:
        return self.bindings.get((exchange, key), set())

    def delete(self, name: str) -> None:
        self.queues.pop(name, None)
        for names in [*self.bindings.values(), *self.fanouts.values()]:
            names.discard(name)
        for bound in self.raw.values():
            bound.pop(name, None)


_BROKERS: weakref.WeakValueDictionary[str, _Broker] = weakref.WeakValueDictionary()


@dataclass(eq=False)
class _MemorySubscription(Subscription):
    transport: MemoryTransport
    consumer: _Consumer
    owned_queues: list[str] = field(default_factory=list)  # deleted on cancel (fanout)

    async def cancel(self) -> None:
        self.transport._drop(self)


class MemoryTransport(Transport):
    """The in-process transport; see the module documentation.

    .. versionadded:: 0.1
    """

    def __init__(self, url: BackendURL, settings: DriverSettings) -> None:
        super().__init__(url, settings)
        self._broker: _Broker | None = None
        self._subscriptions: list[_MemorySubscription] = []
        self._reply_queue: str | None = None
        self._closed = False

    @property
    def broker(self) -> _Broker:
        if self._broker is None or self._closed:
            raise TransportClosed(str(self.url))
        return self._broker

    async def connect(self) -> None:
        name = self.url.path.strip("/") or (
            self.url.endpoints[0].host if self.url.endpoints else ""
        )
        broker = _BROKERS.get(name)
        if broker is None:
            broker = _BROKERS[name] = _Broker()
        self._broker = broker

    async def probe(self) -> None:
        """The in-process broker is always there while the transport is open."""
        _ = self.broker  # TransportClosed once closed

    async def aclose(self) -> None:
        if self._closed or self._broker is None:
            self._closed = True
            return
        await self.close_raw_consumers()
        self.fail_waiting_calls(TransportClosed(str(self.url)))
        for subscription in list(self._subscriptions):
            self._drop(subscription)
            # what was delivered and never settled goes back, as when a channel closes
            for incoming in list(subscription.consumer.unsettled):
                incoming.give_back()
        if self._reply_queue is not None:
            self._broker.delete(self._reply_queue)
        self._closed = True

    def _drop(self, subscription: _MemorySubscription) -> None:
        subscription.consumer.active = False
        for queue in subscription.consumer.queues:
            if subscription.consumer in queue.consumers:
                queue.consumers.remove(subscription.consumer)
        for name in subscription.owned_queues:
            if self._broker is not None:
                self._broker.delete(name)
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def _subscribe(
        self,
        queues: Sequence[_Queue],
        handler: Handler,
        prefetch: int | None,
        owned: list[str],
        raw: RawHandler | None = None,
    ) -> _MemorySubscription:
        consumer = _Consumer(
            handler, prefetch or self.settings.prefetch, asyncio.get_running_loop(), raw
        )
        consumer.queues = list(queues)
        subscription = _MemorySubscription(self, consumer, owned)
        self._subscriptions.append(subscription)
        for queue in queues:
            queue.consumers.append(consumer)
        for queue in queues:
            queue.deliver()
        return subscription

    async def send(
        self, target: Target, message: Mapping[str, Any], *, ttl: float | None = None
    ) -> None:
        topic = target.require_topic("sending a request")
        body = _wire.wrap(message, what=f"request to {topic}", limit=self.settings.max_message_size)
        broker = self.broker
        if target.fanout:
            names = broker.fanouts.get(topic, set())
        else:
            key = f"{topic}.{target.server}" if target.server else topic
            names = broker.routed(self.exchange_of(target), key)
        broker.publish(names, body, ttl)

    async def send_reply(self, reply_queue: str, message: Mapping[str, Any]) -> bool:
        body = _wire.wrap(message, what="reply", limit=self.settings.max_message_size)
        broker = self.broker
        if reply_queue not in broker.queues:
            return False
        broker.publish([reply_queue], body, None)
        return True

    async def notify(
        self,
        target: Target,
        priority: str,
        message: Mapping[str, Any],
        *,
        ttl: float | None = None,
        envelope: bool = True,
    ) -> None:
        key, _, body = self.notification(target, priority, message, envelope=envelope)
        broker = self.broker
        exchange = self.exchange_of(target)
        broker.bind(key, exchange, key)  # the default pool's queue keeps it until a listener comes
        broker.publish(broker.routed(exchange, key), body, ttl)

    async def listen(
        self, target: Target, handler: Handler, *, prefetch: int | None = None
    ) -> Subscription:
        topic = target.require_topic("an RPC server")
        broker = self.broker
        exchange = self.exchange_of(target)
        queues = [broker.bind(topic, exchange, topic)]
        owned: list[str] = []
        if target.server:
            name = f"{topic}.{target.server}"
            queues.append(broker.bind(name, exchange, name))
        fanout = f"{topic}_fanout_{_wire.new_id()}"
        broker.fanouts.setdefault(topic, set()).add(fanout)
        queues.append(broker.declare(fanout))
        owned.append(fanout)
        return self._subscribe(queues, handler, prefetch, owned)

    async def listen_notifications(
        self,
        targets: Sequence[Target],
        priorities: Sequence[str],
        handler: Handler,
        *,
        pool: str | None = None,
        prefetch: int | None = None,
    ) -> Subscription:
        broker = self.broker
        queues: dict[str, _Queue] = {}
        for target in targets:
            topic = target.require_topic("a notification listener")
            for priority in priorities:
                key = f"{topic}.{priority}"
                name = pool or key
                queues[name] = broker.bind(name, self.exchange_of(target), key)
        return self._subscribe(list(queues.values()), handler, prefetch, [])

    async def consume_replies(self, handler: ReplyHandler) -> str:
        broker = self.broker
        name = self._reply_queue = f"reply_{_wire.new_id()}"
        queue = broker.declare(name)

        def on_reply(incoming: Incoming) -> None:
            incoming._settle()
            assert isinstance(incoming, _MemoryIncoming)
            incoming._consumer.settled(incoming)
            handler(incoming.message)

        # replies are consumed without a prefetch bound: the caller is waiting for them
        self._subscribe([queue], on_reply, 1 << 30, [])
        return name

    # -- raw messages -------------------------------------------------------------------

    async def publish_raw(
        self,
        exchange: str,
        key: str,
        body: bytes,
        headers: dict[str, str],
        ttl: float | None,
    ) -> None:
        broker = self.broker
        names = broker.raw_routed(exchange, key)
        if not names:
            raise DeliveryFailure(
                f"message {key!r} to exchange {exchange!r}",
                "no queue is bound to the exchange with a pattern matching the key (unroutable)",
            )
        broker.publish(names, body, ttl, (exchange, key, dict(headers)))

    async def subscribe_raw(
        self,
        exchange: str,
        queue: str,
        bindings: Sequence[str],
        handler: RawHandler,
        *,
        prefetch: int,
        durable: bool,
    ) -> Subscription:
        broker = self.broker
        broker.raw.setdefault(exchange, {}).setdefault(queue, set()).update(bindings)
        return self._subscribe([broker.declare(queue)], _no_handler, prefetch, [], raw=handler)


def _no_handler(incoming: Incoming) -> None:  # a raw consumer's messages go to its RawHandler
    raise AssertionError("raw consumers take raw messages only")
