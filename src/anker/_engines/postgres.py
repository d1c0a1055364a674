"""PostgreSQL connections from a backend URL: libpq parameters with timeouts on every layer,
several hosts for high availability, and libpq's TLS options from the URL's query.

``postgresql://[user[:password]@]host[:port][,host[:port]...][/dbname][?options]``. Each
driver on PostgreSQL (coordination today; the workflow, limits and db stores next) declares its
settings as a subclass of :class:`LibpqSettings` and connects with :func:`connect_params`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from anker._drivers import DriverSettings
from anker.errors import InvalidURL

if TYPE_CHECKING:
    from anker._secret import Secret
    from anker._url import BackendURL

__all__ = ["DEFAULT_PORT", "LIBPQ_OPTIONS", "LibpqSettings", "connect_params"]

DEFAULT_PORT = 5432
#: libpq settings that may be given as URL options, passed to libpq as they are
LIBPQ_OPTIONS = (
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslcrl",
    "channel_binding",
    "application_name",
    "target_session_attrs",
)


@dataclass(frozen=True)
class LibpqSettings(DriverSettings):
    """The libpq settings a PostgreSQL URL may carry (see libpq's documentation)."""

    sslmode: str | None = None
    sslrootcert: str | None = None
    sslcert: str | None = None
    sslkey: str | None = None
    sslcrl: str | None = None
    channel_binding: str | None = None
    application_name: str | None = None
    target_session_attrs: str | None = None

    def libpq(self) -> dict[str, str]:
        """The libpq settings that were given."""
        given = {name: getattr(self, name) for name in LIBPQ_OPTIONS}
        return {name: value for name, value in given.items() if value is not None}


def connect_params(
    url: BackendURL, settings: LibpqSettings, timeout: float
) -> tuple[dict[str, str], Secret[str] | None]:
    """libpq's connection parameters for ``url`` (the password apart, revealed only where
    the connection is made), every layer bounded by ``timeout`` seconds: connecting,
    statements, unacknowledged TCP data and dead peers (keepalives). Several hosts mean "the
    one that takes writes" unless ``target_session_attrs`` says otherwise."""
    if not url.endpoints:
        raise InvalidURL(
            str(url), f"{url.scheme}:// needs a host, e.g. {url.scheme}://db.example:5432"
        )
    # libpq takes one user and password: given once (on any host) or the same everywhere
    credentials = {
        (e.username, e.password)
        for e in url.endpoints
        if e.username is not None or e.password is not None
    }
    if len(credentials) > 1:
        raise InvalidURL(str(url), "every host must have the same user and password")
    user, password = credentials.pop() if credentials else (None, None)
    hosts = len(url.endpoints)
    params = {
        "host": ",".join(e.host for e in url.endpoints),
        "port": ",".join(str(e.port or DEFAULT_PORT) for e in url.endpoints),
        # per host, in whole seconds, at least 2 (libpq's rules); the total is bounded too
        "connect_timeout": str(max(2, math.ceil(timeout / hosts))),
        "options": f"-c statement_timeout={max(1, round(timeout * 1000))}",
        "tcp_user_timeout": str(max(1, round(timeout * 1000))),
        "keepalives_idle": str(max(1, round(timeout))),
        "keepalives_interval": str(max(1, round(timeout / 3))),
        "keepalives_count": "3",
    }
    if hosts > 1:
        params["target_session_attrs"] = "read-write"
    if user is not None:
        params["user"] = user
    if url.path.strip("/"):
        params["dbname"] = url.path.strip("/")
    params.update(settings.libpq())
    return params, password
