"""Redis connections from a backend URL: one server, or Sentinels that name the primary.

``redis://[[user]:password@]host[:port][/db]``, or
``redis://[[user]:password@]sentinel1[:port],sentinel2[:port][/db]?sentinel=<service>``: with
``sentinel``, the URL's hosts are Sentinels (port 26379 by default) and its credentials the
primary's. Each driver on Redis (coordination today; the limits store next) declares its
settings as a subclass of :class:`RedisURLSettings`, checks the URL with :func:`database`
when it is constructed, and connects with :func:`redis_client`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from anker._drivers import DriverSettings, require, setting
from anker.errors import InvalidURL

if TYPE_CHECKING:
    from anker._url import BackendURL

__all__ = ["SENTINEL_PORT", "RedisURLSettings", "database", "redis_client"]

SENTINEL_PORT = 26379


@dataclass(frozen=True)
class RedisURLSettings(DriverSettings):
    """The options every Redis URL may carry."""

    #: the Sentinel service name: then the URL's hosts are Sentinels, not the server
    sentinel: str | None = setting(
        None, help="a Sentinel service name; the URL's hosts are then Sentinels"
    )


def database(url: BackendURL, settings: RedisURLSettings) -> int:
    """The database number a Redis URL names (0 by default), after checking its hosts."""
    if not url.endpoints or (len(url.endpoints) > 1 and not settings.sentinel):
        raise InvalidURL(
            str(url),
            f"{url.scheme}:// needs exactly one host, e.g. redis://127.0.0.1:6379, or "
            f"Sentinels and a service name, e.g. redis://s1:26379,s2:26379?sentinel=mymaster",
        )
    if not url.path.strip("/").isdigit() and url.path not in ("", "/"):
        raise InvalidURL(str(url), f"{url.scheme}:// takes a database number as path, e.g. /0")
    return int(url.path.strip("/") or 0)


def redis_client(
    url: BackendURL, settings: RedisURLSettings, timeout: float, *, needed_for: str
) -> tuple[Any, Any]:
    """A ``redis.asyncio`` client for the URL, and its Sentinel handle (None without one).

    Connecting is bounded by ``timeout``; calls are not (no ``socket_timeout``: with it,
    redis-py sends through ``asyncio.wait_for``, which before Python 3.12 can swallow a
    cancellation): the caller bounds each call with ``asyncio.timeout``. redis-py retries
    nothing (the caller decides), and never sees anker's own query options.
    """
    redis = require("redis.asyncio", extra="redis", needed_for=needed_for)
    retry = require("redis.asyncio.retry", extra="redis", needed_for=needed_for)
    backoff = require("redis.backoff", extra="redis", needed_for=needed_for)
    options: dict[str, Any] = {
        "socket_timeout": None,
        "socket_connect_timeout": timeout,
        "retry": retry.Retry(backoff.NoBackoff(), 0),
    }
    db = database(url, settings)
    if settings.sentinel:
        sentinel = require("redis.asyncio.sentinel", extra="redis", needed_for=needed_for)
        first = url.endpoints[0]
        sentinels = sentinel.Sentinel(
            [(endpoint.host, endpoint.port or SENTINEL_PORT) for endpoint in url.endpoints],
            # Sentinels are asked without credentials; those in the URL are the primary's
            # no retries with back-off (redis-py's default): the next Sentinel is asked instead
            sentinel_kwargs={
                "socket_timeout": timeout,
                "socket_connect_timeout": timeout,
                "retry": options["retry"],
            },
        )
        primary = sentinels.master_for(
            settings.sentinel,
            db=db,
            username=first.username,
            password=None if first.password is None else first.password.reveal(),
            **options,
        )
        return primary, sentinels
    # the one place that sees the password; anker's options stay out of redis-py's way
    plain = dataclasses.replace(url, query=MappingProxyType({})).render(mask=False)
    return redis.Redis.from_url(plain, **options), None
