"""Option declarations shared by the config tests: a small service, the way a user writes one."""

from __future__ import annotations

import enum
import ipaddress
from datetime import timedelta
from pathlib import Path
from typing import Literal

from anker import Secret
from anker._url import BackendURL
from anker.config import ByteSize, Config, Group, HostAddress, Port, option


class Level(enum.Enum):
    LOW = "low"
    HIGH = "high"


class Database(Group):
    """Database access.

    More text that samples leave out.
    """

    connection: Secret[str] = option(
        help="URL of the database.", deprecated_names=["sql_connection", "DEFAULT.sql_connection"]
    )
    max_pool_size: int = option(5, min=1, max=100, mutable=True, help="Connections kept open.")
    timeout: timedelta = option("30s", min="1s", help="How long a query may take.")
    slave_connection: Secret[str] | None = option(None, help="A read-only replica.")


class Messaging(Group):
    transport_url: BackendURL = option(
        "rabbit://guest:guest@localhost:5672/", schemes=["rabbit", "memory"], help="Where RPC goes."
    )
    topics: list[str] = option(["notifications"], mutable=True, help="Notification topics.")
    routing: dict[str, int] = option({}, help="Weights by route.")
    driver: list[str] = option([], multi=True, help="Notification drivers (repeat the key).")


class Limits(Group):
    level: Level = option(Level.LOW, mutable=True, help="How hard to limit.")
    mode: Literal["fast", "safe"] = option("safe", help="Trade-off.")
    cache: ByteSize = option("64MiB", max="1GiB", help="Cache size.")
    bind_host: HostAddress = option("0.0.0.0", help="Listen address.")
    bind_port: Port = option(8080, help="Listen port.")
    peer: ipaddress.IPv4Address | ipaddress.IPv6Address | None = option(None, help="A peer.")
    ratio: float = option(0.5, min=0.0, max=1.0, help="A fraction.")
    name: str = option("svc", regex=r"[a-z]+", max_length=8, help="Short name.")
    color: str = option("red", choices=["red", "green"], help="A color.")
    legacy: bool = option(
        False, deprecated_for_removal=True, deprecated_reason="it does nothing", help="Old."
    )


class ServiceConfig(Config, foreign=("keystone_authtoken", "oslo_*")):
    debug: bool = option(False, mutable=True, help="Log at debug level.")
    workers: int = option(4, min=1, help="Worker processes.")
    state_path: Path = option(Path("/var/lib/svc"), help="Where state lives.")
    lock_path: str = option("$state_path/lock", help="Where locks live.")
    my_ip: str = option("127.0.0.1", help="This host's address.")
    database: Database
    messaging: Messaging
    limits: Limits
