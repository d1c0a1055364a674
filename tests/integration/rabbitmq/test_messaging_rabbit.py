"""The rabbit:// transport's own behaviour, checked against raw AMQP (aio-pika) as the
independent peer: oslo.messaging's queue names, properties and envelope, the reply queue,
poison messages, dead-lettering, and connecting to several hosts."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from anker.messaging import (
    NotificationListener,
    Notifier,
    RPCClient,
    RPCServer,
    Target,
    Transport,
    TransportUnavailable,
    _wire,
    connect,
)
from anker.messaging._transport import Incoming
from rabbit_support import _open, amqp_url, eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def names() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def raw(rabbit_url: str) -> AsyncIterator[Any]:
    """A raw aio-pika channel (publisher confirms on) on the shared broker."""
    import aio_pika

    connection = await aio_pika.connect(amqp_url(rabbit_url), timeout=5)
    async with connection:
        yield await connection.channel(publisher_confirms=True)


def _envelope(body: bytes) -> dict[str, Any]:
    outer = orjson.loads(body)
    assert set(outer) == {"oslo.version", "oslo.message"}
    assert outer["oslo.version"] == "2.0"
    assert isinstance(outer["oslo.message"], str)
    inner = orjson.loads(outer["oslo.message"])
    assert isinstance(inner, dict)
    return inner


def _oslo_properties(message: Any) -> None:
    assert message.content_type == "application/json"
    assert message.content_encoding == "utf-8"
    assert int(message.delivery_mode) == 2
    assert message.priority == 0


async def _get(queue: Any, timeout: float = 5.0) -> Any:
    """The next message of a raw queue (polling basic.get)."""
    deadline = time.monotonic() + timeout
    while True:
        message = await queue.get(fail=False, no_ack=True)
        if message is not None:
            return message
        if time.monotonic() > deadline:
            raise AssertionError(f"no message in {queue.name} within {timeout} s")
        await asyncio.sleep(0.02)


class Echo:
    async def echo(self, context: Any, *, value: Any) -> Any:
        return value


# -- the wire ---------------------------------------------------------------------------------


async def test_requests_are_oslo_requests(
    rabbit_url: str, names: str, raw: Any, transports: list[Transport]
) -> None:
    """Casts and calls as an oslo.messaging server's queue receives them; a raw reply in
    oslo's format completes the call."""
    import aio_pika

    exchange_name = f"{names}-x"
    transport = await _open(transports, rabbit_url, exchange=exchange_name)
    # what an oslo server declares: the topic exchange (not durable) and the queue "T"
    exchange = await raw.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC)
    queue = await raw.declare_queue(names, auto_delete=True)
    await queue.bind(exchange, routing_key=names)
    client = RPCClient(transport, Target(topic=names), timeout=7)

    await client.cast({"user": "u1"}, "refresh", force=True)
    cast = await _get(queue)
    _oslo_properties(cast)
    assert cast.expiration is None
    assert cast.routing_key == names
    assert cast.exchange == exchange_name
    inner = _envelope(cast.body)
    assert inner["method"] == "refresh"
    assert inner["args"] == {"force": True}
    assert inner["_context_user"] == "u1"
    assert re.fullmatch(r"[0-9a-f]{32}", inner["_unique_id"])
    assert "_msg_id" not in inner
    assert "_reply_q" not in inner

    call = asyncio.create_task(client.call({}, "echo", value=[1, "two"]))
    request = await _get(queue)
    _oslo_properties(request)
    assert request.expiration in (7000, 7.0, "7000")  # aio-pika reads it as seconds or ms
    inner = _envelope(request.body)
    assert re.fullmatch(r"reply_[0-9a-f]{32}", inner["_reply_q"])
    assert re.fullmatch(r"[0-9a-f]{32}", inner["_msg_id"])
    assert inner["_timeout"] is None
    # an oslo server replies to the default exchange, key = _reply_q
    reply = _wire.reply(inner["_msg_id"], result=inner["args"]["value"])
    await raw.default_exchange.publish(
        aio_pika.Message(
            _wire.wrap(reply, what="reply"),
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        ),
        routing_key=inner["_reply_q"],
        mandatory=True,
    )
    assert await asyncio.wait_for(call, 5) == [1, "two"]

    # a TTL on casts travels as the expiration, in milliseconds
    await client.prepare(cast_ttl=2.5).cast({}, "refresh")
    assert (await _get(queue)).expiration in (2500, 2.5, "2500")


async def test_a_server_serves_oslo_requests_on_oslo_queues(
    rabbit_url: str, names: str, raw: Any, transports: list[Transport]
) -> None:
    """Raw oslo-format requests to "T", "T.S" and "T_fanout" reach an anker server, whose
    replies come back in oslo's format."""
    import aio_pika

    exchange_name = f"{names}-x"
    transport = await _open(transports, rabbit_url, exchange=exchange_name)
    reply_queue = await raw.declare_queue(f"reply_{uuid.uuid4().hex}", auto_delete=True)
    async with RPCServer(transport, Target(topic=names, server="s1"), [Echo()]):
        exchange = await raw.get_exchange(exchange_name)  # declared by the server
        fanout = await raw.get_exchange(f"{names}_fanout")
        for destination, key in ((exchange, names), (exchange, f"{names}.s1"), (fanout, "")):
            msg_id = _wire.new_id()
            request = _wire.request(
                "echo", {"value": key}, {}, msg_id=msg_id, reply_q=reply_queue.name
            )
            await destination.publish(
                aio_pika.Message(
                    _wire.wrap(request, what="request"),
                    content_type="application/json",
                    content_encoding="utf-8",
                ),
                routing_key=key,
            )
            reply = await _get(reply_queue)
            _oslo_properties(reply)
            inner = _envelope(reply.body)
            assert inner["_msg_id"] == msg_id
            assert inner["result"] == key
            assert inner["failure"] is None
            assert inner["ending"] is True


async def test_notifications_are_oslo_notifications(
    rabbit_url: str, names: str, raw: Any, transports: list[Transport]
) -> None:
    """The notifier declares "<topic>.<priority>" (so nothing is lost before a listener comes);
    a pool listener consumes its own queue; "messaging" (v1) sends the bare dict."""
    import aio_pika

    exchange_name = f"{names}-x"
    transport = await _open(transports, rabbit_url, exchange=exchange_name)
    notifier = Notifier(transport, "compute.host1", topics=[names])
    await notifier.info({}, "compute.instance.create.end", {"id": 7})
    queue = await raw.declare_queue(f"{names}.info", passive=True)
    try:
        message = await _get(queue)
        _oslo_properties(message)
        assert message.routing_key == f"{names}.info"
        inner = _envelope(message.body)
        assert inner["event_type"] == "compute.instance.create.end"
        assert inner["priority"] == "INFO"
        assert inner["payload"] == {"id": 7}
        assert inner["publisher_id"] == "compute.host1"

        v1 = Notifier(transport, "p", topics=[names], driver="messaging", ttl=3)
        await v1.error({}, "boom", {"x": 1})
        errors = await raw.declare_queue(f"{names}.error", passive=True)
        try:
            bare = await _get(errors)
            assert orjson.loads(bare.body)["event_type"] == "boom"
            assert "oslo.message" not in orjson.loads(bare.body)
            assert bare.expiration in (3000, 3.0, "3000")
        finally:
            await errors.delete(if_unused=False, if_empty=False)

        # a pool's queue is named after the pool and bound with the key
        received: list[Any] = []

        class Endpoint:
            def info(self, *args: Any) -> None:
                received.append(args)

        pool = f"{names}-pool"
        async with NotificationListener(transport, [Target(topic=names)], [Endpoint()], pool=pool):
            exchange = await raw.get_exchange(exchange_name)
            raw_note = _wire.notification("raw", "raw.event", "info", {"n": 1}, {})
            await exchange.publish(
                aio_pika.Message(_wire.wrap(raw_note, what="n")), routing_key=f"{names}.info"
            )
            await eventually(lambda: len(received) == 1)
            assert received[0][2] == "raw.event"
        pool_queue = await raw.declare_queue(pool, passive=True)
        await pool_queue.delete(if_unused=False, if_empty=False)
    finally:
        await queue.delete(if_unused=False, if_empty=False)


# -- the reply queue ---------------------------------------------------------------------------


async def test_the_reply_queue_is_named_expires_and_goes_with_the_transport(
    rabbit_url: str, raw: Any, transports: list[Transport]
) -> None:
    import aio_pika
    import aiormq

    transport = await _open(transports, rabbit_url, queue_expiry=42)
    name = await transport.consume_replies(lambda message: None)
    assert re.fullmatch(r"reply_[0-9a-f]{32}", name)
    # the same declaration is accepted (same arguments) ...
    await raw.declare_queue(name, durable=False, arguments={"x-expires": 42000})
    # ... another expiry is not: the queue has x-expires 42 s
    connection = await aio_pika.connect(amqp_url(rabbit_url), timeout=5)
    async with connection:
        other = await connection.channel()
        with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed):
            await other.declare_queue(name, durable=False, arguments={"x-expires": 1000})
    await transport.aclose()
    await transport.aclose()  # idempotent
    connection = await aio_pika.connect(amqp_url(rabbit_url), timeout=5)
    async with connection:
        channel = await connection.channel()
        with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity):
            await channel.declare_queue(name, passive=True)


async def test_a_reply_to_a_missing_queue_is_logged_and_a_live_one_arrives(
    rabbit_url: str, transports: list[Transport], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="anker.messaging")
    transport = await _open(transports, rabbit_url)
    gone = f"reply_{uuid.uuid4().hex}"
    reply = _wire.reply(_wire.new_id(), result=1)
    for _ in range(3):  # replies are not confirmed: send_reply cannot tell at once
        assert await transport.send_reply(gone, reply) is True
    await eventually(lambda: any(gone in r.getMessage() for r in caplog.records))
    await asyncio.sleep(0.2)
    dropped = [r for r in caplog.records if "no longer exists" in r.getMessage()]
    assert len(dropped) == 1  # checked once a minute per queue, not per reply
    got: list[dict[str, Any]] = []
    name = await transport.consume_replies(got.append)
    assert await transport.send_reply(name, reply) is True
    await eventually(lambda: len(got) == 1)
    assert got[0]["result"] == 1
    await asyncio.sleep(0.2)
    assert not [r for r in caplog.records if name in r.getMessage()]  # a live queue: silent


# -- poison messages and dead letters -------------------------------------------------------


async def test_an_unreadable_message_is_rejected_and_never_handled(
    rabbit_url: str,
    names: str,
    raw: Any,
    transports: list[Transport],
    caplog: pytest.LogCaptureFixture,
) -> None:
    import aio_pika

    transport = await _open(transports, rabbit_url, exchange=f"{names}-x")
    handled: list[dict[str, Any]] = []

    def handler(incoming: Incoming) -> None:
        handled.append(incoming.message)
        asyncio.get_running_loop().create_task(incoming.ack())

    caplog.set_level(logging.ERROR, logger="anker.messaging")
    subscription = await transport.listen(Target(topic=names), handler)
    try:
        await raw.default_exchange.publish(aio_pika.Message(b"{not json"), routing_key=names)
        good = _wire.request("m", {}, {})
        await raw.default_exchange.publish(
            aio_pika.Message(_wire.wrap(good, what="r")), routing_key=names
        )
        await eventually(lambda: len(handled) == 1)
        await asyncio.sleep(0.2)
        assert [m["_unique_id"] for m in handled] == [good["_unique_id"]]
        logged = [r for r in caplog.records if "cannot be read" in r.getMessage()]
        assert len(logged) == 1
        assert names in logged[0].getMessage()
        queue = await raw.declare_queue(names, passive=True)
        assert queue.declaration_result.message_count == 0  # rejected, not requeued
    finally:
        await subscription.cancel()
        await raw.queue_delete(names)


async def test_quorum_queues_dead_letter_poison_and_over_delivered_messages(
    rabbit_url: str, names: str, raw: Any, transports: list[Transport]
) -> None:
    import aio_pika

    exchange_name = f"{names}-x"
    transport = await _open(
        transports, rabbit_url, exchange=exchange_name, quorum=True, delivery_limit=2
    )
    deliveries: list[bool] = []

    def handler(incoming: Incoming) -> None:  # always hands it back
        deliveries.append(incoming.redelivered)
        asyncio.get_running_loop().create_task(incoming.requeue())

    subscription = await transport.listen(Target(topic=names), handler, prefetch=1)
    try:
        queue = await raw.declare_queue(
            names,
            passive=True,
        )
        assert queue.declaration_result.consumer_count == 1
        dlq = await raw.declare_queue(f"{names}.dlq", passive=True)
        # an unreadable message is dead-lettered at once
        await raw.default_exchange.publish(aio_pika.Message(b"\xff poison"), routing_key=names)
        assert (await _get(dlq)).body == b"\xff poison"
        # a message handed back over and over is dead-lettered after the delivery limit
        await RPCClient(transport, Target(topic=names)).cast({}, "loops")
        dead = await _get(dlq, timeout=10)
        assert _envelope(dead.body)["method"] == "loops"
        assert len(deliveries) == 3  # the first delivery and 2 more
        assert deliveries[0] is False
        assert all(deliveries[1:])
    finally:
        await subscription.cancel()
        for name in (names, f"{names}.dlq"):
            await raw.queue_delete(name)
        await raw.exchange_delete(exchange_name)


async def test_durable_topology(
    rabbit_url: str, names: str, raw: Any, transports: list[Transport]
) -> None:
    """durable=true declares the control exchange and the server queues durable."""
    import aio_pika

    exchange_name = f"{names}-x"
    transport = await _open(transports, rabbit_url, exchange=exchange_name, durable=True)
    async with RPCServer(transport, Target(topic=names, server="s1"), [Echo()]):
        try:
            # redeclaring them as durable is accepted (not durable would be refused)
            await raw.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
            await raw.declare_queue(names, durable=True)
            await raw.declare_queue(f"{names}.s1", durable=True)
            client = RPCClient(transport, Target(topic=names), timeout=5)
            assert await client.call({}, "echo", value=1) == 1
        finally:
            for name in (names, f"{names}.s1"):
                await raw.queue_delete(name)
            await raw.exchange_delete(exchange_name)


async def test_a_cancelled_subscription_drops_its_fanout_queue(
    rabbit_url: str, names: str, raw: Any, transports: list[Transport]
) -> None:
    transport = await _open(transports, rabbit_url, exchange=f"{names}-x")
    handled: list[Incoming] = []
    subscription = await transport.listen(Target(topic=names), handled.append)
    fanout = next(q.name for q in subscription.queues if q.owned)  # type: ignore[attr-defined]
    assert re.fullmatch(rf"{names}_fanout_[0-9a-f]{{32}}", fanout)
    await raw.declare_queue(fanout, passive=True)
    await RPCClient(transport, Target(topic=names, fanout=True)).cast({}, "hello")
    await eventually(lambda: len(handled) == 1)
    await subscription.cancel()
    await RPCClient(transport, Target(topic=names)).cast({}, "after")
    await asyncio.sleep(0.2)
    assert len(handled) == 1
    await handled[0].ack()  # settling after the cancel is fine
    await eventually(lambda: _gone(rabbit_url, fanout))
    await raw.queue_delete(names)


async def _gone(rabbit_url: str, name: str) -> bool:
    import aio_pika
    import aiormq

    connection = await aio_pika.connect(amqp_url(rabbit_url), timeout=5)
    async with connection:
        channel = await connection.channel()
        try:
            await channel.declare_queue(name, passive=True)
        except aiormq.exceptions.ChannelNotFoundEntity:
            return True
        return False


# -- connecting --------------------------------------------------------------------------------


async def test_the_first_host_that_answers_is_used(
    rabbit_url: str, names: str, transports: list[Transport]
) -> None:
    from anker._url import parse_url

    parsed = parse_url(rabbit_url)
    good = parsed.endpoints[0]
    userinfo = good.render(mask=False).rpartition("@")[0]
    # the second host has no credentials of its own: the first host's are used
    url = f"rabbit://{userinfo}@127.0.0.1:1,{good.host}:{good.port or 5672}{parsed.path or '/'}"
    transport = await _open(transports, url, exchange=f"{names}-x", timeout=5)
    async with RPCServer(transport, Target(topic=names), [Echo()]):
        assert await RPCClient(transport, Target(topic=names), timeout=5).call(
            {}, "echo", value="ok"
        )
    assert transport._link is not None  # type: ignore[attr-defined]
    assert transport._link.endpoint.endswith(f":{good.port or 5672}")  # type: ignore[attr-defined]


async def test_an_unreachable_broker_fails_within_the_timeout_without_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    start = time.monotonic()
    with pytest.raises(TransportUnavailable) as raised:
        await connect("rabbit://guest:s3cr3t-pw@127.0.0.1:1,127.0.0.1:2/", timeout=1)
    assert time.monotonic() - start < 2.5
    assert "s3cr3t-pw" not in str(raised.value)
    assert "127.0.0.1:1" in str(raised.value)
    assert "s3cr3t-pw" not in caplog.text
    # the error says it all: aiormq's own line per attempt is not repeated in the log
    assert "error when creating transport" not in caplog.text


async def test_a_virtual_host_the_broker_refuses_is_named_in_the_error(rabbit_url: str) -> None:
    from anker._url import parse_url

    good = parse_url(rabbit_url).endpoints[0]
    userinfo = f"{good.username or 'guest'}:{good.password.reveal() if good.password else 'guest'}"
    url = f"rabbit://{userinfo}@{good.host}:{good.port or 5672}/no-such-vhost-{uuid.uuid4().hex}"
    with pytest.raises(TransportUnavailable) as raised:
        await connect(url, timeout=3)
    assert "the broker refused the virtual host 'no-such-vhost-" in str(raised.value)
    # (the user is named, but masked here: the test broker's password is the user's name)
    assert "it does not exist, or the user " in str(raised.value)
    assert "has no permission on it" in str(raised.value)


async def test_a_wrong_password_fails_without_the_password(
    rabbit_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from anker._url import parse_url

    caplog.set_level(logging.DEBUG)
    good = parse_url(rabbit_url).endpoints[0]
    url = f"rabbit://{good.username or 'guest'}:n0t-the-pw@{good.host}:{good.port or 5672}/"
    with pytest.raises(TransportUnavailable) as raised:
        await connect(url, timeout=3)
    assert "ACCESS_REFUSED" in str(raised.value)  # the broker's answer, not only "timed out"
    assert "n0t-the-pw" not in str(raised.value)
    assert "n0t-the-pw" not in caplog.text


async def test_a_last_try_cut_short_by_the_timeout_does_not_hide_why_the_others_failed(
    rabbit_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what CI saw under load: the broker refused the vhost, and the last try, started with
    # little time left, timed out; the error said only "timed out"
    from anker.messaging.transports.rabbit._link import Supervised

    tries = 0

    async def refused_then_slow(self: Supervised, endpoint: object, timeout: float) -> object:
        nonlocal tries
        tries += 1
        if tries == 1:
            raise ConnectionRefusedError("the broker refused the virtual host 'x'")
        async with asyncio.timeout(timeout):
            await asyncio.Event().wait()
        raise AssertionError("not reached")

    monkeypatch.setattr(Supervised, "_connect_one", refused_then_slow)
    with pytest.raises(TransportUnavailable) as raised:
        await connect(rabbit_url, timeout=1)
    assert tries >= 2
    assert "timed out" in str(raised.value)
    assert "the broker refused the virtual host 'x'" in str(raised.value)
