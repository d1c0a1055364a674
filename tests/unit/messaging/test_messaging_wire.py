"""oslo.messaging's wire format, target rules, contexts and serializers, without a broker."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import inspect
import json
import math
import uuid
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anker import Secret
from anker.messaging import (
    InvalidMessage,
    InvalidTarget,
    MessageTooLarge,
    NoSuchMethod,
    RemoteError,
    RequestContext,
    RichSerializer,
    SerializationError,
    Target,
    UnsupportedVersion,
    _context,
    _wire,
)
from anker.messaging._context import fresh_context_entries
from anker.messaging._target import version_is_compatible

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def unwrap_or_error(data: bytes) -> dict[str, Any] | InvalidMessage:
    try:
        return _wire.unwrap(data, "queue-7")
    except InvalidMessage as exc:
        return exc


# -- envelope -------------------------------------------------------------------------------


def test_a_request_in_the_oslo_envelope() -> None:
    message = _wire.request(
        "get_host",
        {"name": "vm-1"},
        RequestContext(request_id="req-1").to_message(),
        version="5.1",
        namespace="compute",
        msg_id="m1",
        reply_q="reply_q1",
        call_monitor_timeout=30,
    )
    body = orjson.loads(_wire.wrap(message, what="request"))
    assert body["oslo.version"] == "2.0"
    inner = orjson.loads(body["oslo.message"])  # JSON inside JSON, as oslo writes it
    assert inner["method"] == "get_host"
    assert inner["args"] == {"name": "vm-1"}
    assert (inner["version"], inner["namespace"]) == ("5.1", "compute")
    assert (inner["_msg_id"], inner["_reply_q"], inner["_timeout"]) == ("m1", "reply_q1", 30)
    assert inner["_context_request_id"] == "req-1"
    assert len(inner["_unique_id"]) == 32


def test_a_cast_has_no_reply_fields_and_no_version_unless_given() -> None:
    inner = _wire.request("refresh", {}, {})
    assert not {"_msg_id", "_reply_q", "_timeout", "version", "namespace"} & set(inner)


@given(json_values)
def test_wrap_and_unwrap_round_trip(value: Any) -> None:
    message = {"method": "m", "args": {"value": value}}
    assert _wire.unwrap(_wire.wrap(message, what="x"), "q") == message


# integers past 64 bits too: Python peers send them, and orjson alone would read them as floats
wide_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.floats(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(wide_json_values, st.booleans())
def test_any_value_comes_back_exactly_in_the_envelope_and_bare(value: Any, envelope: bool) -> None:
    # bare: oslo's version 1 notifications, which the envelope's fast reading must not misread
    message = {"event_type": "e", "payload": {"value": value}}
    body = _wire.wrap(message, what="x", envelope=envelope)
    back = _wire.unwrap(body, "q")
    # compared as Python's JSON text: NaN is not equal to itself, and 2**64 is not 2.0**64
    assert json.dumps(back, sort_keys=True) == json.dumps(message, sort_keys=True)


@given(st.binary(max_size=200))
def test_unwrap_of_any_bytes_gives_a_dict_or_a_clear_error(data: bytes) -> None:
    result = unwrap_or_error(data)
    if isinstance(result, InvalidMessage):
        assert "queue-7" in str(result)
    else:
        assert isinstance(result, dict)


@given(st.text(max_size=100))
def test_unwrap_of_any_inner_text_gives_a_dict_or_a_clear_error(inner: str) -> None:
    body = orjson.dumps({"oslo.version": "2.0", "oslo.message": inner})
    result = unwrap_or_error(body)
    if isinstance(result, InvalidMessage):
        assert "queue-7" in str(result)
    else:
        assert isinstance(result, dict)


def test_unwrap_errors_name_the_problem() -> None:
    with pytest.raises(InvalidMessage, match="not JSON"):
        _wire.unwrap(b"{", "q")
    with pytest.raises(InvalidMessage, match="envelope version"):
        _wire.unwrap(b'{"oslo.version": "3.0", "oslo.message": "{}"}', "q")
    with pytest.raises(InvalidMessage, match="not a string"):
        _wire.unwrap(b'{"oslo.version": "2.0", "oslo.message": 1}', "q")
    # oslo's v1 notification driver sends the bare dict: taken as it is
    assert _wire.unwrap(b'{"event_type": "x"}', "q") == {"event_type": "x"}


def test_size_limit() -> None:
    with pytest.raises(MessageTooLarge) as error:
        _wire.wrap({"args": {"blob": "x" * 2000}}, what="request to compute", limit=1000)
    assert "request to compute" in str(error.value)
    assert error.value.size > 2000


def test_a_message_too_large_names_its_limit_in_bytes_whatever_the_option_was_written_as() -> None:
    from anker.config._units import ByteSize

    error = MessageTooLarge("request to compute", 20_000_000, ByteSize(16 * 1024 * 1024))
    assert "over the limit of 16777216 bytes (max_message_size)" in str(error)


def test_values_json_cannot_carry_are_named() -> None:
    with pytest.raises(SerializationError, match="object"):
        _wire.wrap({"args": {"x": object()}}, what="request")
    with pytest.raises(SerializationError, match="UTF-8"):
        _wire.wrap({"args": {"x": b"\xff"}}, what="request")
    # what OpenStack's JSON carries: sets as lists, UTF-8 bytes as text, datetimes, UUIDs
    ident = uuid.UUID(int=1)
    inner = _wire.unwrap(
        _wire.wrap({"s": {1}, "b": b"ok", "u": ident, "d": dt.date(2026, 1, 2)}, what="x"), "q"
    )
    assert inner == {"s": [1], "b": "ok", "u": str(ident), "d": "2026-01-02"}


# -- failures -------------------------------------------------------------------------------


class LocalError(Exception):
    pass


def _failure(exc: Exception) -> str:
    try:
        raise exc
    except Exception as raised:
        return _wire.failure_from_exception(raised)


def test_failure_format_is_oslos() -> None:
    data = orjson.loads(_failure(ValueError("bad", 3)))
    assert data["class"] == "ValueError"
    assert data["module"] == "builtins"
    assert data["args"] == ["bad", 3]
    assert any("ValueError" in line for line in data["tb"])


def test_failures_become_exceptions() -> None:
    builtin = _wire.exception_from_failure(_failure(KeyError("k")), allowed_modules=())
    assert isinstance(builtin, KeyError)
    assert builtin.remote_traceback  # type: ignore[attr-defined]
    local = _wire.exception_from_failure(_failure(LocalError("x")), allowed_modules=())
    assert isinstance(local, RemoteError)
    assert local.exc_type == f"{__name__}.LocalError"
    allowed = _wire.exception_from_failure(_failure(LocalError("x")), allowed_modules=[__name__])
    assert isinstance(allowed, LocalError)
    # anker's own dispatch errors keep their facts across the wire
    error = _wire.exception_from_failure(
        _failure(UnsupportedVersion("2.1", "m")), ["anker.messaging"]
    )
    assert isinstance(error, UnsupportedVersion)
    assert (error.version, error.method) == ("2.1", "m")
    assert _wire.exception_from_failure("not json", ()).__class__ is RemoteError


def test_oslo_servers_dispatch_errors_become_ankers() -> None:
    failure = orjson.dumps(
        {
            "class": "NoSuchMethod",
            "module": "oslo_messaging.rpc.dispatcher",
            "message": "Endpoint does not support RPC method frobnicate",
            "tb": [],
            "args": [],
            "kwargs": {},
        }
    ).decode()
    error = _wire.exception_from_failure(failure, ())
    assert isinstance(error, NoSuchMethod)
    assert error.method == "frobnicate"


# -- targets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("served", "requested", "ok"),
    [
        ("1.3", "1.0", True),
        ("1.3", "1.3", True),
        ("1.3", "1.4", False),
        ("1.3", "2.0", False),
        ("2.0", "1.9", False),
        ("1.3.2", "1.3.1", True),
        ("1.3", "1.3.1", False),
        ("1", "1.0", True),
    ],
)
def test_version_rule(served: str, requested: str, ok: bool) -> None:
    assert version_is_compatible(served, requested) is ok


def test_targets_check_their_fields() -> None:
    with pytest.raises(InvalidTarget, match="version"):
        Target(topic="t", version="one")
    with pytest.raises(InvalidTarget, match="topic"):
        Target(topic="")
    with pytest.raises(InvalidTarget, match="spaces"):
        Target(topic="a b")
    assert str(Target(topic="compute", server="n1")) == "Target(topic='compute', server='n1')"
    assert Target(topic="a").but(server="s") == Target(topic="a", server="s")


# -- context --------------------------------------------------------------------------------


def test_context_round_trips_and_hides_the_token() -> None:
    context = RequestContext(
        user_id="u",
        project_id="p",
        roles=("reader",),
        auth_token=Secret("s3cr3t-token"),
        is_admin=True,
        extras={"user_name": "alice", "quota_class": None},
    )
    wire = context.to_message()
    assert wire["_context_user"] == "u"
    assert wire["_context_project"] == "p"
    assert wire["_context_auth_token"] == "s3cr3t-token"
    back = RequestContext.from_message(wire)
    assert back == context
    assert "s3cr3t-token" not in repr(back)
    assert "s3cr3t-token" not in str(back)


@given(
    st.builds(
        RequestContext,
        request_id=st.text(max_size=8),
        global_request_id=st.none() | st.text(max_size=8),
        user_id=st.none() | st.text(max_size=8),
        project_id=st.none() | st.text(max_size=8),
        domain_id=st.none() | st.text(max_size=8),
        user_domain_id=st.none() | st.text(max_size=8),
        project_domain_id=st.none() | st.text(max_size=8),
        system_scope=st.none() | st.text(max_size=8),
        roles=st.lists(st.text(min_size=1, max_size=5), max_size=3).map(tuple),
        is_admin=st.booleans(),
        read_only=st.booleans(),
        show_deleted=st.booleans(),
        auth_token=st.none() | st.text(max_size=8),
        extras=st.dictionaries(st.sampled_from(["user_name", "quota_class", "x"]), st.integers()),
    )
)
def test_every_context_field_travels(context: RequestContext) -> None:
    # to_dict is written out field by field (it runs for every message): none may be missed
    assert RequestContext.from_message(context.to_message()) == context
    wire = context.to_dict()
    for field in dataclasses.fields(RequestContext):
        if field.name not in ("extras", "user_id", "project_id", "domain_id"):
            assert field.name.removesuffix("_id") in wire or field.name in wire


def test_a_call_without_a_context_carries_a_fresh_empty_one() -> None:
    first, second = fresh_context_entries(), fresh_context_entries()
    assert first["_context_request_id"] != second["_context_request_id"]
    assert first["_context_request_id"].startswith("req-")
    assert first == RequestContext(request_id=first["_context_request_id"]).to_message()
    assert list(first) == list(RequestContext().to_message())
    first["_context_roles"].append("admin")  # each has lists of its own
    assert fresh_context_entries()["_context_roles"] == []


def test_context_from_oslo_context() -> None:
    oslo_context = pytest.importorskip("oslo_context.context")
    theirs = oslo_context.RequestContext(
        user_id="u", project_id="p", roles=["admin"], auth_token="t", request_id="req-9"
    )
    ours = RequestContext.from_dict(theirs.to_dict())
    assert (ours.user_id, ours.project_id, ours.roles, ours.request_id) == (
        "u",
        "p",
        ("admin",),
        "req-9",
    )
    again = oslo_context.RequestContext.from_dict(ours.to_dict())
    assert (again.user_id, again.project_id, again.roles, again.request_id) == (
        "u",
        "p",
        ["admin"],
        "req-9",
    )


# -- serializers ----------------------------------------------------------------------------


rich_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.binary(max_size=20)
    | st.datetimes(timezones=st.just(dt.UTC))
    | st.uuids()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.frozensets(st.integers(), max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(st.sampled_from(["__anker__", "v", "k"]), inner, max_size=3)
    ),
    max_leaves=15,
)


@given(rich_values)
def test_rich_serializer_round_trips(value: Any) -> None:
    serializer = RichSerializer()
    encoded = _wire.unwrap(_wire.wrap({"v": serializer.serialize(value)}, what="x"), "q")["v"]
    assert serializer.deserialize(encoded) == value


def test_rich_serializer_user_types_and_errors() -> None:
    class Money:
        def __init__(self, amount: Decimal, currency: str) -> None:
            self.amount, self.currency = amount, currency

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Money) and (self.amount, self.currency) == (
                other.amount,
                other.currency,
            )

        __hash__ = None  # type: ignore[assignment]

    serializer = RichSerializer()
    with pytest.raises(SerializationError, match="Money"):
        serializer.serialize(Money(Decimal(1), "EUR"))
    serializer.register(
        Money, "money", lambda m: [str(m.amount), m.currency], lambda v: Money(Decimal(v[0]), v[1])
    )
    assert serializer.deserialize(serializer.serialize(Money(Decimal("1.5"), "EUR"))) == Money(
        Decimal("1.5"), "EUR"
    )
    with pytest.raises(SerializationError, match="nothing"):
        serializer.deserialize({"__anker__": "nothing", "v": 1})


# -- hardening: tokens, non-finite numbers, routing characters --------------------------------


def test_a_plain_string_token_is_held_as_a_secret() -> None:
    context = RequestContext(user_id="u", auth_token="plain-s3cr3t")
    assert context.auth_token == Secret("plain-s3cr3t")
    assert "plain-s3cr3t" not in repr(context)
    assert "plain-s3cr3t" not in str(context)
    assert "plain-s3cr3t" not in f"{context}"
    assert context.to_message()["_context_auth_token"] == "plain-s3cr3t"  # on the wire only
    assert RequestContext.from_message(context.to_message()) == context
    with pytest.raises(TypeError, match="auth_token"):
        RequestContext(auth_token=1234)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="auth_token"):
        RequestContext(extras={"auth_token": "plain-s3cr3t"})


def test_a_secret_token_given_to_from_dict_is_kept() -> None:
    context = RequestContext.from_dict({"user": "u", "auth_token": Secret("s3cr3t")})
    assert context.auth_token is not None
    assert context.auth_token.reveal() == "s3cr3t"  # not the text of the mask


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("roles", 5),
        ("roles", [1, 2]),
        ("is_admin", [0]),
        ("is_admin", "maybe"),
        ("read_only", 2),
        ("user", {"id": "u"}),
        ("request_id", ["r"]),
        ("auth_token", {"t": 1}),
    ],
)
def test_a_peers_context_of_the_wrong_kind_is_named(key: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"context key '{key}'"):
        RequestContext.from_dict({key: value})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("roles", "admin"),
        ("roles", [1]),
        ("is_admin", "no"),
        ("read_only", 1),
        ("show_deleted", None),
    ],
)
def test_a_context_of_the_wrong_kind_is_refused_where_it_is_made(key: str, value: Any) -> None:
    # roles="admin" went out as ["a", "d", "m", "i", "n"]; is_admin="no" was true
    with pytest.raises(TypeError, match=f"RequestContext {key} must be"):
        RequestContext(**{key: value})


@pytest.mark.parametrize("canonical_first", [True, False])
def test_a_field_written_two_ways_is_read_the_same_whatever_their_order(
    canonical_first: bool,
) -> None:
    # oslo.context writes both "user" and "user_id"; should a peer write them differently,
    # oslo.context's own spelling wins, wherever it stands in the message
    pairs = [("_context_user", "theirs"), ("_context_user_id", "other")]
    message = dict(pairs if canonical_first else pairs[::-1])
    assert RequestContext.from_message(message).user_id == "theirs"
    # a null is an unset field: the other spelling, or an older alias, fills it
    message = {"_context_project": None, "_context_tenant": "t1", "_context_user_id": "u"}
    context = RequestContext.from_message(message)
    assert (context.project_id, context.user_id) == ("t1", "u")


def test_a_messages_own_entries_are_not_context_extras_and_extras_keep_their_order() -> None:
    message = _wire.request(
        "m", {"a": 1}, {"_context_zeta": 1, "_context_alpha": 2}, msg_id="i", reply_q="r"
    )
    message["_context_user_identity"] = "u p - - -"  # derived: written, never read back
    context = RequestContext.from_message(message)
    assert list(context.extras.items()) == [("zeta", 1), ("alpha", 2)]


def test_context_values_peers_write_are_read() -> None:
    context = RequestContext.from_dict(
        {"user": 42, "roles": "admin, member", "is_admin": "True", "read_only": 0}
    )
    assert (context.user_id, context.roles, context.is_admin, context.read_only) == (
        "42",
        ("admin", "member"),
        True,
        False,
    )


def test_nan_and_infinity_travel_as_oslo_writes_them() -> None:
    jsonutils = pytest.importorskip("oslo_serialization.jsonutils")
    values = {"nan": float("nan"), "inf": float("inf"), "ninf": float("-inf"), "ok": 1.5}
    message = {"method": "m", "args": {**values, "deep": [{"x": float("nan")}], "s": {2.5}}}
    inner = orjson.loads(_wire.wrap(message, what="request"))["oslo.message"]
    # token for token what oslo.messaging writes (it sends jsonutils.dumps of the message)
    assert json.loads(inner, parse_constant=str) == json.loads(
        jsonutils.dumps(message), parse_constant=str
    )
    for token in ("NaN", "Infinity", "-Infinity"):
        assert token in inner
    assert "null" not in inner
    args = _wire.unwrap(_wire.wrap(message, what="request"), "q")["args"]
    assert args["nan"] != args["nan"]
    assert (args["inf"], args["ninf"], args["ok"]) == (float("inf"), float("-inf"), 1.5)
    assert args["deep"][0]["x"] != args["deep"][0]["x"]
    # with values only orjson wrote natively before, in the same message
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 6)
    mixed = _wire.unwrap(_wire.wrap({"t": when, "u": uuid.UUID(int=1), "n": 1e999}, what="x"), "q")
    assert mixed == {"t": when.isoformat(), "u": str(uuid.UUID(int=1)), "n": float("inf")}


def test_an_exception_whose_str_fails_still_makes_a_failure() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    data = orjson.loads(_failure(Unprintable(object())))
    assert data["class"] == "Unprintable"
    assert "str() failed" in data["message"]


def test_oslo_unsupported_version_without_a_method_becomes_ankers() -> None:
    failure = orjson.dumps(
        {
            "class": "UnsupportedVersion",
            "module": "oslo_messaging.rpc.dispatcher",
            "message": "Endpoint does not support RPC version 2.0",
        }
    ).decode()
    error = _wire.exception_from_failure(failure, ())
    assert isinstance(error, UnsupportedVersion)
    assert (error.version, error.method) == ("2.0", None)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"topic": "#"}, "topic"),
        ({"topic": "*"}, "topic"),
        ({"topic": "compute.#"}, "topic"),
        ({"topic": "compute.*.x"}, "topic"),
        ({"topic": "t", "server": "#"}, "server"),
        ({"topic": "t", "server": "host#pool"}, "server"),
        ({"topic": "t", "exchange": "*"}, "exchange"),
        ({"topic": "amq.gen-1"}, "topic"),
        ({"topic": "t", "exchange": "amq.custom"}, "exchange"),
        ({"topic": "t\x00"}, "topic"),
        ({"topic": "t", "server": "a\nb"}, "server"),
        ({"topic": "é" * 61}, "topic"),  # 61 characters, 122 bytes
        # RabbitMQ's client refuses these in queue and exchange names: they worked on
        # memory:// and NATS, and failed on rabbit:// only once a server listened
        ({"topic": "café"}, "topic"),
        ({"topic": "t", "server": "host~1"}, "server"),
        ({"topic": "t", "exchange": "a=b"}, "exchange"),
    ],
)
def test_targets_refuse_what_breaks_routing(fields: dict[str, str], named: str) -> None:
    with pytest.raises(InvalidTarget, match=f"{named} '"):
        Target(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fields",
    [
        {"topic": "compute", "server": "compute-1.example.com"},
        {"topic": "conductor", "exchange": "nova"},
        {"topic": "notifications", "exchange": "openstack"},
        {"topic": "cinder-volume", "server": "host-1@lvm"},
        {"topic": "q-agent-notifier-port-update", "exchange": "neutron"},
        {"topic": "q-agent-notifier-port-update.host-1"},
        {"topic": "scheduler_fanout", "server": "node:1"},
        {"topic": "versioned_notifications", "namespace": "baseapi"},
    ],
)
def test_openstack_names_are_valid_targets(fields: dict[str, str]) -> None:
    target = Target(**fields)  # type: ignore[arg-type]
    assert target.but(fanout=True).topic == fields["topic"]


async def test_the_control_exchange_is_checked_as_a_targets() -> None:
    from anker.errors import InvalidOption
    from anker.messaging import connect

    for bad in ("café", "my exchange", "amq.topic"):
        with pytest.raises(InvalidOption, match=f"option 'exchange'.*exchange '{bad}'"):
            await connect("memory://control-exchange", exchange=bad)


async def test_a_listener_pool_is_checked_as_a_topic() -> None:
    from anker.messaging import NotificationListener, connect

    class Endpoint:
        async def info(self, *args: object) -> None:
            pass

    async with await connect("memory://pools") as transport:
        for bad in ("café", "a b", "amq.pool"):  # a queue's name on RabbitMQ
            with pytest.raises(ValueError, match=f"listener's pool '{bad}'"):
                NotificationListener(transport, [Target(topic="n")], [Endpoint()], pool=bad)
        NotificationListener(transport, [Target(topic="n")], [Endpoint()], pool="billing-1")


def test_a_prepared_target_is_checked_too() -> None:
    with pytest.raises(InvalidTarget, match="topic '#'"):
        Target(topic="compute").but(topic="#")


def test_the_typed_init_of_request_context_names_every_field() -> None:
    # mypy reads a hand-written __init__ (it takes the token as a plain string too): it must
    # keep naming the dataclass's fields, in order
    tree = ast.parse(inspect.getsource(_context))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "RequestContext")
    stub = next(n for n in ast.walk(cls) if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    assert [arg.arg for arg in stub.args.kwonlyargs] == [
        field.name for field in dataclasses.fields(RequestContext)
    ]


def _non_finite_reference(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value) or math.isinf(value)
    if isinstance(value, dict):
        return any(_non_finite_reference(each) for each in value.values())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_non_finite_reference(each) for each in value)
    return False


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(_json_values)
def test_non_finite_floats_are_found_anywhere(value: Any) -> None:
    assert _wire._has_non_finite(value) is _non_finite_reference(value)
    message = {"_context_x": None, "args": value}
    assert _wire._has_non_finite(message) is _non_finite_reference(value)
