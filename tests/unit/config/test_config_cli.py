"""`anker config validate|sample|migrate` as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_migrate_of_a_file_that_is_not_utf8_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "latin1.conf"
    path.write_bytes(b"[DEFAULT]\nsql_connection = caf\xe9\n")
    code, _, err = run("config", "migrate", "--schema", SCHEMA, str(path), "--in-place")
    assert code == 1
    assert "is not UTF-8; nothing changed" in err
    assert path.read_bytes() == b"[DEFAULT]\nsql_connection = caf\xe9\n"
