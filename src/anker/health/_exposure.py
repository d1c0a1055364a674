"""Who sees what: the overall status for everyone, check details only where configured."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from anker._secret import Secret

if TYPE_CHECKING:
    from anker.health._options import HealthOptions

__all__ = ["Exposure"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Exposure:
    """What the health endpoints show beyond the overall status.

    By default nothing: ``{"status": "pass"}``. ``details`` names the groups (``ready``,
    ``all`` for ``/healthz``, ...) that list their checks; ``networks`` and ``token`` narrow
    that to some clients (both must hold when both are set). ``show_errors`` adds each failing
    check's error text, credentials masked (hostnames are not): for debugging.

    .. versionadded:: 0.1
    """

    details: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()
    token: Secret[str] | None = None
    show_errors: bool = False

    @classmethod
    def of(
        cls,
        details: Iterable[str] = (),
        *,
        networks: Iterable[str] = (),
        token: Secret[str] | str | None = None,
        show_errors: bool = False,
    ) -> Exposure:
        """An exposure from plain values (networks as CIDR text)."""
        parsed = []
        for network in networks:
            try:
                parsed.append(ipaddress.ip_network(network, strict=False))
            except ValueError:
                raise ValueError(
                    f"[health] details_networks: {network!r} is not a network (CIDR)"
                ) from None
        if isinstance(token, str):
            token = Secret(token)
        if token is not None and not token.reveal():
            raise ValueError("[health] details_token is empty")
        return cls(frozenset(details), tuple(parsed), token, show_errors)

    @classmethod
    def from_options(cls, options: HealthOptions) -> Exposure:
        """The exposure the ``[health]`` options configure."""
        return cls.of(
            options.details,
            networks=options.details_networks,
            token=options.details_token,
            show_errors=options.show_errors,
        )

    def shows_details(self, group: str, client: str | None, headers: Mapping[str, str]) -> bool:
        """Whether a request for ``group`` from address ``client`` with these headers (names
        in lower case) sees the checks."""
        if group not in self.details:
            return False
        if self.networks:
            try:
                address = ipaddress.ip_address(client or "")
            except ValueError:
                return False
            if not any(address in network for network in self.networks):
                return False
        if self.token is not None:
            given = headers.get("x-health-token", "")
            authorization = headers.get("authorization", "")
            if authorization[:7].lower() == "bearer ":
                given = authorization[7:].strip()
            expected = self.token.reveal().encode()
            if not hmac.compare_digest(given.encode(), expected):
                return False
        return True
