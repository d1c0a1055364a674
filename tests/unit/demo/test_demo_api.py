"""The demo API's checks of a create request: every bad body is a clear 400, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anker.demo._api import parse_create

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=10,
)


def test_a_good_request() -> None:
    assert parse_create({"name": "web-1", "cores": 2}) == ("web-1", 2, None)
    assert parse_create({"name": "db", "boot_seconds": 3}) == ("db", 1, 3.0)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ([], "must be a JSON object"),
        ("web-1", "must be a JSON object"),
        ({"name": "a", "core": 2}, "unknown field(s) 'core'"),
        ({"cores": 2}, "'name' must be"),
        ({"name": ""}, "'name' must be"),
        ({"name": "x" * 256}, "'name' must be"),
        ({"name": "a\nb"}, "'name' must be"),
        ({"name": "a", "cores": "2"}, "'cores' must be an integer"),
        ({"name": "a", "cores": True}, "'cores' must be an integer"),
        ({"name": "a", "cores": 0}, "'cores' must be an integer from 1 to 64"),
        ({"name": "a", "cores": 65}, "'cores' must be an integer from 1 to 64"),
        ({"name": "a", "boot_seconds": -1}, "'boot_seconds' must be a number"),
        ({"name": "a", "boot_seconds": float("nan")}, "'boot_seconds' must be a number"),
        ({"name": "a", "boot_seconds": "1"}, "'boot_seconds' must be a number"),
    ],
)
def test_a_bad_request_says_what_is_wrong(body: Any, says: str) -> None:
    problem = parse_create(body)
    assert isinstance(problem, str)
    assert says in problem


@given(JSON)
def test_any_json_is_accepted_or_explained(body: Any) -> None:
    answer = parse_create(body)
    if isinstance(answer, str):
        assert answer
    else:
        name, cores, boot = answer
        assert 0 < len(name) <= 255
        assert 1 <= cores <= 64
        assert boot is None or 0 <= boot <= 60
