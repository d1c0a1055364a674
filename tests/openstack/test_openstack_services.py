"""`anker config validate|migrate --namespace` on deployed nova.conf and placement.conf files,
against the option declarations of the real nova, placement and keystonemiddleware (pinned in
tests/openstack/).

These run the ``anker`` of .venv-openstack (made by ``make openstack-env``, which ``make test``
builds and points ANKER_OPENSTACK_PYTHON at); without it they skip, and in CI
(ANKER_REQUIRE_SERVICES=1) a skip fails.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from docs_examples import PAGES, run_page

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CORPUS = ROOT / "tests" / "data" / "corpus" / "config"
GENERATOR = HERE / "nova-config-generator.conf"
DEPLOYED = {
    "ussuri": CORPUS / "ogalush+Ussuri-InstallConfigsForCentOS8__controller__nova.conf",
    "rdo": CORPUS / "rdo-packages+nova-distgit__nova-dist.conf",
    "icehouse": CORPUS / "venumurthy+openstack-configs__nova.conf",
}


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The declarations' cache of this module's runs (the first run of a set fills it)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def anker() -> Path:
    """The ``anker`` command of the environment where nova is installed."""
    given = os.environ.get("ANKER_OPENSTACK_PYTHON")
    python = Path(given) if given else ROOT / ".venv-openstack" / "bin" / "python"
    if not python.exists():
        pytest.skip(
            "the OpenStack environment is not set up: run `make openstack-env` "
            "(`make test` builds it and sets ANKER_OPENSTACK_PYTHON)"
        )
    return python.parent / "anker"


CACHE: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _cache_env(cache: Path) -> None:
    CACHE["XDG_CACHE_HOME"] = str(cache)


def run(anker: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(anker), "config", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **CACHE},
    )


def validate(anker: Path, *files: Path) -> tuple[int, dict[str, object]]:
    done = run(
        anker, "validate", "--generator-config", str(GENERATOR), "--format", "json",
        *map(str, files),
    )  # fmt: skip
    assert done.stderr == "", done.stderr
    return done.returncode, json.loads(done.stdout)


def problems(report: dict[str, object]) -> list[dict[str, object]]:
    return report["problems"]  # type: ignore[return-value]


def found(report: dict[str, object], code: str) -> dict[tuple[object, object], dict[str, object]]:
    return {(p["section"], p["option"]): p for p in problems(report) if p["code"] == code}


@pytest.mark.parametrize("name", sorted(DEPLOYED))
def test_deployed_nova_conf_files_have_no_errors(anker: Path, name: str) -> None:
    code, report = validate(anker, DEPLOYED[name])
    errors = [p for p in problems(report) if p["severity"] == "error"]
    assert (code, errors) == (0, [])
    # nova's 16 namespaces: 62 sections; nothing the declarations say is dropped unlisted
    assert len(report["unchecked"]) > 0  # type: ignore[arg-type]


def test_stale_names_of_an_old_deployment_are_reported_as_what_they_are(anker: Path) -> None:
    _, report = validate(anker, DEPLOYED["icehouse"])
    unknown = found(report, "unknown-option")
    # removed long ago: unknown, also in [keystone_authtoken], which is checked like any other
    assert {("DEFAULT", "rpc_backend"), ("DEFAULT", "sql_connection")} <= set(unknown)
    assert {("keystone_authtoken", "admin_user"), ("keystone_authtoken", "auth_host")} <= set(
        unknown
    )
    assert unknown["keystone_authtoken", "auth_uri"]["suggestion"] == "auth_url"
    # not a typo: said so
    assert str(unknown["DEFAULT", "rpc_backend"]["message"]).endswith(
        "the installed release does not declare it (removed, or an option of a namespace not given)"
    )
    assert "does not declare" not in str(unknown["keystone_authtoken", "auth_uri"]["message"])
    # still declared as deprecated names: said so, with the name to use
    deprecated = found(report, "deprecated-name")
    assert deprecated["DEFAULT", "vnc_enabled"]["suggestion"] == "vnc.enabled"
    assert deprecated["DEFAULT", "novncproxy_base_url"]["suggestion"] == "vnc.novncproxy_base_url"


def plant(text: str, section: str, *lines: str) -> str:
    """``lines`` added right under the ``[section]`` header (a new section at the end)."""
    header = f"[{section}]\n"
    if header not in text:
        return text + "\n" + header + "".join(f"{line}\n" for line in lines)
    return text.replace(header, header + "".join(f"{line}\n" for line in lines), 1)


def test_every_planted_defect_is_found_with_its_kind(anker: Path, tmp_path: Path) -> None:
    text = DEPLOYED["ussuri"].read_text()
    text = plant(text, "DEFAULT", "debgu = True", "default_thread_pool_size = 0")
    text = plant(text, "databse", "connection = mysql+pymysql://nova:pw@db/nova")
    text = plant(text, "conductor", "workers = many")
    assert text.count("\nvirt_type=kvm\n") == 1
    text = text.replace("\nvirt_type=kvm\n", "\nvirt_type = kvmm\n")  # the deployment's own line
    text = plant(text, "pci", "passthrough_whitelist = {}")
    text = plant(text, "vnc", "vncserver_listen = 0.0.0.0")
    text = plant(text, "keystone_authtoken", "memcached_servres = 127.0.0.1:11211")
    path = tmp_path / "nova.conf"
    path.write_text(text)
    code, report = validate(anker, path)
    assert code == 1
    unknown = found(report, "unknown-option")
    assert unknown["DEFAULT", "debgu"]["suggestion"] == "debug"
    assert unknown["keystone_authtoken", "memcached_servres"]["suggestion"] == "memcached_servers"
    assert ("vnc", "vncserver_listen") in unknown  # an alias nova no longer declares
    sections = [p for p in problems(report) if p["code"] == "unknown-section"]
    assert [(p["section"], p["suggestion"]) for p in sections] == [("databse", "database")]
    bad = found(report, "bad-value")
    assert set(bad) == {
        ("DEFAULT", "default_thread_pool_size"),
        ("conductor", "workers"),
        ("libvirt", "virt_type"),
    }
    assert bad["DEFAULT", "default_thread_pool_size"]["expected"] == (
        "an integer of at least 1, or empty"
    )
    assert bad["conductor", "workers"]["expected"] == "an integer, or empty"
    assert "'kvm'" in str(bad["libvirt", "virt_type"]["expected"])
    deprecated = found(report, "deprecated-name")
    assert deprecated["pci", "passthrough_whitelist"]["suggestion"] == "pci.device_spec"


def test_cached_declarations_give_the_same_report(anker: Path, cache: Path) -> None:
    path = DEPLOYED["icehouse"]
    args = ("validate", "--generator-config", str(GENERATOR), "--format", "json", str(path))
    fresh = run(anker, *args)  # no --cache: nothing is written
    assert list(cache.glob("anker/**/*")) == []
    run(anker, *args, "--cache")  # fills the cache
    assert list(cache.glob("anker/oslo-config/*.json")) != []
    cached = run(anker, *args, "--cache")
    assert (cached.returncode, cached.stdout) == (fresh.returncode, fresh.stdout)


def test_migrate_renames_what_nova_declares_as_deprecated(anker: Path, tmp_path: Path) -> None:
    done = run(
        anker, "migrate", "--generator-config", str(GENERATOR), "--format", "json",
        str(DEPLOYED["icehouse"]),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    changed = "\n".join(result["changed"])
    assert "[DEFAULT] vnc_enabled -> [vnc] enabled" in changed
    assert "[DEFAULT] novncproxy_base_url -> [vnc] novncproxy_base_url" in changed
    migrated = tmp_path / "nova.conf"
    migrated.write_text(result["text"])
    _, report = validate(anker, migrated)
    assert found(report, "deprecated-name") == {}


def test_a_namespace_nobody_installed_is_one_line(anker: Path) -> None:
    done = run(anker, "validate", "--namespace", "nova.cnof", str(DEPLOYED["rdo"]))
    assert done.returncode == 1
    assert "no oslo.config namespace named 'nova.cnof'" in done.stderr
    assert "did you mean nova.conf" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_openstack_examples_of_the_docs_run(
    anker: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    page = {page.name: page for page in PAGES}["config.md"]
    result = run_page(page, tmp_path, servers=False, openstack=anker.parent)
    openstack = [reason for reason in result.skipped.values() if "nova" in reason]
    assert openstack == []
    assert result.ran


def test_anker_finds_all_that_oslo_config_validator_finds_and_the_bad_values(
    anker: Path,
) -> None:
    done = subprocess.run(
        [str(anker.parent / "python"), str(ROOT / "bench" / "openstack_validate.py"),
         "--runs", "1", "--json"],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    results = json.loads(done.stdout)
    assert len(results) == 4
    for result in results:
        mine = result["anker"]["findings"]
        theirs = result["oslo-config-validator"]["findings"]
        names = {item.split(" -> ")[0] for item in mine.get("unknown-option", [])}
        sections = {item.split(" -> ")[0] for item in mine.get("unknown-section", [])}
        for item in theirs.get("not part of the sample config", []):
            assert item in names or item.split("] ")[0] + "]" in sections, (result["file"], item)
        deprecated = {item.split(" -> ")[0] for item in mine.get("deprecated-name", [])}
        assert set(theirs.get("deprecated opt", [])) <= deprecated
        # what it skips by its hard-coded list, anker checks
        for item in theirs.get("ignored (hard-coded group list)", []):
            if item.endswith("memcached_servres") or "admin_" in item or "auth_host" in item:
                assert item in names, item
    planted = results[-1]
    assert planted["file"] == "nova-planted.conf"
    assert len(planted["anker"]["findings"]["bad-value"]) == 3
    assert "bad-value" not in str(planted["oslo-config-validator"]["findings"])


PLACEMENT = CORPUS / "ogalush+Ussuri-InstallConfigsForCentOS8__controller__placement.conf"
PLACEMENT_GENERATOR = HERE / "placement-config-generator.conf"


def test_a_second_service_placement_deployed_and_planted(anker: Path, tmp_path: Path) -> None:
    args = ("validate", "--generator-config", str(PLACEMENT_GENERATOR), "--format", "json")
    clean = run(anker, *args, "--strict", str(PLACEMENT))
    assert (clean.returncode, json.loads(clean.stdout)["problems"]) == (0, [])
    text = PLACEMENT.read_text()
    text = text.replace("auth_strategy = keystone\n", "auth_strategy = keystonee\n", 1)
    text = text.replace("[placement_database]\n", "[placement_databse]\n", 1)
    text = text.replace("username = placement\n", "usename = placement\n", 1)
    planted = tmp_path / "placement.conf"
    planted.write_text(text)
    done = run(anker, *args, str(planted))
    assert done.returncode == 1
    report = json.loads(done.stdout)
    bad = found(report, "bad-value")
    assert list(bad) == [("api", "auth_strategy")]
    assert "'keystone'" in str(bad["api", "auth_strategy"]["expected"])
    sections = [p for p in problems(report) if p["code"] == "unknown-section"]
    assert [(p["section"], p["suggestion"]) for p in sections] == [
        ("placement_databse", "placement_database")
    ]
    unknown = found(report, "unknown-option")
    assert unknown["keystone_authtoken", "usename"]["suggestion"] == "username"


def test_nova_s_declarations_as_an_anker_schema_module_read_the_deployed_files(
    anker: Path, tmp_path: Path
) -> None:
    """`sample --format python`: the module a service moving off oslo.config starts from
    loads every deployed nova.conf with no error, as `validate` finds none."""
    done = run(anker, "sample", "--generator-config", str(GENERATOR), "--format", "python")
    assert done.returncode == 0, done.stderr
    module = tmp_path / "nova_schema.py"
    module.write_text(done.stdout)
    probe = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('nova_schema', {str(module)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "for path in sys.argv[1:]:\n"
        "    conf = m.ServiceConfig.load(files=[path])\n"
        "    print(conf.libvirt.virt_type, len(conf.warnings))\n"
    )
    loaded = subprocess.run(
        [str(anker.parent / "python"), "-c", probe, *map(str, DEPLOYED.values())],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    lines = loaded.stdout.splitlines()
    assert len(lines) == len(DEPLOYED)
    known = ("kvm", "qemu", "lxc", "parallels", "uml", "xen")
    assert all(line.split()[0] in known for line in lines)
