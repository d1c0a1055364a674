"""Signed raw messages: the signature covers the body, the headers, the exchange and the key;
every way a raw message can be wrong is refused for its own reason, and a copy in another
queue or a redelivery by the broker is no replay."""

from __future__ import annotations

import json
import os
import time

import pytest

from anker.messaging import Signing
from anker.messaging._signing import RAW_SIGNATURE_HEADER, raw_route

KEY = os.urandom(32)
ROUTE = raw_route("shop", "orders.created")


def signed(signing: Signing, body: bytes = b"7", **headers: str) -> dict[str, str]:
    return {**headers, RAW_SIGNATURE_HEADER: signing.sign_raw(body, headers, ROUTE)}


def problem(
    signing: Signing,
    headers: dict[str, str],
    *,
    body: bytes = b"7",
    route: str = ROUTE,
    queue: str = "billing",
    redelivered: bool = False,
    allow_unsigned: bool = False,
) -> str | None:
    return signing.raw_problem(
        body,
        headers,
        route,
        queue=queue,
        redelivered=redelivered,
        allow_unsigned=allow_unsigned,
    )


def test_a_genuine_message_passes_once_per_queue() -> None:
    signing = Signing({"k1": KEY})
    headers = signed(signing, Kind="order")
    assert problem(signing, headers) is None
    assert problem(signing, headers, queue="audit") is None  # that queue's own copy
    assert problem(signing, headers) == "replayed"  # published again into billing
    assert problem(signing, headers, redelivered=True) is None  # the broker's redelivery


@pytest.mark.parametrize(
    ("change", "cause"),
    [
        ({"body": b"8"}, "tampered"),
        ({"route": raw_route("shop", "orders.deleted")}, "misrouted"),
        ({"route": raw_route("admin", "orders.created")}, "misrouted"),
    ],
)
def test_a_changed_body_or_route_is_refused(change: dict[str, object], cause: str) -> None:
    signing = Signing({"k1": KEY})
    assert problem(signing, signed(signing), **change) == cause  # type: ignore[arg-type]


def test_changed_added_or_removed_headers_are_tampering() -> None:
    signing = Signing({"k1": KEY})
    headers = signed(signing, Kind="order")
    assert problem(signing, {**headers, "Kind": "refund"}) == "tampered"
    assert problem(signing, {**headers, "Extra": "1"}) == "tampered"
    assert problem(signing, {k: v for k, v in headers.items() if k != "Kind"}) == "tampered"


def test_unsigned_malformed_unknown_and_expired_signatures_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signing = Signing({"k1": KEY}, window=60)
    assert problem(signing, {}) == "unsigned"
    assert problem(signing, {}, allow_unsigned=True) is None
    assert problem(signing, {RAW_SIGNATURE_HEADER: "{not json"}) == "malformed"
    assert problem(signing, {RAW_SIGNATURE_HEADER: "[1]"}) == "malformed"
    other = Signing({"k2": os.urandom(32)})
    assert problem(signing, signed(other)) == "unknown key"
    headers = signed(signing)
    stamp = json.loads(headers[RAW_SIGNATURE_HEADER])
    stamp["ts"] = time.time() - 3600
    assert problem(signing, {RAW_SIGNATURE_HEADER: json.dumps(stamp)}) == "tampered"
    now = time.time()
    with monkeypatch.context() as patched:
        patched.setattr(time, "time", lambda: now - 3600)  # signed an hour ago
        stale = signed(signing)
    assert problem(signing, stale) == "expired"
    assert problem(signing, stale, allow_unsigned=True) == "expired"  # badly signed: still
