"""Publishing for the rabbit transport: one channel with publisher confirms, pipelined
publishes that each wait for their own confirm, published again on the next connection when
one drops before the broker confirmed; and the declarations a publish needs first."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from typing import TYPE_CHECKING, Any, Final

from anker.messaging._errors import DeliveryFailure, TransportClosed, TransportUnavailable
from anker.messaging.transports.rabbit._link import Link, Lost, Supervised, describe, log
from anker.messaging.transports.rabbit._topology import (
    Exchange,
    QueueSpec,
    declare_exchange,
    declare_queue,
)

if TYPE_CHECKING:
    from aiormq.abc import AbstractChannel

    from anker._drivers import DriverSettings
    from anker._url import BackendURL

CONTENT_TYPE: Final = "application/json"
#: how long a reply queue found (or checked) is not checked again
REPLY_CHECK_SECONDS: Final = 60.0
CONTENT_ENCODING: Final = "utf-8"
PERSISTENT: Final = 2


class Publishing(Supervised):
    """The publishing side of :class:`~anker.messaging.transports.rabbit.RabbitTransport`."""

    def __init__(self, url: BackendURL, settings: DriverSettings) -> None:
        super().__init__(url, settings)
        self._reply_checks: dict[str, float] = {}  # reply queue -> when it was last checked
        self._reply_check: asyncio.Task[None] | None = None

    async def _declared(self, link: Link, key: Any, declare: Any, what: str) -> None:
        """Run ``declare(admin_channel)`` once per connection for ``key``; share the wait."""
        future = link.declared.get(key)
        if future is None:
            future = link.declared[key] = asyncio.get_running_loop().create_future()
            try:
                async with link.lock:
                    admin = link.admin
                    if admin.is_closed:
                        admin = link.admin = await link.connection.channel(publisher_confirms=False)
                    async with asyncio.timeout(self.settings.timeout):
                        await declare(admin)
            except BaseException as exc:
                del link.declared[key]
                future.set_exception(exc)
                future.exception()  # retrieved: the waiters get it from here
                if not isinstance(exc, Exception):
                    raise
                raise self._declare_failed(link, exc, what) from exc
            future.set_result(None)
        elif not future.done():
            try:
                await asyncio.shield(future)
            except Exception as exc:
                raise self._declare_failed(link, exc, what) from exc

    def _declare_failed(self, link: Link, exc: Exception, what: str) -> Exception:
        if not link.up:
            return Lost(describe(exc))
        return DeliveryFailure(what, f"the broker refused a declaration: {describe(exc)}")

    async def _exchange(self, link: Link, exchange: Exchange, what: str) -> None:
        if exchange.auto_delete:  # may be gone since: declared before every send
            link.declared.pop(("exchange", exchange.name), None)
        await self._declared(
            link,
            ("exchange", exchange.name),
            functools.partial(declare_exchange, exchange=exchange),
            what,
        )

    async def _prepare(
        self, link: Link, exchange: Exchange | None, queue: QueueSpec | None, what: str
    ) -> None:
        """Declare what a publish needs, once per connection (fanout exchanges every time)."""
        if exchange is not None and (
            exchange.auto_delete or ("exchange", exchange.name) not in link.declared
        ):
            await self._exchange(link, exchange, what)
        if queue is not None and ("queue", queue.name) not in link.declared:
            await self._declared(
                link, ("queue", queue.name), functools.partial(declare_queue, spec=queue), what
            )

    async def _publish(
        self,
        exchange: Exchange | None,
        routing_key: str,
        body: bytes,
        *,
        what: str,
        message_id: str,
        expiration: str | None = None,
        mandatory: bool = False,
        queue: QueueSpec | None = None,
        headers: dict[str, str] | None = None,
        raw: bool = False,
    ) -> bool:
        """Publish and wait for the confirm, again on the next connection if this one drops;
        False if the broker returned the (mandatory) message as unroutable. A ``raw``
        message has no content type (its publisher's bytes) and the given ``headers``."""
        deadline = time.monotonic() + self.settings.timeout
        attempt = 0
        while True:
            link = self._link
            if link is None or self._closed or not link.up:
                link = await self._connected(deadline, what)
            channel = link.publisher
            try:
                await self._prepare(link, exchange, queue, what)
                properties = self._message_properties(
                    message_id, expiration, headers=headers, raw=raw
                )
                return await self._publish_once(
                    link,
                    channel,
                    body,
                    exchange=exchange.name if exchange is not None else "",
                    routing_key=routing_key,
                    properties=properties,
                    mandatory=mandatory,
                    deadline=deadline,
                    what=what,
                )
            except Lost as exc:
                self._last_error = str(exc)
            # The channel or the connection closed before the broker confirmed.
            if link.up and channel.is_closed:
                await self._new_publisher(link, channel)
            attempt += 1
            await self._before_retry(
                deadline, what, attempt, "the connection was lost before the broker confirmed"
            )

    async def _before_retry(self, deadline: float, what: str, attempt: int, lost: str) -> None:
        """Between two tries of a publish: raise if the transport closed or the time is up,
        else pause a little (longer after each try)."""
        if self._closed:
            raise TransportClosed(str(self.url))
        if time.monotonic() >= deadline:
            raise TransportUnavailable(
                str(self.url), what, f"{lost} ({self._masked(self._last_error)})"
            )
        await asyncio.sleep(min(0.01 * attempt, 0.2))

    def _message_properties(
        self,
        message_id: str,
        expiration: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bool = False,
    ) -> Any:
        """The AMQP properties of a message: oslo.messaging's, or for a ``raw`` one (its
        publisher's bytes) no content type and the given ``headers``."""
        return self._properties(
            content_type=None if raw else CONTENT_TYPE,
            content_encoding=None if raw else CONTENT_ENCODING,
            headers=headers or {},
            delivery_mode=PERSISTENT,
            priority=0,
            expiration=expiration,
            message_id=message_id,
        )

    async def _publish_once(
        self,
        link: Link,
        channel: AbstractChannel,
        body: bytes,
        *,
        exchange: str,
        routing_key: str,
        properties: Any,
        mandatory: bool,
        deadline: float,
        what: str,
    ) -> bool:
        assert self._errors is not None
        errors = self._errors
        try:
            await channel.basic_publish(
                body,
                exchange=exchange,
                routing_key=routing_key,
                properties=properties,
                mandatory=mandatory,
                wait=False,  # type: ignore[call-arg]  # aiormq.Channel has it
                timeout=max(deadline - time.monotonic(), 0.001),
            )
        except errors.PublishError:
            return False  # basic.return: no queue took it
        except errors.DeliveryError as exc:
            raise DeliveryFailure(what, "the broker refused it (basic.nack)") from exc
        except TimeoutError as exc:
            if link.up and not channel.is_closed:
                raise DeliveryFailure(
                    what, f"the broker did not confirm it within {self.settings.timeout:g} s"
                ) from exc
            raise Lost("no confirm before the connection closed") from exc
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            raise Lost("the channel closed") from exc
        except (errors.AMQPError, ConnectionError, RuntimeError) as exc:
            raise Lost(describe(exc)) from exc
        return True

    async def _new_publisher(self, link: Link, broken: AbstractChannel) -> None:
        """The broker closed the publishing channel (a missing exchange): open another."""
        async with link.lock:
            if link.publisher is not broken or not link.up:
                return
            log.warning("the publishing channel was closed by the broker; opening another")
            link.declared.clear()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.settings.timeout):
                    link.publisher = await link.connection.channel(
                        publisher_confirms=True, on_return_raises=True
                    )

    # -- replies ----------------------------------------------------------------------------

    async def _publish_reply(self, reply_queue: str, body: bytes, message_id: str) -> None:
        """Publish a reply on the connection's reply channel, without a publisher confirm.

        A reply needs none: the server acknowledges the request after this returns, on the
        same connection, so the broker has the reply's frames before the ack's; if the
        connection drops first, the request is not acknowledged and comes back, and the
        server answers the redelivery (from its record of finished requests). The reply is
        published again on the next connection if this one is down.
        """
        assert self._errors is not None
        errors = self._errors
        deadline = time.monotonic() + self.settings.timeout
        what = f"reply to {reply_queue}"
        attempt = 0
        while True:
            link = self._link
            if link is None or self._closed or not link.up:
                link = await self._connected(deadline, what)
            try:
                channel = link.replier
                if channel is None or channel.is_closed:
                    channel = await self._open_replier(link)
                await channel.basic_publish(
                    body,
                    exchange="",
                    routing_key=reply_queue,
                    properties=self._message_properties(message_id),
                    wait=False,  # type: ignore[call-arg]  # aiormq.Channel has it
                    timeout=max(deadline - time.monotonic(), 0.001),
                )
                self._check_reply_queue(link, reply_queue)
                return
            except asyncio.CancelledError:
                raise
            except (errors.AMQPError, ConnectionError, RuntimeError, TimeoutError) as exc:
                self._last_error = describe(exc)
            attempt += 1
            await self._before_retry(deadline, what, attempt, "the connection was lost")

    async def _open_replier(self, link: Link) -> AbstractChannel:
        async with link.lock:
            channel = link.replier
            if channel is None or channel.is_closed:
                async with asyncio.timeout(self.settings.timeout):
                    channel = link.replier = await link.connection.channel(publisher_confirms=False)
            return channel

    def _check_reply_queue(self, link: Link, reply_queue: str) -> None:
        """Check in the background, at most once a minute per queue and one queue at a
        time, that a reply queue exists, and log a reply to one that does not (its caller
        is gone). Replies are not ``mandatory``: the broker could only say so per reply by
        returning it, which aiormq logs, body and all, on a channel without confirms."""
        now = time.monotonic()
        checks = self._reply_checks
        last = checks.get(reply_queue)
        if last is not None and now - last < REPLY_CHECK_SECONDS:
            return
        if self._reply_check is not None and not self._reply_check.done():
            return  # a later reply to this queue checks it
        for name, when in list(checks.items()):  # bounded: only the last minute's queues
            if now - when >= REPLY_CHECK_SECONDS:
                del checks[name]
        checks[reply_queue] = now
        self._reply_check = asyncio.get_running_loop().create_task(
            self._reply_queue_gone(link, reply_queue)
        )
        self._tasks.add(self._reply_check)
        self._reply_check.add_done_callback(self._tasks.discard)

    async def _reply_queue_gone(self, link: Link, reply_queue: str) -> None:
        try:
            async with asyncio.timeout(self.settings.timeout):
                exists = await self._queue_exists(link.connection, reply_queue)
        except Exception as exc:
            log.debug("could not check reply queue %s: %s", reply_queue, describe(exc))
            return
        if not exists:
            log.warning(
                "a reply was dropped: reply queue %s no longer exists (the caller is gone)",
                reply_queue,
            )
