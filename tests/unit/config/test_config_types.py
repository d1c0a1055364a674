"""Option types: text and native values in, typed values out, written back the same way."""

from __future__ import annotations

import contextlib
import enum
import ipaddress
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anker import Secret
from anker._url import BackendURL
from anker.config import ByteSize, HostAddress, Port
from anker.config._kinds import BadValue, Kind
from anker.config._types import kind_for


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


def kind(annotation: object, **constraints: Any) -> Kind:
    return kind_for(annotation, constraints)


@pytest.mark.parametrize(
    ("annotation", "constraints", "raw", "expected"),
    [
        (bool, {}, "Yes", True),
        (bool, {}, " off ", False),
        (bool, {}, True, True),
        (int, {}, " 42 ", 42),
        (int, {"min": 1, "max": 5}, 5, 5),
        (float, {}, "2.5", 2.5),
        (float, {}, 3, 3.0),
        (str, {"choices": ["a", "b"]}, "b", "b"),
        (str, {"regex": "[0-9]+", "max_length": 3}, "123", "123"),
        (list[int], {}, "1, 2,3", [1, 2, 3]),
        (list[str], {}, "[a, b]", ["[a", "b]"]),  # as oslo.config: no brackets
        (list[int], {}, "1, 2,", [1, 2]),  # a trailing comma adds nothing
        (list[str], {}, "", []),
        (list[str], {}, ["x", "y"], ["x", "y"]),
        (dict[str, int], {}, "a:1, b : 2", {"a": 1, "b": 2}),
        (dict[str, str], {}, {"k": "v"}, {"k": "v"}),
        (timedelta, {}, "90", timedelta(seconds=90)),
        (timedelta, {}, "250ms", timedelta(milliseconds=250)),
        (timedelta, {}, "1h30m", timedelta(hours=1, minutes=30)),
        (timedelta, {}, "2d", timedelta(days=2)),
        (timedelta, {}, 1.5, timedelta(seconds=1.5)),
        (ByteSize, {}, "10MiB", 10 * 1024**2),
        (ByteSize, {}, "10 MB", 10_000_000),
        (ByteSize, {}, "1.5GiB", 1536 * 1024**2),
        (ByteSize, {}, 4096, 4096),
        (Port, {}, "5672", 5672),
        (HostAddress, {}, "mq-1.example.org", "mq-1.example.org"),
        (HostAddress, {}, "::1", "::1"),
        (ipaddress.IPv4Address, {}, "10.0.0.1", ipaddress.IPv4Address("10.0.0.1")),
        (Color, {}, "blue", Color.BLUE),
        (Color, {}, "RED", Color.RED),
        (Literal["x", "y"], {}, "y", "y"),
        (Path, {}, " /etc/x ", Path("/etc/x")),
        (int | None, {}, "", None),
        (str | None, {}, "", ""),
        (Secret[int], {}, "7", Secret(7)),
    ],
)
def test_converts(
    annotation: object, constraints: dict[str, Any], raw: object, expected: object
) -> None:
    assert kind(annotation, **constraints).convert(raw) == expected


@pytest.mark.parametrize(
    ("annotation", "constraints", "raw", "message"),
    [
        (bool, {}, "maybe", "expected a boolean (true/false, yes/no, on/off, 1/0), got 'maybe'"),
        (int, {}, True, "expected an integer, got True"),
        (int, {"min": 1, "max": 5}, "6", "expected an integer from 1 to 5, got '6'"),
        (float, {"min": 0.0}, "nan", "expected a number of at least 0.0, got 'nan'"),
        (str, {"choices": ["a", "b"]}, "c", "expected one of 'a', 'b', got 'c'"),
        (str, {"regex": "[0-9]+"}, "12a", "expected a string matching '[0-9]+', got '12a'"),
        (list[int], {}, "1,x", "in '1,x': expected an integer, got 'x'"),
        (dict[str, int], {}, "a=1", "expected key:value in 'a=1' of 'a=1'"),
        (
            timedelta,
            {},
            "5 parsecs",
            "expected a duration such as 30s, 5m or 1h30m, got '5 parsecs'",
        ),
        (
            timedelta,
            {"max": "1m"},
            "2m",
            "expected a duration such as 30s, 5m or 1h30m of at most 1m",
        ),
        (ByteSize, {}, "10XB", "expected a size such as 512, 64KiB or 10MB, got '10XB'"),
        (ByteSize, {}, "1.5", "expected a size"),
        (Port, {}, "65536", "expected a port number from 0 to 65535, got '65536'"),
        (HostAddress, {}, "bad_host!", "expected a host name or IP address, got 'bad_host!'"),
        (ipaddress.IPv4Address, {}, "::1", "expected an IPv4 address, got '::1'"),
        (Color, {}, "green", "expected one of 'red', 'blue', got 'green'"),
        (BackendURL, {"schemes": ["redis"]}, "rabbit://h", "expected a URL with scheme 'redis://'"),
        (BackendURL, {}, "nonsense", "expected a URL (scheme://...): expected 'scheme://...'"),
        (Secret[int], {}, "seven", "expected an integer, got '****'"),
        (int, {}, "", "expected an integer, got ''"),
    ],
)
def test_refuses_with_what_was_expected(
    annotation: object, constraints: dict[str, Any], raw: object, message: str
) -> None:
    with pytest.raises(BadValue) as caught:
        kind(annotation, **constraints).convert(raw)
    assert message in str(caught.value)


def test_what_cannot_be_an_option_type() -> None:
    with pytest.raises(TypeError, match="dict options need str keys"):
        kind(dict[int, str])
    with pytest.raises(TypeError, match="a union of int, str cannot be an option type"):
        kind(int | str)
    with pytest.raises(TypeError, match="regex does not apply to an option of type int"):
        kind(int, regex="x")


@given(st.integers(0, 10**7).map(lambda ms: timedelta(milliseconds=ms)))
def test_durations_written_back_read_the_same(value: timedelta) -> None:
    duration = kind(timedelta)
    assert duration.convert(duration.to_text(value)) == value


@given(st.integers(0, 2**50))
def test_byte_sizes_written_back_read_the_same(value: int) -> None:
    size = kind(ByteSize)
    assert size.convert(size.to_text(ByteSize(value))) == value


@given(
    st.lists(st.integers(-(10**9), 10**9), max_size=8),
    st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), st.booleans(), max_size=5
    ),
)
def test_lists_and_dicts_written_back_read_the_same(
    numbers: list[int], flags: dict[str, bool]
) -> None:
    assert kind(list[int]).convert(kind(list[int]).to_text(numbers)) == numbers
    assert kind(dict[str, bool]).convert(kind(dict[str, bool]).to_text(flags)) == flags


@given(st.text(max_size=30))
def test_any_text_converts_or_raises_bad_value(text: str) -> None:
    for annotation in (
        int,
        float,
        bool,
        timedelta,
        ByteSize,
        Port,
        HostAddress,
        list[int],
        dict[str, int],
    ):
        with contextlib.suppress(BadValue):
            kind(annotation).convert(text)
