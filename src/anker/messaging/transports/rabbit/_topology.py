"""What the rabbit transport declares on the broker: exchanges, the queues consumers read
(oslo's names and arguments, with dead-letter routes), and declaring a queue with its
bindings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiormq.abc import AbstractChannel

    from anker.messaging._transport import TransportSettings


def ms(seconds: float) -> int:
    return max(0, int(seconds * 1000))


@dataclass(frozen=True, slots=True)
class Exchange:
    name: str
    kind: str  # "topic" or "fanout"
    durable: bool
    auto_delete: bool


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """A queue a consumer reads: declared (with its bindings) on every connection."""

    name: str
    durable: bool
    arguments: dict[str, Any]
    bindings: tuple[tuple[Exchange, str], ...] = ()
    dead_letter: tuple[str, dict[str, Any]] | None = None  # the DLQ's name and arguments
    owned: bool = False  # the subscription's own queue (fanout): deleted when it ends


def fanout_exchange(topic: str) -> Exchange:
    """``T_fanout``: auto-delete, so the broker deletes it with its last queue."""
    return Exchange(f"{topic}_fanout", "fanout", False, True)


def shared_queue(
    name: str,
    bindings: tuple[tuple[Exchange, str], ...],
    *,
    options: TransportSettings,
    durable: bool,
) -> QueueSpec:
    """A queue processes share (``T``, ``T.S``, notifications): quorum and dead-lettered as
    the options say."""
    arguments: dict[str, Any] = {}
    dead_letter: tuple[str, dict[str, Any]] | None = None
    if options.quorum:
        arguments["x-queue-type"] = "quorum"
    if options.delivery_limit is not None:
        if options.quorum:
            arguments["x-delivery-limit"] = options.delivery_limit
        dlq = f"{name}.dlq"
        arguments["x-dead-letter-exchange"] = ""
        arguments["x-dead-letter-routing-key"] = dlq
        dead_letter = (dlq, {"x-queue-type": "quorum"} if options.quorum else {})
    return QueueSpec(name, durable, arguments, bindings, dead_letter)


async def declare_exchange(channel: AbstractChannel, exchange: Exchange) -> None:
    await channel.exchange_declare(
        exchange.name,
        exchange_type=exchange.kind,
        durable=exchange.durable,
        auto_delete=exchange.auto_delete,
    )


async def declare_queue(channel: AbstractChannel, spec: QueueSpec) -> None:
    if spec.dead_letter is not None:
        name, arguments = spec.dead_letter
        await channel.queue_declare(name, durable=True, arguments=arguments)
    for exchange, _ in spec.bindings:
        await declare_exchange(channel, exchange)
    await channel.queue_declare(spec.name, durable=spec.durable, arguments=spec.arguments)
    for exchange, key in spec.bindings:
        await channel.queue_bind(spec.name, exchange.name, routing_key=key)
