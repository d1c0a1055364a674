"""The ``[messaging]`` option group, and the transports it names: RPC on one URL and
notifications on another where a deployment wants them apart (oslo.messaging's hybrid
messaging: ``transport_url`` and ``[oslo_messaging_notifications] transport_url``)."""

# No ``from __future__ import annotations``: the annotations stay objects, so anker.config
# resolves them although the class shows its public home, anker.messaging.
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from anker._url import BackendURL
from anker.config import Group, option
from anker.messaging._signing import Signing
from anker.messaging._transport import Transport, connect

__all__ = ["MessagingOptions", "Transports", "open_transports"]


class MessagingOptions(Group):
    """Where a service's messages go.

    Declare it on a service's :class:`~anker.config.Config` (``messaging: MessagingOptions``),
    then ``async with await open_transports(conf.messaging) as transports:`` and give
    ``transports.rpc`` to RPC clients and servers, ``transports.notifications`` to notifiers
    and listeners. Passwords belong in references (``rabbit://nova:${secret:rabbit}@mq/``);
    the URLs mask them wherever they are shown.
    """

    transport_url: BackendURL = option(
        "memory://",
        help="Where RPC goes: rabbit://user:pass@host1:5672,host2:5672/vhost?options,"
        " nats://user:pass@host1:4222,host2:4222?options, or memory:// (this process only).",
    )
    notification_transport_url: BackendURL | None = option(
        None,
        help="Where notifications go when not to transport_url (oslo.messaging's"
        " [oslo_messaging_notifications] transport_url): RPC on one broker, notifications on"
        " the one their consumers read.",
    )
    control_exchange: str = option(
        "openstack", help="The exchange of targets that name none (oslo's control_exchange)."
    )
    notification_topics: list[str] = option(
        ["notifications"],
        help="The topics the service's notifiers send to and its listeners read; the service"
        " passes them on (Notifier(..., topics=conf.messaging.notification_topics)): a"
        " Notifier made without topics= sends to 'notifications' whatever this says.",
    )


@dataclass(frozen=True, slots=True)
class Transports:
    """The transport RPC uses and the one notifications use: the same object when one URL
    serves both. Closing closes each once."""

    rpc: Transport
    notifications: Transport

    @property
    def hybrid(self) -> bool:
        """Whether notifications go through a transport of their own."""
        return self.notifications is not self.rpc

    async def aclose(self) -> None:
        """Close the RPC transport and, if it is another one, the notification transport."""
        try:
            await self.rpc.aclose()
        finally:
            if self.hybrid:
                await self.notifications.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def open_transports(
    options: MessagingOptions, *, signing: Signing | None = None, **driver_options: object
) -> Transports:
    """Connect the transports a ``[messaging]`` group names: one if notifications have no URL
    of their own (or the same), two otherwise; ``driver_options`` and ``signing`` go to both.
    If the second cannot connect, the first is closed again before the error is raised."""
    driver_options.setdefault("exchange", options.control_exchange)
    rpc = await connect(options.transport_url, signing=signing, **driver_options)
    url = options.notification_transport_url
    if url is None or url == options.transport_url:
        return Transports(rpc, rpc)
    try:
        notifications = await connect(url, signing=signing, **driver_options)
    except BaseException:
        await rpc.aclose()
        raise
    return Transports(rpc, notifications)
