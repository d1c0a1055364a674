"""Helpers of the RabbitMQ transport tests: raw AMQP access, a TCP proxy that can be cut, and a
private RabbitMQ node that a test may stop and start (never the shared one on 5672)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from anker._url import parse_url
from anker.messaging import Transport, connect
from pki import make_test_pki
from tcp_proxy import TCPProxy, through
from waiting import eventually

__all__ = [
    "PrivateRabbit",
    "TCPProxy",
    "_open",
    "amqp_url",
    "eventually",
    "make_test_pki",
    "private_node",
    "through",
    "transports",
]


@pytest.fixture
async def transports() -> AsyncIterator[list[Transport]]:
    """Transports a test opens with :func:`_open`; all closed at the end."""
    opened: list[Transport] = []
    yield opened
    for transport in reversed(opened):
        await transport.aclose()


async def _open(opened: list[Transport], url: str, **options: Any) -> Transport:
    transport = await connect(url, **options)
    opened.append(transport)
    return transport


RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
START_SECONDS = 40.0


def amqp_url(rabbit_url: str) -> str:
    """The AMQP URL (for aio-pika) of the first broker of an oslo-style ``rabbit://`` URL."""
    url = parse_url(rabbit_url)
    endpoint = url.endpoints[0]
    return f"amqp://{endpoint.render(mask=False)}/" + (
        "%2F" if url.path in ("", "/") else url.path.lstrip("/")
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateRabbit:
    """A RabbitMQ node of the test session's own, on its own ports, node name, Erlang cookie
    (its own HOME) and data directory, which tests may stop and start.

    The machine's shared RabbitMQ (5672) is never touched: CI runs against it afterwards.
    """

    def __init__(self, directory: Path, *, tls: bool = False) -> None:
        self.directory = directory
        self.port = _free_port()
        self.dist_port = _free_port()
        self.node = f"anker-test-{self.port}@localhost"
        self.url = f"rabbit://guest:guest@127.0.0.1:{self.port}/"
        self._process: subprocess.Popen[bytes] | None = None
        config = f"listeners.tcp.1 = 127.0.0.1:{self.port}\nloopback_users = none\n"
        #: with ``tls``: a TLS listener (certificates of a test CA in the directory)
        self.tls_port = _free_port() if tls else None
        if tls:
            make_test_pki(directory)
            config += (
                f"listeners.ssl.1 = 127.0.0.1:{self.tls_port}\n"
                f"ssl_options.cacertfile = {directory / 'ca.pem'}\n"
                f"ssl_options.certfile = {directory / 'server.pem'}\n"
                f"ssl_options.keyfile = {directory / 'server.key'}\n"
                "ssl_options.verify = verify_peer\n"
                "ssl_options.fail_if_no_peer_cert = false\n"
            )
        (directory / "rabbitmq.conf").write_text(config)
        (directory / "enabled_plugins").write_text("[].\n")
        self.env = {
            **os.environ,
            "HOME": str(directory),  # its own Erlang cookie, for rabbitmqctl too
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(directory / "mnesia"),
            "RABBITMQ_LOG_BASE": str(directory / "log"),
            "RABBITMQ_CONFIG_FILE": str(directory / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(directory / "rabbitmq.pid"),
            "RABBITMQ_CONF_ENV_FILE": str(directory / "rabbitmq-env.conf"),  # not the machine's
        }

    def start(self) -> None:
        guard = ["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv") else []
        with (self.directory / "server.out").open("ab") as out:
            self._process = subprocess.Popen(
                [*guard, str(RABBIT_BIN / "rabbitmq-server")],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if self._answers():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"a private RabbitMQ on port {self.port} did not start within {START_SECONDS:g} s: "
            + self.log_tail()
        )

    def _answers(self) -> bool:
        """Whether the broker speaks AMQP yet (the port opens a little before it does)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"AMQP\x00\x00\x09\x01")
                sock.settimeout(2)
                return sock.recv(1) == b"\x01"  # a Connection.Start method frame
        except OSError:
            return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node, "stop"],
            env=self.env,
            capture_output=True,
            timeout=30,
            check=False,
        )
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self) -> str:
        text = ""
        for path in (self.directory / "server.out", *self.directory.glob("log/*.log")):
            if path.exists():
                text += path.read_text(errors="replace")[-1500:]
        return text or "(no log)"


def private_node(
    tmp_path_factory: pytest.TempPathFactory, *, tls: bool = False
) -> Iterator[PrivateRabbit]:
    """A started private RabbitMQ node, for a session fixture (tests may restart it); a
    skip, with the reason, if it cannot start. ``tls`` adds a TLS listener."""
    missing = [
        str(RABBIT_BIN / name)
        for name in ("rabbitmq-server", "rabbitmqctl")
        if not (RABBIT_BIN / name).exists()
    ]
    if missing:
        pytest.skip(
            f"RabbitMQ is not installed ({', '.join(missing)} missing); install Debian's "
            "rabbitmq-server package"
        )
    node = PrivateRabbit(tmp_path_factory.mktemp("rabbit"), tls=tls)
    try:
        node.start()
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        pytest.skip(f"could not start a private RabbitMQ node: {exc}")
    try:
        yield node
    finally:
        node.stop()
