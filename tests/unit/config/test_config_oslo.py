"""`anker config validate|migrate --namespace`: oslo.config declarations as an anker schema.

The namespaces here are a package made for the test (a module and a ``.dist-info`` with its
``oslo.config.opts`` entry points, put on ``sys.path``), declared with oslo.config itself, so
each conversion is checked against the real ``Opt`` and ``types`` objects. The real services
(nova, keystonemiddleware) are in tests/openstack.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from anker.cli import cli

MODULE = """
from oslo_config import cfg, types


def service():
    return [
        (None, [
            cfg.BoolOpt("debug", default=False, mutable=True,
                        help="Log at debug level.\\n\\nMore words."),
            cfg.IntOpt("default_pool_size", default=POOL_SIZE, min=1),
            cfg.StrOpt("my_ip", default="10.0.0.1"),
            cfg.StrOpt("state_path", default="$pybasedir"),
            cfg.StrOpt("instances_path", default="$my_ip/instances"),
            cfg.StrOpt("old_feature", deprecated_for_removal=True,
                       deprecated_reason="It does nothing."),
        ]),
        (cfg.OptGroup("conductor", help="Conductor options."), [
            cfg.IntOpt("workers", min=1),
        ]),
        ("libvirt", [
            cfg.StrOpt("virt_type", default="kvm", choices=["kvm", "qemu", "lxc"],
                       deprecated_name="libvirt_type", deprecated_group="DEFAULT"),
            cfg.ListOpt("cpu_models", item_type=types.String(), default=[]),
            cfg.FloatOpt("ratio", min=0.0, max=1.0, default=0.5),
            cfg.PortOpt("port", default=16509),
            cfg.Opt("window", type=types.Range(0, 10)),
        ]),
        ("database", [
            cfg.StrOpt("connection", secret=True,
                       deprecated_opts=[cfg.DeprecatedOpt("sql_connection", group="DEFAULT")]),
            cfg.IPOpt("bind", version=4),
        ]),
    ]


def library():
    return [
        ("oslo_messaging_rabbit", [cfg.BoolOpt("ssl", default=False)]),
        ("conductor", [cfg.StrOpt("workers")]),  # another type: the first declaration wins
        ("libvirt", [cfg.PortOpt("port", default=16509)]),  # the same checks: merged
    ]


def broken():
    raise RuntimeError("no backend configured")


POOL_SIZE = 1000


def set_defaults():
    global POOL_SIZE
    POOL_SIZE = 64
"""

ENTRY_POINTS = """
[oslo.config.opts]
fake.service = fake_oslo_opts:service
fake.library = fake_oslo_opts:library
fake.broken = fake_oslo_opts:broken
fake.missing = fake_oslo_missing_module:list_opts

[oslo.config.opts.defaults]
fake.service = fake_oslo_opts:set_defaults
"""


@pytest.fixture(autouse=True)
def fake_namespaces(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    root = tmp_path_factory.mktemp("site")
    (root / "fake_oslo_opts.py").write_text(MODULE)
    info = root / "fake_oslo_opts-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-oslo-opts\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delitem(sys.modules, "fake_oslo_opts", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    return root


NAMESPACES = ("--namespace", "fake.service", "--namespace", "fake.library")

PLANTED = """\
[DEFAULT]
debgu = True
default_pool_size = 0
libvirt_type = qemu
sql_connection = mysql://nova:pw@db/nova
old_feature = x

[databse]
connection = mysql://x
max_retries = 3

[conductor]
workers = many

[libvirt]
virt_type = kvmm
ratio = 2
port = 99999

[database]
bind = 10.0.0.300
"""


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def validate_json(path: Path, *extra: str) -> tuple[int, dict[str, object]]:
    code, out, _ = run("config", "validate", *NAMESPACES, str(path), "--format", "json", *extra)
    return code, json.loads(out)


def by_code(report: dict[str, object]) -> dict[str, list[dict[str, object]]]:
    found: dict[str, list[dict[str, object]]] = {}
    for problem in report["problems"]:  # type: ignore[attr-defined]
        found.setdefault(problem["code"], []).append(problem)
    return found


def test_every_planted_defect_is_found_with_its_kind(tmp_path: Path) -> None:
    path = tmp_path / "nova.conf"
    path.write_text(PLANTED)
    code, report = validate_json(path)
    assert code == 1
    found = by_code(report)
    (typo,) = found["unknown-option"]
    assert (typo["option"], typo["suggestion"], typo["line"]) == ("debgu", "debug", 2)
    (section,) = found["unknown-section"]  # once, though two options are in it
    assert (section["section"], section["suggestion"]) == ("databse", "database")
    bad = {(p["section"], p["option"]): p for p in found["bad-value"]}
    assert set(bad) == {
        ("DEFAULT", "default_pool_size"),
        ("conductor", "workers"),
        ("libvirt", "virt_type"),
        ("libvirt", "ratio"),
        ("libvirt", "port"),
        ("database", "bind"),
    }
    assert bad["DEFAULT", "default_pool_size"]["expected"] == "an integer of at least 1, or empty"
    assert bad["libvirt", "virt_type"]["expected"] == "one of 'kvm', 'qemu', 'lxc', or empty"
    assert bad["libvirt", "port"]["expected"] == "an integer from 0 to 65535, or empty"
    assert bad["database", "bind"]["expected"] == "an IPv4 address, or empty"
    deprecated = {p["option"]: p["suggestion"] for p in found["deprecated-name"]}
    assert deprecated == {
        "libvirt_type": "libvirt.virt_type",
        "sql_connection": "database.connection",
    }
    (removal,) = found["deprecated-for-removal"]
    assert "It does nothing." in removal["message"]


def test_text_report_says_what_each_finding_is(tmp_path: Path) -> None:
    path = tmp_path / "nova.conf"
    path.write_text(PLANTED)
    code, out, err = run("config", "validate", *NAMESPACES, str(path))
    assert code == 1
    assert f"{path}:2: warning: unknown option 'debgu' in [DEFAULT]; did you mean 'debug'?" in out
    assert f"{path}:8: warning: unknown section [databse]; did you mean [database]?" in out
    assert (
        "[DEFAULT] libvirt_type is a deprecated name of [libvirt] virt_type, which is also set"
        in out
    )
    assert "[DEFAULT] sql_connection is deprecated; use [database] connection instead" in out
    assert f"{path}:13: error: [conductor] workers: expected an integer of at least 1" in err
    assert "checked values and names (namespaces fake.service, fake.library)" in out


def test_secret_values_stay_masked(tmp_path: Path) -> None:
    path = tmp_path / "nova.conf"
    path.write_text("[database]\nconnection = mysql://nova:hunter2@db/nova\n")
    code, out, err = run("config", "validate", *NAMESPACES, str(path), "--strict")
    assert code == 0, out + err
    assert "hunter2" not in out + err


def test_a_clean_file_passes_and_defaults_with_references_load(tmp_path: Path) -> None:
    path = tmp_path / "nova.conf"
    path.write_text("[DEFAULT]\ndebug = true\n[libvirt]\nvirt_type = qemu\ncpu_models = a, b\n")
    code, out, err = run("config", "validate", *NAMESPACES, "--strict", "--config-file", str(path))
    assert code == 0, out + err
    assert "0 error(s), 0 warning(s) in 1 file(s)" in out


def test_what_anker_cannot_check_is_listed_with_namespace_and_option(tmp_path: Path) -> None:
    path = tmp_path / "nova.conf"
    path.write_text("[libvirt]\nwindow = 3-4\n")
    code, out, _ = run("config", "validate", *NAMESPACES, str(path))
    assert code == 0
    assert "detail(s) of the declarations are not checked by anker" in out
    code, out, _ = run("config", "validate", *NAMESPACES, str(path), "--list-unchecked")
    assert "unchecked: fake.service: [libvirt] window: its type (range value)" in out
    assert (
        "unchecked: fake.service: [DEFAULT] state_path: the default '$pybasedir' names an "
        "undeclared option; taken as unset" in out
    )
    assert (
        "unchecked: fake.library: [conductor] workers: declared again, differently "
        "(the declaration of 'fake.service' is used)" in out
    )
    assert "[libvirt] port" not in out
    _, report = validate_json(path)
    unchecked = {(u["namespace"], u["section"], u["option"]) for u in report["unchecked"]}  # type: ignore[attr-defined]
    assert ("fake.service", "libvirt", "window") in unchecked


@pytest.mark.parametrize(
    ("namespace", "message"),
    [
        ("fake.servce", "no oslo.config namespace named 'fake.servce'"),
        (
            "fake.broken",
            "the namespace 'fake.broken' (fake_oslo_opts:broken) failed to load: "
            "RuntimeError: no backend configured",
        ),
        (
            "fake.missing",
            "the namespace 'fake.missing' (fake_oslo_missing_module:list_opts) "
            "failed to load: ModuleNotFoundError",
        ),
    ],
)
def test_a_namespace_that_cannot_load_is_one_clear_line(
    tmp_path: Path, namespace: str, message: str
) -> None:
    path = tmp_path / "nova.conf"
    path.write_text("[DEFAULT]\n")
    result = CliRunner().invoke(cli, ["config", "validate", "--namespace", namespace, str(path)])
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output
    if namespace == "fake.servce":
        assert "did you mean fake.service" in result.stderr


def test_generator_config_names_the_namespaces(tmp_path: Path) -> None:
    generator = tmp_path / "nova-config-generator.conf"
    generator.write_text(
        "[DEFAULT]\noutput_file = etc/nova/nova.conf.sample\nwrap_width = 80\n"
        "namespace = fake.service\nnamespace = fake.library\n"
    )
    path = tmp_path / "nova.conf"
    path.write_text("[oslo_messaging_rabbit]\nssl = maybe\n")
    code, _, err = run("config", "validate", "--generator-config", str(generator), str(path))
    assert code == 1
    assert "[oslo_messaging_rabbit] ssl: expected a boolean" in err


def test_schema_and_namespace_do_not_mix(tmp_path: Path) -> None:
    path = tmp_path / "nova.conf"
    path.write_text("[DEFAULT]\n")
    code, _, err = run("config", "validate", "--schema", "x:Y", *NAMESPACES, str(path))
    assert code == 2
    assert "not both" in err


def test_migrate_renames_as_the_service_declares(tmp_path: Path) -> None:
    path = tmp_path / "nova.conf"
    path.write_text(
        "[DEFAULT]\n# the hypervisor\nlibvirt_type = qemu\nsql_connection = sqlite://\n"
        "old_feature = x\n\n[libvirt]\nratio = 0.3\n"
    )
    code, out, err = run("config", "migrate", *NAMESPACES, str(path))
    assert code == 0, err
    assert out == (
        "[DEFAULT]\n# the hypervisor\nold_feature = x\n\n[libvirt]\nratio = 0.3\n"
        "virt_type = qemu\n\n[database]\nconnection = sqlite://\n"
    )
    assert "-> [libvirt] virt_type" in err
    assert "-> [database] connection" in err
    assert "[DEFAULT] old_feature is deprecated for removal: It does nothing." in err


def test_migrate_leaves_what_the_namespaces_do_not_declare_to_a_human(tmp_path: Path) -> None:
    path = tmp_path / "nova.conf"
    text = "[DEFAULT]\ndebgu = true\n[databse]\nconnection = x\nidle = 3\n"
    path.write_text(text)
    code, out, err = run("config", "migrate", *NAMESPACES, str(path))
    assert (code, out) == (0, text)
    assert (
        f"needs a human: {path}:2: [DEFAULT] debgu is not declared; did you mean 'debug'? "
        "(removed, or misspelt); rename or remove it by hand" in err
    )
    assert (
        f"needs a human: {path}:3: [databse] is not a declared section; did you mean [database]?"
        in err
    )
    assert err.count("[databse]") == 1


def test_import_anker_config_does_not_import_oslo_config() -> None:
    probe = "import sys, anker.config, anker.cli; print('oslo_config' in sys.modules)"
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "False"


def test_conversion_of_each_oslo_type() -> None:
    from oslo_config import cfg

    from anker.config._oslo import Namespace, schema_from_namespaces

    opts = [
        cfg.HostAddressOpt("host_address", default="localhost"),
        cfg.HostnameOpt("hostname", default="compute-1"),
        cfg.IPOpt("any_ip"),
        cfg.IPOpt("v6", version=6),
        cfg.DictOpt("limits", default={"a": "1"}),
        cfg.MultiStrOpt("servers", default=[]),
        cfg.IntOpt("level", choices=[1, 2, 3], default=1),
        cfg.StrOpt("name", regex="^[a-z]+", max_length=8),
        cfg.StrOpt("token", secret=True, default="s3cret"),
        cfg.URIOpt("endpoint", schemes=["http", "https"]),
        cfg.Opt("custom", type=lambda value: value),
    ]
    schema, unchecked = schema_from_namespaces([Namespace("t", [("DEFAULT", "", opts)])])
    options = schema.sections["DEFAULT"].options
    described = {name: option.kind.describe() for name, option in options.items()}  # type: ignore[union-attr]
    assert described["host_address"] == "a host name or IP address, or empty"
    assert described["any_ip"] == "an IPv4 or IPv6 address, or empty"
    assert described["v6"] == "an IPv6 address, or empty"
    assert described["level"] == "one of 1, 2, 3, or empty"
    assert options["servers"].multi
    assert options["token"].is_secret
    assert options["name"].kind.convert("abc1") == "abc1"  # type: ignore[union-attr]  # oslo searches
    notes = {(u.option, u.detail.split(" (")[0]) for u in unchecked}
    assert ("endpoint", "checked as a string") in notes
    assert any(option == "custom" for option, _ in notes)


def test_declarations_are_cached_by_the_versions_of_their_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from anker.config import _oslo
    from anker.config._declared import cache_directory

    path = tmp_path / "nova.conf"
    path.write_text(PLANTED)
    first = run("config", "validate", *NAMESPACES, str(path), "--format", "json")
    assert not cache_directory().exists()  # checking a file writes nothing by default
    cached = run("config", "validate", *NAMESPACES, str(path), "--format", "json", "--cache")
    assert cached == first
    assert len(list(cache_directory().glob("*.json"))) == 1

    def imported(*args: object, **kwargs: object) -> object:
        raise AssertionError("the namespaces were imported again")

    monkeypatch.setattr(_oslo, "load_namespaces", imported)
    again = run("config", "validate", *NAMESPACES, str(path), "--format", "json", "--cache")
    assert again == first
    # another set of namespaces is another entry; without the cache they are imported
    with pytest.raises(AssertionError, match="imported again"):
        _oslo.declarations_for(["fake.service"])
    with pytest.raises(AssertionError, match="imported again"):
        _oslo.declarations_for(["fake.service", "fake.library"], cache=False)


def test_a_cached_entry_of_another_version_is_not_used(tmp_path: Path) -> None:
    from anker.config import _oslo

    _oslo.declarations_for(["fake.service"])
    info = next(p for p in sys.path if Path(p, "fake_oslo_opts-1.0.dist-info").exists())
    metadata = Path(info, "fake_oslo_opts-1.0.dist-info", "METADATA")
    metadata.write_text(metadata.read_text().replace("Version: 1.0", "Version: 1.1"))
    (Path(info) / "fake_oslo_opts.py").write_text(
        MODULE.replace('cfg.IntOpt("workers", min=1)', 'cfg.IntOpt("workers", min=2)')
    )
    sys.modules.pop("fake_oslo_opts", None)
    path = tmp_path / "nova.conf"
    path.write_text("[conductor]\nworkers = 1\n")
    code, _, err = run("config", "validate", "--namespace", "fake.service", str(path))
    assert code == 1
    assert "expected an integer of at least 2" in err


@pytest.mark.parametrize(
    ("output_format", "expected"),
    [
        ("ini", "[conductor]\n"),
        ("json-schema", '"conductor"'),
        ("markdown", "conductor"),
    ],
)
def test_sample_writes_the_namespaces_options(output_format: str, expected: str) -> None:
    code, out, err = run("config", "sample", *NAMESPACES, "--format", output_format)
    assert code == 0, err
    assert expected in out
    assert "virt_type" in out
    if output_format == "markdown":  # a table row is one line, whatever the help holds
        assert "| `false` | Log at debug level. More words. Mutable:" in out


def test_the_services_defaults_hooks_run_first_as_the_generator_runs_them() -> None:
    code, out, err = run("config", "sample", "--namespace", "fake.service", "--format", "ini")
    assert code == 0, err
    assert "#default_pool_size = 64\n" in out


def test_without_oslo_config_the_error_says_which_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "oslo_config", None)  # import oslo_config fails
    path = tmp_path / "nova.conf"
    path.write_text("[DEFAULT]\n")
    result = CliRunner().invoke(cli, ["config", "validate", *NAMESPACES, str(path)])
    assert result.exit_code == 1
    assert "needs oslo.config" in result.stderr
    assert "pip install 'anker[openstack]'" in result.stderr
    assert "Traceback" not in result.output


def test_python_format_writes_a_schema_module_that_reads_files_as_validate_does(
    tmp_path: Path,
) -> None:
    code, out, err = run("config", "sample", *NAMESPACES, "--format", "python")
    assert code == 0, err
    module = tmp_path / "fake_schema.py"
    module.write_text(out)
    compile(out, str(module), "exec")  # valid Python
    assert "class Libvirt(Group):" in out
    assert "deprecated_names=" in out
    assert "Secret[str]" in out  # [database] connection is secret
    path = tmp_path / "nova.conf"
    path.write_text(PLANTED)
    _, report = validate_json(path)
    probe = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('fake_schema', {str(module)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "from anker.config import ConfigError\n"
        "try:\n"
        f"    m.ServiceConfig.load(files=[{str(path)!r}])\n"
        "    print(json.dumps([]))\n"
        "except ConfigError as e:\n"
        "    print(json.dumps(sorted([p.section or '', p.option or ''] for p in e.errors)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    errors = sorted(
        [str(p.get("section") or ""), str(p.get("option") or "")]
        for p in report["problems"]  # type: ignore[attr-defined]
        if p["severity"] == "error"
    )
    assert errors  # the planted file has bad values
    assert json.loads(done.stdout) == errors


def test_python_format_needs_namespaces() -> None:
    code, _, err = run(
        "config", "sample", "--schema", "config_schemas:ServiceConfig", "--format", "python"
    )
    assert code == 2
    assert "--format python writes the declarations of --namespace" in err
