"""What the coordination benchmarks share: servers, names, an event loop thread, child processes.

Servers are the integration tests' (same environment variables, same loopback defaults):
``ANKER_TEST_REDIS_URL``, ``ANKER_TEST_POSTGRES_URL``, ``ANKER_TEST_ETCD_URL``,
``ANKER_TEST_ZOOKEEPER_URL``. anker gets the URL as it is; tooz and the raw clients get the
same host and port. A side whose server does not answer raises :class:`Unavailable`.

Every name a benchmark uses is fresh (:func:`unique`), so runs never see each other's entries
on the shared servers; tooz's keys on Redis go under their own namespace, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

from bench._harness import Unavailable
from bench.suites._jsonl import JsonLinesProcess

T = TypeVar("T")


SERVERS = {
    "redis": ("ANKER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "postgresql": ("ANKER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    "etcd": ("ANKER_TEST_ETCD_URL", "etcd://127.0.0.1:2379"),
    "zookeeper": ("ANKER_TEST_ZOOKEEPER_URL", "zookeeper://127.0.0.1:2181"),
}
#: how long one call to a server may take, in every client (anker's default is 5 s too)
CALL_TIMEOUT = 5.0
#: how long a child process may take to connect and say it is ready
READY_TIMEOUT = 60.0
#: tooz's Redis keys go under this namespace, one per run (see tooz_url)
TOOZ_REDIS_NAMESPACE = "_anker_bench_tooz"


def server_url(name: str) -> str:
    """The URL of server ``name``, after checking that it accepts connections."""
    variable, default = SERVERS[name]
    url = os.environ.get(variable, "").split(",")[0].strip() or default
    host, port = address(url)
    try:
        with socket.create_connection((host, port), timeout=2.0):
            pass
    except OSError as exc:
        raise Unavailable(f"{name} is not reachable at {host}:{port}: {exc}") from exc
    return url


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    default_port = {"redis": 6379, "postgresql": 5432, "etcd": 2379, "zookeeper": 2181}
    return parts.hostname or "127.0.0.1", parts.port or default_port.get(parts.scheme, 0)


def tooz_url(name: str, url: str, **options: object) -> str:
    """tooz's URL for the same server, with ``options`` as its query."""
    host, port = address(url)
    scheme = {"redis": "redis", "etcd": "etcd3+http", "zookeeper": "zookeeper"}[name]
    query = "&".join(f"{key}={value}" for key, value in options.items())
    return f"{scheme}://{host}:{port}" + (f"?{query}" if query else "")


def unique(what: str) -> str:
    """A name no earlier run used (letters and digits: valid everywhere)."""
    return f"{what}{uuid.uuid4().hex[:12]}"


def import_tooz() -> Any:
    """``tooz.coordination``, without the eventlet deprecation warning futurist prints."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import tooz.coordination

    return tooz.coordination


@contextlib.contextmanager
def tooz_coordinator(url: str, member: str, *, heart: bool = True) -> Iterator[Any]:
    """A started tooz coordinator (with its heartbeat thread), stopped at the end."""
    coordination = import_tooz()
    coordinator = coordination.get_coordinator(url, member.encode())
    coordinator.start(start_heart=heart)
    try:
        yield coordinator
    finally:
        with contextlib.suppress(Exception):
            coordinator.stop()


def forget_tooz_redis_keys(url: str, namespace: str) -> None:
    """Delete what tooz left on Redis under ``namespace`` (groups of killed members)."""
    import redis

    host, port = address(url)
    client = redis.Redis(host=host, port=port, socket_timeout=CALL_TIMEOUT)
    try:
        keys = list(client.scan_iter(match=f"{namespace}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


# ---------------------------------------------------------------------- an event loop thread
@contextlib.contextmanager
def loop_thread() -> Iterator[Callable[[Awaitable[T]], T]]:
    """An event loop running in a thread for the whole benchmark (as a service's loop runs
    all the time: a coordinator's session is renewed in the background, also while the other
    sides are measured); yields ``call(awaitable)``, which runs it there and waits."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="bench-loop", daemon=True)
    thread.start()

    def call(awaitable: Awaitable[T], timeout: float = 600.0) -> T:
        async def run() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout)

    try:
        yield call
    finally:

        async def cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(cancel_rest(), loop).result(10.0)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10.0)
        if not thread.is_alive():
            loop.close()


@contextlib.contextmanager
def anker_coordinator(
    call: Callable[[Awaitable[Any]], Any], url: str, **options: Any
) -> Iterator[Any]:
    """An anker Coordinator on the loop of ``call`` (see :func:`loop_thread`), closed at the end."""
    from anker.coordination import Coordinator

    coordinator = call(Coordinator.connect(url, timeout=CALL_TIMEOUT, **options))
    try:
        yield coordinator
    finally:
        with contextlib.suppress(Exception):
            call(coordinator.aclose(), 30.0)


# ---------------------------------------------------------------------- child processes
class Child(JsonLinesProcess):
    """A ``python -m bench.suites._coord_worker`` process speaking JSON lines on stdout."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__("bench.suites._coord_worker", spec)

    def event(self, deadline: float) -> dict[str, Any]:
        """The next JSON line, waiting until ``deadline`` (monotonic) at most."""
        return self.next_object(deadline)

    def expect(self, name: str, deadline: float) -> dict[str, Any]:
        event = self.event(deadline)
        if event.get("event") != name:
            raise RuntimeError(f"{self}: expected {name!r}, got {event}{self._tail()}")
        return event

    def __str__(self) -> str:
        return f"{self.spec.get('role')} ({self.spec.get('lib')}, pid {self.process.pid})"


@contextlib.contextmanager
def children() -> Iterator[Callable[[dict[str, Any]], Child]]:
    """Start children with ``start(spec)``; every one is SIGKILLed at the end, come what may."""
    started: list[Child] = []

    def start(spec: dict[str, Any]) -> Child:
        child = Child(spec)
        started.append(child)
        return child

    try:
        yield start
    finally:
        for child in started:
            child.kill()


def forget_tooz_group(server: str, url: str, group: str) -> None:
    """Delete what tooz keeps of a group on etcd or ZooKeeper once its members are gone."""
    if server == "etcd":
        import base64

        import httpx

        host, port = address(url)
        prefix = f"tooz/groups/{group}".encode()
        end = prefix[:-1] + bytes([prefix[-1] + 1])
        body = {
            "key": base64.b64encode(prefix).decode(),
            "range_end": base64.b64encode(end).decode(),
        }
        with httpx.Client(timeout=CALL_TIMEOUT, trust_env=False) as client:
            client.post(f"http://{host}:{port}/v3/kv/deleterange", json=body)
    elif server == "zookeeper":
        with kazoo_client(url) as client:
            client.delete(f"/tooz/{group}", recursive=True)


def forget_anker_zookeeper(url: str, prefix: str) -> None:
    """Delete the namespace nodes anker's ZooKeeper driver keeps (one per name ever used)."""
    from urllib.parse import quote

    with kazoo_client(url) as client:
        root = "/anker/coord"
        if client.exists(root):
            for child in client.get_children(root):
                if child.startswith(quote(prefix, safe="")):
                    client.delete(f"{root}/{child}", recursive=True)


@contextlib.contextmanager
def kazoo_client(url: str) -> Iterator[Any]:
    from kazoo.client import KazooClient

    host, port = address(url)
    client = KazooClient(f"{host}:{port}", timeout=CALL_TIMEOUT)
    client.start(CALL_TIMEOUT)
    try:
        yield client
    finally:
        client.stop()
        client.close()
