"""Point arithmetic on NIST P-521, for the McCallum-Relyea exchange that Tang recovery needs.

Recovering a Tang-bound key adds and subtracts curve points (``X = epk + e·G``,
``K = Y - e·S``), which the ``cryptography`` library does not expose: it only offers ECDH,
which yields an x-coordinate. This module does that arithmetic on plain integers: affine points
for the API, Jacobian coordinates inside scalar multiplication so that it needs one modular
inverse instead of one per step.

Points are ``(x, y)`` tuples of integers; ``None`` is the point at infinity. P-521 has
cofactor 1, so every point on the curve other than infinity generates the whole group.

This is not constant-time code (Python integers are not). It only ever handles the ephemeral
scalar of one recovery and points that travel over the network anyway.
"""

from __future__ import annotations

__all__ = [
    "FIELD_BYTES",
    "B",
    "G",
    "N",
    "P",
    "Point",
    "add",
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
_Jacobian = tuple[int, int, int]  # (X, Y, Z) stands for (X/Z², Y/Z³); Z == 0 is infinity


def is_on_curve(point: Point) -> bool:
    """Whether ``point`` has coordinates in the field and satisfies the curve equation."""
    x, y = point
    if not (0 <= x < P and 0 <= y < P):
        return False
    return (y * y - (x * x * x - 3 * x + B)) % P == 0


def negate(point: Point | None) -> Point | None:
    """-point."""
    if point is None:
        return None
    x, y = point
    return x, (-y) % P


def add(first: Point | None, second: Point | None) -> Point | None:
    """first + second, in affine coordinates (one modular inverse)."""
    if first is None:
        return second
    if second is None:
        return first
    (x1, y1), (x2, y2) = first, second
    if x1 == x2:
        if (y1 + y2) % P == 0:
            return None
        slope = (3 * x1 * x1 - 3) * pow(2 * y1, -1, P) % P
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (slope * slope - x1 - x2) % P
    return x3, (slope * (x1 - x3) - y1) % P


def subtract(first: Point | None, second: Point | None) -> Point | None:
    """first - second."""
    return add(first, negate(second))


def multiply(scalar: int, point: Point | None) -> Point | None:
    """scalar · point, by double-and-add in Jacobian coordinates."""
    scalar %= N
    if point is None or scalar == 0:
        return None
    acc: _Jacobian = (1, 1, 0)
    for bit in bin(scalar)[2:]:
        acc = _double(acc)
        if bit == "1":
            acc = _add_affine(acc, point)
    return _to_affine(acc)


def _double(point: _Jacobian) -> _Jacobian:
    # dbl-2001-b for a = -3
    x, y, z = point
    if z == 0 or y == 0:
        return 1, 1, 0
    delta = z * z % P
    gamma = y * y % P
    beta = x * gamma % P
    alpha = 3 * (x - delta) * (x + delta) % P
    x3 = (alpha * alpha - 8 * beta) % P
    z3 = ((y + z) * (y + z) - gamma - delta) % P
    y3 = (alpha * (4 * beta - x3) - 8 * gamma * gamma) % P
    return x3, y3, z3


def _add_affine(first: _Jacobian, second: Point) -> _Jacobian:
    # madd-2007-bl: a Jacobian point plus an affine one
    x1, y1, z1 = first
    x2, y2 = second
    if z1 == 0:
        return x2, y2, 1
    z1z1 = z1 * z1 % P
    u2 = x2 * z1z1 % P
    s2 = y2 * z1 * z1z1 % P
    h = (u2 - x1) % P
    r = 2 * (s2 - y1) % P
    if h == 0:
        return _double(first) if r == 0 else (1, 1, 0)
    hh = h * h % P
    i = 4 * hh % P
    j = h * i % P
    v = x1 * i % P
    x3 = (r * r - j - 2 * v) % P
    y3 = (r * (v - x3) - 2 * y1 * j) % P
    z3 = ((z1 + h) * (z1 + h) - z1z1 - hh) % P
    return x3, y3, z3


def _to_affine(point: _Jacobian) -> Point | None:
    x, y, z = point
    if z == 0:
        return None
    z_inv = pow(z, -1, P)
    z_inv2 = z_inv * z_inv % P
    return x * z_inv2 % P, y * z_inv2 * z_inv % P
