"""Bad input that once escaped as a traceback or a leak (found in review), now reported."""

from __future__ import annotations

import enum
from datetime import timedelta
from pathlib import Path

import pytest

from anker import Secret
from anker._url import BackendURL
from anker.config import Config, ConfigError, option


class Numbers(Config):
    ratio: float = option(0.5)
    count: int = option(1)
    wait: timedelta = option("1s")


@pytest.mark.parametrize(
    "text",
    [
        "ratio = 1" + "0" * 400 + ".0\n",
        "wait = 1" + "0" * 400 + ".0\n",
        "count = " + "9" * 5000 + "\n",
        "nested = " + "[" * 3000 + "\n",
    ],
)
def test_extreme_toml_values_are_config_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "x.toml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        Numbers.load(files=[path])


def test_a_long_reference_chain_is_an_error_not_a_stack_overflow(tmp_path: Path) -> None:
    names = [f"o{i}" for i in range(300)]
    conf_class = type(
        "Chain",
        (Config,),
        {"__annotations__": dict.fromkeys(names, str), **{n: option("x") for n in names}},
    )
    path = tmp_path / "c.conf"
    path.write_text("[DEFAULT]\n" + "".join(f"o{i} = $o{i + 1}\n" for i in range(299)))
    with pytest.raises(ConfigError, match="nest deeper than 32"):
        conf_class.load(files=[path])


class Passwords(Config):
    password: Secret[str] = option(help="A password.")
    port: int = option(1)
    dsn: str = option("mysql://u:$password@db/x")
    pins: list[Secret[int]] = option([])
    limits: dict[str, Secret[int]] = option({})
    peers: list[BackendURL] = option([], schemes=["rabbit"])


def load(tmp_path: Path, text: str, **kwargs: object) -> Passwords:
    path = tmp_path / "p.conf"
    path.write_text("[DEFAULT]\n" + text)
    return Passwords.load(files=[path], **kwargs)  # type: ignore[arg-type]


def error_text(caught: pytest.ExceptionInfo[ConfigError]) -> str:
    return str(caught.value) + repr([p.as_dict() for p in caught.value.problems])


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("password = x\npins = 1, hunter2\n", "hunter2"),
        ("password = x\nlimits = a:1, b:hunter2\n", "hunter2"),
        ("password = x\npeers = rabbit://u:pa55word@h/, kafka://u:pa55word@h/\n", "pa55word"),
        ("password = Pa$sW0rd\n", "sW0rd"),
    ],
)
def test_errors_never_quote_secret_material(tmp_path: Path, text: str, secret: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert secret not in error_text(caught)


def test_a_secret_reference_in_a_plain_option_is_not_quoted_in_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "password = x\nport = ${secret:p}\n", secrets=lambda n: "TOPSECRET")
    assert "TOPSECRET" not in error_text(caught)
    assert "expected an integer, got '****'" in str(caught.value)


def test_a_secret_substituted_into_a_plain_option_is_flagged_and_not_dumped(
    tmp_path: Path,
) -> None:
    conf = load(tmp_path, "password = ${secret:pw}\n", secrets=lambda n: "TOPSECRET")
    assert conf.dsn == "mysql://u:TOPSECRET@db/x"
    assert conf.values()["DEFAULT"]["dsn"] == "mysql://u:$password@db/x"
    assert "TOPSECRET" not in repr(conf.values())
    assert [w.code for w in conf.warnings] == ["secret-in-plain-option"]


@pytest.mark.parametrize("store_answer", [Secret("s3"), b"s3", "s3"])
def test_a_secret_store_may_answer_text_bytes_or_a_secret(
    tmp_path: Path, store_answer: object
) -> None:
    conf = load(tmp_path, "password = ${secret:pw}\n", secrets=lambda n: store_answer)
    assert conf.password == Secret("s3")


def test_a_secret_store_answering_something_else_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="the secret store gave a int, not text"):
        load(tmp_path, "password = ${secret:pw}\n", secrets=lambda n: 42)


class Level(enum.Enum):
    LOW = "low"


class Texts(Config):
    level: Level = option(Level.LOW)
    copy_level: Level = option("$level")
    t: timedelta = option("30s")
    t2: timedelta = option("$t")
    url: BackendURL = option("rabbit://u:pw@h/")
    url2: BackendURL = option("$url")
    odd1: str = option("x${y")
    odd2: str = option("p${a-b}q")
    odd3: str = option("p${}q")


def test_substitution_writes_values_as_a_file_would_and_keeps_what_names_nothing() -> None:
    conf = Texts.load()
    assert conf.copy_level is Level.LOW
    assert conf.t2 == timedelta(seconds=30)
    assert conf.url2.password == Secret("pw")
    assert (conf.odd1, conf.odd2, conf.odd3) == ("x${y", "p${a-b}q", "p${}q")


class Renamed(Config):
    connection: str = option("none", deprecated_names=["sql_connection"])
    debug: bool = option(False)


def test_precedence_beats_names_and_names_break_ties_within_a_layer(tmp_path: Path) -> None:
    path = tmp_path / "r.conf"
    path.write_text("[DEFAULT]\nconnection = from-file\n")
    conf = Renamed.load(files=[path], argv=["--sql-connection", "from-cli"])
    assert conf.connection == "from-cli", "the command line wins, whatever name it uses"
    path.write_text("[DEFAULT]\nsql_connection = old\nconnection = new\n")
    assert Renamed.load(files=[path]).connection == "new"


def test_no_flag_takes_no_value() -> None:
    with pytest.raises(ConfigError, match="--no-debug takes no value"):
        Renamed.load(argv=["--no-debug=true"])


def test_config_dirs_skip_hidden_files(tmp_path: Path) -> None:
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "10-a.conf").write_text("[DEFAULT]\nconnection = visible\n")
    (conf_d / ".#10-a.conf").symlink_to("/nonexistent/editor-lock")
    assert Renamed.load(dirs=[conf_d]).connection == "visible"


def test_os_prefix_has_only_oslo_form() -> None:
    conf = Renamed.load(env_prefix="OS", environ={"OS_DEBUG": "1"})
    assert conf.debug is False, "OS_DEBUG belongs to oslotest, not to [DEFAULT] debug"
    assert Renamed.load(env_prefix="OS", environ={"OS_DEFAULT__DEBUG": "1"}).debug is True


def test_a_quote_closed_inside_the_value_draws_no_warning(tmp_path: Path) -> None:
    path = tmp_path / "q.conf"
    path.write_text('[DEFAULT]\nconnection = "a,b",c\n')
    conf = Renamed.load(files=[path], strict=True)
    assert conf.connection == '"a,b",c'


def test_dumps_show_every_item_of_a_list_as_written(tmp_path: Path) -> None:
    class Drivers(Config):
        driver: list[str] = option([], multi=True)

    path = tmp_path / "d.conf"
    path.write_text("[DEFAULT]\ndriver = log\ndriver = ${env:DRV}\n")
    conf = Drivers.load(files=[path], environ={"DRV": "messaging"})
    assert conf.driver == ["log", "messaging"]
    assert conf.values()["DEFAULT"]["driver"] == ["log", "${env:DRV}"]
