"""$references: bounded expansion, and what a reference to an undeclared option does."""

from __future__ import annotations

from pathlib import Path

import pytest

from anker import Secret
from anker.config import Config, ConfigError, Group, option


class Nested(Config):
    leaf: str = option("")
    mid: str = option("")
    top: str = option("")


def test_expansion_is_bounded_and_the_error_names_file_and_line(tmp_path: Path) -> None:
    # 100 kB referenced 200 times is 20 MB: a small file must not take that much memory
    # (with one more level of this it would be gigabytes).
    path = tmp_path / "laughs.conf"
    path.write_text("[DEFAULT]\nleaf = " + "x" * 100_000 + "\nmid = " + "$leaf" * 200 + "\n")
    with pytest.raises(ConfigError) as caught:
        Nested.load(files=[path])
    [problem] = caught.value.errors
    assert str(problem).startswith(f"{path}:3: error: [DEFAULT] mid: cannot substitute: ")
    assert "expand to more than 16 MiB in all" in problem.message


def test_the_bound_counts_every_value_of_the_load(tmp_path: Path) -> None:
    # each value alone is 10 MB, within the bound; together they are not
    path = tmp_path / "two.conf"
    path.write_text(
        "[DEFAULT]\nleaf = " + "x" * 100_000 + "\nmid = " + "$leaf" * 100 + "\n"
        "top = " + "$leaf" * 100 + "\n"
    )
    with pytest.raises(ConfigError, match="expand to more than 16 MiB"):
        Nested.load(files=[path])
    path.write_text("[DEFAULT]\nleaf = " + "x" * 1000 + "\nmid = " + "$leaf" * 100 + "\n")
    assert len(Nested.load(files=[path]).mid) == 100_000


class Database(Group):
    connection: str = option("sqlite://")
    backup: str = option("")


class Service(Config):
    state_path: str = option("/var/lib/svc")
    lock_path: str = option("$state_path/lock")
    log_dir: str = option("$lock_path/log", mutable=True)
    workers: int = option(4)
    password: Secret[str] = option("")
    database: Database


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "svc.conf"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[DEFAULT]\nlock_path = $stat_path\n", "'$stat_path' names no option ([DEFAULT])"),
        (
            "[database]\nbackup = $conection\n",
            "'$conection' names no option ([database] or [DEFAULT])",
        ),
        ("[DEFAULT]\nlock_path = ${nodb.x}\n", "'$nodb.x' names no option ([nodb])"),
    ],
)
def test_by_default_an_undeclared_reference_refuses_the_load(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Service.load(files=[write(tmp_path, text)])
    problem = caught.value.errors[0]  # then every option that refers to it
    assert problem.message.endswith(message), problem.message
    assert problem.line == 2


def test_lazy_references_fail_only_when_the_option_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[DEFAULT]\nlock_path = $stat_path/lock\nworkers = 8\n[database]\nbackup = $conection\n",
    )
    conf = Service.load(files=[path], lazy_references=True)
    assert conf.workers == 8
    assert conf.state_path == "/var/lib/svc"
    assert conf.database.connection == "sqlite://"
    assert [(w.code, w.line, w.is_error) for w in conf.warnings] == [
        ("unresolved-reference", 2, False),
        ("unresolved-reference", None, False),  # log_dir's default names lock_path
        ("unresolved-reference", 5, False),
    ]
    assert conf.warnings[0].message == (
        "[DEFAULT] lock_path: cannot substitute: '$stat_path' names no option ([DEFAULT]);"
        " reading it will fail"
    )
    with pytest.raises(ConfigError, match=r"'\$stat_path' names no option \(\[DEFAULT\]\)"):
        _ = conf.lock_path
    with pytest.raises(ConfigError, match=r"\[DEFAULT\] lock_path has no value"):
        _ = conf.log_dir  # refers to lock_path, which has no value
    with pytest.raises(ConfigError, match=r"'\$conection' names no option"):
        _ = conf.database.backup
    assert conf.values()["DEFAULT"]["lock_path"] == "$stat_path/lock"
    assert "lock_path" not in repr(conf)


def test_lazy_references_keep_secrets_out_of_the_read_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[DEFAULT]\npassword = pa$ssw0rd\n")
    conf = Service.load(files=[path], lazy_references=True)
    with pytest.raises(ConfigError) as caught:
        _ = conf.password
    assert "ssw0rd" not in str(caught.value) + repr(conf.values()) + repr(conf.warnings)


def test_a_reload_can_resolve_or_unresolve_a_lazy_reference(tmp_path: Path) -> None:
    path = write(tmp_path, "[DEFAULT]\nlog_dir = $nowhere\n")
    conf = Service.load(files=[path], lazy_references=True)
    with pytest.raises(ConfigError):
        _ = conf.log_dir
    path.write_text("[DEFAULT]\nlog_dir = /var/log/svc\n")
    result = conf.reload()
    assert [c.option for c in result.changed] == ["log_dir"]
    assert conf.log_dir == "/var/log/svc"
    assert conf.warnings == ()
    path.write_text("[DEFAULT]\nlog_dir = $nowhere\n")
    conf.reload()
    with pytest.raises(ConfigError, match="nowhere"):
        _ = conf.log_dir
