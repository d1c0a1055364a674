"""AMQP topic matching for raw messages, against a reference written from the definition
(``*`` one word, ``#`` zero or more), and the NATS filters that stand for patterns: they
match every key the pattern matches, exactly when NATS can say the pattern, and a key reads
back from its subject."""

from __future__ import annotations

import functools

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from anker.messaging import _topics
from anker.messaging.transports.nats import _names

#: a few short words, so that random keys and patterns often match
WORDS = st.sampled_from(["a", "b", "c", "é", "x-y", "~1"])
KEYS = st.lists(WORDS, min_size=1, max_size=6).map(".".join)
PATTERN_WORDS = st.one_of(WORDS, st.just("*"), st.just("#"))
PATTERNS = st.lists(PATTERN_WORDS, min_size=1, max_size=6).map(".".join)


def reference(pattern: str, key: str) -> bool:
    """AMQP topic matching, straight from its definition (recursive, exponential: tests)."""

    @functools.cache
    def match(p: int, k: int) -> bool:
        if p == len(words):
            return k == len(parts)
        if words[p] == "#":
            return match(p + 1, k) or (k < len(parts) and match(p, k + 1))
        if k == len(parts):
            return False
        return words[p] in ("*", parts[k]) and match(p + 1, k + 1)

    words, parts = pattern.split("."), key.split(".")
    return match(0, 0)


def nats_matches(filter_subject: str, subject: str) -> bool:
    """NATS subject matching: ``*`` one token, ``>`` (last) one or more."""
    wanted, tokens = filter_subject.split("."), subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > index
        if index >= len(tokens) or token not in ("*", tokens[index]):
            return False
    return len(tokens) == len(wanted)


@settings(max_examples=2000)
@given(PATTERNS, KEYS)
@example("#", "a")
@example("a.#", "a")
@example("#.a", "a")
@example("a.#.b", "a.b")
@example("*.#", "a")
@example("#.#.a", "a")
@example("a.*", "a")
def test_the_matcher_agrees_with_the_definition(pattern: str, key: str) -> None:
    assert _topics.matches(pattern, key) == reference(pattern, key)


@settings(max_examples=1000)
@given(PATTERNS, KEYS)
@example("a.#", "a")
@example("#", "a")
@example("*.#", "a.b")
def test_a_nats_filter_matches_what_the_pattern_matches(pattern: str, key: str) -> None:
    subject = _names.raw_subject("ex.1", key)
    exact = _names.raw_filter("ex.1", pattern)
    if exact is not None:  # NATS can say it: the same keys, no more, no fewer
        assert nats_matches(exact, subject) == reference(pattern, key)
    elif reference(pattern, key):
        assert nats_matches(_names.raw_cover("ex.1", (pattern,)), subject)


@settings(max_examples=1000)
@given(st.lists(PATTERNS, min_size=1, max_size=4), KEYS)
def test_one_cover_filter_takes_every_key_of_every_pattern(patterns: list[str], key: str) -> None:
    cover = _names.raw_cover("x", tuple(patterns))
    if any(reference(pattern, key) for pattern in patterns):
        assert nats_matches(cover, _names.raw_subject("x", key))


@given(st.lists(st.text(min_size=1, max_size=8).filter(lambda w: "." not in w), min_size=1))
def test_a_key_reads_back_from_its_subject(words: list[str]) -> None:
    key = ".".join(words)
    subject = _names.raw_subject("orders", key)
    assert _names.raw_key(subject) == key
    assert not {"*", ">", " "} & set(subject)


def test_the_usual_patterns_are_exact_nats_filters() -> None:
    assert _names.raw_filter("x", "a.#") == "anker.raw.x.a.>"
    assert _names.raw_filter("x", "a.*") == "anker.raw.x.a.*.~"
    assert _names.raw_filter("x", "#") == "anker.raw.x.>"
    assert _names.raw_filter("x", "#.a") is None  # NATS has no leading '>'
    assert _names.raw_cover("x", ("a.*", "b.*")) == "anker.raw.x.*.*.~"
    assert _names.raw_cover("x", ("a.b", "a.b.c")) == "anker.raw.x.a.b.>"


@pytest.mark.parametrize(
    ("pattern", "error"),
    [
        ("a*", "mixes a wildcard"),
        ("a.>", "mixes a wildcard"),
        ("a..b", "empty word"),
        ("", "empty"),
    ],
)
def test_bad_patterns_are_refused(pattern: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        _topics.check_pattern(pattern, "here")


def test_long_patterns_match_in_linear_time() -> None:
    pattern = ".".join(["#", "*"] * 60)  # a regular expression would backtrack for ages
    assert _topics.matches(pattern, ".".join(["a"] * 59)) is False  # 60 words at least
    assert _topics.matches(pattern, ".".join(["a"] * 127))
