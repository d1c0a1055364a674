"""P-521 point arithmetic (pycryptodome, behind anker's checks) agrees with the `cryptography`
library (OpenSSL) and with the group laws; no bad point ever reaches it."""

from __future__ import annotations

import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from anker.secrets import _p521
from anker.secrets._p521 import (
    G,
    N,
    P,
    add,
    blind,
    check,
    is_on_curve,
    multiply,
    negate,
    subtract,
)

scalars = st.integers(min_value=1, max_value=N - 1)


def public_point(scalar: int) -> tuple[int, int]:
    numbers = ec.derive_private_key(scalar, ec.SECP521R1()).public_key().public_numbers()
    return numbers.x, numbers.y


def test_the_generator_is_on_the_curve() -> None:
    assert is_on_curve(G)
    assert not is_on_curve((G[0], G[1] + 1))
    assert not is_on_curve((G[0] + P, G[1]))


@settings(max_examples=20, deadline=None)
@given(scalars)
def test_scalar_multiplication_matches_cryptography(k: int) -> None:
    assert multiply(k, G) == public_point(k)


def test_small_and_edge_scalars() -> None:
    for k in (1, 2, 3, 4, 255, 256, N - 2, N - 1):
        assert multiply(k, G) == public_point(k)
    assert multiply(0, G) is None
    assert multiply(N, G) is None
    assert multiply(N + 5, G) == multiply(5, G)
    assert multiply(7, None) is None


@settings(max_examples=15, deadline=None)
@given(scalars, scalars)
def test_addition_is_the_group_law(a: int, b: int) -> None:
    a_g, b_g = multiply(a, G), multiply(b, G)
    assert add(a_g, b_g) == multiply(a + b, G)
    assert subtract(a_g, b_g) == multiply(a - b, G)
    assert add(a_g, b_g) == add(b_g, a_g)


def test_identity_inverse_and_doubling() -> None:
    point = public_point(secrets.randbelow(N - 1) + 1)
    assert add(point, None) == point
    assert add(None, point) == point
    assert add(point, negate(point)) is None
    assert subtract(point, point) is None
    assert add(point, point) == multiply(2, point)
    assert negate(None) is None
    assert multiply(N - 1, G) == negate(G)


def test_multiplying_another_point_matches_ecdh() -> None:
    # s·(e·G) has the x-coordinate ECDH computes for private e and public s·G
    s, e = (secrets.randbelow(N - 1) + 1 for _ in range(2))
    server = ec.derive_private_key(s, ec.SECP521R1())
    client = ec.derive_private_key(e, ec.SECP521R1())
    shared = client.exchange(ec.ECDH(), server.public_key())
    point = multiply(e, public_point(s))
    assert point is not None
    assert point[0].to_bytes(_p521.FIELD_BYTES, "big") == shared


def test_the_mccallum_relyea_exchange_gives_the_ecdh_point() -> None:
    s, c, e = (secrets.randbelow(N - 1) + 1 for _ in range(3))
    server_key, epk, ephemeral = public_point(s), public_point(c), public_point(e)
    blinded = add(epk, ephemeral)  # what the client sends
    reply = multiply(s, blinded)  # what Tang answers
    assert subtract(reply, multiply(e, server_key)) == multiply(s, epk) == multiply(c, server_key)


@pytest.mark.parametrize(
    ("point", "reason"),
    [
        ((0, 0), "not a point on P-521"),  # pycryptodome's point at infinity
        ((G[0] + P, G[1]), "outside the field"),  # pycryptodome would reduce it to G
        ((G[0], G[1] + P), "outside the field"),
        ((-1, G[1]), "outside the field"),
        ((G[0], G[1] + 1), "not a point on P-521"),
    ],
)
def test_bad_points_never_reach_the_arithmetic(point: tuple[int, int], reason: str) -> None:
    with pytest.raises(ValueError, match=f"^the point .*{reason}"):
        check(point, "the point")
    with pytest.raises(ValueError, match=reason):
        add(point, G)
    with pytest.raises(ValueError, match=reason):
        add(G, point)
    with pytest.raises(ValueError, match=reason):
        multiply(2, point)
    with pytest.raises(ValueError, match=reason):
        blind(point, G)
    with pytest.raises(ValueError, match=reason):
        blind(G, point)


def test_blinding_hides_the_epk_and_unblinds_to_the_ecdh_point() -> None:
    s, c = (secrets.randbelow(N - 1) + 1 for _ in range(2))
    server_key, epk = public_point(s), public_point(c)
    blinded, unblinding = blind(epk, server_key)
    assert is_on_curve(blinded)
    assert blinded != epk
    assert blind(epk, server_key)[0] != blinded, "a fresh e each time"
    reply = multiply(s, blinded)  # what Tang answers
    assert subtract(reply, unblinding) == public_point(s * c % N)
