"""Hybrid messaging: RPC on one transport and notifications on another, named by the
``[messaging]`` option group: memory:// with RabbitMQ, and RabbitMQ with NATS, each in both
combinations."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from anker.config import Config
from anker.errors import InvalidOption
from anker.messaging import (
    MessagingOptions,
    NotificationListener,
    Notifier,
    RequestContext,
    RPCClient,
    RPCServer,
    Target,
    Transports,
    open_transports,
)
from servers import require_server
from waiting import eventually


class Service(Config):
    messaging: MessagingOptions


class Echo:
    async def echo(self, context: Any, *, value: Any) -> Any:
        return value


class Sink:
    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    async def info(
        self, context: RequestContext, publisher_id: str, event_type: str, payload: Any, _: Any
    ) -> None:
        self.seen.append((event_type, payload))


def load(tmp_path: Path, rpc: str, notifications: str | None) -> MessagingOptions:
    text = f"[messaging]\ntransport_url = {rpc}\n"
    if notifications is not None:
        text += f"notification_transport_url = {notifications}\n"
    path = tmp_path / "svc.conf"
    path.write_text(text)
    return Service.load(files=[path]).messaging


async def exercise(transports: Transports) -> None:
    """A call over the RPC transport, and a notification over the notifications one, which
    the RPC transport never sees."""
    topic = f"t{uuid.uuid4().hex[:10]}"
    async with RPCServer(transports.rpc, Target(topic=topic), [Echo()]):
        client = RPCClient(transports.rpc, Target(topic=topic), timeout=10)
        assert await client.call(None, "echo", value=[1, "two"]) == [1, "two"]
    wanted, elsewhere = Sink(), Sink()
    listeners = [NotificationListener(transports.notifications, [Target(topic=topic)], [wanted])]
    if transports.hybrid:
        listeners.append(NotificationListener(transports.rpc, [Target(topic=topic)], [elsewhere]))
    for listener in listeners:
        await listener.start()
    try:
        notifier = Notifier(transports.notifications, "svc.host1", topics=[topic])
        await notifier.info(None, "server.create.end", {"id": 7})
        await eventually(lambda: wanted.seen == [("server.create.end", {"id": 7})])
        await asyncio.sleep(0.3)  # time for a stray copy to arrive where it must not
        assert elsewhere.seen == []
    finally:
        for listener in listeners:
            await listener.stop()


async def test_one_url_is_one_transport(tmp_path: Path) -> None:
    options = load(tmp_path, "memory://one", None)
    async with await open_transports(options) as transports:
        assert transports.rpc is transports.notifications
        assert not transports.hybrid
        await exercise(transports)
    same = load(tmp_path, "memory://one", "memory://one")
    async with await open_transports(same) as transports:
        assert not transports.hybrid


async def test_notifications_on_a_transport_of_their_own(tmp_path: Path) -> None:
    options = load(tmp_path, "memory://rpc", "memory://events")
    async with await open_transports(options) as transports:
        assert transports.hybrid
        await exercise(transports)


async def test_a_second_transport_that_cannot_open_closes_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anker.messaging._options as module

    options = load(tmp_path, "memory://rpc", "memory://events?prefech=2")
    opened: list[Any] = []
    real = module.connect

    async def recording(url: Any, **kwargs: Any) -> Any:
        transport = await real(url, **kwargs)
        opened.append(transport)
        return transport

    monkeypatch.setattr(module, "connect", recording)
    with pytest.raises(InvalidOption, match="did you mean 'prefetch'"):
        await open_transports(options)
    (rpc,) = opened
    with pytest.raises(Exception, match="closed"):
        await RPCClient(rpc, Target(topic="x"), timeout=1).call(None, "echo", value=1)


@pytest.mark.integration
@pytest.mark.parametrize("rpc_on_rabbit", [True, False], ids=["rpc-rabbit", "rpc-memory"])
async def test_rabbitmq_and_memory_in_both_combinations(
    tmp_path: Path, rpc_on_rabbit: bool
) -> None:
    rabbit = require_server("rabbitmq")
    memory = f"memory://{uuid.uuid4().hex[:8]}"
    rpc, notifications = (rabbit, memory) if rpc_on_rabbit else (memory, rabbit)
    options = load(tmp_path, rpc, notifications)
    async with await open_transports(options) as transports:
        assert transports.hybrid
        assert transports.rpc.url.scheme == ("rabbit" if rpc_on_rabbit else "memory")
        await exercise(transports)


@pytest.mark.integration
@pytest.mark.parametrize("rpc_on_nats", [True, False], ids=["rpc-nats", "rpc-rabbit"])
async def test_nats_and_rabbitmq_in_both_combinations(tmp_path: Path, rpc_on_nats: bool) -> None:
    rabbit, nats = require_server("rabbitmq"), require_server("nats")
    rpc, notifications = (nats, rabbit) if rpc_on_nats else (rabbit, nats)
    options = load(tmp_path, rpc, notifications)
    async with await open_transports(options) as transports:
        assert transports.hybrid
        assert transports.rpc.url.scheme == ("nats" if rpc_on_nats else "rabbit")
        assert transports.notifications.url.scheme == ("rabbit" if rpc_on_nats else "nats")
        await exercise(transports)


async def test_passwords_are_masked_in_the_group(tmp_path: Path) -> None:
    options = load(tmp_path, "rabbit://nova:s3cret@mq1:5672/", "rabbit://ceilo:t0ken@mq2/")
    shown = repr(options) + str(options.transport_url) + str(options.notification_transport_url)
    assert "s3cret" not in shown
    assert "t0ken" not in shown
