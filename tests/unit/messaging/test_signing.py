"""Signed messages: what a signing transport sends is signed, what it receives is checked
before dispatch, and every way a message can be wrong is refused for its own reason."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from anker._observe import listen
from anker.messaging import (
    MessagingTimeout,
    NotificationListener,
    NotificationResult,
    Notifier,
    RequestContext,
    RPCClient,
    RPCServer,
    Signing,
    Target,
    Transport,
    connect,
)
from anker.messaging._signing import SIGNATURE_KEY, request_route
from waiting import eventually

OLD, NEW = os.urandom(32), os.urandom(32)


class Echo:
    def __init__(self) -> None:
        self.calls = 0

    async def echo(self, context: RequestContext, value: Any) -> Any:
        self.calls += 1
        return value


@pytest.fixture
async def url() -> AsyncIterator[str]:
    return f"memory://signing-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def refused() -> AsyncIterator[list[str]]:
    causes: list[str] = []
    stop = listen(
        lambda name, value, labels: (
            causes.append(labels["cause"]) if name == "messaging.refused" else None
        )
    )
    yield causes  # type: ignore[misc]
    stop()


async def call(transport: Transport, value: Any, timeout: float = 5, **options: Any) -> Any:
    client = RPCClient(transport, Target(topic="t"), timeout=timeout, **options)
    return await client.call(None, "echo", value=value)


async def test_signed_calls_casts_and_notifications_go_through(url: str) -> None:
    signing = Signing({"k1": NEW})
    async with await connect(url, signing=signing) as transport:
        echo = Echo()
        got: list[Any] = []

        class Sink:
            async def info(self, *args: Any) -> None:
                got.append(args[3])

        async with (
            RPCServer(transport, Target(topic="t", server="s1"), [echo]),
            NotificationListener(transport, [Target(topic="n")], [Sink()]),
        ):
            assert await call(transport, {"a": [1, 2.5, "x"]}) == {"a": [1, 2.5, "x"]}
            odd = {"big": 2**70, "tiny": 1e-300, "text": "naïve ✓", "nested": {"b": 1, "a": None}}
            assert await call(transport, odd) == odd
            await RPCClient(transport, Target(topic="t", server="s1")).cast(None, "echo", value=1)
            await RPCClient(transport, Target(topic="t", fanout=True)).cast(None, "echo", value=2)
            await Notifier(transport, "svc", topics=["n"]).info(None, "thing.done", {"id": 7})
            await eventually(lambda: echo.calls == 4 and got == [{"id": 7}])


async def test_unsigned_or_wrongly_signed_requests_are_refused_before_dispatch(
    url: str, refused: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        await connect(url, signing=Signing({"k1": NEW})) as server_side,
        await connect(url) as plain,
        await connect(url, signing=Signing({"other": OLD})) as stranger,
    ):
        echo = Echo()
        async with RPCServer(server_side, Target(topic="t", server="s1"), [echo]):
            with pytest.raises(MessagingTimeout):
                await call(plain, 1, timeout=0.5)
            with pytest.raises(MessagingTimeout):
                await call(plain, 2, timeout=0.5)
            with pytest.raises(MessagingTimeout):
                await call(stranger, 3, timeout=0.5, allow_unsigned_replies=True)
        assert echo.calls == 0
        assert refused == ["unsigned", "unsigned", "unknown key"]
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert sum("refused a message (unsigned)" in w for w in warnings) == 1  # once per cause
        assert sum("refused a message (unknown key)" in w for w in warnings) == 1


async def test_oslo_peers_are_served_where_unsigned_messages_are_allowed(url: str) -> None:
    async with (
        await connect(url, signing=Signing({"k1": NEW})) as server_side,
        await connect(url) as plain,
        RPCServer(server_side, Target(topic="t"), [Echo()], allow_unsigned=True),
    ):
        assert await call(plain, "oslo") == "oslo"


async def test_a_client_refuses_unsigned_replies_unless_told(url: str, refused: list[str]) -> None:
    async with (
        await connect(url) as oslo_like,
        await connect(url, signing=Signing({"k1": NEW})) as client_side,
        RPCServer(oslo_like, Target(topic="t"), [Echo()]),
    ):
        with pytest.raises(MessagingTimeout):
            await call(client_side, 1, timeout=0.5)
        assert refused == ["unsigned"]
        assert await call(client_side, 2, allow_unsigned_replies=True) == 2


async def test_rotation_verifies_old_and_new_keys(url: str) -> None:
    async with (
        await connect(url, signing=Signing({"new": NEW, "old": OLD})) as server_side,
        await connect(url, signing=Signing({"old": OLD})) as not_yet_moved,
        await connect(url, signing=Signing({"new": NEW})) as moved,
        RPCServer(server_side, Target(topic="t"), [Echo()]),
    ):
        # replies are signed with the request's key: the old client can check them
        assert await call(not_yet_moved, "old") == "old"
        assert await call(moved, "new") == "new"


def signed(signing: Signing, route: str = "rpc:openstack:t:") -> dict[str, Any]:
    return signing.sign({"method": "echo", "args": {"value": 1}, "_unique_id": "u1"}, route)


ROUTES = [request_route("openstack", "t", None, False)]


def test_every_kind_of_bad_signature_has_its_own_cause() -> None:
    signing = Signing({"k1": NEW}, window=60)
    good = signed(signing)
    assert signing.problem(good, ROUTES, allow_unsigned=False) is None
    assert signing.problem(good, ROUTES, allow_unsigned=False) == "replayed"
    tampered = {**signed(signing), "args": {"value": 2}}
    assert signing.problem(tampered, ROUTES, allow_unsigned=False) == "tampered"
    stamp = dict(signed(signing)[SIGNATURE_KEY])
    stamp["route"] = "rpc:openstack:other:"  # moved to another topic: the MAC no longer holds
    moved = {**signed(signing), SIGNATURE_KEY: stamp}
    assert signing.problem(moved, ROUTES, allow_unsigned=False) == "tampered"
    elsewhere = signed(signing, "rpc:openstack:other:")  # signed for another topic
    assert signing.problem(elsewhere, ROUTES, allow_unsigned=False) == "misrouted"
    stale = Signing({"k1": NEW}, window=60)
    old = signed(stale)
    old_stamp = {**old[SIGNATURE_KEY], "ts": time.time() - 120}
    old_stamp["mac"] = stale._mac(NEW, old_stamp, _canonical_of(old))
    assert signing.problem({**old, SIGNATURE_KEY: old_stamp}, ROUTES, allow_unsigned=False) == (
        "expired"
    )
    for bad in ("not a dict", {"v": 2}, {"v": 1, "kid": 1}):
        assert signing.problem({"m": 1, SIGNATURE_KEY: bad}, ROUTES, allow_unsigned=True) == (
            "malformed"
        )
    assert signing.problem({"m": 1}, ROUTES, allow_unsigned=False) == "unsigned"
    assert signing.problem({"m": 1}, ROUTES, allow_unsigned=True) is None


def _canonical_of(message: dict[str, Any]) -> bytes:
    from anker.messaging._signing import _canonical

    return _canonical(message)


def test_keys_must_be_keys() -> None:
    with pytest.raises(ValueError, match="at least one key"):
        Signing({})
    with pytest.raises(ValueError, match="'k' has 5 bytes: use at least 16 random bytes"):
        Signing({"k": b"short"})
    # a key read from a file or an environment variable as text is not 16 "bytes too few"
    with pytest.raises(TypeError, match="signing key 'k': bytes, not str"):
        Signing({"k": NEW.hex()})
    with pytest.raises(TypeError, match="signing key id 1: a str, not int"):
        Signing({1: NEW})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="mapping of key ids"):
        Signing([("k", NEW)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="window must be seconds"):
        Signing({"k": NEW}, window="300")  # type: ignore[arg-type]
    assert Signing({"k": bytearray(NEW)}).signer == "k"


async def test_connect_takes_a_signing_not_its_keys() -> None:
    # the keys themselves were taken, and the first message sent failed deep inside with
    # "AttributeError: 'dict' object has no attribute 'sign'"
    for keys in ({"k": NEW}, NEW):
        with pytest.raises(TypeError, match=r"takes a Signing, such as Signing\(\{key_id"):
            await connect("memory://signing-keys", signing=keys)  # type: ignore[arg-type]
    assert "k1" in repr(Signing({"k1": NEW}))
    assert NEW.hex() not in repr(Signing({"k1": NEW}))


async def test_a_requeued_notification_is_not_taken_for_a_replay(
    url: str, refused: list[str]
) -> None:
    async with await connect(url, signing=Signing({"k1": NEW})) as transport:
        attempts: list[int] = []

        class Flaky:
            async def info(self, *args: Any) -> NotificationResult:
                attempts.append(1)
                return (
                    NotificationResult.REQUEUE if len(attempts) == 1 else NotificationResult.HANDLED
                )

        async with NotificationListener(
            transport, [Target(topic="n")], [Flaky()], allow_requeue=True
        ):
            await Notifier(transport, "svc", topics=["n"]).info(None, "retry.me", {})
            await eventually(lambda: len(attempts) == 2)
            await asyncio.sleep(0.1)
    assert refused == []


async def test_keys_from_the_key_manager_follow_its_rotations(tmp_path: Any) -> None:
    from anker.secrets import KeyManager
    from anker.secrets._master import generate_master_key_file

    generate_master_key_file(str(tmp_path / "master.key"))
    store = f"local://{tmp_path}/store?master_key_file={tmp_path}/master.key"
    async with await KeyManager.initialize(store) as keys:
        key_id = await keys.create_key(name="messaging-hmac", algorithm="HMAC", bit_length=256)
        before = await Signing.from_key_manager(keys, "messaging-hmac")
        assert before.signer == f"{key_id}:1"
        await keys.rotate(key_id)
        after = await Signing.from_key_manager(keys, "messaging-hmac")
    assert after.signer == f"{key_id}:2"
    # a key pair's public half (or any other kind of secret) was taken as the HMAC key:
    # whoever holds the public key could then sign
    async with await KeyManager.open(store) as keys:
        await keys.create_key_pair(name="messaging-rsa")
        for name in ("messaging-rsa", "messaging-rsa.pub"):
            with pytest.raises(ValueError, match="secret, not a symmetric"):
                await Signing.from_key_manager(keys, name)
        with pytest.raises(ValueError, match="previous must be >= 0"):
            await Signing.from_key_manager(keys, "messaging-hmac", previous=-1)
    old_message = signed(before)
    assert after.problem(old_message, ROUTES, allow_unsigned=False) is None  # still verifies
    assert before.problem(signed(after), ROUTES, allow_unsigned=False) == "unknown key"
