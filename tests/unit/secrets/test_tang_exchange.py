"""Recovery against a Tang stand-in that can misbehave as no real tangd does.

Interoperability with real tangd and clevis is in tests/integration/tang; here a server
answers points that are off the curve, outside the field, or the point at infinity.
"""

from __future__ import annotations

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
