"""Backend URLs: ``scheme://[user[:password]@]host[:port][,...]/path?query``.

One grammar for every subsystem's backend URL (``rabbit://``, ``redis://``, ``file:///dir``,
``etcd://``, ...). It accepts oslo.messaging's multi-host form, where each comma-separated host
may carry its own credentials (``rabbit://u1:p1@h1:5672,u2:p2@h2:5672/vhost``), bracketed IPv6
addresses, and percent-encoded credentials and paths. Passwords are held as
:class:`~anker.Secret`, and ``str()`` of a URL masks them, so a URL is safe to log or put in an
error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from urllib.parse import quote, unquote

from anker._secret import MASK, Secret
from anker.errors import InvalidURL

__all__ = ["BackendURL", "Endpoint", "is_credential", "mask_secrets", "mask_urls", "parse_url"]

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_PORT = re.compile(r"[0-9]{1,5}")
# Characters a host name may not contain once brackets and the port are taken off.
_BAD_HOST_CHARS = re.compile(r"[\s\[\]@/?#,]")
MAX_PORT = 65535
#: The last word of a query option's name that marks its value as a credential
#: (``token``, ``auth_token``, ``sentinel_password``, ``api_key``; not ``key_prefix``).
_CREDENTIAL_WORDS = frozenset(
    {"token", "password", "passwd", "secret", "key", "passphrase", "credential", "credentials"}
)


def is_credential(option: str) -> bool:
    """Whether a query option's value is a credential, to be masked wherever it is shown."""
    return re.split(r"[_\-.]", option.lower())[-1] in _CREDENTIAL_WORDS


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One server of a backend URL, with the credentials given for it.

    An empty user name is no user name: ``None``.
    """

    host: str
    port: int | None = None
    username: str | None = None
    password: Secret[str] | None = None

    def __post_init__(self) -> None:
        if self.username == "":
            object.__setattr__(self, "username", None)

    def render(self, *, mask: bool = True) -> str:
        """The endpoint as it appears in a URL; the password masked unless ``mask=False``."""
        userinfo = ""
        if self.username is not None or self.password is not None:
            userinfo = quote(self.username or "", safe="")
            if self.password is not None:
                shown = MASK if mask else quote(self.password.reveal(), safe="")
                userinfo += ":" + shown
            userinfo += "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if self.port is None else f":{self.port}"
        return userinfo + host + port


@dataclass(frozen=True, slots=True)
class BackendURL:
    """A parsed backend URL.

    ``path`` and credentials are percent-decoded; ``query`` maps each parameter to all of its
    values in order. ``str()`` masks passwords; :meth:`render` with ``mask=False`` gives the full
    URL back for the one place that connects.

    .. versionadded:: 0.1
    """

    scheme: str
    endpoints: tuple[Endpoint, ...] = ()
    path: str = ""
    query: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def username(self) -> str | None:
        """The first endpoint's user name, the common case of one set of credentials."""
        return self.endpoints[0].username if self.endpoints else None

    @property
    def password(self) -> Secret[str] | None:
        """The first endpoint's password."""
        return self.endpoints[0].password if self.endpoints else None

    def param(self, name: str, default: str | None = None) -> str | None:
        """The last value of query parameter ``name`` (the one that wins), or ``default``."""
        values = self.query.get(name)
        return values[-1] if values else default

    def without(self, *names: str) -> BackendURL:
        """This URL without the query options ``names`` (a caller that sets them itself)."""
        query = {key: values for key, values in self.query.items() if key not in names}
        return replace(self, query=MappingProxyType(query))

    def render(self, *, mask: bool = True) -> str:
        """The URL as text; the passwords masked unless ``mask=False``."""
        netloc = ",".join(endpoint.render(mask=mask) for endpoint in self.endpoints)
        text = f"{self.scheme}://{netloc}{quote(self.path, safe='/')}"
        pairs = [
            f"{quote(key, safe='')}={shown}"
            for key, values in self.query.items()
            for value in values
            for shown in [MASK if mask and is_credential(key) else quote(value, safe="")]
        ]
        return text + ("?" + "&".join(pairs) if pairs else "")

    def secrets(self) -> list[str]:
        """Every credential the URL holds (passwords, credential options), for masking."""
        found = [e.password.reveal() for e in self.endpoints if e.password is not None]
        found += [v for key, values in self.query.items() if is_credential(key) for v in values]
        return [value for value in found if value]

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"BackendURL({self.render()!r})"

    def __hash__(self) -> int:
        return hash((self.scheme, self.endpoints, self.path, tuple(self.query.items())))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BackendURL):
            return NotImplemented
        return (self.scheme, self.endpoints, self.path, dict(self.query)) == (
            other.scheme,
            other.endpoints,
            other.path,
            dict(other.query),
        )


def parse_url(text: str) -> BackendURL:
    """Parse a backend URL, or raise :class:`~anker.errors.InvalidURL` saying what is wrong.

    The error shows the URL with its passwords masked as far as they can be found.
    """
    shown = _mask_for_error(text)
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise InvalidURL(shown, "expected 'scheme://...'")
    if not _SCHEME.fullmatch(scheme):
        raise InvalidURL(shown, f"'{scheme}' is not a URL scheme (letters, digits, '+', '-', '.')")
    if "#" in rest:
        raise InvalidURL(
            shown, "'#' starts a fragment, which backend URLs do not use (write it as %23)"
        )
    netloc_end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    netloc, tail = rest[:netloc_end], rest[netloc_end:]
    path, _, query_text = tail.partition("?")
    endpoints = tuple(
        _parse_endpoint(entry, position, shown)
        for position, entry in enumerate(netloc.split(","), start=1)
        if netloc
    )
    return BackendURL(
        scheme=scheme.lower(),
        endpoints=endpoints,
        path=_unquote(path, shown, "path"),
        query=_parse_query(query_text, shown),
    )


def _parse_endpoint(entry: str, position: int, shown: str) -> Endpoint:
    userinfo, at, hostport = entry.rpartition("@")
    username: str | None = None
    password: Secret[str] | None = None
    if at:
        user_text, colon, password_text = userinfo.partition(":")
        username = _unquote(user_text, shown, f"user name of host {position}")
        if colon:
            password = Secret(_unquote(password_text, shown, f"password of host {position}"))
    host, port = _split_host_port(hostport, position, shown)
    return Endpoint(host=host, port=port, username=username, password=password)


def _split_host_port(hostport: str, position: int, shown: str) -> tuple[str, int | None]:
    port_text: str | None = None
    if hostport.startswith("["):
        host, bracket, after = hostport[1:].partition("]")
        if not bracket or not host:
            raise InvalidURL(shown, f"host {position}: unclosed or empty '[' in '{hostport}'")
        if after:
            if not after.startswith(":"):
                raise InvalidURL(shown, f"host {position}: unexpected '{after}' after ']'")
            port_text = after[1:]
    elif hostport.count(":") > 1:
        raise InvalidURL(
            shown, f"host {position}: write an IPv6 address in brackets, as in '[::1]:5672'"
        )
    else:
        host, colon, port_part = hostport.partition(":")
        port_text = port_part if colon else None
    if not host:
        raise InvalidURL(shown, f"host {position} is empty")
    if _BAD_HOST_CHARS.search(host):
        raise InvalidURL(shown, f"host {position} '{host}' is not a host name or address")
    if port_text is None:
        return host, None
    if not _PORT.fullmatch(port_text) or int(port_text) > MAX_PORT:
        raise InvalidURL(
            shown, f"port '{port_text}' of host {position} is not a number from 0 to {MAX_PORT}"
        )
    return host, int(port_text)


def _parse_query(text: str, shown: str) -> Mapping[str, tuple[str, ...]]:
    params: dict[str, list[str]] = {}
    for pair in text.split("&") if text else ():
        if not pair:
            continue
        key, _, value = pair.partition("=")
        key = _unquote(key.replace("+", " "), shown, "query parameter name")
        if not key:
            raise InvalidURL(shown, f"query parameter '{pair}' has no name")
        params.setdefault(key, []).append(
            _unquote(value.replace("+", " "), shown, f"query parameter '{key}'")
        )
    return MappingProxyType({key: tuple(values) for key, values in params.items()})


def _unquote(text: str, shown: str, what: str) -> str:
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise InvalidURL(shown, f"the {what} is not valid percent-encoded UTF-8") from None


def _mask_for_error(text: str) -> str:
    """Mask the credentials of a URL that may not parse, for quoting it in an error.

    Everything before the last '@' may hold a password (even a badly encoded one), so all of
    it is masked, except the user name in the plain one-host case.
    """
    text, question, query = text.partition("?")
    if question:
        pairs = [
            f"{key}={MASK}" if is_credential(unquote(key)) and eq else f"{key}{eq}{value}"
            for key, eq, value in (pair.partition("=") for pair in query.split("&"))
        ]
        return _mask_for_error(text) + "?" + "&".join(pairs)
    head, sep, rest = text.partition("://")
    if not sep and "@" in text:  # 'postgresql:/user:pw@host': only what names the scheme stays
        shown_head = _SCHEME_LIKE.match(text)
        return f"{shown_head[0] if shown_head else ''}{MASK}@{text.rpartition('@')[2]}"
    credentials, at, after = rest.rpartition("@")
    if not sep or not at:
        return text
    if "," not in credentials and "@" not in credentials:
        user, colon, _ = credentials.partition(":")
        return f"{head}://{user}:{MASK}@{after}" if colon else text
    return f"{head}://{MASK}@{after}"


_SCHEME_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*[:/]*")
_URL_PASSWORD = re.compile(r"((?:://|,)[^:/@,\s'\"]*):[^@\s'\"]*@")
_QUERY_OPTION = re.compile(r"([?&])([^=&\s'\"]+)=([^&\s'\"]*)")


def mask_urls(text: str) -> str:
    """``text`` with the credentials of every URL in it masked: passwords (``user:****@``)
    and credential query options (``?token=****``), for free text such as a config value
    quoted in an error, where the URLs are not parsed."""
    text = _URL_PASSWORD.sub(rf"\1:{MASK}@", text)
    return _QUERY_OPTION.sub(
        lambda m: f"{m[1]}{m[2]}={MASK}" if is_credential(unquote(m[2])) else m[0], text
    )


def mask_secrets(text: str, *sources: BackendURL | Secret[str] | str | None) -> str:
    """``text`` with every credential of ``sources`` replaced by ``****``.

    The one masking function: drivers pass a client library's error text through it, with
    the URL they connected to (its passwords and credential options) and any other secret
    they hold, before the text goes into an error or a log line.
    """
    values: list[str] = []
    for source in sources:
        if isinstance(source, BackendURL):
            values += source.secrets()
        elif isinstance(source, Secret):
            values.append(str(source.reveal()))
        elif source:
            values.append(source)
    # longest first, so a secret that contains another is masked whole
    for value in sorted({v for v in values if v}, key=len, reverse=True):
        text = text.replace(value, MASK)
        encoded = quote(value, safe="")
        if encoded != value:
            text = text.replace(encoded, MASK)
    return text
