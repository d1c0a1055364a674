"""With ANKER_REQUIRE_SERVICES=1 a skipped test fails, so CI cannot pass on a missing server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

SUITE = """
import pytest

def test_skips():
    pytest.skip("redis is not reachable")

def test_passes():
    pass
"""


def run_suite(tmp_path: Path, require: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text((TESTS / "conftest.py").read_text())
    (tmp_path / "test_sample.py").write_text(SUITE)
    env = {
        **os.environ,
        "ANKER_REQUIRE_SERVICES": require,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )


def test_a_skip_stays_a_skip_on_a_laptop(tmp_path: Path) -> None:
    result = run_suite(tmp_path, require="")
    assert result.returncode == 0, result.stdout
    assert "1 passed, 1 skipped" in result.stdout


def test_a_skip_fails_when_services_are_required(tmp_path: Path) -> None:
    result = run_suite(tmp_path, require="1")
    assert result.returncode == 1, result.stdout
    assert "1 failed, 1 passed" in result.stdout
    assert "ANKER_REQUIRE_SERVICES=1 forbids skips: Skipped: redis is not reachable" in (
        result.stdout
    )
