"""`anker workflow` on an embedded store: every command, JSON and diagram output, bad input as
one line, and reading commands that never create a file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from anker.cli import cli
from anker.workflow import Engine, Retry, State, Task, TaskContext, Workflow, parallel, sequence


def one_line_error(result: Result) -> str:
    """The single line a failed command wrote to stderr (never a traceback)."""
    assert result.exit_code not in (0, None), result.output
    assert isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def run(url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["workflow", "--url", url, *args])


async def ok(ctx: TaskContext, **inputs: Any) -> str:
    return ctx.task


async def broken(ctx: TaskContext, **inputs: Any) -> None:
    raise RuntimeError("disk full")


async def undo(ctx: TaskContext, result: Any, **inputs: Any) -> None:
    raise RuntimeError("cannot undo")


FLOW = Workflow(
    "demo",
    sequence(
        Task("reserve", ok, undo, provides="r", retry=Retry(attempts=1)),
        parallel(Task("net", ok, requires=("r",)), Task("disk", broken, retry=Retry(1))),
    ),
    inputs=("size",),
)


@pytest.fixture
def stored(tmp_path: Path) -> tuple[str, str]:
    """A store with one FAILED run (disk failed, reserve's revert failed)."""
    url = f"sqlite://{tmp_path}/wf.db"
    result = run(url, "upgrade")
    assert result.exit_code == 0, result.output

    async def main() -> str:
        async with await Engine.open(url, [FLOW]) as engine:
            info = await engine.run(FLOW, {"size": 2})
            assert info.state is State.FAILED
            return info.id

    return url, asyncio.run(main())


def test_reading_a_missing_store_fails_in_one_line_and_creates_nothing(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/none.db"
    for args in (("list",), ("show", "x"), ("history", "x")):
        assert "no database at" in one_line_error(run(url, *args))
    assert not (tmp_path / "none.db").exists()


def test_without_a_url_the_usage_says_how_to_give_one() -> None:
    result = CliRunner(env={"ANKER_WORKFLOW_URL": None}).invoke(cli, ["workflow", "list"])
    assert result.exit_code == 2
    assert "--url URL or ANKER_WORKFLOW_URL" in result.stderr


def test_a_bad_url_option_is_one_line(tmp_path: Path) -> None:
    assert "bogus" in one_line_error(run(f"sqlite://{tmp_path}/wf.db?bogus=1", "list"))


def test_list_show_and_history(stored: tuple[str, str]) -> None:
    url, run_id = stored
    listed = json.loads(run(url, "list", "--format", "json").output)
    assert [(r["id"], r["state"], r["workflow"]) for r in listed] == [(run_id, "FAILED", "demo v1")]
    assert run(url, "list", "--state", "succeeded").output.strip() == "(none)"
    text = run(url, "show", run_id).output
    assert "state: FAILED" in text
    assert "reverting task 'reserve' failed" in text
    shown = json.loads(run(url, "show", run_id, "--format", "json").output)
    tasks = {t["task"]: t for t in shown["tasks"]}
    assert tasks["disk"]["state"] == "FAILED"
    assert tasks["disk"]["error"] == "RuntimeError: disk full"
    assert tasks["net"]["waits_for"] == ["reserve"]
    assert shown["inputs"] == {"size": 2}
    events = json.loads(run(url, "history", run_id, "--format", "json").output)
    assert events[0]["to"] == "PENDING"
    assert events[-1] == events[-1] | {"task": "(run)", "from": "REVERTING", "to": "FAILED"}


def test_show_draws_the_flow_as_mermaid_and_dot(stored: tuple[str, str]) -> None:
    url, run_id = stored
    mermaid = run(url, "show", run_id, "--format", "mermaid").output
    assert mermaid.startswith("flowchart TD")
    assert "t0 --> t1" in mermaid
    assert "FAILED" in mermaid
    dot = run(url, "show", run_id, "--format", "dot").output
    assert dot.startswith("digraph workflow {")
    assert '"reserve" -> "net";' in dot


def test_show_draws_an_svg_with_graphviz(stored: tuple[str, str]) -> None:
    url, run_id = stored
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed (scripts/services installs it)")
    svg = run(url, "show", run_id, "--format", "svg")
    assert svg.exit_code == 0, svg.output
    assert svg.output.lstrip().startswith("<?xml")
    assert "<svg" in svg.output
    assert ">reserve<" in svg.output


def test_watch_follows_a_run_to_its_end(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/wf.db"
    assert run(url, "upgrade").exit_code == 0
    started = threading.Event()
    release = threading.Event()

    async def slow(ctx: TaskContext, **inputs: Any) -> str:
        started.set()
        await asyncio.to_thread(release.wait, 30)  # the engine's loop stays free meanwhile
        return "done"

    flow = Workflow("slow", sequence(Task("first", ok), Task("second", slow)), inputs=())
    ids: list[str] = []

    def engine() -> None:
        async def main() -> None:
            async with await Engine.open(url, [flow]) as opened:
                ids.append(await opened.start(flow))
                await opened.wait(ids[0], timeout=60)

        asyncio.run(main())

    thread = threading.Thread(target=engine)
    thread.start()
    assert started.wait(30)
    timer = threading.Timer(0.5, release.set)
    timer.start()
    watched = run(url, "watch", ids[0], "--interval", "0.05")
    thread.join(30)
    assert watched.exit_code == 0, watched.output
    lines = [line.split(" ", 1)[1] for line in watched.output.splitlines()]
    assert lines[:2] == ["first SUCCEEDED", "second RUNNING"]
    assert lines[-2:] == ["second SUCCEEDED", f"run {ids[0]} SUCCEEDED"]


def test_watch_exits_1_for_a_run_that_did_not_succeed(stored: tuple[str, str]) -> None:
    url, run_id = stored
    watched = run(url, "watch", run_id)
    assert watched.exit_code == 1
    assert "disk FAILED: RuntimeError: disk full" in watched.output
    assert f" run {run_id} FAILED" in watched.output.splitlines()[-1]


def test_watch_takes_durations_as_the_store_timeout_does(stored: tuple[str, str]) -> None:
    # '--interval 1s' and '--timeout 5m' were "not a valid float range"
    url, run_id = stored
    watched = run(url, "watch", run_id, "--interval", "50ms", "--timeout", "5m")
    assert watched.exit_code == 1, watched.output  # the run FAILED: watched to its end
    assert f" run {run_id} FAILED" in watched.output.splitlines()[-1]
    for option, given in (("--interval", "10ms"), ("--timeout", "-1s"), ("--timeout", "soon")):
        result = run(url, "watch", run_id, option, given)
        assert result.exit_code == 2, result.output
        assert f"Invalid value for '{option}': expected a duration" in result.stderr


def test_unknown_runs_are_one_line_errors(stored: tuple[str, str]) -> None:
    url, _ = stored
    for command in ("show", "history", "cancel", "resume", "retry"):
        assert "no workflow run 'nope'" in one_line_error(run(url, command, "nope"))


def test_resume_retry_and_cancel(stored: tuple[str, str]) -> None:
    url, run_id = stored
    assert run(url, "resume", run_id).output.strip() == f"{run_id}: REVERTING"
    assert "only FAILED runs" in one_line_error(run(url, "resume", run_id))
    assert "only ended runs retry" in one_line_error(run(url, "retry", run_id))
    cancelled = json.loads(run(url, "cancel", run_id, "--format", "json").output)
    assert cancelled["state"] == "REVERTING"  # its engine finishes the revert, then CANCELLED

    async def finish() -> None:
        async with await Engine.open(url, [FLOW], poll=0.05) as engine:
            info = await engine.wait(run_id, timeout=60)
            assert info.state is State.FAILED  # the revert still fails

    asyncio.run(finish())
    retried = json.loads(run(url, "retry", run_id, "--format", "json").output)
    assert retried["state"] == "PENDING"
    shown = json.loads(run(url, "show", retried["id"], "--format", "json").output)
    assert shown["retry_of"] == run_id
    assert run(url, "cancel", retried["id"]).output.strip() == f"{retried['id']}: CANCELLED"


def test_cancelling_an_ended_run_says_there_is_nothing_to_cancel(stored: tuple[str, str]) -> None:
    url, failed = stored
    error = one_line_error(run(url, "cancel", failed))
    assert "has ended FAILED: nothing to cancel (`resume`" in error
    done = Workflow("done", Task("only", ok), inputs=())

    async def succeed() -> str:
        async with await Engine.open(url, [done]) as engine:
            return (await engine.run(done)).id

    succeeded = asyncio.run(succeed())
    assert "has ended SUCCEEDED: nothing to cancel" in one_line_error(run(url, "cancel", succeeded))
    shown = json.loads(run(url, "show", succeeded, "--format", "json").output)
    assert shown["state"] == "SUCCEEDED"
    # a cancelled run cancelled again is what was asked: no error
    pending = json.loads(run(url, "retry", succeeded, "--format", "json").output)["id"]
    assert run(url, "cancel", pending).output.strip() == f"{pending}: CANCELLED"
    assert run(url, "cancel", pending).output.strip() == f"{pending}: CANCELLED"


def test_a_refused_connection_is_one_line() -> None:
    url = "postgresql://postgres@127.0.0.1:1/app"
    result = CliRunner().invoke(cli, ["workflow", "--url", url, "--timeout", "1", "list"])
    line = one_line_error(result)
    # libpq's text has a second, tab-indented line ("Is the server running on that host...")
    assert result.stderr.splitlines() == [line], result.stderr
    assert f"{url}: connect failed" in line
    assert "Connection refused Is the server running" in line


def test_a_services_url_with_its_own_timeout_and_create_options_works(
    stored: tuple[str, str], tmp_path: Path
) -> None:
    url, run_id = stored
    # a URL copied from a service's configuration: its options are no conflict with the
    # command's (they said 'given twice (in the URL and as a keyword)')
    for options in ("?timeout=10", "?create=true", "?create=false&timeout=2"):
        listed = json.loads(run(url + options, "list", "--format", "json").output)
        assert [r["id"] for r in listed] == [run_id]
    # reading still creates nothing, whatever ?create= says
    missing = f"sqlite://{tmp_path}/missing.db?create=true"
    assert "no database at" in one_line_error(run(missing, "list"))
    assert not (tmp_path / "missing.db").exists()
    # --timeout replaces the URL's ?timeout= (the store refused both: "given twice"); the
    # URL's, were it kept, is no timeout the store takes
    both = CliRunner().invoke(
        cli, ["workflow", "--url", url + "?timeout=1ms", "--timeout", "3", "list"]
    )
    assert both.exit_code == 0, both.output
    assert run_id in both.output
    # a ?create= that is no boolean is named, not dropped with the others (it was dropped)
    assert "option 'create'" in one_line_error(run(url + "?create=maybe", "list"))


def test_commands_leave_a_file_that_is_no_store_unchanged(tmp_path: Path) -> None:
    other = tmp_path / "other.db"  # another application's database, not in WAL mode
    with contextlib.closing(sqlite3.connect(other)) as connection:
        connection.execute("CREATE TABLE t (x)")
        connection.commit()
    empty = tmp_path / "empty.db"
    empty.touch()
    for path in (other, empty):
        before = path.read_bytes()
        url = f"sqlite://{path}"
        for args in (("list",), ("show", "x"), ("history", "x"), ("drift",), ("cancel", "x")):
            line = one_line_error(run(url, *args))
            assert "is at no revision" in line
            # the command to run, not code's way ("or open it with upgrade=True"), as quota
            assert line.endswith(f"run `anker workflow --url '{url}' upgrade` once"), line
        # (they switched it to write-ahead logging: its header rewritten, the empty file
        # given one of 4096 bytes)
        assert path.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db", "other.db"]


def test_a_run_id_that_is_not_text_is_a_usage_error(stored: tuple[str, str]) -> None:
    url, _ = stored
    not_text = b"\xff\xfe".decode("utf-8", "surrogateescape")  # as bytes in argv arrive
    for command in ("show", "watch", "history", "cancel", "resume", "retry"):
        result = run(url, command, not_text)
        assert result.exit_code == 2, result.output  # was 1: "'utf-8' codec can't encode ..."
        assert "is not UTF-8 text: no run has such an id" in result.stderr
    result = run(url.replace("wf.db", f"{not_text}.db"), "list")
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--url'" in result.stderr
    assert "is not UTF-8 text: name the store in text" in result.stderr


def test_timeout_takes_a_duration_and_refuses_what_is_none(stored: tuple[str, str]) -> None:
    # '--timeout 30s' was "not a valid float", while '--timeout -1' failed saying "expected a
    # duration such as 30s": the error suggested what the option then refused
    url, run_id = stored
    for given in ("30s", "2m", "1.5", "250ms", "1h30m"):
        result = CliRunner().invoke(cli, ["workflow", "--url", url, "--timeout", given, "list"])
        assert result.exit_code == 0, result.output
        assert run_id in result.output
    for given in ("-1", "nan", "inf", "0.05", "soon"):
        result = CliRunner().invoke(cli, ["workflow", "--url", url, "--timeout", given, "list"])
        assert result.exit_code == 2, result.output  # a usage error, naming the option
        assert "Invalid value for '--timeout': expected a duration such as 30s" in result.stderr


def test_a_store_written_by_a_newer_anker_is_not_told_to_upgrade(tmp_path: Path) -> None:
    from anker.workflow.stores._sql import VERSION_TABLE

    url = f"sqlite://{tmp_path}/wf.db"
    assert run(url, "upgrade").exit_code == 0
    with contextlib.closing(sqlite3.connect(tmp_path / "wf.db")) as connection:
        connection.execute(f"UPDATE {VERSION_TABLE} SET version_num = 'f00dfeed0042'")
        connection.commit()
    line = one_line_error(run(url, "list"))
    # (it said "run `anker workflow ... upgrade` once", which cannot help: the scripts do
    # not know that revision)
    assert "is at f00dfeed0042, which this anker does not know" in line
    assert line.endswith("the store was written by a newer anker; use that release"), line
    assert "upgrade` once" not in line
