"""Where a message goes, and which requests a server takes: :class:`Target`.

The fields and their meaning are oslo.messaging's, so the same target names the same queues
on the wire: ``topic`` is the service, ``server`` one process of it, ``fanout`` every process,
``exchange`` the control exchange, ``namespace`` and ``version`` select an endpoint.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, fields, replace
from typing import Any

from anker.messaging._errors import InvalidTarget

__all__ = ["Target", "check_version", "version_is_compatible"]

_VERSION = re.compile(r"(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*))?(?:\.(0|[1-9][0-9]*))?")
# Queue and routing-key parts: AMQP allows 255 bytes for "topic.server" and for
# "topic_fanout_<32 hex>", so each part gets at most 120 (bytes, in UTF-8).
_MAX_NAME = 120
# In a binding key "#" and "*" are wildcards: a server on topic "#" would take every request
# on the exchange. OpenStack names never hold them (cinder strips its "#pool" from server
# names); dots stay allowed, as neutron's "<topic>.<host>" topics and FQDN servers use them.
_WILDCARDS = frozenset("#*")
#: What RabbitMQ's client (pamqp) takes in queue and exchange names, but for the wildcard
#: "#" and the space: anything else failed on rabbit:// only, when a server started
#: listening (raw exchange and queue names are held to it too, in ``_topics``)
AMQP_NAME = re.compile(r"[A-Za-z0-9_.:@,/+-]+")
# The broker refuses to create queues and exchanges whose names start with "amq."
_RESERVED_PREFIX = "amq."
_ROUTED = ("exchange", "topic", "server")


@functools.lru_cache(maxsize=256)  # a server checks the same few versions on every request
def _parse_version(version: str) -> tuple[int, int, int]:
    match = _VERSION.fullmatch(version)
    if match is None:
        raise ValueError(f"invalid version {version!r}: expected MAJOR.MINOR (e.g. '1.3')")
    major, minor, patch = match.groups()
    return int(major), int(minor or 0), int(patch or 0)


def check_version(version: str) -> str:
    """Return ``version`` if it is ``MAJOR[.MINOR[.PATCH]]``, else raise ``ValueError``."""
    _parse_version(version)
    return version


def check_seconds(name: str, value: float | None) -> float | None:
    """``value`` if it is ``None`` or more than 0 seconds, else a ``ValueError`` naming
    ``name``: a time of 0 or less (or NaN) would fail every call or message at once, far from
    where it was set."""
    if value is not None and not value > 0:
        raise ValueError(f"{name} must be more than 0 seconds, got {value!r}")
    return value


def version_is_compatible(served: str, requested: str) -> bool:
    """Whether an endpoint at version ``served`` can take a request for ``requested``.

    oslo.messaging's rule: the same major version, and a requested minor (and patch) no
    newer than the endpoint's.
    """
    have = _parse_version(served)
    want = _parse_version(requested)
    return have[0] == want[0] and want[1:] <= have[1:]


@dataclass(frozen=True, slots=True)
class Target:
    """A destination for messages, or the set of messages a server takes.

    - A client sends to ``topic`` (any server of it), to ``topic`` and ``server`` (that one
      server), or with ``fanout=True`` to every server of the topic.
    - A server listens on ``topic`` and ``server``: it takes requests for the topic, for
      itself, and fanouts.
    - An endpoint object may carry a ``target`` attribute with ``namespace`` and ``version``
      (the API it implements); a request names the namespace and the version it needs.
    - ``exchange`` is the control exchange; ``None`` means the transport's default
      (``openstack``, as oslo.messaging's ``control_exchange``).

    .. versionadded:: 0.1
    """

    exchange: str | None = None
    topic: str | None = None
    server: str | None = None
    namespace: str | None = None
    version: str | None = None
    fanout: bool = False

    def __post_init__(self) -> None:
        for name in ("exchange", "topic", "server", "namespace"):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, str) or not value:
                raise InvalidTarget(self, f"{name} must be a non-empty string, not {value!r}")
            if len(value.encode("utf-8", "surrogatepass")) > _MAX_NAME or any(
                ch.isspace() or not ch.isprintable() for ch in value
            ):
                raise InvalidTarget(
                    self,
                    f"{name} {value!r} must be at most {_MAX_NAME} bytes, no spaces or "
                    "control characters",
                )
            if name in _ROUTED:
                if _WILDCARDS.intersection(value):
                    raise InvalidTarget(
                        self,
                        f"{name} {value!r} must not hold '#' or '*' (AMQP routing wildcards)",
                    )
                if name != "server" and value.startswith(_RESERVED_PREFIX):
                    raise InvalidTarget(
                        self, f"{name} {value!r} must not start with 'amq.' (reserved by AMQP)"
                    )
                if not AMQP_NAME.fullmatch(value):
                    raise InvalidTarget(
                        self,
                        f"{name} {value!r} may hold ASCII letters, digits and _.:@,/+- only"
                        " (what AMQP clients take)",
                    )
        if self.version is not None:
            try:
                check_version(self.version)
            except ValueError as exc:
                raise InvalidTarget(self, str(exc)) from None

    def __str__(self) -> str:
        shown = [
            f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if getattr(self, f.name)
        ]
        return f"Target({', '.join(shown)})"

    def but(self, **changes: Any) -> Target:
        """A copy of this target with some fields changed (``None`` clears a field)."""
        return replace(self, **changes)

    def require_topic(self, what: str) -> str:
        """The topic, or an :class:`InvalidTarget` error saying ``what`` needs one."""
        if self.topic is None:
            raise InvalidTarget(self, f"{what} needs a topic")
        return self.topic
