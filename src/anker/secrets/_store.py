"""The interface a secret store implements; the key manager does the rest.

A store keeps managed objects with all their versions and consumers. It does not make keys:
:class:`~anker.secrets.KeyManager` generates key material and hands the store bytes. Drivers
are found by URL scheme in the ``anker.secrets.stores`` entry point group. Every method is a
coroutine; a store that does blocking I/O runs it in a worker thread.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, ClassVar, Self

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping

    from anker._url import BackendURL
    from anker.secrets._objects import Consumer, Kind, ManagedObject

__all__ = ["DEFAULT_MAX_VALUE_BYTES", "Store"]

#: 1 MiB: keys, passphrases and certificates are far smaller; bulk data belongs in an envelope.
DEFAULT_MAX_VALUE_BYTES = 1024 * 1024


class Store(abc.ABC):
    """A place that keeps secrets. Subclasses declare what else they can do in ``capabilities``."""

    __module__ = "anker.secrets"
    #: e.g. {"versions", "consumers"}; asking for one that is missing fails when the manager opens.
    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: The largest value (of one version) the key manager hands this store, in bytes.
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES
    #: Whether the key manager refuses a second object with a name already taken.
    unique_names: bool = True

    @classmethod
    async def initialize(cls, url: BackendURL, options: Mapping[str, str]) -> Self:
        """Make a new, empty store and open it (``anker secrets init``).

        Stores that a server keeps need no making: by default this only opens the store.
        """
        return await cls.open(url, options)

    @classmethod
    @abc.abstractmethod
    async def open(cls, url: BackendURL, options: Mapping[str, str]) -> Self:
        """Open the store a URL names; ``options`` are the URL's query parameters and overrides."""

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

    async def aclose(self) -> None:  # noqa: B027 (a store without connections has nothing to close)
        """Release connections; the store is unusable afterwards."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
