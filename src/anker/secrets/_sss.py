"""Shamir's secret sharing over a prime field, in the shape clevis's ``sss`` pin uses.

A binding to several Tang servers with threshold ``t`` is a random polynomial of degree
``t - 1`` modulo a 256-bit prime ``p``. Its constant term is the 32-byte key of the outer JWE;
each server protects one point ``(x, f(x))``, serialized as ``x`` then ``y``, each 32 bytes
big-endian. Any ``t`` points give back the constant term by Lagrange interpolation at 0.

clevis draws a safe prime; interpolation only needs a prime, so any prime in the JWE works.
"""

from __future__ import annotations

import functools
import math
import secrets
from collections.abc import Sequence

__all__ = [
    "KEY_BYTES",
    "Share",
    "combine",
    "decode_share",
    "encode_share",
    "generate_prime",
    "is_probable_prime",
    "split",
]

#: Bytes in the prime, the key and each coordinate of a share (clevis: 32, for A256GCM).
KEY_BYTES = 32

Share = tuple[int, int]


def is_probable_prime(candidate: int, rounds: int = 64) -> bool:
    """Miller-Rabin with random bases: any composite passes with probability < 4**-rounds."""
    if candidate < 5:
        return candidate in (2, 3)
    if candidate < 1000:
        return all(candidate % d for d in range(2, int(candidate**0.5) + 1))
    if math.gcd(candidate, _small_primes_product()) != 1:
        return False
    if pow(2, candidate - 1, candidate) != 1:  # a cheap Fermat test rejects most of the rest
        return False
    odd, twos = candidate - 1, 0
    while odd % 2 == 0:
        odd //= 2
        twos += 1
    for _ in range(rounds):
        witness = pow(2 + secrets.randbelow(candidate - 3), odd, candidate)
        if witness in (1, candidate - 1):
            continue
        for _ in range(twos - 1):
            witness = witness * witness % candidate
            if witness == candidate - 1:
                break
        else:
            return False
    return True


def generate_prime(bits: int = 8 * KEY_BYTES) -> int:
    """A random prime of exactly ``bits`` bits."""
    while True:
        candidate = secrets.randbits(bits) | (1 << (bits - 1)) | 1
        # 32 rounds: < 2**-64 even for the worst composite, far less for random candidates
        if is_probable_prime(candidate, rounds=32):
            return candidate


def split(threshold: int, count: int, prime: int) -> tuple[int, list[Share]]:
    """A random secret below ``prime`` and ``count`` shares of it, any ``threshold`` of which
    recover it."""
    if not 1 <= threshold <= count:
        raise ValueError(f"need 1 <= threshold <= count, got threshold {threshold}, count {count}")
    coefficients = [secrets.randbelow(prime) for _ in range(threshold)]
    xs: set[int] = set()
    while len(xs) < count:
        xs.add(1 + secrets.randbelow(prime - 1))  # x = 0 would be the secret itself
    shares = [(x, _evaluate(coefficients, x, prime)) for x in xs]
    return coefficients[0], shares


def combine(shares: Sequence[Share], prime: int) -> int:
    """The polynomial's value at 0 from as many shares as its threshold (Lagrange)."""
    xs = [x for x, _ in shares]
    if len(set(xs)) != len(xs) or any(not 0 < x < prime for x in xs):
        raise ValueError("shares must have distinct x-coordinates in 1..p-1")
    secret = 0
    for i, (x_i, y_i) in enumerate(shares):
        numerator, denominator = 1, 1
        for j, (x_j, _) in enumerate(shares):
            if i != j:
                numerator = numerator * -x_j % prime
                denominator = denominator * (x_i - x_j) % prime
        secret = (secret + y_i * numerator * pow(denominator, -1, prime)) % prime
    return secret


def encode_share(share: Share, size: int = KEY_BYTES) -> bytes:
    """x then y, each ``size`` bytes big-endian."""
    x, y = share
    return x.to_bytes(size, "big") + y.to_bytes(size, "big")


def decode_share(data: bytes, prime: int, size: int = KEY_BYTES) -> Share:
    """The inverse of :func:`encode_share`, checking the length and that both are below p."""
    if len(data) != 2 * size:
        raise ValueError(f"a share is {2 * size} bytes, got {len(data)}")
    x, y = int.from_bytes(data[:size], "big"), int.from_bytes(data[size:], "big")
    if not (0 < x < prime and 0 <= y < prime):
        raise ValueError("a share's coordinates are out of range for its prime")
    return x, y


@functools.cache
def _small_primes_product() -> int:
    """The product of the primes below 1000, to sieve candidates with one gcd."""
    product = 1
    for n in range(2, 1000):
        if all(n % d for d in range(2, int(n**0.5) + 1)):
            product *= n
    return product


def _evaluate(coefficients: Sequence[int], x: int, prime: int) -> int:
    value = 0
    for coefficient in reversed(coefficients):  # Horner
        value = (value * x + coefficient) % prime
    return value
