"""NIST P-521 points for the McCallum-Relyea exchange that Tang recovery needs.

Recovering a Tang-bound key adds and subtracts curve points (``X = epk + e·G``,
``K = Y - e·S``), which the ``cryptography`` library does not expose: its ECDH yields only an
x-coordinate. pycryptodome's ``Crypto.PublicKey.ECC`` does that arithmetic (in C); this module
is the thin, checked layer over it.

Every point that comes from outside goes through :func:`check` first: coordinates in the
field, on the curve, and not the point at infinity. pycryptodome alone would not do: it reads
``(0, 0)`` as the point at infinity and reduces coordinates modulo p.

Points are ``(x, y)`` tuples of integers; ``None`` is the point at infinity, which only an
operation can yield. P-521 has cofactor 1, so every other point on the curve generates the
whole group: no small-subgroup point can be sent to a server or accepted from one.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # documented here; pycryptodome's typed module just does not list it as re-exported
    from Crypto.PublicKey.ECC import EccPoint  # type: ignore[attr-defined]

__all__ = [
    "FIELD_BYTES",
    "B",
    "G",
    "N",
    "P",
    "Point",
    "add",
    "blind",
    "check",
    "is_on_curve",
    "multiply",
    "negate",
    "subtract",
]

#: The field prime 2**521 - 1, the curve order, and b in y² = x³ - 3x + b (FIPS 186-4, D.1.2.5).
P = (1 << 521) - 1
N = int(
    "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    "fa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409",
    16,
)
B = int(
    "0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef1"
    "09e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00",
    16,
)
G = (
    int(
        "00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d"
        "3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66",
        16,
    ),
    int(
        "011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e"
        "662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650",
        16,
    ),
)
#: Bytes in a coordinate (and in an ECDH shared secret) on this curve.
FIELD_BYTES = 66

Point = tuple[int, int]


def is_on_curve(point: Point) -> bool:
    """Whether ``point`` has coordinates in the field and satisfies the curve equation.

    The point at infinity has no affine coordinates; ``(0, 0)``, which some libraries use for
    it, is not on the curve (b is not 0).
    """
    x, y = point
    if not (0 <= x < P and 0 <= y < P):
        return False
    return (y * y - (x * x * x - 3 * x + B)) % P == 0


def check(point: Point, what: str) -> Point:
    """``point``, or ValueError naming ``what`` when it is not a usable public point."""
    x, y = point
    if not (0 <= x < P and 0 <= y < P):
        raise ValueError(f"{what} has a coordinate outside the field of P-521")
    if not is_on_curve(point):
        raise ValueError(f"{what} is not a point on P-521")
    return point


def negate(point: Point | None) -> Point | None:
    """-point."""
    if point is None:
        return None
    x, y = point
    return x, (-y) % P


def add(first: Point | None, second: Point | None) -> Point | None:
    """first + second."""
    if first is None:
        return second
    if second is None:
        return first
    return _affine(_ecc(first) + _ecc(second))


def subtract(first: Point | None, second: Point | None) -> Point | None:
    """first - second."""
    return add(first, negate(second))


def multiply(scalar: int, point: Point | None) -> Point | None:
    """scalar · point."""
    scalar %= N
    if point is None or scalar == 0:
        return None
    return _affine(_ecc(point) * scalar)


def blind(epk: Point, server_key: Point) -> tuple[Point, Point]:
    """The client's half of a McCallum-Relyea exchange, for a fresh random ``e``: the point
    ``X = epk + e·G`` to send to the server, and ``e·S`` to take off its reply ``s·X``.

    Both are checked points; ValueError if ``epk`` is ``-e·G`` (only a crafted epk could be).
    """
    check(epk, "the JWE's epk")
    check(server_key, "the server's exchange key")
    ephemeral = secrets.randbelow(N - 1) + 1
    blinded = add(epk, multiply(ephemeral, G))
    unblinding = multiply(ephemeral, server_key)
    if blinded is None or unblinding is None:
        raise ValueError("the JWE's epk cannot be blinded")
    return blinded, unblinding


def _ecc(point: Point) -> EccPoint:
    try:
        from Crypto.PublicKey.ECC import EccPoint  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - pycryptodome comes with anker[tang]
        from anker.errors import MissingDependency

        raise MissingDependency("pycryptodome", "tang", "recovering keys bound to Tang") from None
    # never (0, 0), which pycryptodome reads as the point at infinity; never an unreduced x
    return EccPoint(*check(point, "a point"), curve="p521")


def _affine(point: EccPoint) -> Point | None:
    if point.is_point_at_infinity():
        return None
    x, y = point.xy  # one conversion from pycryptodome's projective coordinates
    return int(x), int(y)
