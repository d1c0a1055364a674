"""set_override, clear_override and override(): options changed for a test or a tool, checked
like any value, applied all at once, and put back exactly as they were."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from config_schemas import Level, ServiceConfig

from anker.config import ConfigError

REQUIRED = {"database.connection": "sqlite://"}


def test_an_override_wins_over_the_file_until_it_is_cleared(tmp_path: Path) -> None:
    path = tmp_path / "svc.conf"
    path.write_text("[DEFAULT]\nworkers = 8\n[database]\nmax_pool_size = 7\n")
    conf = ServiceConfig.load(files=[path], overrides=REQUIRED)
    conf.set_override("workers", 2)  # immutable: an override changes it all the same
    conf.set_override("database.max_pool_size", "9")  # text is parsed as from a file
    assert conf.workers == 2
    assert conf.database.max_pool_size == 9
    assert str(conf.where("DEFAULT", "workers")) == "override workers"
    conf.clear_override("workers")
    assert conf.workers == 8
    assert str(conf.where("DEFAULT", "workers")).startswith(f"file {path}:")
    assert conf.database.max_pool_size == 9
    conf.clear_override("workers")  # not overridden: nothing happens
    conf.clear_override("database.max_pool_size")
    assert conf.database.max_pool_size == 7


def test_a_bad_override_changes_nothing_and_says_why() -> None:
    conf = ServiceConfig.load(overrides=REQUIRED)
    with pytest.raises(ConfigError, match=r"workers") as bad_value:
        conf.set_override("workers", 0)  # min=1
    assert bad_value.value.errors
    with pytest.raises(ConfigError, match=r"did you mean 'workers'"):
        conf.set_override("wokers", 2)
    with pytest.raises(ConfigError, match=r"max_pool_size"):
        conf.set_override("database.max_pool_size", "many")
    assert conf.workers == 4
    assert conf.database.max_pool_size == 5
    # the failed attempts left no override behind: a reload reads the sources as before
    assert conf.reload().changed == []


def test_override_block_restores_the_overrides_there_were(tmp_path: Path) -> None:
    conf = ServiceConfig.load(overrides={**REQUIRED, "debug": True})
    with conf.override({"debug": False, "limits.level": "high", "workers": 3}) as same:
        assert same is conf
        assert (conf.debug, conf.limits.level, conf.workers) == (False, Level.HIGH, 3)
    assert (conf.debug, conf.limits.level, conf.workers) == (True, Level.LOW, 4)
    seen: list[int] = []

    def fail_inside() -> None:
        with conf.override({"workers": 5}):
            seen.append(conf.workers)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail_inside()
    assert seen == [5]
    assert conf.workers == 4


def test_an_override_block_applies_nothing_else_a_source_now_says(tmp_path: Path) -> None:
    path = tmp_path / "svc.conf"
    path.write_text("[DEFAULT]\nworkers = 8\n")
    conf = ServiceConfig.load(files=[path], overrides=REQUIRED)
    path.write_text("[DEFAULT]\nworkers = 16\ndebug = true\n")  # not reloaded yet
    with conf.override({"database.max_pool_size": 3}):
        assert conf.database.max_pool_size == 3
    assert (conf.workers, conf.debug) == (8, False)


def test_overrides_survive_a_reload_and_run_no_hooks(tmp_path: Path) -> None:
    path = tmp_path / "svc.conf"
    path.write_text("[DEFAULT]\ndebug = false\n")
    conf = ServiceConfig.load(files=[path], overrides=REQUIRED)
    seen: list[object] = []
    conf.on_change(seen.append)
    conf.set_override("debug", True)
    assert conf.debug is True
    assert seen == []
    path.write_text("[DEFAULT]\ndebug = false\nworkers = 6\n")
    result = conf.reload()
    assert conf.debug is True  # still overridden
    assert [(c.option, c.new) for c in result.restart_required] == [("workers", 6)]


def test_a_reader_sees_all_of_an_override_block_or_none_of_it() -> None:
    conf = ServiceConfig.load(overrides=REQUIRED)
    torn: list[tuple[int, int]] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            database = conf.database  # one snapshot of the section
            pair = (database.max_pool_size, database.max_pool_size)
            if pair[0] != pair[1]:
                torn.append(pair)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for size in range(1, 200):
            conf.set_override("database.max_pool_size", size % 100 + 1)
    finally:
        stop.set()
        reader.join()
    assert torn == []
    assert conf.database.max_pool_size == 199 % 100 + 1


def test_the_override_names_are_the_api() -> None:
    from anker.config import Config, option

    class Broken(Config):
        set_override: int = option(1)

    with pytest.raises((TypeError, ValueError), match="set_override"):
        Broken.load()


def test_a_cleared_immutable_option_takes_back_its_value_not_a_pending_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "svc.conf"
    path.write_text("[DEFAULT]\nworkers = 8\n")
    conf = ServiceConfig.load(files=[path], overrides=REQUIRED)
    path.write_text("[DEFAULT]\nworkers = 16\n")  # waits for a restart
    conf.set_override("workers", 2)
    conf.clear_override("workers")
    assert conf.workers == 8
    assert str(conf.where("DEFAULT", "workers")) == f"file {path}:2"
    assert [(c.option, c.old, c.new) for c in conf.reload().restart_required] == [
        ("workers", 8, 16)
    ]
