"""What a key manager holds: managed objects, their versions, and their consumers."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from anker._secret import Secret

__all__ = ["KINDS", "Consumer", "Kind", "ManagedObject", "new_id", "utcnow"]

#: symmetric: a raw key; private/public: PKCS#8 / SubjectPublicKeyInfo DER; passphrase: UTF-8
#: text; opaque: any bytes; certificate: an X.509 certificate in DER.
Kind = Literal["symmetric", "private", "public", "passphrase", "opaque", "certificate"]
KINDS: tuple[Kind, ...] = ("symmetric", "private", "public", "passphrase", "opaque", "certificate")


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass(frozen=True, slots=True)
class Consumer:
    """Who uses a secret, as Barbican names it: a service, a resource type, a resource id."""

    service: str
    resource_type: str
    resource_id: str

    def as_dict(self) -> dict[str, str]:
        return {
            "service": self.service,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
        }


@dataclass(frozen=True, slots=True)
class ManagedObject:
    """A key, key half, passphrase, opaque blob or certificate, at one version.

    ``value`` is ``None`` when the object was fetched with ``metadata_only=True``; otherwise a
    :class:`~anker.Secret` whose ``repr`` shows ``****``. ``versions`` lists every version the
    store keeps; ``version`` is the one this object holds.

    .. versionadded:: 0.1
    """

    id: str
    kind: Kind
    value: Secret[bytes] | None
    name: str | None = None
    algorithm: str | None = None
    bit_length: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    created: dt.datetime = field(default_factory=utcnow)
    version: int = 1
    versions: tuple[int, ...] = (1,)
    consumers: tuple[Consumer, ...] = ()

    __module__ = "anker.secrets"

    def reveal(self) -> bytes:
        """The value itself; raises if the object was fetched without it."""
        if self.value is None:
            raise ValueError(f"{self.kind} {self.id} was fetched with metadata_only=True")
        return self.value.reveal()

    def text(self) -> str:
        """The value as text (passphrases, opaque text); SecretsError if it is not UTF-8."""
        try:
            return self.reveal().decode("utf-8")
        except UnicodeDecodeError:
            from anker.secrets._errors import SecretsError

            raise SecretsError(f"{self.kind} {self.id} is not UTF-8 text") from None

    def without_value(self) -> ManagedObject:
        return replace(self, value=None)

    def describe(self) -> dict[str, Any]:
        """Everything but the value, as JSON-friendly data."""
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "algorithm": self.algorithm,
            "bit_length": self.bit_length,
            "metadata": dict(self.metadata),
            "created": self.created.isoformat(),
            "version": self.version,
            "versions": list(self.versions),
            "consumers": [c.as_dict() for c in self.consumers],
        }


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)
