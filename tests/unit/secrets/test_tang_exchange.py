"""Recovery and pinning against a Tang stand-in that can misbehave as no real tangd does.

Interoperability with real tangd and clevis is in tests/integration/tang; here a server
answers points that are off the curve, outside the field, or the point at infinity, and
serves a real advertisement to bindings pinned to the right or the wrong key.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from typing import Any

import pytest
from tang_stand_in import TangStandIn
from test_tang_jwe import ADVERTISEMENT, URL_A

from anker.secrets import _p521
from anker.secrets._jwe import b64url_encode, jwk_from_point, parse_compact, thumbprint
from anker.secrets._tang import (
    TangError,
    bind,
    fetch_advertisement,
    parse_advertisement,
    recover,
)

ADV = parse_advertisement(URL_A, ADVERTISEMENT.encode())
SIGNING_S256 = thumbprint(ADV.signing_keys[0])
SIGNING_S1 = thumbprint(ADV.signing_keys[0], "S1")
EXCHANGE_S256 = thumbprint(ADV.exchange_key)


def raw_jwk(x: int, y: int) -> dict[str, str]:
    return {
        "crv": "P-521",
        "kty": "EC",
        "x": b64url_encode(x.to_bytes(66, "big")),
        "y": b64url_encode(y.to_bytes(66, "big")),
    }


# ---------------------------------------------------------------------------- recovery
async def test_an_honest_server_recovers_the_secret() -> None:
    async with TangStandIn() as tang:
        secret = os.urandom(32)
        jwe = await bind(secret, [tang.url])
        assert await recover(jwe) == secret
        assert tang.requests[0] == "GET /adv"
        assert tang.requests[1] == f"POST /rec/{ADV.kid}"


BAD_REPLIES: dict[str, Callable[[tuple[int, int]], object]] = {
    # (0, 0) is how pycryptodome spells the point at infinity
    "the point at infinity": lambda point: raw_jwk(0, 0),
    "x outside the field": lambda point: raw_jwk(point[0] + _p521.P, point[1]),
    "y outside the field": lambda point: raw_jwk(point[0], point[1] + _p521.P),
    "a point off the curve": lambda point: raw_jwk(point[0], (point[1] + 1) % _p521.P),
    "a P-256 key": lambda point: {**jwk_from_point(point), "crv": "P-256"},
    "not a JWK": lambda point: [jwk_from_point(point)],
}


@pytest.mark.parametrize("bad", BAD_REPLIES)
async def test_every_point_a_server_answers_is_checked(bad: str) -> None:
    async with TangStandIn() as tang:
        jwe = await bind(b"secret", [tang.url])
        tang.reply = BAD_REPLIES[bad]
        with pytest.raises(TangError, match=f"bad reply to POST /rec/{ADV.kid}: ") as caught:
            await recover(jwe)
        assert caught.value.url == tang.url


async def test_an_epk_outside_the_field_or_at_infinity_is_refused() -> None:
    async with TangStandIn() as tang:
        jwe = await bind(b"secret", [tang.url])
        header = parse_compact(jwe).header
        x, y = (int.from_bytes(_b64(header["epk"][name]), "big") for name in ("x", "y"))
        for epk in (raw_jwk(0, 0), raw_jwk(x + _p521.P, y), raw_jwk(x, y + _p521.P)):
            changed = _with_header(jwe, {**header, "epk": epk})
            with pytest.raises(TangError, match="the JWE is malformed: the JWE's epk"):
                await recover(changed)
        assert tang.requests == ["GET /adv"], "nothing was sent for a bad epk"


async def test_the_point_arithmetic_runs_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: list[tuple[str, int]] = []

    def recorded(name: str, operation: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            threads.append((name, threading.get_ident()))
            return operation(*args)

        return run

    async with TangStandIn() as tang:
        jwe = await bind(b"secret", [tang.url])
        for name in ("add", "subtract", "multiply"):
            monkeypatch.setattr(_p521, name, recorded(name, getattr(_p521, name)))
        assert await recover(jwe) == b"secret"
    assert {name for name, _ in threads} >= {"add", "subtract", "multiply"}
    assert threading.get_ident() not in {ident for _, ident in threads}


def _b64(text: str) -> bytes:
    from anker.secrets._jwe import b64url_decode

    return b64url_decode(text, "test")


def _with_header(jwe: str, header: dict[str, object]) -> str:
    from anker.secrets._jwe import dumps

    return b64url_encode(dumps(header).encode()) + "." + jwe.split(".", 1)[1]


# ---------------------------------------------------------------------------- pinning
@pytest.mark.parametrize("pin", [SIGNING_S256, SIGNING_S1], ids=["S256", "S1"])
async def test_a_binding_pinned_to_the_signing_key(pin: str) -> None:
    async with TangStandIn() as tang:
        jwe = await bind(b"pinned", [tang.url], thumbprints=[pin])
        assert await recover(jwe) == b"pinned"
        adv = await fetch_advertisement(tang.url, thumbprints=[pin])
        assert adv.thumbprints == (SIGNING_S256,)


@pytest.mark.parametrize(
    "pins",
    [[EXCHANGE_S256], ["A" * 43], ["B" * 27, "C" * 43]],
    ids=["the exchange key", "another key", "two other keys"],
)
async def test_an_advertisement_no_pinned_key_signed_is_refused(pins: list[str]) -> None:
    async with TangStandIn() as tang:
        with pytest.raises(TangError, match="cannot bind: 1 of 1 Tang servers failed") as caught:
            await bind(b"never bound", [tang.url], thumbprints=pins)
        [failure] = caught.value.failures
        assert failure.url == tang.url
        expected = " or ".join(sorted(pins))
        assert f"is not signed by the pinned key {expected} " in failure.reason
        assert f"(its signing keys: {SIGNING_S256})" in failure.reason
        assert tang.requests == ["GET /adv"]
        with pytest.raises(TangError, match="not signed by the pinned key") as single:
            await fetch_advertisement(tang.url, thumbprints=pins)
        assert single.value.url == tang.url


async def test_each_server_can_have_its_own_pins() -> None:
    async with TangStandIn() as first, TangStandIn() as second:
        urls = [first.url, second.url]
        pins = {first.url: [SIGNING_S256], second.url: [SIGNING_S1, "A" * 43]}
        jwe = await bind(b"two", urls, threshold=2, thumbprints=pins)
        assert await recover(jwe) == b"two"
        with pytest.raises(TangError) as caught:
            await bind(b"two", urls, thumbprints={first.url: [SIGNING_S1], second.url: ["A" * 27]})
        assert [failure.url for failure in caught.value.failures] == [second.url]
        assert "A" * 27 in str(caught.value)


@pytest.mark.parametrize(
    ("thumbprints", "error", "message"),
    [
        (SIGNING_S256, TypeError, "not one string"),
        (["A" * 42], ValueError, "SHA-256 ones have 43 characters, SHA-1 ones 27, this has 42"),
        (["A" * 42 + "="], ValueError, "is not a thumbprint"),
        ({"http://127.0.0.1:3": ["A" * 43]}, ValueError, "pins a server not bound"),
        ({"http://127.0.0.1:1": ["A" * 43]}, ValueError, "not http://127.0.0.1:2: pin every"),
        ({"http://127.0.0.1:1": "A" * 43}, TypeError, "not one string"),
    ],
)
async def test_pins_are_checked_before_any_request(
    thumbprints: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        await bind(b"k", ["http://127.0.0.1:1", "http://127.0.0.1:2"], thumbprints=thumbprints)


def test_the_advertisement_names_its_signing_keys() -> None:
    assert json.loads(ADVERTISEMENT)["payload"]
    assert ADV.signed_by({SIGNING_S1})
    assert ADV.signed_by({SIGNING_S256, "A" * 43})
    assert not ADV.signed_by({EXCHANGE_S256})
    assert not ADV.signed_by(set())
