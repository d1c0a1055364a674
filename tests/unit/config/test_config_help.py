"""``--help`` on a service's command line prints the options and exits, as argparse does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from anker import Secret
from anker.config import Config, Group, option


class Database(Group):
    connection: Secret[str] = option("sqlite:////var/lib/s3cret.db", help="URL of the database.")
    pool: int = option(5, min=1, help="Connections kept open.")


class Service(Config):
    debug: bool = option(False, help="Log at debug level.")
    workers: int = option(help="Worker processes.")
    database: Database


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_every_option_and_exits_0(
    flag: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["/usr/bin/svc-api", flag])
    with pytest.raises(SystemExit) as caught:
        Service.load(argv=["--workers", "2", flag], env_prefix="SVC")
    assert caught.value.code == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert lines[0].startswith("usage: svc-api [-h] [--config-file PATH] [--config-dir DIR]")
    assert "-h, --help show this help message and exit" in lines
    assert "--debug, --no-debug Log at debug level. (a boolean (true/false, yes/no," in lines[6]
    assert "--workers VALUE Worker processes. (an integer; required)" in lines
    assert "[database] options:" in lines
    assert any(line.startswith("--database.pool VALUE") for line in lines)
    assert "default: <secret>" in out
    assert "s3cret" not in out
    assert "Each option may also be set as SVC_<SECTION>__<OPTION>." in lines


def test_help_exits_the_process_as_argparse_does(tmp_path: Path) -> None:
    script = tmp_path / "svc.py"
    script.write_text(
        "from anker.config import Config, option\n"
        "class Svc(Config):\n"
        "    workers: int = option(4, help='Worker processes.')\n"
        "import sys\n"
        "Svc.load(argv=sys.argv[1:])\n"
        "print('NOT REACHED')\n"
    )
    done = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: svc.py [-h]")
    assert "NOT REACHED" not in done.stdout
