"""Every messaging transport, for the conformance suite.

Each test that takes ``transport_url`` runs once per transport (ids: memory, rabbit, nats).
Each test gets its own control exchange and topic names, so tests can share a broker.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from anker._observe import listen
from anker.messaging import Transport, connect
from servers import forget_nats_streams, require_server

#: every transport; rabbit is an integration test, memory runs in `make unit`
TRANSPORTS = (
    "memory",
    pytest.param("rabbit", marks=pytest.mark.integration),
    pytest.param("nats", marks=pytest.mark.integration),
)


@pytest.fixture(params=TRANSPORTS)
def transport_url(request: pytest.FixtureRequest) -> str:
    """The URL of one transport (the test runs once for each)."""
    if request.param == "memory":
        return f"memory://t{uuid.uuid4().hex[:8]}"
    if request.param == "nats":
        return require_server("nats")
    return require_server("rabbitmq")


@pytest.fixture
def names() -> str:
    """A prefix for this test's exchange, topics and pools."""
    return f"t{uuid.uuid4().hex[:10]}"


OpenTransport = Callable[..., Awaitable[Transport]]


@pytest.fixture
async def open_transport(transport_url: str, names: str) -> AsyncIterator[OpenTransport]:
    """Open transports on the test's own exchange; all closed at the end."""
    opened: list[Transport] = []

    async def open_(**options: Any) -> Transport:
        options.setdefault("exchange", f"{names}-x")
        transport = await connect(transport_url, **options)
        opened.append(transport)
        return transport

    yield open_
    for transport in reversed(opened):
        await transport.aclose()
    if transport_url.startswith("nats"):
        await forget_nats_streams(transport_url, f"{names}-x")


@pytest.fixture
def refused() -> Iterator[list[str]]:
    """The causes of the messages refused (signing) while a test runs, as metrics see them."""
    causes: list[str] = []

    def hear(name: str, value: float, labels: dict[str, str]) -> None:
        if name == "messaging.refused":
            causes.append(labels["cause"])

    stop = listen(hear)
    yield causes
    stop()
