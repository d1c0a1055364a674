"""Migration of deprecated names, on a real 2013 nova.conf and on the hard cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from anker.config import Config, Group, option
from anker.config._migrate import migrate_text
from anker.config._schema import schema_of

CORPUS = Path(__file__).resolve().parents[2] / "data" / "corpus" / "config"
NOVA_2013 = CORPUS / "venumurthy+openstack-configs__nova.conf"


class Database(Group):
    connection: str = option(deprecated_names=["DEFAULT.sql_connection"])


class Neutron(Group):
    url: str = option("http://127.0.0.1:9696", deprecated_names=["DEFAULT.neutron_url"])


class Concurrency(Group):
    lock_path: str | None = option(None, deprecated_names=["DEFAULT.lock_path"])


class Notifications(Group):
    driver: list[str] = option([], multi=True, deprecated_names=["DEFAULT.notification_driver"])


class NovaLike(Config, foreign=("*",)):
    state_path: str = option("/var/lib/nova")
    auth_strategy: str = option("keystone")
    verbose: bool = option(False, deprecated_for_removal=True, deprecated_reason="use debug")
    database: Database
    neutron: Neutron
    oslo_concurrency: Concurrency
    oslo_messaging_notifications: Notifications


SCHEMA = schema_of(NovaLike)


def load(path: Path) -> NovaLike:
    return NovaLike.load(files=[path])


def deprecated_name_warnings(conf: NovaLike) -> list[str]:
    return [str(w) for w in conf.warnings if w.code == "deprecated-name"]


def test_a_real_nova_conf_migrates_to_the_same_values_without_deprecated_names(
    tmp_path: Path,
) -> None:
    original = NOVA_2013.read_text()
    before = load(NOVA_2013)
    assert len(deprecated_name_warnings(before)) == 5
    result = migrate_text(original, SCHEMA, NOVA_2013.name)
    migrated = tmp_path / "nova.conf"
    migrated.write_text(result.text)
    after = load(migrated)
    assert deprecated_name_warnings(after) == []
    assert after.values(reveal=True) == before.values(reveal=True)
    assert after.oslo_messaging_notifications.driver == [
        "ceilometer.compute.nova_notifier",
        "nova.openstack.common.notifier.rpc_notifier",
    ]
    assert len(result.changed) == 5
    assert result.manual == [
        f"{NOVA_2013.name}:1408: [DEFAULT] verbose is deprecated for removal: use debug;"
        " remove it by hand"
    ]
    comments = [line for line in original.splitlines() if line.startswith("#")]
    assert [line for line in result.text.splitlines() if line.startswith("#")] == comments
    moved = ("sql_connection=", "neutron_url=", "lock_path=", "notification_driver=")
    untouched = [line for line in original.splitlines() if not line.startswith(moved)]
    remaining = iter(result.text.splitlines())
    assert all(line in remaining for line in untouched), "every other line, in its order"


def test_a_rename_within_a_section_keeps_the_line_in_place() -> None:
    class Conf(Config):
        workers: int = option(1, deprecated_names=["threads"])

    text = "# head\n[DEFAULT]\n# how many\nthreads = 4\nother = 1\n"
    result = migrate_text(text, schema_of(Conf))
    assert result.text == "# head\n[DEFAULT]\n# how many\nworkers = 4\nother = 1\n"
    assert result.changed == ["<config>:4: [DEFAULT] threads -> workers"]


def test_a_moved_value_keeps_its_continuation_lines_and_joins_an_existing_section() -> None:
    text = (
        "[DEFAULT]\nsql_connection = mysql://a\n  ?charset=utf8\nstate_path = /x\n\n"
        "[database]\n# the database\n\n[other]\nk = v\n"
    )
    result = migrate_text(text, SCHEMA)
    assert result.text == (
        "[DEFAULT]\nstate_path = /x\n\n"
        "[database]\nconnection = mysql://a\n  ?charset=utf8\n# the database\n\n[other]\nk = v\n"
    )


def test_old_and_new_both_set_need_a_human_unless_they_agree() -> None:
    differing = "[DEFAULT]\nsql_connection = a\n[database]\nconnection = b\n"
    result = migrate_text(differing, SCHEMA, "n.conf")
    assert result.text == differing
    assert result.changed == []
    assert result.manual == [
        "n.conf:2: [DEFAULT] sql_connection is a deprecated name of [database] connection,"
        " which is also set to another value; keep one of them by hand"
    ]
    agreeing = "[DEFAULT]\nsql_connection = a\n[database]\nconnection = a\n"
    result = migrate_text(agreeing, SCHEMA, "n.conf")
    assert result.text == "[DEFAULT]\n[database]\nconnection = a\n"
    assert result.changed == [
        "n.conf:2: [DEFAULT] sql_connection: removed (same value as [database] connection)"
    ]


@pytest.mark.parametrize("text", ["", "[DEFAULT]\n", "no section = here\n", "[s]\n  stray\n"])
def test_files_with_nothing_to_migrate_stay_byte_for_byte(text: str) -> None:
    assert migrate_text(text, SCHEMA).text == text


def test_old_names_that_disagree_are_left_to_a_human() -> None:
    text = (
        "[DEFAULT]\nsql_connection = A\n[database]\n\n[other]\nk = v\n"
        "[DEFAULT]\nsql_connection = B\n"
    )
    result = migrate_text(text, SCHEMA, "n.conf")
    assert result.text == text
    assert result.changed == []
    assert len(result.manual) == 2
    assert "is one of 2 old names of [database] connection" in result.manual[0]


def test_values_are_compared_with_their_continuation_lines() -> None:
    text = "[DEFAULT]\nsql_connection = a\n  ?x=1\n[database]\nconnection = a\n  ?x=2\n"
    result = migrate_text(text, SCHEMA, "n.conf")
    assert result.text == text
    assert "also set to another value" in result.manual[0]


def test_a_byte_order_mark_is_kept_and_does_not_stop_migration() -> None:
    result = migrate_text("\ufeff[DEFAULT]\nsql_connection = a\n", SCHEMA)
    assert result.text == "\ufeff[DEFAULT]\n\n[database]\nconnection = a\n"
