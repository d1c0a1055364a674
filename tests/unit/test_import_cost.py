"""`import anker` stays light: no CLI library, no event loop, no backend client."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "typing",
    "dataclasses",
    "inspect",
    "logging",
    "click",
    "asyncio",
    "aio_pika",
    "aiormq",
    "nats",
    "redis",
    "psycopg",
    "kazoo",
    "httpx",
    "sqlalchemy",
    "alembic",
    "pymysql",
    "aiomysql",
    "aiosqlite",
    "cryptography",
    "anker._drivers",
    "anker._runtime",
    "anker.cli",
)


def imported_by(statement: str) -> set[str]:
    probe = f"import sys, json; before = set(sys.modules); {statement}; "
    probe += "print(json.dumps(sorted(set(sys.modules) - before)))"
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(output))


def test_import_anker_pulls_in_nothing_heavy() -> None:
    loaded = imported_by("import anker")
    assert "anker" in loaded
    heavy = sorted(name for name in loaded if name.split(".")[0] in HEAVY or name in HEAVY)
    assert heavy == []


def test_import_anker_config_pulls_in_nothing_heavy() -> None:
    loaded = imported_by("import anker.config")
    heavy = (*HEAVY, "threading", "re", "enum", "pathlib", "tomllib", "difflib", "ipaddress")
    assert sorted(name for name in loaded if name.split(".")[0] in heavy or name in heavy) == []


def test_parsing_a_url_and_finding_drivers_needs_no_client_library() -> None:
    loaded = imported_by(
        "from anker._drivers import available_drivers; from anker._url import parse_url; "
        "parse_url('redis://h'); available_drivers('anker.coordination.backends')"
    )
    clients = {"aio_pika", "nats", "redis", "psycopg", "kazoo", "httpx"}
    assert not {name.split(".")[0] for name in loaded} & clients


def test_import_anker_db_imports_sqlalchemy_only_when_an_engine_is_made() -> None:
    modules = imported_by("import anker.db")
    assert "anker.db.testing" not in modules  # the test fixtures: only tests import them
    loaded = {name.split(".")[0] for name in modules}
    assert not loaded & {
        "sqlalchemy",
        "psycopg",
        "pymysql",
        "aiomysql",
        "aiosqlite",
        "alembic",
        "mako",
    }


def test_import_anker_service_pulls_in_no_server_or_metrics_library() -> None:
    loaded = imported_by("import anker.service")
    heavy = ("uvicorn", "prometheus_client", "croniter", "anker.health", "anker.messaging")
    assert sorted(name for name in loaded if name.split(".")[0] in heavy or name in heavy) == []
    assert not any(name.startswith(("anker.health", "anker.messaging")) for name in loaded)
