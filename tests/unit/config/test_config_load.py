"""Loading: typed values, precedence, every problem at once, where each value came from."""

from __future__ import annotations

import ipaddress
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from config_schemas import Level, ServiceConfig
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anker import Secret
from anker.config import ByteSize, Config, ConfigError, Group, option

REQUIRED = {"database.connection": "sqlite://"}


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_defaults_are_typed_and_interpolated() -> None:
    conf = ServiceConfig.load(overrides=REQUIRED)
    assert conf.debug is False
    assert conf.workers == 4
    assert conf.state_path == Path("/var/lib/svc")
    assert conf.lock_path == "/var/lib/svc/lock"
    assert conf.database.timeout == timedelta(seconds=30)
    assert conf.database.slave_connection is None
    assert conf.messaging.transport_url.scheme == "rabbit"
    assert conf.limits.level is Level.LOW
    assert conf.limits.cache == ByteSize(64 * 1024**2)
    assert str(conf.where("DEFAULT", "workers")) == "the default"


def test_every_type_reads_from_text(tmp_path: Path) -> None:
    path = write(
        tmp_path / "svc.conf",
        "[DEFAULT]\ndebug = yes\nworkers = 16\n"
        "[database]\nconnection = postgresql://u:pw@db/nova\ntimeout = 1h30m\nmax_pool_size = 7\n"
        "[messaging]\ntransport_url = rabbit://u:p@mq1:5672,u:p@mq2:5672/nova\n"
        "topics = a, b ,c\nrouting = x:1, y:2\ndriver = log\ndriver = messaging\n"
        "[limits]\nlevel = high\nmode = fast\ncache = 512MiB\nbind_host = api.example.org\n"
        "bind_port = 443\npeer = ::1\nratio = 0.25\nname = abc\ncolor = green\n",
    )
    conf = ServiceConfig.load(files=[path])
    assert conf.debug is True
    assert conf.workers == 16
    assert conf.database.connection == Secret("postgresql://u:pw@db/nova")
    assert conf.database.timeout == timedelta(hours=1, minutes=30)
    assert [e.host for e in conf.messaging.transport_url.endpoints] == ["mq1", "mq2"]
    assert conf.messaging.topics == ["a", "b", "c"]
    assert conf.messaging.routing == {"x": 1, "y": 2}
    assert conf.messaging.driver == ["log", "messaging"]
    assert conf.limits.level is Level.HIGH
    assert conf.limits.mode == "fast"
    assert conf.limits.cache == 512 * 1024**2
    assert conf.limits.bind_host == "api.example.org"
    assert conf.limits.bind_port == 443
    assert conf.limits.peer == ipaddress.IPv6Address("::1")
    assert conf.limits.ratio == 0.25
    assert conf.where("messaging", "driver").location == f"{path}:13", "the last value given"


def test_all_bad_values_are_reported_at_once_with_file_line_and_expectation(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.conf",
        "[DEFAULT]\nworkers = many\ndebug = perhaps\n"
        "[database]\nconnection = s3cret-pass\nmax_pool_size = 0\ntimeout = soon\n"
        "[messaging]\ntransport_url = kafka://h\nrouting = x:one\n"
        "[limits]\nlevel = extreme\ncache = 2GiB\nbind_host = -bad-\nbind_port = 70000\n"
        "ratio = 2\nname = ABCDEFGHIJ\ncolor = blue\npeer = 1.2.3\n",
    )
    with pytest.raises(ConfigError) as caught:
        ServiceConfig.load(files=[path])
    found = {(p.option, p.line): p for p in caught.value.errors}
    assert set(found) == {
        ("workers", 2),
        ("debug", 3),
        ("max_pool_size", 6),
        ("timeout", 7),
        ("transport_url", 9),
        ("routing", 10),
        ("level", 12),
        ("cache", 13),
        ("bind_host", 14),
        ("bind_port", 15),
        ("ratio", 16),
        ("name", 17),
        ("color", 18),
        ("peer", 19),
    }
    workers = found[("workers", 2)]
    assert str(workers) == (
        f"{path}:2: error: [DEFAULT] workers: expected an integer of at least 1, got 'many'"
    )
    assert workers.value == "many"
    assert workers.expected == "an integer of at least 1"
    assert "expected a URL with scheme 'rabbit://' or 'memory://', got 'kafka://'" in str(
        found[("transport_url", 9)]
    )
    assert "expected one of 'low', 'high'" in str(found[("level", 12)])
    assert "s3cret-pass" not in str(caught.value)


def test_a_bad_secret_value_is_masked_in_the_error(tmp_path: Path) -> None:
    class Conf(Config):
        pin: Secret[int] = option(help="A PIN.")

    path = write(tmp_path / "s.conf", "[DEFAULT]\npin = hunter2\n")
    with pytest.raises(ConfigError) as caught:
        Conf.load(files=[path])
    assert "hunter2" not in str(caught.value)
    assert caught.value.errors[0].value == "****"
    assert "expected an integer, got '****'" in str(caught.value)


def test_a_missing_required_option_says_how_to_set_it() -> None:
    with pytest.raises(ConfigError) as caught:
        ServiceConfig.load(env_prefix="SVC", environ={})
    assert [str(p) for p in caught.value.errors] == [
        "error: [database] connection is required but not set; set it in a config file "
        "([database] connection), SVC_DATABASE__CONNECTION or --database.connection"
    ]


def test_precedence_defaults_files_env_cli(tmp_path: Path) -> None:
    first = write(
        tmp_path / "1.conf",
        "[DEFAULT]\nworkers = 2\nmy_ip = 10.0.0.1\n[database]\nconnection = a\n",
    )
    second = write(tmp_path / "2.conf", "[DEFAULT]\nworkers = 3\n")
    environ = {"SVC_WORKERS": "5", "SVC_DATABASE__MAX_POOL_SIZE": "9"}
    conf = ServiceConfig.load(
        files=[first, second], env_prefix="SVC", environ=environ, argv=["--workers", "7"]
    )
    assert conf.workers == 7
    assert str(conf.where("DEFAULT", "workers")) == "command-line option --workers"
    assert conf.database.max_pool_size == 9
    assert str(conf.where("database", "max_pool_size")) == (
        "environment variable SVC_DATABASE__MAX_POOL_SIZE"
    )
    assert conf.my_ip == "10.0.0.1"
    assert str(conf.where("DEFAULT", "my_ip")) == f"file {first}:3"
    without_cli = ServiceConfig.load(files=[first, second], env_prefix="SVC", environ=environ)
    assert without_cli.workers == 5
    files_only = ServiceConfig.load(files=[first, second])
    assert files_only.workers == 3, "the later file wins"


def test_config_dir_reads_conf_and_toml_files_sorted_where_it_is_given(tmp_path: Path) -> None:
    conf_d = tmp_path / "svc.conf.d"
    conf_d.mkdir()
    write(conf_d / "20-workers.conf", "[DEFAULT]\nworkers = 20\n")
    write(
        conf_d / "10-base.toml", 'workers = 10\nmy_ip = "10.1.1.1"\n[database]\nconnection = "x"\n'
    )
    write(conf_d / "99-ignored.txt", "[DEFAULT]\nworkers = 99\n")
    main = write(tmp_path / "svc.conf", "[DEFAULT]\nworkers = 1\nmy_ip = 10.0.0.9\n")
    last = write(tmp_path / "last.conf", "[DEFAULT]\nmy_ip = 10.9.9.9\n")
    conf = ServiceConfig.load(
        argv=["--config-file", main, "--config-dir", str(conf_d), f"--config-file={last}"]
    )
    assert conf.workers == 20
    assert conf.my_ip == "10.9.9.9"
    assert conf.where("DEFAULT", "workers").file == str(conf_d / "20-workers.conf")


def test_environment_forms_and_oslo_os_prefix() -> None:
    environ = {
        "OS_DEFAULT__DEBUG": "true",
        "OS_DATABASE__CONNECTION": "sqlite://",
        "OS_AUTH_URL": "http://keystone",  # a client variable, not ours: ignored quietly
        "OS_DATABSE__CONNECTION": "typo",
    }
    conf = ServiceConfig.load(env_prefix="OS", environ=environ)
    assert conf.debug is True
    assert conf.database.connection == Secret("sqlite://")
    assert [str(w) for w in conf.warnings] == [
        "environment variable OS_DATABSE__CONNECTION: warning: unknown option 'connection' in"
        " [databse]; it is an option of [database]"
    ]


def test_command_line_forms() -> None:
    conf = ServiceConfig.load(
        argv=[
            "--debug",
            "--database.connection=sqlite://",
            "--database.max-pool-size",
            "3",
            "--messaging.driver=a",
            "--messaging.driver=b",
        ]
    )
    assert conf.debug is True
    assert conf.database.max_pool_size == 3
    assert conf.messaging.driver == ["a", "b"], "a repeated flag gives every value"
    assert ServiceConfig.load(argv=["--no-debug"], overrides=REQUIRED).debug is False


def test_unknown_command_line_options_and_arguments_are_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        ServiceConfig.load(
            argv=["--workres", "3", "stray", "--database.conection=x"], overrides=REQUIRED
        )
    assert [p.message for p in caught.value.errors] == [
        "unexpected argument 'stray'",
        "unknown command-line option 'workres' in [DEFAULT]; did you mean 'workers'?",
        "unknown command-line option 'conection' in [database]; did you mean 'connection'?",
    ]


def test_unknown_options_and_sections_warn_with_suggestions_and_fail_when_strict(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path / "nova.conf",
        "[DEFAULT]\ndevug = True\n[databse]\nconnection = x\n[database]\nconnection = y\n"
        "[keystone_authtoken]\nwhatever = 1\n[oslo_concurrency]\nlock_path = /x\n"
        "[totally_new]\na = 1\n[limits]\nconnection = z\n",
    )
    conf = ServiceConfig.load(files=[path])
    assert [str(w) for w in conf.warnings] == [
        f"{path}:2: warning: unknown option 'devug' in [DEFAULT]; did you mean 'debug'?",
        f"{path}:3: warning: unknown section [databse]; did you mean [database]?",
        f"{path}:11: warning: unknown section [totally_new]",
        f"{path}:14: warning: unknown option 'connection' in [limits];"
        " it is an option of [database]",
    ]
    with pytest.raises(ConfigError) as caught:
        ServiceConfig.load(files=[path], strict=True)
    assert len(caught.value.errors) == 4


def test_warnings_are_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path / "x.conf", "[DEFAULT]\ndevug = 1\n")
    with caplog.at_level(logging.WARNING, logger="anker.config"):
        ServiceConfig.load(files=[path], overrides=REQUIRED)
    assert "unknown option 'devug' in [DEFAULT]; did you mean 'debug'?" in caplog.text


def test_deprecated_names_are_reported_at_load_even_if_never_read(tmp_path: Path) -> None:
    old_only = write(tmp_path / "old.conf", "[DEFAULT]\nsql_connection = sqlite:///old\n")
    conf = ServiceConfig.load(files=[old_only])
    assert conf.database.connection == Secret("sqlite:///old")
    assert [str(w) for w in conf.warnings] == [
        f"{old_only}:2: warning: [DEFAULT] sql_connection is deprecated; use [database] connection"
        " instead (anker config migrate rewrites it)"
    ]
    both = write(
        tmp_path / "both.conf",
        "[database]\nconnection = sqlite:///new\nsql_connection = sqlite:///old\n",
    )
    conf = ServiceConfig.load(files=[both])
    assert conf.database.connection == Secret("sqlite:///new")
    assert [w.code for w in conf.warnings] == ["deprecated-name"]
    assert "which is also set: the value of [database] connection is used" in str(conf.warnings[0])


def test_deprecated_for_removal_warns_when_set() -> None:
    conf = ServiceConfig.load(overrides={**REQUIRED, "limits.legacy": "true"})
    assert [w.message for w in conf.warnings] == [
        "[limits] legacy is deprecated for removal: it does nothing"
    ]


def test_interpolation_like_oslo_and_default_section_references(tmp_path: Path) -> None:
    class Paths(Group):
        base: str = option("/srv")
        data: str = option("$base/data")  # same section first
        log: str = option("${DEFAULT.state_path}/log")  # works here, unlike oslo.config
        host: str = option("$my_ip")  # falls back to [DEFAULT]
        price: str = option("$$5 and \\$6")

    class Conf(Config):
        state_path: str = option("/var/lib/x")
        my_ip: str = option("10.0.0.1")
        paths: Paths

    conf = Conf.load()
    assert conf.paths.data == "/srv/data"
    assert conf.paths.log == "/var/lib/x/log"
    assert conf.paths.host == "10.0.0.1"
    assert conf.paths.price == "$5 and $6"
    path = write(
        tmp_path / "i.conf",
        "[DEFAULT]\nstate_path = /opt\n[paths]\nbase = ${paths.data}\ndata = $base\n",
    )
    with pytest.raises(ConfigError) as caught:
        Conf.load(files=[path])
    messages = [p.message for p in caught.value.errors]
    assert any("refers back to itself" in m for m in messages), messages


def test_references_to_files_environment_and_a_secret_store(tmp_path: Path) -> None:
    secret_file = tmp_path / "db-password"
    secret_file.write_text("from-file\n")
    path = write(
        tmp_path / "r.conf",
        f"[database]\nconnection = postgresql://nova:${{file:{secret_file}}}@db/nova\n"
        "slave_connection = ${secret:replica-url}\n"
        "[messaging]\ntransport_url = rabbit://svc:${env:RABBIT_PASSWORD}@mq:5672/\n",
    )
    conf = ServiceConfig.load(
        files=[path],
        environ={"RABBIT_PASSWORD": "from-env"},
        secrets={"replica-url": "postgresql://ro@replica/nova"}.__getitem__,
    )
    assert conf.database.connection == Secret("postgresql://nova:from-file@db/nova")
    assert conf.database.slave_connection == Secret("postgresql://ro@replica/nova")
    assert conf.messaging.transport_url.password == Secret("from-env")
    origin = conf.where("database", "slave_connection")
    assert origin.reference == "${secret:replica-url}"
    assert str(origin) == f"file {path}:3 via ${{secret:replica-url}}"
    dumped = conf.values()
    assert dumped["database"]["slave_connection"] == "${secret:replica-url}"
    assert dumped["messaging"]["transport_url"] == "rabbit://svc:${env:RABBIT_PASSWORD}@mq:5672/"
    assert "from-file" not in repr(dumped)
    assert (
        conf.values(reveal=True)["database"]["slave_connection"] == "postgresql://ro@replica/nova"
    )


def test_unresolvable_references_name_the_option_and_reference(tmp_path: Path) -> None:
    path = write(
        tmp_path / "r.conf",
        "[database]\nconnection = ${secret:db}\nslave_connection = ${file:/nonexistent/x}\n"
        "[messaging]\ntransport_url = rabbit://u:${env:NOPE}@h/\n",
    )
    with pytest.raises(ConfigError) as caught:
        ServiceConfig.load(files=[path], environ={})
    assert [str(p) for p in caught.value.errors] == [
        f"{path}:2: error: [database] connection: cannot substitute: no secret store is configured"
        " to resolve ${secret:db}",
        f"{path}:3: error: [database] slave_connection: cannot substitute: cannot read"
        " /nonexistent/x: No such file or directory",
        f"{path}:5: error: [messaging] transport_url: cannot substitute: environment variable NOPE"
        " is not set",
    ]

    def failing_store(name: str) -> str:
        raise LookupError(f"no secret named {name}")

    with pytest.raises(
        ConfigError, match=r"the secret store cannot resolve \$\{secret:db\}: LookupError"
    ):
        ServiceConfig.load(files=[path], environ={"NOPE": "x"}, secrets=failing_store)


def test_a_secret_reference_in_a_plain_option_draws_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path / "r.conf", "[DEFAULT]\nmy_ip = ${secret:ip}\n")
    conf = ServiceConfig.load(files=[path], secrets=lambda name: "10.0.0.5", overrides=REQUIRED)
    assert conf.my_ip == "10.0.0.5"
    assert [w.code for w in conf.warnings] == ["secret-in-plain-option"]


def test_toml_files(tmp_path: Path) -> None:
    path = write(
        tmp_path / "svc.toml",
        'debug = true\nworkers = 3\n\n[database]\nconnection = "sqlite://"\ntimeout = "2m"\n\n'
        '[messaging]\ntopics = ["a", "b"]\nrouting = { x = 1 }\n\n[limits]\nbind_port = "many"\n',
    )
    with pytest.raises(ConfigError) as caught:
        ServiceConfig.load(files=[path])
    assert [str(p) for p in caught.value.errors] == [
        f"{path}:13: error: [limits] bind_port: expected a port number from 0 to 65535, got 'many'"
    ]
    write(tmp_path / "svc.toml", Path(path).read_text().replace('"many"', "8443"))
    conf = ServiceConfig.load(files=[path])
    assert conf.debug is True
    assert conf.database.timeout == timedelta(minutes=2)
    assert conf.messaging.topics == ["a", "b"]
    assert conf.messaging.routing == {"x": 1}
    assert conf.limits.bind_port == 8443
    broken = write(tmp_path / "broken.toml", "a = [\n")
    with pytest.raises(ConfigError, match=r"broken.toml:1: error: not valid TOML"):
        ServiceConfig.load(files=[broken], overrides=REQUIRED)


def test_values_are_read_only() -> None:
    conf = ServiceConfig.load(overrides=REQUIRED)
    with pytest.raises(AttributeError, match="read-only"):
        conf.workers = 3  # type: ignore[misc]
    with pytest.raises(AttributeError, match="read-only"):
        conf.database.max_pool_size = 3  # type: ignore[misc]


def test_declaration_mistakes_name_the_class_and_option() -> None:
    class BadDefault(Config):
        workers: int = option("x", min=1)

    with pytest.raises(
        TypeError,
        match=r"BadDefault.workers: the default 'x' does not fit: expected an integer",
    ):
        BadDefault.load()

    class WrongConstraint(Config):
        name: str = option("a", min=3)

    with pytest.raises(
        TypeError, match=r"WrongConstraint.name: min does not apply to an option of type str"
    ):
        WrongConstraint.load()

    class Reserved(Config):
        reload: bool = option(False)

    with pytest.raises(TypeError, match="'reload' is reserved"):
        Reserved.load()

    class NotAType(Config):
        thing: object = option(None)

    with pytest.raises(TypeError, match=r"NotAType\.thing: object cannot be the type of an option"):
        NotAType.load()


def test_a_bad_url_value_never_shows_its_password(tmp_path: Path) -> None:
    path = write(tmp_path / "u.conf", "[messaging]\ntransport_url = kafka://svc:pa55word@h:9092/\n")
    with pytest.raises(ConfigError) as caught:
        ServiceConfig.load(files=[path], overrides=REQUIRED)
    [problem] = caught.value.errors
    assert problem.value == "kafka://svc:****@h:9092/"
    assert "pa55word" not in str(caught.value)
    assert "pa55word" not in repr(problem.as_dict())


@given(st.text(max_size=200))
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_file_loads_or_raises_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.conf"
    path.write_text("[DEFAULT]\n" + text, encoding="utf-8")
    try:
        conf = ServiceConfig.load(files=[path], overrides=REQUIRED)
    except ConfigError as error:
        assert error.errors, "a ConfigError lists at least one error"  # noqa: PT017
    else:
        assert conf.workers >= 1
