"""Database servers of the restart tests' own, which the tests stop and start.

Never stop the shared servers (5432, 3306): other tests run against them. A private server
lives in a temporary folder, listens on a free loopback port, and is made once per test module
(``initdb`` and ``mariadb-install-db`` take seconds); each test starts it if it is stopped.
PostgreSQL refuses to run as root, so as root both run as their packages' users (``setpriv``).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "NoPrivateServer",
    "PrivateServer",
    "private_server_for",
    "running_private_server",
    "server_user",
]

PG_BIN = Path(os.environ.get("ANKER_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
START_TIMEOUT = 60.0


class PrivateServer(ABC):
    """One private server: ``url`` (anker's), ``start``, ``stop``, ``wait_ready``."""

    name: str

    def __init__(self, folder: Path, user: str | None) -> None:
        self.folder = folder
        self.user = user  # run as this user (when the tests run as root)
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    @abstractmethod
    def url(self) -> str: ...

    @abstractmethod
    def _command(self) -> list[str]: ...

    @abstractmethod
    def _probe(self) -> None:
        """Open and close one connection; raise if the server does not take it."""

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def launch(self) -> None:
        """Start the server's process, without waiting for it to take connections. Call it
        from a thread that outlives the server (the main one): the server is stopped when the
        thread that started it ends (``setpriv --pdeathsig``)."""
        assert not self.running, f"private {self.name} already runs"
        log = (self.folder / "server.log").open("ab")
        self._process = subprocess.Popen(
            [*self._as_user(), *self._command()],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        log.close()

    def wait_ready(self) -> float:
        """Poll (every 5 ms) until a connection succeeds; the monotonic time it did."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                self._probe()
                return time.monotonic()
            except Exception as exc:
                if time.monotonic() > deadline or not self.running:
                    why = f"private {self.name} did not start: {self.log_tail()}"
                    raise RuntimeError(why) from exc
                time.sleep(0.005)

    def start(self) -> None:
        """Start the server (if stopped) and wait until it takes connections."""
        if not self.running:
            self.launch()
        self.wait_ready()

    def stop(self) -> None:
        """A fast shutdown: sessions are ended, the server exits, the port is closed."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(self._stop_signal)
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    _stop_signal = signal.SIGTERM

    def log_tail(self) -> str:
        path = self.folder / "server.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"

    def _as_user(self) -> list[str]:
        # setpriv: the server follows a killed test run instead of outliving it
        guard = ["setpriv", "--pdeathsig", "TERM"]
        if self.user is None:
            return guard
        return [*guard, "--reuid", self.user, "--regid", self.user, "--init-groups"]

    def _run(self, command: list[str]) -> None:
        done = subprocess.run(
            [*self._as_user(), *command], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {done.stdout[-1000:]}{done.stderr[-1000:]}")


class PrivatePostgres(PrivateServer):
    name = "postgresql"
    _stop_signal = signal.SIGINT  # fast shutdown (SIGTERM waits for every client to leave)

    def __init__(self, folder: Path, user: str | None) -> None:
        super().__init__(folder, user)
        self._run(
            [
                str(PG_BIN / "initdb"),
                *("-D", str(folder / "data"), "-U", "postgres"),
                *("--auth=trust", "--no-sync", "--no-instructions"),
            ]
        )

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _command(self) -> list[str]:
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.folder),
            "fsync": "off",
            "max_connections": "30",
            "shared_buffers": "16MB",
        }
        options = [part for key, value in settings.items() for part in ("-c", f"{key}={value}")]
        data = str(self.folder / "data")
        return [str(PG_BIN / "postgres"), "-D", data, "-p", str(self.port), *options]

    def _probe(self) -> None:
        import psycopg

        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres connect_timeout=2"
        psycopg.connect(dsn).close()


class PrivateMariaDB(PrivateServer):
    name = "mariadb"

    def __init__(self, folder: Path, user: str | None) -> None:
        super().__init__(folder, user)
        self._run(
            [
                _which("mariadb-install-db"),
                *("--no-defaults", f"--datadir={folder / 'data'}"),
                *("--auth-root-authentication-method=normal", "--skip-test-db"),
                *("--skip-name-resolve", "--innodb-buffer-pool-size=16M"),
            ]
        )

    @property
    def url(self) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/mysql"

    def _command(self) -> list[str]:
        return [
            _which("mariadbd"),
            "--no-defaults",
            f"--datadir={self.folder / 'data'}",
            f"--socket={self.folder / 'mariadb.sock'}",
            f"--pid-file={self.folder / 'mariadb.pid'}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=16M",
            "--skip-log-bin",
        ]

    def _probe(self) -> None:
        import pymysql

        pymysql.connect(host="127.0.0.1", port=self.port, user="root", connect_timeout=2).close()


def _which(command: str) -> str:
    for folder in ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"):
        if (Path(folder) / command).exists():
            return str(Path(folder) / command)
    return shutil.which(command) or command


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _missing(name: str) -> str | None:
    """Why a private ``name`` server cannot be made here, or None."""
    if shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    if name == "postgresql":
        needed = [PG_BIN / "initdb", PG_BIN / "postgres"]
        hint = "install postgresql-15 or set ANKER_TEST_PG_BIN to its bin folder"
    else:
        needed = [Path(_which("mariadbd")), Path(_which("mariadb-install-db"))]
        hint = "install mariadb-server"
    absent = [str(path) for path in needed if not path.exists()]
    return f"{', '.join(absent)} not found ({hint})" if absent else None


_USERS = {"postgresql": "postgres", "mariadb": "mysql"}


def private_server_for(name: str) -> Iterator[PrivateServer]:
    """A private ``name`` server, started; stopped and deleted afterwards (or a skip)."""
    import pytest  # here: bench/db_restart_latency.py uses these servers without pytest

    try:
        user = server_user(name)
    except NoPrivateServer as why:
        pytest.skip(f"no private {name} server for the restart tests: {why}")
    yield from running_private_server(name, user)


class NoPrivateServer(Exception):
    """A private server cannot be made here (what is missing)."""


def server_user(name: str) -> str | None:
    """The user a private ``name`` server runs as (None: this one); NoPrivateServer saying
    what is missing when none can run here."""
    if (why := _missing(name)) is not None:
        raise NoPrivateServer(why)
    if os.geteuid() != 0:
        return None
    user = _USERS[name]
    try:
        pwd.getpwnam(user)
    except KeyError:
        raise NoPrivateServer(f"running as root, and no user {user!r} to run it as") from None
    return user


def running_private_server(name: str, user: str | None) -> Iterator[PrivateServer]:
    """A private ``name`` server run as ``user``, started; stopped and deleted afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=f"anker-{name}-"))
    try:
        if user is not None:
            shutil.chown(folder, user, user)
        kind = PrivatePostgres if name == "postgresql" else PrivateMariaDB
        server = kind(folder, user)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
