"""The interface a secret store implements; the key manager does the rest.

A store keeps managed objects with all their versions and consumers. It does not make keys:
:class:`~anker.secrets.KeyManager` generates key material and hands the store bytes. Drivers
are found by URL scheme in the ``anker.secrets.stores`` entry point group. Every method is a
coroutine; a store that does blocking I/O runs it in a worker thread.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from anker._drivers import Driver, DriverSettings, setting
from anker._url import BackendURL
from anker.config import ByteSize
from anker.secrets._errors import StoreUnavailable

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping

    from anker.secrets._objects import Consumer, Kind, ManagedObject

__all__ = ["DEFAULT_MAX_VALUE_BYTES", "Store", "StoreSettings"]

#: 1 MiB: keys, passphrases and certificates are far smaller; bulk data belongs in an envelope.
DEFAULT_MAX_VALUE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class StoreSettings(DriverSettings):
    """The options of every secret store, from the URL's query or ``KeyManager.open``'s
    keywords; each store adds its own."""

    #: the largest value (of one version) the key manager hands the store
    max_value_bytes: ByteSize = setting(
        ByteSize(DEFAULT_MAX_VALUE_BYTES), min=1, help="the largest value of one version"
    )
    #: refuse a second object with a name already taken
    unique_names: bool = setting(True, help="refuse a second object with a name already taken")


class Store(Driver):
    """A place that keeps secrets: a :class:`~anker.drivers.Driver` whose options are a
    subclass of :class:`StoreSettings`. :meth:`~anker.drivers.Driver.connect` opens an
    existing store; :meth:`initialize` makes a new one instead (``anker secrets init``)."""

    settings_class: ClassVar[type[DriverSettings]] = StoreSettings
    settings: StoreSettings
    kind: ClassVar[str] = "secret store"
    unavailable = StoreUnavailable
    #: e.g. {"versions", "consumers"}; asking for one that is missing fails when the manager opens.
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, url: BackendURL, settings: DriverSettings) -> None:
        if not isinstance(settings, StoreSettings):
            raise TypeError(f"{type(self).__qualname__} needs StoreSettings")
        super().__init__(url, settings)
        #: the largest value (of one version) the key manager hands this store, in bytes
        self.max_value_bytes = int(settings.max_value_bytes)
        #: whether the key manager refuses a second object with a name already taken
        self.unique_names: bool = settings.unique_names

    async def initialize(self) -> None:
        """Make a new, empty store and open it, instead of :meth:`~anker.drivers.Driver.connect`.

        Stores that a server keeps need no making: by default this only connects.
        """
        await self.connect()

    async def aclose(self) -> None:
        """Release connections; the store is unusable afterwards."""

    async def probe(self) -> None:
        """One cheap look at the store (no values read, nothing written); raise
        :class:`~anker.secrets.StoreUnavailable` if it cannot be used now."""
        raise NotImplementedError(f"{self.describe(self.url)} has no probe")

    @abc.abstractmethod
    async def create(self, obj: ManagedObject) -> str:
        """Keep a new object (its version 1, with its value); return its id.

        A store may choose its own id (Barbican does) instead of ``obj.id``.
        """

    @abc.abstractmethod
    async def update_metadata(self, object_id: str, metadata: Mapping[str, str]) -> None:
        """Replace an object's metadata."""

    @abc.abstractmethod
    async def add_version(self, object_id: str, value: bytes, created: dt.datetime) -> int:
        """Add the next version of an object; return its number. Old versions stay readable."""

    @abc.abstractmethod
    async def get(
        self, object_id: str, *, version: int | None = None, metadata_only: bool = False
    ) -> ManagedObject:
        """One object at ``version`` (default: the newest); raises SecretNotFound."""

    @abc.abstractmethod
    async def find(
        self, *, kind: Kind | None = None, name: str | None = None
    ) -> list[ManagedObject]:
        """Every object of that kind and name (either may be None: any), without values."""

    @abc.abstractmethod
    async def delete(self, object_id: str, *, force: bool = False) -> None:
        """Remove an object and all its versions; raises SecretInUse while it has consumers."""

    @abc.abstractmethod
    async def add_consumer(self, object_id: str, consumer: Consumer) -> None:
        """Record that ``consumer`` uses the object (idempotent)."""

    @abc.abstractmethod
    async def remove_consumer(self, object_id: str, consumer: Consumer) -> None:
        """Forget a consumer (idempotent)."""
