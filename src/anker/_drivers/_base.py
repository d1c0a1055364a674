"""The base of every driver: settings in, no I/O until :meth:`Driver.connect`."""

from __future__ import annotations

import abc
import asyncio
import functools
from typing import TYPE_CHECKING, Any, ClassVar, Self

from anker._drivers._settings import DriverSettings
from anker._live import forget
from anker.errors import Unavailable

if TYPE_CHECKING:
    from types import TracebackType

    from anker._url import BackendURL

__all__ = ["Driver"]


class Driver(abc.ABC):
    """A connection to one backend, opened by :func:`~anker.drivers.open_driver`.

    A driver class declares its ``settings_class`` (the options it reads from its URL and
    keywords), its ``capabilities``, and the :class:`~anker.errors.Unavailable` subclass it
    raises. ``__init__`` only stores what it is given; :meth:`connect` does the I/O, and
    :meth:`aclose` undoes it (also after a failed or cancelled connect).
    """

    #: the options of this driver (each subsystem's base adds its common ones)
    settings_class: ClassVar[type[DriverSettings]] = DriverSettings
    #: what the driver can do; ``open_driver(..., require=...)`` checks it before connecting
    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: how errors and logs name a driver of this subsystem ("coordination backend")
    kind: ClassVar[str] = "driver"
    #: raised when the backend cannot be reached or used
    unavailable: ClassVar[type[Unavailable]] = Unavailable

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        close = cls.__dict__.get("aclose")
        if close is not None and not getattr(close, "_forgets", False):
            # whatever a driver's aclose does, a closed driver leaves the list of open parts
            # the health checks read (anker._live), without each driver remembering to
            @functools.wraps(close)
            async def aclose(self: Driver) -> None:
                forget(self)
                await close(self)

            aclose._forgets = True  # type: ignore[attr-defined]
            setattr(cls, "aclose", aclose)  # noqa: B010 (mypy refuses assigning a method)

    def __init__(self, url: BackendURL, settings: DriverSettings) -> None:
        self.url = url
        self.settings = settings
        #: the event loop the driver was opened on (set by open_driver): its connections
        #: and tasks live there, so blocking wrappers hand their calls to it (a Portal)
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def connect_timeout(self) -> float | None:
        """Seconds :meth:`~anker.drivers.Driver.connect` may take before ``open_driver`` gives
        up (None: no bound but the driver's own)."""
        return None

    @classmethod
    def describe(cls, url: BackendURL) -> str:
        """``the 'redis://' coordination backend``: how errors name this driver."""
        return f"the '{url.scheme}://' {cls.kind}"

    @abc.abstractmethod
    async def connect(self) -> None:
        """Open connections and create what the backend needs; raise ``unavailable`` if not."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Close connections; safe to call more than once, and after a failed connect."""

    async def probe(self) -> None:
        """Check cheaply that the backend answers now (one round trip, no writes); raise
        ``unavailable`` (or let a client error escape: :func:`~anker.drivers.probe_driver`
        turns it into ``unavailable``) if it does not.

        Health checks call this every second or so, so it must be cheap. Each subsystem's
        driver base implements it with its own interface; a driver overrides it where its
        client has a cheaper call (PING, ``SELECT 1``).
        """
        raise NotImplementedError(f"{self.describe(self.url)} has no probe")

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} {self.url}>"
