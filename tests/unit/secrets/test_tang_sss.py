"""Shamir sharing as clevis's sss pin uses it: any t of n shares give the key, fewer do not."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anker.secrets._sss import (
    KEY_BYTES,
    combine,
    decode_share,
    encode_share,
    generate_prime,
    is_probable_prime,
    split,
)

PRIME = (1 << 255) - 19  # a known prime, so most tests need not search for one


def test_primality_on_known_numbers() -> None:
    small = [n for n in range(100) if is_probable_prime(n)]
    assert small == [n for n in range(100) if all(n % d for d in range(2, n)) and n > 1]
    carmichael = (561, 1105, 1729, 2465, 2821, 6601, 8911, 41041, 825265)
    assert not any(is_probable_prime(n) for n in carmichael)
    assert is_probable_prime(PRIME)
    assert is_probable_prime((1 << 521) - 1)
    assert not is_probable_prime(PRIME * ((1 << 127) - 1))


def test_generated_primes_fill_the_key_size() -> None:
    for _ in range(3):
        prime = generate_prime()
        assert prime.bit_length() == 8 * KEY_BYTES
        assert is_probable_prime(prime)


@settings(max_examples=40, deadline=None)
@given(st.data(), st.integers(min_value=1, max_value=6), st.integers(min_value=0, max_value=4))
def test_any_threshold_of_shares_recovers(data: st.DataObject, threshold: int, extra: int) -> None:
    secret, shares = split(threshold, threshold + extra, PRIME)
    assert 0 <= secret < PRIME
    chosen = data.draw(st.permutations(shares))[:threshold]
    assert combine(chosen, PRIME) == secret
    if threshold > 1:
        # one share short gives (with overwhelming probability) something else
        assert combine(chosen[:-1], PRIME) != secret


def test_every_subset_of_three_of_five() -> None:
    secret, shares = split(3, 5, PRIME)
    assert len({x for x, _ in shares}) == 5
    assert all(0 < x < PRIME for x, _ in shares)
    for chosen in itertools.combinations(shares, 3):
        assert combine(list(chosen), PRIME) == secret


def test_threshold_one_shares_are_the_secret() -> None:
    secret, shares = split(1, 3, PRIME)
    assert {y for _, y in shares} == {secret}


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="threshold"):
        split(0, 2, PRIME)
    with pytest.raises(ValueError, match="threshold"):
        split(3, 2, PRIME)
    with pytest.raises(ValueError, match="distinct"):
        combine([(1, 2), (1, 3)], PRIME)
    with pytest.raises(ValueError, match="distinct"):
        combine([(0, 2)], PRIME)


@given(st.integers(min_value=1, max_value=PRIME - 1), st.integers(min_value=0, max_value=PRIME - 1))
def test_share_encoding_round_trips(x: int, y: int) -> None:
    data = encode_share((x, y))
    assert len(data) == 2 * KEY_BYTES
    assert decode_share(data, PRIME) == (x, y)


def test_share_decoding_checks_length_and_range() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        decode_share(b"\x01" * 63, PRIME)
    with pytest.raises(ValueError, match="out of range"):
        decode_share(bytes(32) + bytes(32), PRIME)  # x = 0
    with pytest.raises(ValueError, match="out of range"):
        decode_share(b"\xff" * 64, PRIME)
