"""Backend URLs: oslo's multi-host form, IPv6, percent-encoding, masking, and clear errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anker import Secret
from anker._url import BackendURL, Endpoint, parse_url
from anker.errors import InvalidURL


def test_oslo_multi_host_url_with_per_host_credentials() -> None:
    url = parse_url("rabbit://u1:p1@mq1:5672,u2:p%40ss@mq2:5673/nova?ssl=1&ssl=0&heartbeat=60")
    assert url.scheme == "rabbit"
    assert url.endpoints == (
        Endpoint("mq1", 5672, "u1", Secret("p1")),
        Endpoint("mq2", 5673, "u2", Secret("p@ss")),
    )
    assert url.path == "/nova"
    assert url.query["ssl"] == ("1", "0")
    assert url.param("ssl") == "0", "the last value wins, as in a config file"
    assert url.param("missing", "dflt") == "dflt"
    assert url.username == "u1"
    assert url.password == Secret("p1")


def test_file_url_has_a_path_and_no_endpoints() -> None:
    url = parse_url("file:///var/lib/anker/locks")
    assert url.endpoints == ()
    assert url.path == "/var/lib/anker/locks"
    assert url.username is None
    assert url.password is None


def test_an_empty_user_name_is_no_user_name() -> None:
    assert parse_url("redis://:pw@h").endpoints == (Endpoint("h", None, None, Secret("pw")),)
    assert Endpoint("h", username="") == Endpoint("h")


def test_ipv6_hosts_and_default_ports() -> None:
    url = parse_url("redis://[::1]:6380,[fe80::1%25eth0],localhost/0")
    assert [(e.host, e.port) for e in url.endpoints] == [
        ("::1", 6380),
        ("fe80::1%25eth0", None),
        ("localhost", None),
    ]
    assert str(url) == "redis://[::1]:6380,[fe80::1%25eth0],localhost/0"


def test_scheme_is_case_insensitive() -> None:
    assert parse_url("Redis://h").scheme == "redis"


def test_str_and_repr_mask_passwords_and_render_reveals_them() -> None:
    url = parse_url("rabbit://svc:s3cret@mq1,other:t0psecret@mq2/")
    assert "s3cret" not in str(url)
    assert "t0psecret" not in repr(url)
    assert str(url) == "rabbit://svc:****@mq1,other:****@mq2/"
    assert url.render(mask=False) == "rabbit://svc:s3cret@mq1,other:t0psecret@mq2/"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("redis//host", "expected 'scheme://...'"),
        ("1redis://host", "is not a URL scheme"),
        ("redis://host:99999", "port '99999' of host 1 is not a number from 0 to 65535"),
        ("redis://host:http", "port 'http' of host 1"),
        ("redis://[::1", "host 1: unclosed or empty '['"),
        ("redis://[::1]x", "host 1: unexpected 'x' after ']'"),
        ("redis://h1,,h3", "host 2 is empty"),
        ("redis://::1:6379", "host 1: write an IPv6 address in brackets"),
        ("redis://h/%ff", "the path is not valid percent-encoded UTF-8"),
        ("redis://h/?=1", "query parameter '=1' has no name"),
        ("redis://h/#frag", "'#' starts a fragment"),
    ],
)
def test_errors_say_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(InvalidURL, match=None) as caught:
        parse_url(text)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "redis://user:s3cret@host:bad/",
        "rabbit://a:s3cret@h1,b:s3cret@h2:bad/",
        "rabbit://a:s3c@ret@h1:99999/",
        "redis://:s3cret@h/#x",
    ],
)
def test_errors_never_show_the_password(text: str) -> None:
    with pytest.raises(InvalidURL) as caught:
        parse_url(text)
    assert "s3cret" not in str(caught.value)
    assert "s3c" not in caught.value.url


# ----------------------------------------------------------------------------- properties
TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
HOSTS = st.one_of(
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?(\.[a-z0-9]{1,6}){0,2}", fullmatch=True),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
)
ENDPOINTS = st.builds(
    Endpoint,
    host=HOSTS,
    port=st.none() | st.integers(0, 65535),
    username=st.none() | TEXT,
    password=st.none() | TEXT.map(Secret),
)
URLS = st.builds(
    BackendURL,
    scheme=st.from_regex(r"[a-z][a-z0-9+.-]{0,10}", fullmatch=True),
    endpoints=st.lists(ENDPOINTS, max_size=3).map(tuple),
    path=st.just("") | TEXT.map(lambda text: "/" + text),
    query=st.dictionaries(TEXT.filter(bool), st.lists(TEXT, min_size=1, max_size=3).map(tuple)),
)


@given(URLS)
def test_render_then_parse_gives_the_same_url(url: BackendURL) -> None:
    assert parse_url(url.render(mask=False)) == url


@given(URLS)
def test_masked_rendering_parses_and_hides_every_password(url: BackendURL) -> None:
    masked = parse_url(str(url))
    for original, shown in zip(url.endpoints, masked.endpoints, strict=True):
        assert (shown.password is None) == (original.password is None)
        if shown.password is not None:
            assert shown.password.reveal() == "****"


@given(st.text(max_size=80))
def test_any_text_parses_or_raises_invalid_url(text: str) -> None:
    try:
        parse_url(text)
    except InvalidURL as error:
        assert error.reason, "an InvalidURL must say why"  # noqa: PT017


@given(st.text(st.characters(codec="utf-8"), min_size=1, max_size=20))
def test_a_password_survives_percent_encoding(password: str) -> None:
    url = BackendURL("redis", (Endpoint("h", 1, "u", Secret(password)),))
    assert parse_url(url.render(mask=False)).password == Secret(password)


def test_a_token_in_the_query_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    """A Barbican token given in the URL (hardening: it showed in str, repr, values, logs)."""
    import logging

    from anker.config import Config, option

    text = "barbican://kms:9311?token=S3CRET&project=p1"

    class Conf(Config):
        url: BackendURL = option(text)

    url = parse_url(text)
    conf = Conf.load(argv=[])
    with caplog.at_level(logging.INFO):
        logging.getLogger("anker.test").info("store %s (%r)", url, url)
    shown = [str(url), repr(url), str(conf.values()), str(conf.url), caplog.text]
    assert all("S3CRET" not in each for each in shown), shown
    assert str(url) == "barbican://kms:9311?token=****&project=p1"
    assert url.param("token") == "S3CRET"  # the driver still gets it
    with pytest.raises(InvalidURL) as bad:
        parse_url("barbican://kms:x?token=S3CRET")
    assert "S3CRET" not in str(bad.value)
