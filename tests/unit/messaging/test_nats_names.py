"""The nats transport's names: every user-given name is one subject token, read back exactly,
and names that differ never share a subject, stream or consumer."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from anker.messaging.transports.nats import _names

#: what a Target allows, and more (any text but lone surrogates)
NAMES = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
FORBIDDEN = set(". *>\t\r\n%")


@given(NAMES)
def test_a_token_is_one_subject_token_and_reads_back(name: str) -> None:
    token = _names.token(name)
    assert token
    assert not FORBIDDEN & set(token)
    assert _names.untoken(token) == name
    assert _names.id_token(name) == token


@given(NAMES, NAMES, NAMES, NAMES)
def test_topics_and_servers_never_share_a_subject(a: str, b: str, c: str, d: str) -> None:
    if (a, b) != (c, d):
        assert _names.request_subject("x", a, b) != _names.request_subject("x", c, d)
        assert _names.queue_consumer(a, b) != _names.queue_consumer(c, d)
        assert _names.pool_consumer(a, b) != _names.pool_consumer(c, d)
    # a topic's own subject is never another topic's server subject
    assert _names.request_subject("x", a, None) != _names.request_subject("x", c, d)


def test_dotted_names_stay_apart() -> None:
    assert _names.request_subject("x", "a.b", "c") != _names.request_subject("x", "a", "b.c")
    assert _names.request_subject("x", "a.b", None) == "anker.rpc.x.a~2Eb"


@given(st.text(min_size=1, max_size=400))
def test_long_names_are_shortened_apart(name: str) -> None:
    short = _names.short(name)
    assert len(short) <= _names.MAX_NAME
    if len(name) > _names.MAX_NAME:
        assert _names.short(name + "x") != short
