"""`anker config validate|sample|migrate` as an operator runs them."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from anker.cli import cli

SCHEMA = "config_schemas:ServiceConfig"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def bad_conf(tmp_path: Path) -> Path:
    path = tmp_path / "svc.conf"
    path.write_text("[DEFAULT]\ndevug = true\nworkers = many\n[database]\nconnection = x\n")
    return path


def test_validate_reports_every_problem_and_exits_1(bad_conf: Path) -> None:
    code, out, err = run("config", "validate", "--schema", SCHEMA, "--config-file", str(bad_conf))
    assert code == 1
    assert (
        f"{bad_conf}:2: warning: unknown option 'devug' in [DEFAULT]; did you mean 'debug'?" in out
    )
    assert f"{bad_conf}:3: error: [DEFAULT] workers: expected an integer of at least 1" in err
    assert out.rstrip().endswith("1 error(s), 1 warning(s) in 1 file(s); checked values and names")


def test_validate_json(bad_conf: Path) -> None:
    code, out, _ = run(
        "config", "validate", "--schema", SCHEMA, "--config-file", str(bad_conf), "--format", "json"
    )
    report = json.loads(out)
    assert code == 1
    assert report["valid"] is False
    assert (report["errors"], report["warnings"]) == (1, 1)
    assert {p["code"] for p in report["problems"]} == {"unknown-option", "bad-value"}
    assert report["problems"][1]["line"] == 3


def test_validate_strict_makes_unknown_names_errors(tmp_path: Path) -> None:
    path = tmp_path / "ok.conf"
    path.write_text("[DEFAULT]\ndevug = true\n[database]\nconnection = x\n")
    assert run("config", "validate", "--schema", SCHEMA, "--config-file", str(path))[0] == 0
    assert (
        run("config", "validate", "--schema", SCHEMA, "--config-file", str(path), "--strict")[0]
        == 1
    )


def test_validate_without_a_schema_checks_syntax(tmp_path: Path) -> None:
    path = tmp_path / "broken.conf"
    path.write_text("[DEFAULT\nkey\n")
    code, out, err = run("config", "validate", "--config-file", str(path))
    assert code == 1
    assert f"{path}:1: error: section header '[DEFAULT' must end with ']'" in err
    assert "checked syntax only (no --schema)" in out


def test_an_unknown_schema_is_a_usage_error() -> None:
    code, _, err = run("config", "sample", "--schema", "no-such-service")
    assert code == 2
    assert "no schema named 'no-such-service'" in err


@pytest.mark.parametrize("fmt", ["ini", "toml", "json-schema", "markdown"])
def test_sample_formats(fmt: str, tmp_path: Path) -> None:
    output = tmp_path / f"sample.{fmt}"
    code, _, err = run(
        "config", "sample", "--schema", SCHEMA, "--format", fmt, "--output", str(output)
    )
    assert code == 0, err
    assert "max_pool_size" in output.read_text()


def test_migrate_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.conf"
    path.write_text("[DEFAULT]\n# the db\nsql_connection = sqlite://\n")
    path.chmod(0o640)
    code, out, _ = run("config", "migrate", "--schema", SCHEMA, str(path), "--in-place")
    assert code == 0
    assert path.read_text() == "[DEFAULT]\n# the db\n\n[database]\nconnection = sqlite://\n"
    assert path.stat().st_mode & 0o777 == 0o640, "the file keeps its mode"
    assert "changed: " in out
    assert "1 change(s), 0 left for a human" in out


def test_migrate_prints_the_new_file_without_touching_the_old(tmp_path: Path) -> None:
    path = tmp_path / "old.conf"
    path.write_text("[DEFAULT]\nsql_connection = sqlite://\n")
    code, out, err = run("config", "migrate", "--schema", SCHEMA, str(path))
    assert code == 0
    assert out == "[DEFAULT]\n\n[database]\nconnection = sqlite://\n"
    assert "1 change(s)" in err
    assert path.read_text() == "[DEFAULT]\nsql_connection = sqlite://\n"


def test_a_schema_is_found_by_its_entry_point_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist_info = tmp_path / "demo_service-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-service\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        f"[anker.config.schemas]\ndemo-service = {SCHEMA}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, err = run("config", "sample", "--schema", "demo-service", "--format", "markdown")
    assert code == 0, err
    assert out.startswith("# Configuration reference: ServiceConfig")
    code, _, err = run("config", "sample", "--schema", "demo-servce")
    assert code == 2
    assert "known: demo-service" in err


def test_migrate_in_place_writes_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.conf"
    real.write_text("[DEFAULT]\nsql_connection = sqlite://\n")
    link = tmp_path / "link.conf"
    link.symlink_to(real)
    assert run("config", "migrate", "--schema", SCHEMA, str(link), "--in-place")[0] == 0
    assert link.is_symlink(), "the link stays a link"
    assert "[database]\nconnection = sqlite://" in real.read_text()


def test_validate_and_migrate_word_a_byte_that_is_not_utf8_alike(tmp_path: Path) -> None:
    path = tmp_path / "latin1.conf"
    path.write_bytes(b"[DEFAULT]\nsql_connection = caf\xe9\n")
    code, _, err = run("config", "migrate", "--schema", SCHEMA, str(path), "--in-place")
    assert code == 1
    assert err == f"Error: {path}:2: byte 0xe9 is not valid UTF-8; nothing changed\n"
    assert path.read_bytes() == b"[DEFAULT]\nsql_connection = caf\xe9\n"
    code, _, err = run("config", "validate", "--schema", SCHEMA, "--config-file", str(path))
    assert code == 1
    assert f"{path}:2: error: byte 0xe9 is not valid UTF-8\n" in err


def anker(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The anker console script in a process of its own (logging as a service has it)."""
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    return subprocess.run(
        [sys.executable, "-c", "from anker.cli import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        check=False,
    )


def test_validate_prints_each_warning_once(tmp_path: Path) -> None:
    path = tmp_path / "warn.conf"
    path.write_text("[DEFAULT]\ndevug = true\nworkrs = 2\n[database]\nconnection = x\n")
    done = anker("config", "validate", "--schema", SCHEMA, "--config-file", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    both = done.stdout + done.stderr
    assert both.count("unknown option 'devug'") == 1, both
    assert both.count("unknown option 'workrs'") == 1, both
    assert done.stderr == ""


def test_a_schema_module_in_the_current_directory_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "here_only_conf.py").write_text(
        "from anker.config import Config, option\n"
        "class HereConfig(Config):\n"
        "    spot: int = option(7, help='Found in the current directory.')\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "here_only_conf", raising=False)
    code, _, err = run("config", "sample", "--schema", "nowhere_conf:X")
    assert code == 2
    assert f"No module named 'nowhere_conf' (searched sys.path and {tmp_path})" in err
    code, out, err = run("config", "sample", "--schema", "here_only_conf:HereConfig")
    assert code == 0, err
    assert "#spot = 7" in out
    sys.modules.pop("here_only_conf", None)


def one_line_error(code: int, out: str, err: str) -> str:
    assert code == 1, (out, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_sample_to_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    target = tmp_path / "nonexistent" / "x.conf"
    line = one_line_error(*run("config", "sample", "--schema", SCHEMA, "--output", str(target)))
    assert line == f"Error: cannot write {target}: No such file or directory"


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[str]:
    """``directory`` made read-only; root writes through modes, so it is made immutable then.
    Yields the reason writing there fails."""
    if os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            yield "Permission denied"
        finally:
            directory.chmod(0o755)
        return
    subprocess.run(["chattr", "+i", str(directory)], check=True)
    try:
        yield "Operation not permitted"
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=True)


def test_migrate_in_place_in_a_read_only_directory_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "old.conf"
    path.write_text("[DEFAULT]\nsql_connection = sqlite://\n")
    with read_only(tmp_path) as reason:
        result = run("config", "migrate", "--schema", SCHEMA, "--in-place", str(path))
    assert one_line_error(*result) == f"Error: cannot write {path}: {reason}"
    assert path.read_text() == "[DEFAULT]\nsql_connection = sqlite://\n"


def test_migrate_as_json(tmp_path: Path) -> None:
    path = tmp_path / "old.conf"
    path.write_text("[DEFAULT]\nsql_connection = sqlite://\n[limits]\nlegacy = true\n")
    code, out, err = run("config", "migrate", "--schema", SCHEMA, str(path), "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    assert document["file"] == str(path)
    assert document["changed"] == [f"{path}:2: [DEFAULT] sql_connection -> [database] connection"]
    assert document["manual"] == [
        f"{path}:4: [limits] legacy is deprecated for removal: it does nothing; remove it by hand"
    ]
    assert document["rewritten"] is False
    assert "[database]\nconnection = sqlite://" in document["text"]
    code, out, _ = run(
        "config", "migrate", "--schema", SCHEMA, str(path), "--in-place", "--format", "json"
    )
    assert code == 0
    assert json.loads(out)["rewritten"] is True
    assert "text" not in json.loads(out)
    assert "[database]\nconnection = sqlite://" in path.read_text()


def test_dash_is_stdin_and_stdout() -> None:
    text = "[DEFAULT]\ndevug = true\nsql_connection = sqlite://\n"
    result = CliRunner().invoke(
        cli, ["config", "validate", "--schema", SCHEMA, "--config-file", "-"], input=text
    )
    assert result.exit_code == 0, result.stderr
    assert "<stdin>:2: warning: unknown option 'devug' in [DEFAULT]" in result.stdout
    assert "<stdin>:3: warning: [DEFAULT] sql_connection is deprecated" in result.stdout
    result = CliRunner().invoke(
        cli, ["config", "validate", "--config-file", "-", "--format", "json"], input="[x\n"
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["files"] == ["<stdin>"]
    assert report["problems"][0]["file"] == "<stdin>"
    result = CliRunner().invoke(cli, ["config", "migrate", "--schema", SCHEMA, "-"], input=text)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.endswith("[database]\nconnection = sqlite://\n")
    assert "<stdin>:3: [DEFAULT] sql_connection -> [database] connection" in result.stderr
    result = CliRunner().invoke(
        cli, ["config", "migrate", "--schema", SCHEMA, "-", "--in-place"], input=text
    )
    assert result.exit_code == 2
    result = CliRunner().invoke(
        cli, ["config", "sample", "--schema", SCHEMA, "--format", "toml", "--output", "-"]
    )
    assert result.exit_code == 0
    assert result.stdout.startswith("[DEFAULT]")


def test_migrate_refuses_toml_and_only_ini_files_are_sent_to_it(tmp_path: Path) -> None:
    # validate advised "anker config migrate rewrites it" for a deprecated name in a TOML
    # file, and migrate then printed the file unchanged: "0 change(s), 0 left for a human"
    path = tmp_path / "svc.toml"
    written = 'sql_connection = "sqlite://"\n'
    path.write_text(written)
    code, out, err = run("config", "validate", "--schema", SCHEMA, str(path))
    assert code == 0
    assert "is deprecated; use [database] connection instead\n" in out
    assert "config migrate" not in out
    code, out, err = run("config", "migrate", "--schema", SCHEMA, str(path), "--in-place")
    assert code == 1
    assert out == ""
    assert err == (
        f"Error: {path}: anker config migrate rewrites INI files, not TOML: rename the"
        " deprecated options that validate reports by hand; nothing changed\n"
    )
    assert path.read_text() == written
    ini = tmp_path / "svc.conf"
    ini.write_text("[DEFAULT]\nsql_connection = sqlite://\n")
    code, out, _ = run("config", "validate", "--schema", SCHEMA, str(ini))
    assert "instead (anker config migrate rewrites it)" in out


def test_a_deprecated_name_outside_a_file_is_not_sent_to_migrate() -> None:
    from config_schemas import ServiceConfig

    loaded = ServiceConfig.load(
        env_prefix="SVC", environ={"SVC_DEFAULT__SQL_CONNECTION": "sqlite://"}
    )
    assert [str(w) for w in loaded.warnings] == [
        "environment variable SVC_DEFAULT__SQL_CONNECTION: warning: [DEFAULT] sql_connection is"
        " deprecated; use [database] connection instead"
    ]


class _Zeros(io.RawIOBase):
    """Standard input that gives ``size`` zero bytes (think of /dev/zero), counting them."""

    def __init__(self, size: int) -> None:
        self.left, self.given = size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        self.given += count
        return count


@pytest.mark.parametrize("command", ["validate", "migrate"])
def test_stdin_is_read_no_further_than_a_file_is(command: str) -> None:
    # '- < /dev/zero' read standard input to its end: a MemoryError (exit 70) after filling
    # the memory, where a file of that size is refused after 16 MiB
    from anker.config._ini import MAX_FILE_BYTES

    zeros = _Zeros(3 * MAX_FILE_BYTES)
    args = ["--config-file", "-"] if command == "validate" else ["--schema", SCHEMA, "-"]
    result = CliRunner().invoke(cli, ["config", command, *args], input=io.BufferedReader(zeros))
    assert result.exit_code == 1, result.output
    assert "<stdin>: " in result.output
    assert "is larger than 16 MiB" in result.output
    assert zeros.given < 2 * MAX_FILE_BYTES
