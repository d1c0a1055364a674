"""What an RPC server does with each field of a request, well-formed or not, on ``memory://``.

Every malformed field is answered with a failure naming it (when the caller can be answered)
or rejected with a log line: never silence, never a requeue loop, never a second run.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from anker.messaging import (
    InvalidMessage,
    NoSuchMethod,
    Notifier,
    RemoteError,
    RequestContext,
    RPCClient,
    RPCServer,
    Target,
    Transport,
    UnsupportedVersion,
    _wire,
    connect,
)
from anker.messaging._client import ReplyRouter, _Pending
from anker.messaging._transport import Incoming

TOPIC = "svc"


class Worker:
    target = Target(version="1.3")

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.contexts: list[RequestContext] = []

    async def add(self, context: RequestContext, a: int, b: int) -> int:
        self.calls["add"] += 1
        self.contexts.append(context)
        return a + b

    async def echo(self, context: RequestContext, value: Any) -> Any:
        return value

    async def unprintable(self, context: RequestContext) -> None:
        self.calls["unprintable"] += 1
        raise Unprintable()


class Admin:
    target = Target(namespace="admin", version="2.0")

    async def whoami(self, context: RequestContext) -> str:
        return "admin"


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    transport = await connect(f"memory://r{uuid.uuid4().hex[:8]}")
    yield transport
    await transport.aclose()


@pytest.fixture
async def worker(transport: Transport) -> AsyncIterator[Worker]:
    worker = Worker()
    async with RPCServer(transport, Target(topic=TOPIC, server="s"), [worker, Admin()]):
        yield worker


async def send_call(
    transport: Transport, changes: dict[str, Any], *, wait: float = 5.0
) -> tuple[Any, str | None]:
    """Send an ``add`` call with some fields changed; its ``(result, failure)``."""
    router = await ReplyRouter.of(transport)
    msg_id = _wire.new_id()
    message = _wire.request(
        "add",
        {"a": 1, "b": 2},
        RequestContext().to_message(),
        msg_id=msg_id,
        reply_q=router.queue,
    )
    message.update(changes)
    pending = _Pending(asyncio.get_running_loop().create_future())
    router.pending[msg_id] = pending
    try:
        await transport.send(Target(topic=TOPIC), message)
        return await asyncio.wait_for(pending.future, wait)
    finally:
        del router.pending[msg_id]


def failure_of(reply: tuple[Any, str | None]) -> Exception:
    _, failure = reply
    assert failure is not None, f"expected a failure reply, got result {reply[0]!r}"
    return _wire.exception_from_failure(failure, ["anker.messaging"])


async def still_serving(transport: Transport) -> None:
    assert await RPCClient(transport, Target(topic=TOPIC), timeout=5).call(None, "add", a=2, b=2)


# -- _timeout ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "timeout",
    [
        pytest.param(10**400, id="10**400"),
        pytest.param(2**1100, id="2**1100"),
        1e308,
        math.inf,
        0,
        1.5,
    ],
)
async def test_huge_or_small_timeouts_are_served(
    transport: Transport, worker: Worker, timeout: Any
) -> None:
    # 10**400 used to raise OverflowError before the failure handling: no reply at all
    assert await send_call(transport, {"_timeout": timeout}) == (3, None)
    assert worker.calls["add"] == 1


@pytest.mark.parametrize(
    "timeout",
    ["30", [30], True, -1, math.nan, pytest.param(-(10**400), id="-10**400"), {"s": 1}],
)
async def test_a_malformed_timeout_is_answered_with_a_failure_naming_it(
    transport: Transport, worker: Worker, timeout: Any
) -> None:
    error = failure_of(await send_call(transport, {"_timeout": timeout}))
    assert isinstance(error, InvalidMessage)
    assert "'_timeout'" in str(error)
    assert worker.calls["add"] == 0
    await still_serving(transport)


# -- the other fields of a request ------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("method", None),
        ("method", 7),
        ("method", ""),
        ("args", [1, 2]),
        ("args", None),
        ("version", "one"),
        ("version", 1.3),
        ("version", ""),
        pytest.param("version", "1." + "9" * 5000, id="version-5000-digits"),
        ("version", "01.3"),
        ("namespace", 5),
        ("namespace", ["admin"]),
        ("_context_roles", 5),
        ("_context_is_admin", [0]),
        ("_context_user", {"id": 1}),
        ("_context_auth_token", 12),
    ],
)
async def test_a_malformed_field_is_answered_with_a_failure_naming_it(
    transport: Transport, worker: Worker, field: str, value: Any
) -> None:
    error = failure_of(await send_call(transport, {field: value}))
    assert isinstance(error, InvalidMessage)
    assert field.removeprefix("_context_") in str(error)
    assert worker.calls["add"] == 0
    await still_serving(transport)


async def test_odd_but_valid_fields_are_served(transport: Transport, worker: Worker) -> None:
    assert await send_call(transport, {"version": None, "_timeout": None}) == (3, None)
    assert await send_call(transport, {"_context_is_admin": "true", "_unique_id": 5}) == (3, None)
    assert worker.contexts[-1].is_admin is True


@pytest.mark.parametrize(
    "changes",
    [
        {"_reply_q": None},
        {"_reply_q": ""},
        {"_reply_q": "q" * 256},
        {"_reply_q": 7},
        {"_msg_id": 7},
        {"_msg_id": ""},
    ],
)
async def test_a_call_that_cannot_be_answered_is_rejected_and_logged(
    transport: Transport, worker: Worker, changes: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "anker.messaging")
    with pytest.raises(TimeoutError):
        await send_call(transport, changes, wait=0.5)
    assert worker.calls["add"] == 0  # not run blind: its result could go nowhere
    assert "cannot be answered" in caplog.text
    assert next(iter(changes)) in caplog.text
    assert "requeued" not in caplog.text
    await still_serving(transport)


async def test_a_cast_that_cannot_be_read_is_rejected_and_logged(
    transport: Transport, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "anker.messaging")
    for field, value in (("_timeout", "soon"), ("version", "x"), ("args", 3)):
        cast = _wire.request("add", {"a": 1, "b": 1}, {})
        cast[field] = value
        await transport.send(Target(topic=TOPIC), cast)
        await still_serving(transport)
        assert f"'{field}'" in caplog.text
    assert worker.calls["add"] == 3  # the three still_serving calls only
    assert caplog.text.count("rejected a cast that cannot be read") == 3
    assert "requeued" not in caplog.text


async def test_an_exception_whose_str_fails_is_answered_once(
    transport: Transport, worker: Worker
) -> None:
    client = RPCClient(transport, Target(topic=TOPIC), timeout=5)
    with pytest.raises(RemoteError, match="Unprintable"):
        await client.call(None, "unprintable")
    await asyncio.sleep(0.2)
    assert worker.calls["unprintable"] == 1


# -- dispatch errors, as oslo.messaging's dispatcher chooses them -----------------------------


DISPATCH_CASES = [
    ("nowhere", None, "add", UnsupportedVersion),  # an unknown namespace
    ("nowhere", None, "missing", UnsupportedVersion),
    (None, "2.0", "missing", UnsupportedVersion),  # unknown method, no compatible endpoint
    (None, "1.4", "add", UnsupportedVersion),  # known method, too new
    (None, "1.0", "missing", NoSuchMethod),  # a compatible endpoint lacks it
    (None, "1.0", "_private", NoSuchMethod),
    ("admin", "2.0", "add", NoSuchMethod),
    ("admin", "3.0", "whoami", UnsupportedVersion),
]


@pytest.mark.parametrize("case", DISPATCH_CASES)
async def test_dispatch_errors_are_oslos_choice(
    transport: Transport, worker: Worker, case: tuple[str | None, str | None, str, type[Exception]]
) -> None:
    namespace, version, method, error = case
    client = RPCClient(transport, Target(topic=TOPIC, namespace=namespace, version=version))
    with pytest.raises(error):
        await client.call(None, method)


# -- the token ---------------------------------------------------------------------------------


async def test_a_plain_string_token_goes_with_calls_and_nowhere_else(
    transport: Transport, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = "plain-t0ken-value"
    context = RequestContext(user_id="u1", auth_token=token)
    client = RPCClient(transport, Target(topic=TOPIC), timeout=5)
    # this call used to fail: 'str' object has no attribute 'reveal'
    assert await client.call(context, "add", a=1, b=1) == 2
    seen = worker.contexts[-1]
    assert seen.auth_token is not None
    assert seen.auth_token.reveal() == token
    await client.cast(context, "add", a=0, b=0)
    notes: list[Incoming] = []
    subscription = await transport.listen_notifications(
        [Target(topic="notes")], ["info"], notes.append
    )
    await Notifier(transport, "svc", topics=["notes"]).info(context, "thing.done", {"c": 1})
    for _ in range(100):
        if notes:
            break
        await asyncio.sleep(0.02)
    await subscription.cancel()
    assert notes
    assert token not in repr(notes[0].message)
    assert notes[0].message["_context_user"] == "u1"
    assert token not in caplog.text
    assert token not in repr(context)
