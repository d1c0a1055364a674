"""The driver interface of anker.messaging: :class:`Transport`, :class:`Incoming`,
:class:`Subscription`, and :func:`~anker.messaging.connect`, which picks the driver a URL names.

A transport moves oslo-format messages (dicts; see ``_wire``) between processes. It knows
four routes, named by :class:`~anker.messaging.Target` exactly as oslo.messaging names its
queues, so that drivers for different brokers mean the same thing:

- a request to ``topic`` goes to one of the servers listening on the topic, to
  ``topic.server`` to that server, and with ``fanout`` to every server of the topic;
- a reply goes to the caller's reply queue (one per transport, named in ``_reply_q``);
- a notification to ``topic.priority`` goes to one listener of each pool (the default pool
  is the queue ``topic.priority`` itself, which exists before any listener does).

Delivery is at least once: a consumer settles every :class:`Incoming` with ``ack``,
``requeue`` or ``reject``; what it never settles goes back to the queue when the
subscription or the connection ends.

Raw messages (bytes with headers, on an exchange with a routing key, consumed from queues
bound with AMQP topic patterns) are the low-level API: :meth:`Transport.publish` and
:meth:`Transport.consume` check the arguments (``_topics``) and sign, then call the driver's
:meth:`Transport.publish_raw` and :meth:`Transport.subscribe_raw`, which deliver
:class:`~anker.messaging.RawMessage` objects. A driver without them raises
``NotImplementedError``.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from anker._drivers import Driver, DriverSettings, Seconds, setting
from anker._url import BackendURL
from anker.config import ByteSize
from anker.errors import InvalidOption
from anker.messaging import _topics, _tracing, _wire
from anker.messaging._errors import DeliveryFailure, InvalidTarget, TransportUnavailable
from anker.messaging._raw import RawConsumer, RawHandler
from anker.messaging._signing import RAW_SIGNATURE_HEADER, Signing, raw_route
from anker.messaging._target import Target

__all__ = [
    "TRANSPORT_GROUP",
    "Handler",
    "Incoming",
    "PendingCalls",
    "RawHandler",
    "ReplyHandler",
    "Subscription",
    "Transport",
    "TransportSettings",
    "connect",
]

log = logging.getLogger("anker.messaging")

TRANSPORT_GROUP = "anker.messaging.transports"
DEFAULT_EXCHANGE = "openstack"


class Incoming(ABC):
    """A message delivered to a consumer, to be settled exactly once.

    ``message`` is the inner oslo message; ``where`` names the queue it came from (for
    errors and logs); ``deadline`` is the :func:`time.monotonic` time after which the
    message has expired and must not be acted on (``None``: it does not expire).
    """

    __slots__ = ("_settled", "deadline", "message", "redelivered", "where")

    def __init__(
        self,
        message: dict[str, Any],
        *,
        where: str,
        redelivered: bool = False,
        ttl: float | None = None,
    ) -> None:
        self.message = message
        self.where = where
        self.redelivered = redelivered
        self.deadline = None if ttl is None else time.monotonic() + ttl
        self._settled = False

    @property
    def expired(self) -> bool:
        """Whether the message's time to live ran out since it was delivered."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    @property
    def settled(self) -> bool:
        """Whether the message was acknowledged or rejected already."""
        return self._settled

    async def ack(self) -> None:
        """Done with it: the broker forgets the message."""
        if not self._settle():
            await self._ack()

    async def requeue(self) -> None:
        """Give it back, for this or another consumer to take."""
        if not self._settle():
            await self._requeue()

    async def reject(self) -> None:
        """Refuse it for good: dead-lettered where the queue has a dead-letter route."""
        if not self._settle():
            await self._reject()

    def _settle(self) -> bool:
        settled, self._settled = self._settled, True
        return settled

    @abstractmethod
    async def _ack(self) -> None: ...

    @abstractmethod
    async def _requeue(self) -> None: ...

    @abstractmethod
    async def _reject(self) -> None: ...


#: Called on the event loop for each delivered message; must not block (queue it).
Handler = Callable[[Incoming], None]
#: Called on the event loop for each reply that reaches the transport's reply queue.
ReplyHandler = Callable[[dict[str, Any]], None]


class Subscription(ABC):
    """A consumer of one or more queues, from :meth:`Transport.listen` and friends."""

    @abstractmethod
    async def cancel(self) -> None:
        """Stop deliveries; when this returns, the handler is not called again.

        Messages delivered but not settled stay with their :class:`Incoming` objects:
        settle them (``requeue`` hands them to another consumer at once).
        """


class PendingCalls(ABC):
    """The RPC calls waiting for replies on a transport's reply queue.

    The RPC layer registers one on the transport with its first call; drivers reach it only
    through :meth:`Transport.reply_queue_lost` and :meth:`Transport.fail_waiting_calls`, so
    the driver layer never imports the API layer.
    """

    @abstractmethod
    def fail_all(self, error: Exception) -> None:
        """End every waiting call with ``error``."""

    @abstractmethod
    def no_responders(self, msg_id: str) -> None:
        """End the call ``msg_id`` with ``NoResponders``: the broker said at once that no
        server listens (NATS does; RabbitMQ and memory:// cannot tell)."""


@dataclass(frozen=True)
class TransportSettings(DriverSettings):
    """The options every transport takes, from the URL's query or the keywords of
    :func:`~anker.messaging.connect`; a driver adds its own in a subclass.

    .. versionadded:: 0.1
    """

    #: seconds to connect, and to wait for the broker to confirm a message
    timeout: Seconds = setting(
        Seconds(10.0), min=0.001, help="seconds to connect, and for the broker to confirm"
    )
    #: the control exchange of targets that name none (oslo's ``control_exchange``)
    exchange: str = setting(
        DEFAULT_EXCHANGE, help="the exchange of targets that name none (control_exchange)"
    )
    #: the largest encoded message, in bytes, sent or accepted
    max_message_size: ByteSize = setting(
        ByteSize(16 * 1024 * 1024), min=1, help="the largest encoded message, sent or accepted"
    )
    #: unacknowledged messages per consumer (the broker's prefetch)
    prefetch: int = setting(64, min=1, help="unacknowledged messages per consumer")
    #: queues survive a broker restart (oslo's ``amqp_durable_queues``)
    durable: bool = setting(False, help="queues survive a broker restart")
    #: quorum queues (replicated; with ``delivery_limit`` and a dead-letter queue)
    quorum: bool = setting(False, help="replicated quorum queues")
    #: deliveries of one message before it is dead-lettered (quorum queues)
    delivery_limit: int | None = setting(
        None, min=1, help="deliveries of one message before it is dead-lettered (quorum)"
    )
    #: seconds an unused reply or fanout queue lives after its process is gone
    queue_expiry: Seconds = setting(
        Seconds(60.0), min=0.001, help="seconds an unused reply or fanout queue lives"
    )


class Transport(Driver):
    """A connection to a message broker (or the in-process one), shared by clients,
    servers, notifiers and listeners of one process.

    A transport is a :class:`~anker.drivers.Driver`: drivers implement the abstract methods
    and declare their own options in a subclass of
    :class:`~anker.messaging.transports.TransportSettings`
    (``settings_class``); :func:`~anker.messaging.connect` makes one from a URL.

    .. versionadded:: 0.1
    """

    settings_class: ClassVar[type[DriverSettings]] = TransportSettings
    settings: TransportSettings
    kind: ClassVar[str] = "messaging transport"
    unavailable = TransportUnavailable

    def __init__(self, url: BackendURL, settings: DriverSettings) -> None:
        if not isinstance(settings, TransportSettings):
            raise TypeError(f"{type(self).__qualname__} needs TransportSettings")
        if not settings.exchange:
            raise InvalidOption("exchange", self.describe(url), "expected a name, got ''")
        try:
            Target(exchange=settings.exchange)
        except InvalidTarget as exc:
            raise InvalidOption("exchange", self.describe(url), exc.reason) from None
        super().__init__(url, settings)
        #: the RPC layer's pending calls, registered by the first call
        self._reply_router: PendingCalls | None = None
        #: the keys messages are signed and checked with (``connect(url, signing=...)``)
        self.signing: Signing | None = None
        #: the raw consumers started and not closed (closed first by ``aclose``)
        self._raw_consumers: set[RawConsumer] = set()

    @property
    def exchange(self) -> str:
        """The exchange of targets that name none (the transport's ``exchange`` setting)."""
        return self.settings.exchange

    def exchange_of(self, target: Target) -> str:
        """The exchange a message to ``target`` goes to."""
        return target.exchange or self.settings.exchange

    def notification(
        self, target: Target, priority: str, message: Mapping[str, Any], *, envelope: bool
    ) -> tuple[str, str, bytes]:
        """What every driver's :meth:`notify` starts with: the routing key ``topic.priority``,
        how errors name the notification, and its encoded body (size checked)."""
        key = f"{target.require_topic('sending a notification')}.{priority}"
        what = f"notification to {key}"
        body = _wire.wrap(
            message, what=what, limit=self.settings.max_message_size, envelope=envelope
        )
        return key, what, body

    # -- life cycle ---------------------------------------------------------------------

    @abstractmethod
    async def connect(self) -> None:
        """Connect (within ``settings.timeout``); raise ``TransportUnavailable`` if not."""

    @abstractmethod
    async def aclose(self) -> None:
        """Cancel every subscription, delete the reply queue, and disconnect."""

    # -- the calls waiting on the reply queue: drivers end them ------------------------------

    def reply_queue_lost(self, reason: str) -> None:
        """Fail the calls waiting on the reply queue at once (the broker lost the queue, so
        their replies can never come)."""
        self.fail_waiting_calls(DeliveryFailure("the reply to a call", reason))

    def fail_waiting_calls(self, error: Exception) -> None:
        """End every call waiting on the reply queue with ``error`` (the queue is lost, or
        the transport closes)."""
        if self._reply_router is not None:
            self._reply_router.fail_all(error)

    # -- sending: each returns once the broker has taken the message (confirmed) ---------------

    @abstractmethod
    async def send(
        self, target: Target, message: Mapping[str, Any], *, ttl: float | None = None
    ) -> None:
        """Send a request to ``topic``, ``topic.server`` or (with ``fanout``) every server.

        Raises ``DeliveryFailure`` if the broker refuses it, ``MessageTooLarge`` if it is
        over ``max_message_size``.
        """

    @abstractmethod
    async def send_reply(self, reply_queue: str, message: Mapping[str, Any]) -> bool:
        """Send a reply; False when the reply queue does not exist (the caller is gone)."""

    @abstractmethod
    async def notify(
        self,
        target: Target,
        priority: str,
        message: Mapping[str, Any],
        *,
        ttl: float | None = None,
        envelope: bool = True,
    ) -> None:
        """Send a notification to ``topic.priority`` (``envelope=False``: oslo's v1 form)."""

    # -- receiving ----------------------------------------------------------------------

    @abstractmethod
    async def listen(
        self, target: Target, handler: Handler, *, prefetch: int | None = None
    ) -> Subscription:
        """Consume the requests of an RPC server: ``topic``, ``topic.server`` and fanout."""

    @abstractmethod
    async def listen_notifications(
        self,
        targets: Sequence[Target],
        priorities: Sequence[str],
        handler: Handler,
        *,
        pool: str | None = None,
        prefetch: int | None = None,
    ) -> Subscription:
        """Consume notifications of the targets' topics at the given priorities.

        Each pool gets a copy of every notification; the listeners of one pool share them.
        """

    @abstractmethod
    async def consume_replies(self, handler: ReplyHandler) -> str:
        """Start consuming this transport's reply queue; return its name.

        Called once per transport, by the first RPC call.
        """

    # -- raw messages: the low-level API ---------------------------------------------------

    async def publish(
        self,
        exchange: str,
        key: str,
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        ttl: float | None = None,
    ) -> None:
        """Publish ``body`` (bytes, sent as they are) to ``exchange`` with the routing key
        ``key`` (words joined by dots), with ``headers`` (str to str) and, if given, a time
        to live in seconds after which the broker drops it unconsumed.

        Returns once the broker took the message (RabbitMQ's publisher confirm, JetStream's
        acknowledgement). Raises :class:`~anker.messaging.DeliveryFailure` naming the
        exchange and key when no queue is bound with a pattern that matches the key (the
        message would be lost), ``MessageTooLarge`` over ``max_message_size``, ``TypeError``
        or ``ValueError`` for a bad argument. With a signing transport the message is signed
        (the ``Anker-Signature`` header) for its exchange and key. Where the process set up
        OpenTelemetry, the publish is a producer span whose W3C trace context travels in the
        ``traceparent`` and ``tracestate`` headers (see :meth:`RawMessage.span
        <anker.messaging.RawMessage.span>`).

        .. versionadded:: 0.2
        """
        where = f"publishing to exchange {exchange!r}"
        _topics.check_name(exchange, "exchange", where)
        where = f"publishing {key!r} to exchange {exchange!r}"
        _topics.check_key(key, where)
        checked = _topics.check_headers(headers, where)
        ttl = _topics.check_ttl(ttl, where)
        raw = _topics.check_body(body, self.settings.max_message_size, where)
        context: dict[str, Any] = {}
        with _tracing.producer_span(f"publish {key}", "producer", context):
            for name in _tracing.KEYS:  # W3C trace context, unless the publisher gave one
                value = context.get(f"_context_{name}")
                if isinstance(value, str) and name not in checked:
                    checked[name] = value
            if self.signing is not None:
                checked[RAW_SIGNATURE_HEADER] = self.signing.sign_raw(
                    raw, checked, raw_route(exchange, key)
                )
            await self.publish_raw(exchange, key, raw, checked, ttl)

    def consume(
        self,
        exchange: str,
        queue: str,
        bindings: Sequence[str],
        *,
        prefetch: int | None = None,
        durable: bool | None = None,
        allow_unsigned: bool = False,
    ) -> RawConsumer:
        """The messages of ``queue``, bound to ``exchange`` with each of the ``bindings``
        (AMQP topic patterns: ``*`` is one word, ``#`` zero or more): a
        :class:`~anker.messaging.RawConsumer` to use with ``async with`` and ``async for``.

        The queue and its bindings are made when the consumer starts, if they do not exist
        (on RabbitMQ bindings add up; on NATS a queue keeps the bindings it was made with).
        Consumers of one queue share its messages (each goes to one of them); each queue
        bound to a key gets its own copy. ``prefetch`` bounds the messages delivered and
        not settled (the transport's ``prefetch`` by default); ``durable`` makes the queue
        survive a broker restart (the transport's ``durable`` by default).
        ``allow_unsigned`` takes unsigned messages on a signing transport.

        .. versionadded:: 0.2
        """
        where = f"consuming queue {queue!r} of exchange {exchange!r}"
        _topics.check_name(exchange, "exchange", where)
        _topics.check_name(queue, "queue", where)
        patterns = _topics.check_bindings(bindings, where)
        if prefetch is not None and (
            isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 1
        ):
            raise ValueError(f"{where}: prefetch must be a whole number >= 1, not {prefetch!r}")
        for name, flag in (("durable", durable), ("allow_unsigned", allow_unsigned)):
            if flag is not None and not isinstance(flag, bool):  # "false" would be true
                raise TypeError(f"{where}: {name} must be True or False, not {flag!r}")
        return RawConsumer(
            self,
            exchange,
            queue,
            patterns,
            prefetch=prefetch or self.settings.prefetch,
            durable=self.settings.durable if durable is None else durable,
            allow_unsigned=allow_unsigned,
        )

    async def close_raw_consumers(self) -> None:
        """For drivers, first thing in ``aclose``: close the raw consumers still open (what
        they hold goes back to the queues; their readers stop)."""
        for consumer in list(self._raw_consumers):
            try:
                await consumer.close()
            except Exception as exc:
                log.debug("closing %r with its transport: %s", consumer, exc)

    async def publish_raw(
        self,
        exchange: str,
        key: str,
        body: bytes,
        headers: dict[str, str],
        ttl: float | None,
    ) -> None:
        """For drivers: publish a raw message whose arguments :meth:`publish` checked (and
        signed); raise ``DeliveryFailure`` if no queue takes it."""
        raise NotImplementedError(f"{type(self).__qualname__} does not carry raw messages")

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
        """For drivers: declare ``queue`` with its ``bindings`` (checked patterns) and hand
        each message to ``handler`` as a :class:`~anker.messaging.RawMessage`."""
        raise NotImplementedError(f"{type(self).__qualname__} does not carry raw messages")


async def connect(
    url: str | BackendURL, *, signing: Signing | None = None, **options: Any
) -> Transport:
    """Connect to the transport a URL names: ``memory://``, ``rabbit://host/vhost``, ...

    ``options`` (see :class:`~anker.messaging.transports.TransportSettings` and the driver's
    own) may be given in the URL's query instead (``?timeout=5s``), but not in both places
    with different values. An unknown
    option or a bad value is an :class:`~anker.errors.InvalidOption` naming the known ones.
    ``signing`` (a :class:`~anker.messaging.Signing`) signs every message sent through the
    transport and refuses, before dispatch, those received without a valid signature.

    .. versionadded:: 0.1
    """
    from anker._drivers import open_driver

    if signing is not None and not isinstance(signing, Signing):  # before connecting
        raise TypeError(
            "connect(signing=...) takes a Signing, such as Signing({key_id: key_bytes}),"
            f" not {type(signing).__name__}"
        )
    transport = await open_driver(TRANSPORT_GROUP, url, Transport, options)
    transport.signing = signing
    return transport


def describe(target: Target, method: str | None = None) -> str:
    """A short text naming a target (and method) for logs and errors."""
    where = target.topic or "?"
    if target.server:
        where += f".{target.server}"
    if target.fanout:
        where += " (fanout)"
    return f"{method} on {where}" if method else where
