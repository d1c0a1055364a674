"""The code examples of docs/*.md that talk to servers run against the test servers
(tests/servers.py): each URL a page shows is rewritten to the server's, and every example of
the page runs, in order, with nothing skipped but what says it can never run."""

from __future__ import annotations

from pathlib import Path

import pytest

from docs_examples import PAGES, run_page

pytestmark = pytest.mark.integration

DOCS = {page.name: page for page in PAGES}


def _run(page: str, tmp_path: Path, rewrites: dict[str, str]) -> None:
    run = run_page(DOCS[page], tmp_path, servers=True, rewrites=rewrites)
    assert run.skipped == {}
    assert run.ran


def test_the_messaging_examples_run_on_rabbitmq_and_nats(
    rabbit_url: str, nats_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rewrites = {
        "rabbit://guest:guest@127.0.0.1:5672/": rabbit_url,
        "nats://127.0.0.1:4222": nats_url,
    }
    _run("messaging.md", tmp_path, rewrites)


def test_the_coordination_examples_run_on_etcd_redis_and_postgresql(
    etcd_url: str,
    redis_url: str,
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    rewrites = {
        "etcd://127.0.0.1:2379": etcd_url,
        "redis://127.0.0.1:6379": redis_url,
        "postgresql://svc@db/svc": postgres_url,
    }
    _run("coordination.md", tmp_path, rewrites)


def test_the_secrets_examples_run_with_tang(
    tang_urls: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rewrites = {"http://tang1:8080": tang_urls[0], "http://tang2:8080": tang_urls[1]}
    _run("secrets.md", tmp_path, rewrites)


def test_the_db_examples_run_on_postgresql_and_mariadb(
    postgres_url: str, mariadb_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rewrites = {"postgresql://svc@db/svc": postgres_url, "mysql://svc@db/svc": mariadb_url}
    _run("db.md", tmp_path, rewrites)


def test_every_page_with_examples_that_need_a_server_is_run_here() -> None:
    needing = {page.name for page in PAGES if "if(no_servers" in page.read_text()}
    assert needing == {"messaging.md", "coordination.md", "secrets.md", "db.md"}
