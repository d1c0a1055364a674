"""The request context that travels with every message: :class:`RequestContext`.

On the wire it is flattened into ``_context_<key>`` entries of the message, with the key
names oslo.context uses (``user``, ``project``, ``request_id``, ``roles``, ``auth_token``...),
so an OpenStack service reads anker's context and anker reads theirs. Keys anker does not
model (a service's own extras, such as nova's ``user_name``) are kept in ``extras`` and
sent back as they came.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from anker._secret import Secret
from anker.config._kinds import BadValue, BoolKind
from anker.messaging._signing import SIGNATURE_KEY
from anker.messaging._wire import new_uuid

__all__ = [
    "CONTEXT_PREFIX",
    "CURRENT_CONTEXT",
    "RequestContext",
    "context_entries",
    "current_context",
    "fresh_context_entries",
    "new_request_id",
]

#: The prefix of context keys in an oslo.messaging message.
CONTEXT_PREFIX = "_context_"

# anker's field name -> the key oslo.context writes; a field absent here keeps its name.
_WIRE_NAMES = {
    "user_id": "user",
    "project_id": "project",
    "domain_id": "domain",
    "user_domain_id": "user_domain",
    "project_domain_id": "project_domain",
}
# Other keys peers use for the same fields (older oslo.context, some services).
_ALIASES = {
    "user_id": "user_id",
    "project_id": "project_id",
    "tenant": "project_id",
    "tenant_id": "project_id",
}


def new_request_id() -> str:
    """A request id in OpenStack's form, ``req-<uuid4>``."""
    return f"req-{new_uuid()}"


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who asked, and for which request: carried in every RPC call and notification.

    ``auth_token`` is held as a :class:`~anker.Secret` (a plain string is wrapped in one), so
    a context can be logged safely; it is revealed only onto the wire of an RPC request.
    ``extras`` holds the keys a service adds of its own; they must be JSON values.

    .. versionadded:: 0.1
    """

    request_id: str = field(default_factory=new_request_id)
    global_request_id: str | None = None
    user_id: str | None = None
    project_id: str | None = None
    domain_id: str | None = None
    user_domain_id: str | None = None
    project_domain_id: str | None = None
    system_scope: str | None = None
    roles: tuple[str, ...] = ()
    is_admin: bool = False
    read_only: bool = False
    show_deleted: bool = False
    auth_token: Secret[str] | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)

    if TYPE_CHECKING:  # the generated __init__, but taking the token as a plain string too

        def __init__(
            self,
            *,
            request_id: str = ...,
            global_request_id: str | None = None,
            user_id: str | None = None,
            project_id: str | None = None,
            domain_id: str | None = None,
            user_domain_id: str | None = None,
            project_domain_id: str | None = None,
            system_scope: str | None = None,
            roles: tuple[str, ...] = (),
            is_admin: bool = False,
            read_only: bool = False,
            show_deleted: bool = False,
            auth_token: Secret[str] | str | None = None,
            extras: Mapping[str, Any] = ...,
        ) -> None: ...

    def __post_init__(self) -> None:
        token: object = self.auth_token
        if isinstance(token, str):
            object.__setattr__(self, "auth_token", Secret(token))
        elif token is not None and not isinstance(token, Secret):
            raise TypeError(
                f"RequestContext auth_token must be a str or an anker.Secret, not "
                f"{type(token).__name__}"
            )
        roles: object = self.roles
        if roles and (isinstance(roles, str) or not all(isinstance(r, str) for r in self.roles)):
            # roles="admin" went out as ["a", "d", "m", "i", "n"]
            raise TypeError(f"RequestContext roles must be a list of strings, got {roles!r}")
        # (checked at once, as a server makes a context for every request: one test each)
        flags: tuple[object, object, object] = (self.is_admin, self.read_only, self.show_deleted)
        if not (type(flags[0]) is bool and type(flags[1]) is bool and type(flags[2]) is bool):
            for name in ("is_admin", "read_only", "show_deleted"):
                flag: object = getattr(self, name)
                if type(flag) is not bool:  # is_admin="no" would be true
                    raise TypeError(f"RequestContext {name} must be True or False, got {flag!r}")
        if "auth_token" in self.extras:  # would show in repr(): it belongs in auth_token
            raise ValueError("RequestContext extras must not hold 'auth_token'; pass auth_token=")

    def to_dict(self) -> dict[str, Any]:
        """The context as oslo.context's ``to_dict`` writes it (the token revealed)."""
        # written out field by field: this runs for every call and cast a client sends
        out: dict[str, Any] = dict(self.extras) if self.extras else {}
        user, project, domain = self.user_id, self.project_id, self.domain_id
        user_domain, project_domain = self.user_domain_id, self.project_domain_id
        token = self.auth_token
        out["request_id"] = self.request_id
        out["global_request_id"] = self.global_request_id
        out["user"] = user
        out["project"] = project
        out["domain"] = domain
        out["user_domain"] = user_domain
        out["project_domain"] = project_domain
        out["system_scope"] = self.system_scope
        out["roles"] = list(self.roles)
        out["is_admin"] = self.is_admin
        out["read_only"] = self.read_only
        out["show_deleted"] = self.show_deleted
        out["auth_token"] = token.reveal() if token is not None else None
        # oslo.context writes both spellings of the ids; older peers read the *_id ones.
        out["user_id"] = user
        out["project_id"] = project
        out.setdefault("tenant", project)
        out.setdefault(
            "user_identity",
            f"{user or '-'} {project or '-'} {domain or '-'} {user_domain or '-'} "
            f"{project_domain or '-'}",
        )
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RequestContext:
        """Read a context from oslo.context's dict form (or anker's); unknown keys go to
        ``extras``."""
        return cls(**_read(values, _BARE))

    def to_message(self) -> dict[str, Any]:
        """The ``_context_<key>`` entries for a message."""
        return {CONTEXT_PREFIX + key: value for key, value in self.to_dict().items()}

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> RequestContext:
        """The context carried in a message's ``_context_<key>`` entries."""
        return cls(**_read(message, _PREFIXED))


@dataclass(frozen=True, slots=True)
class _Keys:
    """How to find a context's fields in a mapping whose context keys start with
    ``prefix``: each field's keys, the first that is not null wins (oslo.context's own
    spelling first, then anker's field name, then older aliases), and every key that is not
    an extra (the fields', ``user_identity``, and a message's own entries)."""

    prefix: str
    fields: tuple[tuple[str, tuple[str, ...]], ...]
    known: frozenset[str]


def _read(values: Mapping[str, Any], keys: _Keys) -> dict[str, Any]:
    """The keyword arguments of a context from ``values``: a server reads one from every
    request, so the fields are looked up by key and the extras found by a set difference,
    rather than every entry of the message visited."""
    get = values.get
    kwargs: dict[str, Any] = {}
    for name, spellings in keys.fields:
        for key in spellings:
            value = get(key)
            if value is not None:  # a null is an unset field: the next spelling may say
                kwargs[name] = value
                break
    extras: dict[str, Any] = {}
    known = keys.known
    if not known.issuperset(values):
        prefix, start = keys.prefix, len(keys.prefix)
        for key, value in values.items():  # in the order they came
            if key not in known and key.startswith(prefix):
                extras[key[start:]] = value
    _check(kwargs)
    kwargs["extras"] = extras
    return kwargs


def _check(kwargs: dict[str, Any]) -> None:
    """A peer's context values, checked in place: a value of the wrong kind is an error
    naming its key, never a guess (a list read as ``is_admin=True``, a dict as a user id)."""
    for name, value in kwargs.items():
        if name in _TEXT_FIELDS:
            if not isinstance(value, str):
                if not isinstance(value, int) or isinstance(value, bool):
                    raise _bad_key(name, "a string", value)
                kwargs[name] = str(value)  # numeric ids, as some peers write them
        elif name == "roles":
            roles = value
            if isinstance(roles, str):  # "admin,member", as some peers write it
                roles = [role.strip() for role in roles.split(",") if role.strip()]
            if not isinstance(roles, (list, tuple)) or not all(isinstance(r, str) for r in roles):
                raise _bad_key("roles", "a list of strings", roles)
            kwargs[name] = tuple(roles)
        elif name in _FLAGS:
            if value is not True and value is not False:
                kwargs[name] = _flag(name, value)
        elif name == "auth_token" and not isinstance(value, (str, Secret)):
            raise _bad_key("auth_token", "a string", value)


def _bad_key(name: str, expected: str, value: object) -> ValueError:
    wire_name = _WIRE_NAMES.get(name, name)
    return ValueError(f"context key {wire_name!r} must be {expected}, not {type(value).__name__}")


def _flag(name: str, value: object) -> bool:
    """A context flag as peers write it: a boolean, 0 or 1, or its text ("true", "no"...)."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        if not value.strip():
            return False  # an empty flag is an unset one
        with contextlib.suppress(BadValue):
            return bool(BoolKind().convert(value))  # the words anker.config reads
    raise _bad_key(name, "true or false", value)


def fresh_context_entries() -> dict[str, Any]:
    """The ``_context_<key>`` entries of ``RequestContext()``: an empty context with a new
    request id (what a call or cast without a context carries, so it can be traced)."""
    entries = dict(_EMPTY_ENTRIES)
    entries[CONTEXT_PREFIX + "request_id"] = new_request_id()
    entries[CONTEXT_PREFIX + "roles"] = []  # a list of its own, not the template's
    return entries


def context_entries(context: RequestContext | Mapping[str, Any]) -> dict[str, Any]:
    """The ``_context_<key>`` entries of a context, or of a plain dict in its form."""
    if isinstance(context, RequestContext):
        return context.to_message()
    if not isinstance(context, Mapping):  # an oslo.context object: 'has no attribute items'
        raise TypeError(
            f"a message's context is an anker.messaging.RequestContext, a dict in its form "
            f"(oslo.context's to_dict()) or None, not {type(context).__name__}"
        )
    return {CONTEXT_PREFIX + key: value for key, value in context.items()}


# (field, key on the wire) of every field but extras, and the reverse lookups, computed once
_FIELDS: tuple[tuple[str, str], ...] = tuple(
    (f.name, _WIRE_NAMES.get(f.name, f.name)) for f in fields(RequestContext) if f.name != "extras"
)
_TEXT_FIELDS: frozenset[str] = frozenset(
    f.name for f in fields(RequestContext) if f.type in ("str", "str | None")
)
_FLAGS: frozenset[str] = frozenset(("is_admin", "read_only", "show_deleted"))
#: a message's own entries (requests, replies, notifications): never context extras
_MESSAGE_KEYS: frozenset[str] = frozenset(
    (
        "method", "args", "version", "namespace", "_unique_id", "_msg_id", "_reply_q",
        "_timeout", "message_id", "publisher_id", "event_type", "priority", "payload",
        "timestamp", SIGNATURE_KEY,
    )
)  # fmt: skip


def _keys(prefix: str, others: frozenset[str]) -> _Keys:
    aliases = {
        name: [key for key, field in _ALIASES.items() if field == name] for name, _ in _FIELDS
    }
    found = tuple(
        (name, tuple(dict.fromkeys(prefix + key for key in (wire, name, *aliases[name]))))
        for name, wire in _FIELDS
    )
    known = {key for _, spellings in found for key in spellings} | {prefix + "user_identity"}
    return _Keys(prefix, found, frozenset(known | others))


_BARE = _keys("", frozenset())
_PREFIXED = _keys(CONTEXT_PREFIX, _MESSAGE_KEYS)
_EMPTY_ENTRIES: dict[str, Any] = RequestContext(request_id="").to_message()


#: The context of the RPC call or notification being handled in this task (or thread).
CURRENT_CONTEXT: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "anker.messaging.context", default=None
)


def current_context() -> RequestContext | None:
    """The request context of the RPC call or notification being handled, wherever in its
    endpoint method (and what it calls) this runs; None outside one. anker.service's log
    lines read their request and project ids from it.

    .. versionadded:: 0.1
    """
    return CURRENT_CONTEXT.get()
