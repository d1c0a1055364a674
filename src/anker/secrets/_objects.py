"""What a key manager holds: managed objects, their versions, and their consumers."""

from __future__ import annotations

import base64
import datetime as dt
import unicodedata
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from anker._secret import Secret
from anker.secrets._errors import SecretsError

__all__ = [
    "KINDS",
    "Consumer",
    "Kind",
    "ManagedObject",
    "check_name",
    "name_taken",
    "new_id",
    "utcnow",
]

#: symmetric: a raw key; private/public: PKCS#8 / SubjectPublicKeyInfo DER; passphrase: UTF-8
#: text; opaque: any bytes; certificate: an X.509 certificate in DER.
Kind = Literal["symmetric", "private", "public", "passphrase", "opaque", "certificate"]
KINDS: tuple[Kind, ...] = ("symmetric", "private", "public", "passphrase", "opaque", "certificate")
MAX_NAME = 255  # Barbican's limit too


def name_taken(name: str, object_id: str) -> SecretsError:
    return SecretsError(
        f"a secret named {name!r} exists already ({object_id}); names are unique in a store"
        " (rotate it to give it a new version)"
    )


def check_name(name: object) -> None:
    """A name is one line of printable text that cannot be taken for an id."""
    if name is None:
        return
    if not isinstance(name, str) or not name:
        raise SecretsError(f"a name is non-empty text, not {name!r}")
    if len(name) > MAX_NAME:
        raise SecretsError(f"a name has at most {MAX_NAME} characters, not {len(name)}")
    for char in name:
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            raise SecretsError(f"the name {name!r} contains the control character {char!r}")
    try:
        uuid.UUID(name)
    except ValueError:
        return
    raise SecretsError(f"the name {name!r} would read as an id; choose another")


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
        """The consumer as Barbican's API writes it."""
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
            raise SecretsError(f"{self.kind} {self.id} is not UTF-8 text") from None

    def without_value(self) -> ManagedObject:
        """The same object with its value dropped (for listings and logs)."""
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
