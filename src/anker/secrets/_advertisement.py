"""Tang advertisements: verified (every signing key signed), and pinned to trusted keys.

A valid signature proves only that whoever answered holds the signing key it advertises.
Pinning, clevis's ``thp``, says which key that must be: an advertisement that no pinned key
signed is refused, so that whoever sits between anker and the server cannot get a binding to
an exchange key of its own.
"""

from __future__ import annotations

from anker._typing import TYPE_CHECKING
from anker.secrets._errors import TangError

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

    from anker.secrets._jwe import JSON

__all__ = [
    "THUMBPRINT_ALGORITHMS",
    "Advertisement",
    "check_pinned",
    "check_thumbprints",
    "parse_advertisement",
    "pins_per_server",
]

#: The thumbprints clevis accepts as ``thp``: RFC 7638 with SHA-256 (its default) or SHA-1.
THUMBPRINT_ALGORITHMS = ("S256", "S1")
_THUMBPRINT_LENGTHS = (43, 27)  # base64url characters of a SHA-256 and of a SHA-1 digest


class Advertisement:
    """A Tang server's verified advertisement: its signing and exchange public keys.

    ``payload`` is the signed JSON object (``{"keys": [...]}``) as served; a binding embeds it
    so that recovery needs nothing but the JWE.
    """

    __slots__ = ("exchange_keys", "payload", "signing_keys", "url")

    def __init__(
        self, url: str, payload: JSON, signing_keys: Sequence[JSON], exchange_keys: Sequence[JSON]
    ) -> None:
        self.url = url
        self.payload = payload
        self.signing_keys = tuple(signing_keys)
        self.exchange_keys = tuple(exchange_keys)

    @property
    def exchange_key(self) -> JSON:
        """The key new bindings use: the first advertised for ``deriveKey``, as in clevis."""
        return self.exchange_keys[0]

    @property
    def kid(self) -> str:
        """The SHA-256 thumbprint of :attr:`exchange_key`, the ``kid`` of new bindings."""
        from anker.secrets._jwe import thumbprint

        return thumbprint(self.exchange_key)

    @property
    def thumbprints(self) -> tuple[str, ...]:
        """The SHA-256 thumbprints of the signing keys (every one signed this advertisement):
        what an operator pins, and what ``tang-show-keys`` prints on the server."""
        from anker.secrets._jwe import thumbprint

        return tuple(thumbprint(key) for key in self.signing_keys)

    def signed_by(self, pinned: Collection[str]) -> bool:
        """Whether one of the signing keys has a thumbprint in ``pinned`` (SHA-256 or SHA-1,
        as clevis matches ``thp``)."""
        from anker.secrets._jwe import thumbprint

        return any(
            thumbprint(key, algorithm) in pinned
            for key in self.signing_keys
            for algorithm in THUMBPRINT_ALGORITHMS
        )

    def __repr__(self) -> str:
        return f"Advertisement(url={self.url!r}, kid={self.kid!r})"


def parse_advertisement(url: str, body: bytes) -> Advertisement:
    """Check a JWS served at ``url``/adv (flattened or general form) and take its keys."""
    from anker.secrets._jwe import JOSEError

    try:
        return _parse_advertisement(url, body)
    except JOSEError as exc:
        raise TangError(f"bad advertisement: {exc}", url=_shown(url)) from None


def check_pinned(advertisement: Advertisement, pins: frozenset[str]) -> None:
    """TangError naming the server and the thumbprints expected, unless ``pins`` is empty or
    a pinned key signed the advertisement."""
    if pins and not advertisement.signed_by(pins):
        expected = " or ".join(sorted(pins))
        raise TangError(
            f"the advertisement is not signed by the pinned key {expected} (its signing keys:"
            f" {', '.join(advertisement.thumbprints)}); refusing to bind to a server that may"
            " not be the one pinned (if its keys were rotated, get the new thumbprint from its"
            " operator: tang-show-keys)",
            url=_shown(advertisement.url),
        )


def check_thumbprints(thumbprints: object, what: str) -> frozenset[str]:
    """A set of pinned thumbprints, each checked to be base64url of a SHA-256 or SHA-1
    digest."""
    import re

    if isinstance(thumbprints, str | bytes):
        raise TypeError(f"{what} is a collection of thumbprints, not one string")
    pins: frozenset[str] = frozenset(thumbprints)  # type: ignore[call-overload]
    for pin in pins:
        if not isinstance(pin, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", pin):
            raise ValueError(f"{what}: {pin!r} is not a thumbprint (base64url text)")
        if len(pin) not in _THUMBPRINT_LENGTHS:
            raise ValueError(
                f"{what}: {pin!r} is not an RFC 7638 thumbprint: SHA-256 ones have 43"
                f" characters, SHA-1 ones 27, this has {len(pin)}"
            )
    return pins


def pins_per_server(
    servers: Sequence[str], thumbprints: Collection[str] | Mapping[str, Collection[str]]
) -> dict[str, frozenset[str]]:
    """The pinned thumbprints of each server: the same for all, or each its own; empty sets
    for none (a mapping must pin every server: pinning some only is refused as a slip)."""
    from collections.abc import Mapping

    if not isinstance(thumbprints, Mapping):
        shared = check_thumbprints(thumbprints, "thumbprints")
        return dict.fromkeys(servers, shared)
    unknown = [url for url in thumbprints if url not in servers]
    if unknown:
        raise ValueError(f"thumbprints pins a server not bound: {_shown(unknown[0])}")
    pins = {
        url: check_thumbprints(thumbprints.get(url, ()), f"thumbprints for {_shown(url)}")
        for url in servers
    }
    unpinned = [url for url, pinned in pins.items() if not pinned]
    if unpinned and len(unpinned) < len(servers):
        raise ValueError(
            f"thumbprints pins some servers but not {_shown(unpinned[0])}: pin every server or none"
        )
    return pins


def _parse_advertisement(url: str, body: bytes) -> Advertisement:
    from anker.secrets._jwe import (
        JOSEError,
        b64url_decode,
        loads_object,
        point_from_jwk,
        thumbprint,
        verify_es512,
    )

    jws = loads_object(body, "the /adv reply")
    payload_text = jws.get("payload")
    if not isinstance(payload_text, str):
        raise JOSEError("it is not a JWS (no 'payload')")
    signatures = jws.get("signatures", [jws])
    if not isinstance(signatures, list) or not signatures:
        raise JOSEError("it has no signatures")
    payload = loads_object(b64url_decode(payload_text, "the payload"), "the payload")
    keys = payload.get("keys")
    if not isinstance(keys, list) or not keys:
        raise JOSEError("its payload has no 'keys'")
    for number, key in enumerate(keys):
        point_from_jwk(key, f"key #{number + 1}")
    signing = [key for key in keys if _allows(key, "verify", "sig", "ES512")]
    exchange = [key for key in keys if _allows(key, "deriveKey", "enc", "ECMR")]
    if not signing or not exchange:
        raise JOSEError("it needs at least one signing (verify) and one exchange (deriveKey) key")
    checked = []
    for signature in signatures:
        if not isinstance(signature, dict):
            raise JOSEError("a signature is not a JSON object")
        protected = signature.get("protected")
        header = loads_object(
            b64url_decode(protected, "a signature's header"),  # type: ignore[arg-type]
            "a signature's header",
        )
        raw = b64url_decode(signature.get("signature"), "a signature")  # type: ignore[arg-type]
        if header.get("alg") == "ES512":
            checked.append((f"{protected}.{payload_text}".encode("ascii"), raw))
    for key in signing:
        if not any(verify_es512(key, message, raw) for message, raw in checked):
            raise JOSEError(f"it is not signed by its signing key {thumbprint(key)}")
    return Advertisement(url, payload, signing, exchange)


def _allows(key: JSON, operation: str, use: str, alg: str) -> bool:
    """Whether a JWK is meant for ``operation``: by key_ops, else by use (jose's rule)."""
    if key.get("alg", alg) != alg:
        return False
    ops = key.get("key_ops")
    if isinstance(ops, list):
        return operation in ops
    return key.get("use") == use


def _shown(url: object) -> str:
    from anker._url import mask_urls

    return mask_urls(str(url))
