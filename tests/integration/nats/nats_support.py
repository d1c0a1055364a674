"""A NATS server of one test's own (JetStream on, its store in the test's directory), which
the test may kill and start again. Never stop the shared server on 4222: other tests use it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pki import make_test_pki

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateNats:
    def __init__(self, directory: Path, *, tls: bool = False, verify_clients: bool = False) -> None:
        self.directory = directory
        self.store = directory / "jetstream"
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self.tls: list[str] = []
        if tls:  # certificates of a test CA (ca.pem) for the name localhost
            make_test_pki(directory)
            self.tls = [
                "--tls",
                "--tlscert",
                str(directory / "server.pem"),
                "--tlskey",
                str(directory / "server.key"),
            ]
            if verify_clients:  # clients must show a certificate the test CA signed
                self.tls += ["--tlsverify", "--tlscacert", str(directory / "ca.pem")]

    def start(self) -> None:
        # setpriv: a test run that is killed leaves no server behind
        guard = ["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv") else []
        argv = [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)]
        argv += self.tls
        self._process = subprocess.Popen(
            [*guard, *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(4096).startswith(b"INFO"):
                        return
            except OSError:
                time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"a private nats-server on port {self.port} did not start in 10 s")

    def kill(self) -> None:
        """Kill the server outright (SIGKILL), as a crash would."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None


def _started(directory: Path, **options: bool) -> Iterator[PrivateNats]:
    if not Path(NATS_SERVER).exists():
        pytest.skip(f"nats-server is not installed ({NATS_SERVER}); install Debian's nats-server")
    server = PrivateNats(directory, **options)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[PrivateNats]:
    """A started NATS server (with JetStream) that only this test uses; killed after it."""
    yield from _started(tmp_path)


@pytest.fixture
def tls_nats(tmp_path: Path) -> Iterator[PrivateNats]:
    """The same with TLS required: certificates of a test CA in ``server.directory``."""
    yield from _started(tmp_path, tls=True)


@pytest.fixture
def mtls_nats(tmp_path: Path) -> Iterator[PrivateNats]:
    """The same, also requiring a client certificate the test CA signed."""
    yield from _started(tmp_path, tls=True, verify_clients=True)
