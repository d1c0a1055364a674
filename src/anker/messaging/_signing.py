"""Signed messages: an HMAC-SHA256 over each message and where it was sent, with a key id, so
that a server or listener can refuse what no holder of the key sent, changed, re-sent or
redirected.

The signature travels inside the message as one more key, ``_anker_signature`` (oslo.messaging
peers ignore keys they do not know): ``{"v": 1, "kid", "ts", "n", "route", "mac"}``. The MAC
covers a domain tag, the key id, the time, a random nonce, the route (the exchange, topic and
server a request was sent to; a notification's topic and priority; the call a reply answers)
and the message in a canonical JSON form (sorted keys, as the receiver decodes it).

A receiver refuses, before dispatch: an unsigned message (unless unsigned ones are allowed for
that server or listener: oslo.messaging peers), an unknown key id, a MAC that does not match
(tampered), a time outside the window (expired, or from the future), a nonce seen before
within the window (replayed) and a route that is not its own (redirected).

.. versionadded:: 0.1
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from anker._observe import report
from anker._secret import Secret
from anker.messaging import _wire

if TYPE_CHECKING:
    from anker.secrets import KeyManager

__all__ = ["SIGNATURE_KEY", "Signing"]

log = logging.getLogger("anker.messaging")

SIGNATURE_KEY = "_anker_signature"
#: the header carrying a raw message's signature
RAW_SIGNATURE_HEADER = "Anker-Signature"
_DOMAIN = b"anker.messaging.signature.v1\n"
#: the most nonces remembered for replay detection (the oldest are forgotten first)
MAX_NONCES = 200_000


def _canonical(message: Mapping[str, Any], *, decoded: bool = True) -> bytes:
    """The message as the receiver decodes it, in one canonical JSON form (sorted keys).
    A sender's message is first made what the wire makes of it (``decoded=False``: dates,
    sets and such become what they are sent as)."""
    unsigned = {k: v for k, v in message.items() if k != SIGNATURE_KEY}
    if not decoded:
        unsigned = _wire.decode(_wire.encode(unsigned), "a message to sign")
    try:
        return orjson.dumps(unsigned, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers past 64 bits: the standard library writes them
        text = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode()


def _raw_canonical(body: bytes, headers: Mapping[str, str]) -> bytes:
    """A raw message's headers (but its signature; sorted) and body, as one byte string."""
    named = sorted((k, v) for k, v in headers.items() if k != RAW_SIGNATURE_HEADER)
    return orjson.dumps(named) + b"\n" + body


class Signing:
    """Keys to sign and verify messages with: ``keys`` maps key ids to secrets (at least 16
    bytes each); the first one signs, every one verifies (so a rotation adds the new key
    first and keeps the old one until every sender has moved on). ``window`` is how old (or
    how far in the future) a message may be, in seconds; nonces are remembered that long.

    Give it to :func:`~anker.messaging.connect` (``signing=``): clients, notifiers and
    servers of that transport then sign what they send, and servers and listeners refuse
    what is not signed right. ``allow_unsigned=True`` on a server or listener accepts
    unsigned messages there (oslo.messaging peers), still refusing badly signed ones.
    """

    def __init__(self, keys: Mapping[str, bytes | Secret[bytes]], *, window: float = 300.0) -> None:
        if not isinstance(keys, Mapping):
            raise TypeError(
                f"Signing takes a mapping of key ids to secret bytes, not {type(keys).__name__}"
            )
        if not keys:
            raise ValueError("Signing needs at least one key")
        if isinstance(window, bool) or not isinstance(window, int | float):
            raise TypeError(f"Signing: window must be seconds (a number), not {window!r}")
        if not window > 0:
            raise ValueError(f"Signing: window must be > 0 seconds, not {window}")
        self._keys: dict[str, bytes] = {}
        for key_id, value in keys.items():
            if not isinstance(key_id, str):
                raise TypeError(f"signing key id {key_id!r}: a str, not {type(key_id).__name__}")
            if not key_id or len(key_id) > 200:
                raise ValueError(f"signing key id {key_id!r}: 1 to 200 characters")
            raw: object = value.reveal() if isinstance(value, Secret) else value
            if isinstance(raw, bytearray | memoryview):
                raw = bytes(raw)
            if not isinstance(raw, bytes):  # a str could be hex, base64 or a passphrase
                raise TypeError(
                    f"signing key {key_id!r}: bytes, not {type(raw).__name__} (decode a hex"
                    " or base64 text yourself, or take the key from anker.secrets)"
                )
            if len(raw) < 16:
                raise ValueError(
                    f"signing key {key_id!r} has {len(raw)} bytes: use at least 16 random bytes"
                )
            self._keys[key_id] = raw
        self.signer = next(iter(self._keys))
        self.window = window
        self._nonces: OrderedDict[str, float] = OrderedDict()

    def __repr__(self) -> str:
        return f"<Signing signer={self.signer!r} keys={list(self._keys)} window={self.window}>"

    @classmethod
    async def from_key_manager(
        cls, keys: KeyManager, name: str, *, previous: int = 1, window: float = 300.0
    ) -> Signing:
        """The HMAC key ``name`` of a key manager: its newest version signs, the ``previous``
        versions before it still verify (``kid`` is ``<id>:<version>``). After ``anker
        secrets rotate NAME``, restart (or reopen) senders last: receivers first learn the
        new version, then senders use it."""
        if isinstance(previous, bool) or not isinstance(previous, int) or previous < 0:
            raise ValueError(f"Signing.from_key_manager: previous must be >= 0, not {previous!r}")
        newest = await keys.find(name)
        if newest.kind != "symmetric":  # a public key would let anyone who has it sign
            raise ValueError(
                f"Signing.from_key_manager: {name!r} is a {newest.kind} secret, not a symmetric"
                " (HMAC) key: make one with `anker secrets create-key --algorithm HMAC`"
            )
        found: dict[str, Secret[bytes]] = {}
        for version in range(newest.version, max(0, newest.version - previous - 1), -1):
            obj = await keys.get(newest.id, version=version)
            found[f"{newest.id}:{version}"] = Secret(obj.reveal())
        return cls(found, window=window)

    # -- sending -------------------------------------------------------------------------

    def sign(
        self, message: dict[str, Any], route: str, *, kid: str | None = None
    ) -> dict[str, Any]:
        """``message`` with its signature for ``route`` added (a new dict), with the key
        ``kid`` if given and known (a reply, with the key its request was signed with: a
        caller that has not learnt a newer key yet can still check it), else the signer."""
        if kid is None or kid not in self._keys:
            kid = self.signer
        stamp = {
            "v": 1,
            "kid": kid,
            "ts": round(time.time(), 3),
            "n": secrets.token_urlsafe(12),
            "route": route,
        }
        stamp["mac"] = self._mac(self._keys[kid], stamp, _canonical(message, decoded=False))
        return {**message, SIGNATURE_KEY: stamp}

    @staticmethod
    def _mac(key: bytes, stamp: Mapping[str, Any], canonical: bytes) -> str:
        head = "\n".join(str(stamp[k]) for k in ("kid", "ts", "n", "route")).encode()
        digest = hmac.new(key, _DOMAIN + head + b"\n" + canonical, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    # -- receiving -----------------------------------------------------------------------

    def problem(
        self, message: Mapping[str, Any], routes: Iterable[str], *, allow_unsigned: bool
    ) -> str | None:
        """Why ``message`` must be refused where it arrived (``routes``: the routes that lead
        here), or None if it may be dispatched. Remembers its nonce when it passes."""
        stamp = message.get(SIGNATURE_KEY)
        if stamp is None:
            return None if allow_unsigned else "unsigned"
        problem = self._check(stamp, _canonical(message) if isinstance(stamp, dict) else b"")
        if problem is not None:
            return problem
        if stamp["route"] not in set(routes):
            return "misrouted"
        return self._fresh(stamp["n"], float(stamp["ts"]), again=False)

    def _fresh(self, nonce: str, ts: float, *, again: bool) -> str | None:
        """``replayed`` if ``nonce`` was seen within the window (unless the broker says it
        delivers the message ``again``); else remember it."""
        self._forget_old(time.time())
        if nonce in self._nonces and not again:
            return "replayed"
        self._nonces[nonce] = ts
        if len(self._nonces) > MAX_NONCES:
            self._nonces.popitem(last=False)
        return None

    # -- raw messages (Transport.publish and consume) ---------------------------------------

    def sign_raw(self, body: bytes, headers: Mapping[str, str], route: str) -> str:
        """The value of the ``Anker-Signature`` header of a raw message: a signature over
        its body, its headers and its ``route`` (the exchange and routing key)."""
        stamp: dict[str, Any] = {
            "v": 1,
            "kid": self.signer,
            "ts": round(time.time(), 3),
            "n": secrets.token_urlsafe(12),
            "route": route,
        }
        stamp["mac"] = self._mac(self._keys[self.signer], stamp, _raw_canonical(body, headers))
        return orjson.dumps(stamp).decode()

    def raw_problem(
        self,
        body: bytes,
        headers: Mapping[str, str],
        route: str,
        *,
        queue: str,
        redelivered: bool,
        allow_unsigned: bool,
    ) -> str | None:
        """Why the raw message must be refused (as :meth:`problem`), or None. Nonces are
        remembered per ``queue`` (each queue bound to a key gets its own copy), and a
        message the broker delivers again (``redelivered``) is no replay."""
        text = headers.get(RAW_SIGNATURE_HEADER)
        if text is None:
            return None if allow_unsigned else "unsigned"
        try:
            stamp = orjson.loads(text)
        except orjson.JSONDecodeError:
            return "malformed"
        problem = self._check(stamp, _raw_canonical(body, headers))
        if problem is not None:
            return problem
        if stamp["route"] != route:
            return "misrouted"
        return self._fresh(f"{queue}\n{stamp['n']}", float(stamp["ts"]), again=redelivered)

    def _check(self, stamp: object, canonical: bytes) -> str | None:
        """What is wrong with the signature itself: its form, key, MAC or time."""
        if not isinstance(stamp, dict) or stamp.get("v") != 1:
            return "malformed"
        fields = [stamp.get(k) for k in ("kid", "n", "route", "mac")]
        if not all(isinstance(v, str) for v in fields) or not isinstance(
            stamp.get("ts"), int | float
        ):
            return "malformed"
        key = self._keys.get(stamp["kid"])
        if key is None:
            return "unknown key"
        if not hmac.compare_digest(self._mac(key, stamp, canonical), stamp["mac"]):
            return "tampered"
        if abs(time.time() - float(stamp["ts"])) > self.window:
            return "expired"
        return None

    def forget(self, message: Mapping[str, Any]) -> None:
        """Forget the nonce of ``message``: it goes back to the broker to be delivered again
        (a requeue), which is not a replay."""
        stamp = message.get(SIGNATURE_KEY)
        if isinstance(stamp, dict):
            self._nonces.pop(str(stamp.get("n")), None)

    def _forget_old(self, now: float) -> None:
        while self._nonces:
            nonce, ts = next(iter(self._nonces.items()))
            if now - ts <= self.window:
                return
            del self._nonces[nonce]


class Refusals:
    """Counts refused messages and logs each cause once per server or listener."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.logged: set[str] = set()

    def refused(self, cause: str, where: str, what: object) -> None:
        report("messaging.refused", 1, cause=cause)
        if cause in self.logged:
            log.debug("%s refused a message (%s) on %s: %s", self.owner, cause, where, what)
            return
        self.logged.add(cause)
        log.warning(
            "%s refused a message (%s) on %s: %s; further ones are counted in"
            " anker_messages_refused_total{cause=%r}, not logged",
            self.owner,
            cause,
            where,
            what,
            cause,
        )


def request_route(exchange: str, topic: str, server: str | None, fanout: bool) -> str:
    """Where a request goes: ``rpc:<exchange>:<topic>:<server>`` (``*`` fanned out, empty for
    any server of the topic)."""
    return f"rpc:{exchange}:{topic}:{'*' if fanout else server or ''}"


def notification_route(exchange: str, topic: str, priority: str) -> str:
    return f"notify:{exchange}:{topic}.{priority}"


def raw_route(exchange: str, key: str) -> str:
    """Where a raw message was published: ``raw:<exchange>:<routing key>``."""
    return f"raw:{exchange}:{key}"


def reply_route(msg_id: str) -> str:
    return f"reply:{msg_id}"


def key_of(message: Mapping[str, Any]) -> str | None:
    """The id of the key ``message`` was signed with, if it was."""
    stamp = message.get(SIGNATURE_KEY)
    kid = stamp.get("kid") if isinstance(stamp, dict) else None
    return kid if isinstance(kid, str) else None
