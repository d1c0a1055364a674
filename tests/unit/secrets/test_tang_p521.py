"""P-521 point arithmetic agrees with the `cryptography` library and with the group laws."""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from anker.secrets import _p521
from anker.secrets._p521 import G, N, P, add, is_on_curve, multiply, negate, subtract

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
