"""Reload: all-or-nothing, atomic for readers, typed hooks, restart-required for the rest."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from anker.config import Change, Config, ConfigError, Group, option


class Pool(Group):
    low: int = option(1, mutable=True)
    high: int = option(1, mutable=True)
    interval: timedelta = option("1s", mutable=True)


class Conf(Config):
    debug: bool = option(False, mutable=True)
    workers: int = option(1, min=1)  # immutable: changing it needs a restart
    pool: Pool


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_mutable_options_change_and_hooks_get_typed_old_and_new(tmp_path: Path) -> None:
    path = write(tmp_path / "c.conf", "[DEFAULT]\ndebug = false\n[pool]\nhigh = 5\n")
    conf = Conf.load(files=[path])
    seen: list[list[Change]] = []
    conf.on_change(seen.append)
    write(path, "[DEFAULT]\ndebug = true\n[pool]\nhigh = 8\ninterval = 2m\n")
    result = conf.reload()
    assert conf.debug is True
    assert conf.pool.high == 8
    assert conf.pool.interval == timedelta(minutes=2)
    expected = [
        Change("DEFAULT", "debug", False, True),
        Change("pool", "high", 5, 8),
        Change("pool", "interval", timedelta(seconds=1), timedelta(minutes=2)),
    ]
    assert result.changed == expected
    assert seen == [expected]
    assert result.restart_required == []
    assert conf.where("pool", "interval").location == f"{path}:5"


def test_an_invalid_new_configuration_changes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path / "c.conf", "[pool]\nhigh = 5\n")
    conf = Conf.load(files=[path])
    before = conf.pool
    write(path, "[DEFAULT]\ndebug = true\n[pool]\nhigh = lots\n")
    with pytest.raises(ConfigError, match=r"c.conf:4: error: \[pool\] high: expected an integer"):
        conf.reload()
    assert conf.debug is False, "a valid option of an invalid file must not be applied"
    assert conf.pool is before
    assert conf.pool.high == 5


def test_immutable_changes_are_reported_as_restart_required(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "c.conf", "[DEFAULT]\nworkers = 2\n")
    conf = Conf.load(files=[path])
    write(path, "[DEFAULT]\nworkers = 4\ndebug = true\n")
    with caplog.at_level(logging.WARNING, logger="anker.config"):
        result = conf.reload()
    assert conf.workers == 2, "an immutable option keeps its value until restart"
    assert conf.debug is True
    assert result.restart_required == [Change("DEFAULT", "workers", 2, 4)]
    assert "restart required to apply changed immutable options: [DEFAULT] workers" in caplog.text
    assert str(conf.where("DEFAULT", "workers")) == f"file {path}:2"


def test_a_failing_hook_is_logged_and_the_others_still_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "c.conf", "")
    conf = Conf.load(files=[path])
    calls: list[str] = []

    @conf.on_change
    def broken(changes: list[Change]) -> None:
        raise RuntimeError("hook bug")

    conf.on_change(lambda changes: calls.append("second"))
    write(path, "[DEFAULT]\ndebug = true\n")
    with caplog.at_level(logging.ERROR, logger="anker.config"):
        conf.reload()
    assert calls == ["second"]
    assert "config change hook" in caplog.text
    assert "hook bug" in caplog.text


def test_no_change_calls_no_hook(tmp_path: Path) -> None:
    path = write(tmp_path / "c.conf", "[DEFAULT]\ndebug = true\n")
    conf = Conf.load(files=[path])
    calls: list[object] = []
    conf.on_change(calls.append)
    assert conf.reload().changed == []
    assert calls == []


def test_the_environment_is_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RLD_DEBUG", "false")
    conf = Conf.load(env_prefix="RLD")
    monkeypatch.setenv("RLD_DEBUG", "true")
    conf.reload()
    assert conf.debug is True


def test_readers_never_see_a_mix_of_old_and_new(tmp_path: Path) -> None:
    path = write(tmp_path / "c.conf", "[pool]\nlow = 0\nhigh = 0\n")
    conf = Conf.load(files=[path])
    stop = threading.Event()
    mixed: list[tuple[int, int]] = []
    reads = 0

    def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            pool = conf.pool
            low, high = pool.low, pool.high
            reads += 1
            if low != high:
                mixed.append((low, high))
            time.sleep(0)  # let the reloading thread run

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for generation in range(1, 21):
            write(path, f"[pool]\nlow = {generation}\nhigh = {generation}\n")
            conf.reload()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert conf.pool.low == conf.pool.high == 20
    assert reads > 0
    assert mixed == []


def test_a_reload_lists_config_directories_again(tmp_path: Path) -> None:
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    conf = Conf.load(dirs=[conf_d])
    (conf_d / "50-debug.conf").write_text("[DEFAULT]\ndebug = true\n")
    assert conf.reload().changed == [Change("DEFAULT", "debug", False, True)]
    assert conf.debug is True


def test_changes_of_secrets_show_no_value(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from anker import Secret

    class Creds(Config):
        password: Secret[str] = option("old-s3cret", mutable=True)

    path = write(tmp_path / "c.conf", "")
    conf = Creds.load(files=[path])
    write(path, "[DEFAULT]\npassword = new-s3cret\n")
    with caplog.at_level(logging.DEBUG):
        result = conf.reload()
    shown = repr(result) + repr(result.changed) + caplog.text + repr(conf)
    assert "s3cret" not in shown
    assert conf.password == Secret("new-s3cret")
