"""`anker secrets` at a real terminal (a pseudo-terminal): what a person types is never shown,
is asked for twice, and an empty or abandoned entry stores nothing."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from anker.cli import cli

DEADLINE = 30.0


# the child makes the pty its controlling terminal (getpass opens /dev/tty), then runs anker
CHILD = (
    "import fcntl, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0);"
    " from anker.cli import main; main()"
)


class Terminal:
    """``anker secrets ARGS`` on a pseudo-terminal of its own (stdin, stdout and stderr)."""

    def __init__(self, *args: str) -> None:
        self.fd, child = pty.openpty()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", CHILD, "secrets", *args],
                stdin=child,
                stdout=child,
                stderr=child,
                start_new_session=True,  # a session of its own, as at a login
            )
        finally:
            os.close(child)  # else the terminal never ends for this side
        self.seen = b""
        self.mark = 0

    def expect(self, text: bytes) -> None:
        """Read until ``text`` shows after what was expected before (or fail, saying what
        the terminal shows)."""
        deadline = time.monotonic() + DEADLINE
        while (found := self.seen.find(text, self.mark)) < 0:
            left = deadline - time.monotonic()
            assert left > 0, f"waited for {text!r}; the terminal shows {self.seen!r}"
            if not self._read(left):
                raise AssertionError(f"ended before {text!r}; the terminal shows {self.seen!r}")
        self.mark = found + len(text)

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def wait(self) -> int:
        """Read everything until the program exits; its exit status."""
        while self._read(DEADLINE):
            pass
        return self.process.wait(timeout=DEADLINE)

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        assert ready, f"no output within {timeout:.0f} s; the terminal shows {self.seen!r}"
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:  # EIO: the program has exited and closed the terminal
            return False
        self.seen += chunk
        return bool(chunk)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.fd)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    key_file = tmp_path / "master.key"
    assert CliRunner().invoke(cli, ["secrets", "init", str(key_file)]).exit_code == 0
    url = f"local://{tmp_path}/store?master_key_file={key_file}"
    monkeypatch.setenv("ANKER_SECRETS_URL", url)
    assert CliRunner().invoke(cli, ["secrets", "init"]).exit_code == 0
    return url


def reveal(name: str) -> str | None:
    result = CliRunner().invoke(cli, ["secrets", "get", name, "--reveal", "--format", "json"])
    if result.exit_code:
        return None
    value: str = json.loads(result.stdout)["value"]
    return value


def names() -> list[str]:
    listed = CliRunner().invoke(cli, ["secrets", "list", "--format", "json"]).stdout
    return [obj["name"] for obj in json.loads(listed)]


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    started: list[Terminal] = []
    yield started
    for terminal in started:
        terminal.close()


def start(terminals: list[Terminal], *args: str) -> Terminal:
    terminal = Terminal(*args)
    terminals.append(terminal)
    return terminal


@pytest.mark.usefixtures("store")
def test_a_typed_value_is_not_shown_and_is_confirmed(terminals: list[Terminal]) -> None:
    term = start(terminals, "put", "passphrase", "--name", "db")
    term.expect(b"passphrase (not shown): ")
    term.send(b"hunter2 typed\r")
    term.expect(b"passphrase again: ")
    term.send(b"hunter2 typed\r")
    assert term.wait() == 0, term.seen
    assert b"hunter2" not in term.seen
    assert reveal("db") == "hunter2 typed"


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([b"\x04"], b"no value was typed (end of input); nothing stored"),  # Ctrl-D
        ([b"\r"], b"nothing was typed; nothing stored"),
        ([b"one\r", b"two\r"], b"the two entries differ; nothing stored"),
        ([b"one\r", b"\x04"], b"no value was typed (end of input); nothing stored"),
    ],
    ids=["ctrl-d", "empty", "different", "ctrl-d-at-confirmation"],
)
@pytest.mark.usefixtures("store")
def test_an_empty_abandoned_or_mistyped_value_stores_nothing(
    terminals: list[Terminal], keys: list[bytes], message: bytes
) -> None:
    term = start(terminals, "put", "opaque", "--name", "x")
    for key in keys:
        term.expect(b": ")  # the next prompt
        term.send(key)
    assert term.wait() == 1
    assert message in term.seen
    assert names() == []


@pytest.mark.usefixtures("store")
def test_binary_kinds_are_not_typed(terminals: list[Terminal]) -> None:
    term = start(terminals, "put", "symmetric")
    assert term.wait() == 2
    assert b"a symmetric is binary: give --file FILE, or pipe it on standard input" in term.seen


@pytest.mark.usefixtures("store")
def test_rotate_asks_for_the_new_value_at_a_terminal(terminals: list[Terminal]) -> None:
    put = CliRunner().invoke(cli, ["secrets", "put", "passphrase", "--name", "pw"], input="old\n")
    assert put.exit_code == 0
    term = start(terminals, "rotate", "pw")
    term.expect(b"passphrase (not shown): ")
    term.send(b"newer\r")
    term.expect(b"passphrase again: ")
    term.send(b"newer\r")
    assert term.wait() == 0, term.seen
    assert b"newer" not in term.seen
    assert b"is now at version 2" in term.seen
    assert reveal("pw") == "newer"


def test_encrypted_data_is_not_written_to_a_terminal(
    store: str, tmp_path: Path, terminals: list[Terminal]
) -> None:
    assert CliRunner().invoke(cli, ["secrets", "create-key", "--name", "k"]).exit_code == 0
    plain = tmp_path / "plain"
    plain.write_bytes(b"data")
    term = start(terminals, "encrypt", str(plain), "--key", "k", "-o", "-")
    assert term.wait() == 2
    assert b"refusing to write encrypted data to a terminal" in term.seen


def test_a_large_file_is_encrypted_and_decrypted_behind_a_progress_bar(
    store: str, tmp_path: Path, terminals: list[Terminal]
) -> None:
    from anker.cli._progress import MIN_SIZE

    assert CliRunner().invoke(cli, ["secrets", "create-key", "--name", "k"]).exit_code == 0
    image = tmp_path / "image.raw"
    data = os.urandom(1024) * (MIN_SIZE // 1024 + 1)
    image.write_bytes(data)
    term = start(terminals, "encrypt", str(image), "--key", "k")
    term.expect(b"encrypting")
    term.expect(b"100%")
    assert term.wait() == 0
    image.unlink()
    term = start(terminals, "decrypt", f"{image}.ake")
    term.expect(b"100%")
    assert term.wait() == 0
    assert image.read_bytes() == data
