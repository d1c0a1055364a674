"""`anker quota` on an embedded store: every command, JSON output, and bad input as one line."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from anker.cli import cli
from anker.cli._quota import quota as quota_group
from anker.limits import Quota, UnknownResource
from waiting import eventually


def one_line_error(result: Result) -> str:
    """The single line a failed command wrote to stderr (never a traceback)."""
    assert result.exit_code not in (0, None), result.output
    assert isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def run(url: str, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["quota", "--url", url, *args], input=stdin)


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite://{tmp_path}/limits.db"
    assert run(url, "upgrade").exit_code == 0
    for args in (
        ("set", "--default", "cores=20", "instances=unlimited"),
        ("set", "domain", "--root", "cores=10"),
        ("set", "project", "--parent", "domain", "cores=8"),
        ("set", "leaf", "--parent", "project"),
    ):
        result = run(url, *args)
        assert result.exit_code == 0, result.output

    async def claim() -> None:
        async with await Quota.open(url) as quota:
            await (await quota.claim("leaf", {"cores": 3}, note="vm-1")).commit()
            await quota.claim("project", {"cores": 1})

    asyncio.run(claim())
    return url


def test_tree_draws_the_hierarchy_with_usage_and_limits(url: str) -> None:
    result = run(url, "tree")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "model: hierarchical",
        "domain        cores 4/10  instances 0/∞",
        "└── project   cores 4/8   instances 0/∞",
        "    └── leaf  cores 3/20  instances 0/∞",
    ]
    data = json.loads(run(url, "tree", "--format", "json").output)
    [domain] = data["tree"]
    leaf = domain["children"][0]["children"][0]
    assert leaf["project"] == "leaf"
    assert leaf["usage"]["cores"] == {"used": 3, "limit": 20}


def test_show_usage_and_claims_in_json(url: str) -> None:
    shown = json.loads(run(url, "show", "project", "--format", "json").output)
    assert {(r["resource"], r["limit"], r["source"]) for r in shown} == {
        ("cores", 8, "own"),
        ("instances", -1, "default"),
    }
    usage = json.loads(run(url, "usage", "--format", "json").output)
    project = next(r for r in usage if r["project"] == "project" and r["resource"] == "cores")
    assert (project["used"], project["reserved"], project["subtree"]) == (1, 1, 4)
    claims = json.loads(run(url, "claims", "--format", "json").output)
    assert sorted((c["project"], c["state"], c["note"]) for c in claims) == [
        ("leaf", "committed", "vm-1"),
        ("project", "pending", ""),
    ]
    assert "unlimited" in run(url, "show").output


def test_recount_reports_and_repairs_drift(url: str, tmp_path: Path) -> None:
    counts = tmp_path / "counts.json"
    counts.write_text(json.dumps({"leaf": {"cores": 5}}))
    report = json.loads(run(url, "recount", str(counts), "--format", "json").output)
    assert report == [
        {
            "project": "leaf",
            "resource": "cores",
            "recorded": 3,
            "counted": 5,
            "delta": 2,
            "repaired": False,
        }
    ]
    assert "leaf" in run(url, "recount", "-", "--repair", stdin=counts.read_text()).output
    assert run(url, "recount", str(counts)).output.strip() == "no drift"


def test_keystone_export_and_import_round_trip(url: str, tmp_path: Path) -> None:
    exported = run(url, "export", "--service-id", "nova")
    assert exported.exit_code == 0, exported.output
    path = tmp_path / "keystone.json"
    path.write_text(exported.output)
    other = f"sqlite://{tmp_path}/other.db"
    assert run(other, "upgrade").exit_code == 0
    result = run(other, "import", str(path), "--service-id", "nova")
    assert result.output.strip() == "imported 3 projects, 2 defaults, 2 limits"
    assert run(other, "export", "--service-id", "nova").output == exported.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("set", "leaf", "cores=lots"), "'lots' is not a whole number"),
        (("set", "leaf", "cores"), "write RESOURCE=LIMIT"),
        (("set", "nope", "cores=1"), "no project 'nope'"),
        (("set", "x", "--parent", "nope"), "no project 'nope'"),
        (("set",), "name a PROJECT"),
        (("set", "leaf"), "nothing to set"),
        (("set", "leaf", "--root", "--parent", "domain"), "not both"),
        (("set", "domain", "--parent", "leaf"), "a cycle"),
        (("set", " spaced", "--root"), "without surrounding spaces"),
        (("set", "leaf", "cores=²"), "'²' is not a whole number"),  # was an int() ValueError
        (("set", "leaf", "cores=9007199254740992"), "from 0 to 9007199254740991"),
        (("usage", "nope"), "no project 'nope'"),
        (("claims", "nope"), "no project 'nope'"),  # was "(none)"
        (("show", "nope"), "no project 'nope'"),
        (("recount", "missing.json"), "missing.json"),
        (("import", "missing.json"), "missing.json"),
    ],
)
def test_bad_input_is_one_line(url: str, args: tuple[str, ...], expected: str) -> None:
    assert expected in one_line_error(run(url, *args))


def test_bad_files_and_urls_are_one_line(url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    assert "not JSON" in one_line_error(run(url, "recount", str(bad)))
    bad.write_text('{"leaf": {"cores": -1}}')
    assert "whole counts" in one_line_error(run(url, "recount", str(bad)))
    bad.write_text('{"leaf": {"cores": true}}')  # was counted as 1
    assert "whole counts" in one_line_error(run(url, "recount", str(bad)))
    bad.write_text('{"leaf": {"cores": 99999999999999999999}}')  # was reported as drift
    assert "whole counts from 0 to" in one_line_error(run(url, "recount", str(bad)))
    # a misspelt name in COUNTS is an error, not "no drift"
    bad.write_text('{"lef": {"cores": 1}}')
    assert "no project 'lef'" in one_line_error(run(url, "recount", str(bad)))
    bad.write_text('{"leaf": {"coers": 1}}')
    assert "resource 'coers'" in one_line_error(run(url, "recount", str(bad)))
    # not UTF-8, and nested past what the parser takes: were UnicodeDecodeError and
    # RecursionError, exit 70
    bad.write_bytes(b'{"leaf\xff": {}}')
    assert "not JSON" in one_line_error(run(url, "recount", str(bad)))
    bad.write_text("[" * 100_000)
    assert "nested too deeply" in one_line_error(run(url, "recount", str(bad)))
    assert "nested too deeply" in one_line_error(run(url, "import", str(bad)))
    assert "nested too deeply" in one_line_error(run(url, "recount", "-", stdin="[" * 100_000))
    bad.write_text('{"projects": [{"id": "a", "parent_id": "ghost"}]}')
    assert "unknown parent 'ghost'" in one_line_error(run(url, "import", str(bad)))
    assert "lease" in one_line_error(run(f"{url}?lease=abc", "usage"))
    assert "no anker.limits.stores driver" in one_line_error(run("mongo://x", "usage"))
    # SQLAlchemy's in-memory spelling would be a file ':memory:' at the root here
    assert "name a database file" in one_line_error(run("sqlite:///:memory:", "usage"))
    assert not Path("/:memory:").exists()
    missing = f"sqlite://{tmp_path}/missing.db"
    assert "anker quota --url" in one_line_error(run(missing, "tree"))
    assert not (tmp_path / "missing.db").exists()  # reading created nothing
    assert "--url" in one_line_error(
        CliRunner(env={"ANKER_LIMITS_URL": ""}).invoke(cli, ["quota", "tree"])
    )


def test_a_store_without_its_tables_names_the_upgrade_command(tmp_path: Path) -> None:
    (tmp_path / "empty.db").touch()
    line = one_line_error(run(f"sqlite://{tmp_path}/empty.db", "usage"))
    assert "run `anker quota --url" in line
    assert line.endswith("upgrade` once")  # not "(or open it with upgrade=True)": code's way


def test_sqlite_urls_a_service_uses_work_and_bad_paths_are_named(url: str, tmp_path: Path) -> None:
    # a service's URL may say ?create=true: reading still creates nothing, and no command
    # fails with "given twice" over an option the user did not give twice
    missing = f"sqlite://{tmp_path}/missing.db?create=true"
    assert "no database at" in one_line_error(run(missing, "show"))
    assert not (tmp_path / "missing.db").exists()
    assert run(f"{url}?create=true", "set", "leaf", "cores=2").exit_code == 0
    assert run(f"{url}?create=true", "usage", "leaf").exit_code == 0
    assert "expected a boolean" in one_line_error(run(f"{url}?create=maybe", "usage"))
    # a folder, and no path at all, are named as such (were "no database at ...: create it")
    for command in ("show", "upgrade"):
        assert "is a folder, not a database file" in one_line_error(
            run(f"sqlite://{tmp_path}", command)
        )
    assert "needs a path" in one_line_error(run("sqlite://", "show"))


def test_reading_commands_give_back_expired_reservations_without_writing(url: str) -> None:
    async def expire() -> str:
        async with await Quota.open(url) as quota:
            claim = await quota.claim("leaf", {"cores": 2}, lease=0.01)
            expires = claim.info.expires
            assert expires is not None
            await eventually(lambda: time.time() > expires, what="the lease ran out")
            return claim.id

    gone = asyncio.run(expire())
    usage = json.loads(run(url, "usage", "leaf", "--format", "json").output)
    assert [
        (r["used"], r["reserved"], r["subtree"]) for r in usage if r["resource"] == "cores"
    ] == [(3, 0, 3)]
    tree = json.loads(run(url, "tree", "--format", "json").output)
    assert tree["tree"][0]["usage"]["cores"] == {"used": 4, "limit": 10}
    claims = json.loads(run(url, "claims", "--format", "json").output)
    assert gone not in {c["id"] for c in claims}
    assert run(url, "recount", "-", stdin='{"leaf": {"cores": 3}}').output.strip() == "no drift"

    async def still_held() -> list[str]:
        async with await Quota.open(url) as quota:
            return [c.id for c in await quota.store.claims()]  # the store's rows, unswept

    # the commands only read (a store they may not write, such as a read-only replica or a
    # file of another user, used to fail with "sweep failed: readonly database")
    assert gone in asyncio.run(still_held())


def test_a_dead_server_is_one_line_and_no_traceback() -> None:
    # the call's bound runs out while its thread still retries the refused connection; what
    # that thread raises later was printed as "Task exception was never retrieved" and a
    # traceback (and libpq's hint made the refusal itself two lines)
    done = subprocess.run(
        [
            sys.executable,
            *("-m", "anker", "quota", "--url", "postgresql://nobody@127.0.0.1:1/x"),
            *("--timeout", "0.1", "show"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith("Error: limits store postgresql://nobody@127.0.0.1:1/x: connect failed")


@pytest.mark.parametrize("command", sorted(quota_group.commands))
def test_help_is_plain_text(command: str) -> None:
    result = CliRunner().invoke(cli, ["quota", command, "--help"])
    assert result.exit_code == 0, result.output
    assert "``" not in result.output  # reStructuredText quoting showed as is


def test_recount_checks_only_the_resources_counts_lists(url: str) -> None:
    async def use_instances() -> None:
        async with await Quota.open(url) as quota:
            await (await quota.claim("leaf", {"instances": 2})).commit()

    asyncio.run(use_instances())
    # COUNTS lists cores only: instances were not counted, and --repair leaves them (it set
    # them to 0)
    result = run(
        url, "recount", "-", "--repair", "--format", "json", stdin='{"leaf": {"cores": 5}}'
    )
    assert [(d["resource"], d["counted"]) for d in json.loads(result.output)] == [("cores", 5)]
    usage = json.loads(run(url, "usage", "leaf", "--format", "json").output)
    assert {r["resource"]: r["used"] for r in usage} == {"cores": 5, "instances": 2}


def test_a_tree_deeper_than_python_recurses_imports_and_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    # past the interpreter's recursion limit (1000): the import and the drawing recursed
    chain = [{"id": "c0"}] + [{"id": f"c{i}", "parent_id": f"c{i - 1}"} for i in range(1, 1100)]
    source = tmp_path / "chain.json"
    source.write_text(json.dumps({"projects": chain[::-1]}))  # leaves first
    url = f"sqlite://{tmp_path}/deep.db"
    assert run(url, "upgrade").exit_code == 0
    result = run(url, "import", str(source))
    assert result.output.strip() == "imported 1100 projects, 0 defaults, 0 limits", result.output
    for output_format in ("text", "json"):
        assert "too deep to draw" in one_line_error(run(url, "tree", "--format", output_format))


def test_the_url_s_timeout_and_model_are_used_and_a_contradiction_is_named(url: str) -> None:
    # the store options the docs list: ?timeout= failed every command ("given twice (in the
    # URL and as a keyword)") because --timeout always passed its default of 5
    assert run(f"{url}?timeout=10s", "usage").exit_code == 0
    assert run(f"{url}?model=flat", "tree").output.startswith("model: flat")
    # --timeout replaces the URL's ?timeout= (it was refused: "give --timeout or the URL's
    # ?timeout=, not both"); the URL's, were it kept, is no timeout the store takes
    result = CliRunner().invoke(
        cli, ["quota", "--url", f"{url}?timeout=1ms", "--timeout", "3", "tree"]
    )
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(
        cli, ["quota", "--url", f"{url}?model=flat", "--model", "hierarchical", "tree"]
    )
    assert result.exit_code == 2
    assert "--model hierarchical contradicts the URL's ?model=flat" in result.stderr


def test_a_bad_pair_sets_none_of_the_others(url: str) -> None:
    result = run(url, "set", "leaf", "cores=1", "ram=9007199254740992")
    assert result.exit_code == 2
    assert "from 0 to 9007199254740991" in result.stderr
    assert "' ram'" in run(url, "set", "leaf", "cores=1", " ram=3").stderr
    shown = json.loads(run(url, "show", "leaf", "--format", "json").output)
    assert {r["resource"]: r["source"] for r in shown}["cores"] == "default"  # cores=1 was not set


def test_setting_back_to_default_a_resource_no_limit_names_is_refused(url: str) -> None:
    # `set --default nosuch=default` removed nothing and said nothing (exit 0): a misspelt
    # resource looked like a default removed
    for args in (("set", "--default", "coers=default"), ("set", "leaf", "coers=default")):
        line = one_line_error(run(url, *args))
        assert "coers=default: no default or limit names resource 'coers'" in line
        assert "(resources with limits: cores, instances)" in line
    # nothing before the bad pair was set either
    one_line_error(run(url, "set", "--default", "cores=5", "coers=default"))
    assert json.loads(run(url, "show", "--format", "json").output)[0]["limit"] == 20
    # a resource that is named is removed (by the project, then the registered default)
    assert run(url, "set", "project", "cores=default").exit_code == 0
    assert run(url, "set", "--default", "instances=default").exit_code == 0
    shown = json.loads(run(url, "show", "project", "--format", "json").output)
    assert [(r["resource"], r["limit"], r["source"]) for r in shown] == [("cores", 20, "default")]


def test_errors_name_the_command_and_the_library_s_name_the_method(url: str) -> None:
    # the command said "register one with set_default": a Python method, not what to type
    line = one_line_error(run(url, "recount", "-", stdin='{"leaf": {"gpus": 1}}'))
    assert line.endswith(
        "resource 'gpus' has no limit for project 'leaf' and no registered default "
        "(register one with `anker quota set --default gpus=LIMIT`)"
    )
    line = one_line_error(run(url, "set", "new project", "--parent", "no where"))
    assert line.endswith(
        "no project 'no where' in the tree (add it with `anker quota set 'no where' --root` "
        "or `anker quota set 'no where' --parent PARENT`)"
    )

    async def in_code() -> None:
        async with await Quota.open(url) as quota:
            with pytest.raises(UnknownResource, match=r"register one with set_default\)$"):
                await quota.limit("leaf", "gpus")

    asyncio.run(in_code())


def test_a_strict_two_level_refusal_sets_nothing_of_the_command(url: str) -> None:
    strict = f"{url}?model=strict-two-level"
    assert run(strict, "set", "team", "--root", "cores=4", "instances=4").exit_code == 0
    # the project was added and its cores=2 set before instances=8 was refused
    line = one_line_error(run(strict, "set", "dev", "--parent", "team", "cores=2", "instances=8"))
    assert "limit 8 of 'instances' for 'dev' exceeds its parent 'team''s limit 4" in line
    assert "no project 'dev'" in one_line_error(run(strict, "show", "dev"))
    assert run(strict, "set", "dev", "--parent", "team", "cores=2").exit_code == 0
    line = one_line_error(run(strict, "set", "team", "instances=1", "cores=1"))
    assert "limit 1 of 'cores' for 'team' is below its child 'dev''s limit 2" in line
    shown = json.loads(run(strict, "show", "team", "--format", "json").output)
    assert {r["resource"]: r["limit"] for r in shown} == {"cores": 4, "instances": 4}


def test_timeout_takes_a_duration_and_refuses_what_is_none(url: str) -> None:
    # '--timeout 30s' was "not a valid float", while '--timeout -1' failed saying "expected a
    # duration such as 30s": the error suggested what the option then refused
    for given in ("30s", "2m", "1.5", "250ms", "1h30m"):
        result = CliRunner().invoke(cli, ["quota", "--url", url, "--timeout", given, "usage"])
        assert result.exit_code == 0, result.output
    for given in ("-1", "nan", "inf", "0.05", "soon"):
        result = CliRunner().invoke(cli, ["quota", "--url", url, "--timeout", given, "usage"])
        assert result.exit_code == 2, result.output  # a usage error, naming the option
        assert "Invalid value for '--timeout': expected a duration such as 30s" in result.stderr


def test_a_url_that_is_not_text_is_a_usage_error(tmp_path: Path) -> None:
    # as anker workflow's --url (the same option): it was a store error, exit 1
    not_text = b"\xff\xfe".decode("utf-8", "surrogateescape")  # as bytes in argv arrive
    result = run(f"sqlite://{tmp_path}/{not_text}.db", "show")
    assert result.exit_code == 2, result.output
    assert "is not UTF-8 text: name the store in text" in result.stderr


def test_a_resource_given_twice_is_refused_and_sets_nothing(url: str) -> None:
    # 'set leaf cores=5 cores=6' set cores=6 without a word: the last one won
    for args in (
        ("set", "leaf", "cores=5", "cores=6"),
        ("set", "leaf", "cores=5", "instances=2", "cores=5"),
        ("set", "--default", "cores=1", "cores=default"),
    ):
        result = run(url, *args)
        assert result.exit_code == 2, result.output  # as a malformed pair
        assert "resource 'cores' is given twice" in result.stderr
    shown = json.loads(run(url, "show", "leaf", "--format", "json").output)
    assert {r["resource"]: (r["limit"], r["source"]) for r in shown} == {
        "cores": (20, "default"),
        "instances": (-1, "default"),
    }
