"""``anker workflow``: runs of a workflow store, their tasks and history; operators act on them
(cancel, resume, retry) without opening the database. Commands that read never create a
file or a table."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from anker.cli._options import (
    MACHINE_FORMATS,
    Duration,
    dump,
    emit_rows,
    output_format_option,
    run_store,
    store_target,
    store_timeout_option,
    store_url_option,
    text_only,
)

if TYPE_CHECKING:
    from anker.workflow import RunInfo
    from anker.workflow.stores import Store

__all__ = ["workflow"]

T = TypeVar("T")


def _run(ctx: click.Context, use: Callable[[Store], Awaitable[T]], *, create: bool = False) -> T:
    from anker._drivers import open_driver
    from anker.workflow._store import STORE_GROUP
    from anker.workflow.stores import Store
    from anker.workflow.stores.sqlite import SQLiteStore

    url, timeout = ctx.obj
    if not url:
        raise click.UsageError("name the store with --url URL or ANKER_WORKFLOW_URL")

    async def main() -> T:
        target, options = store_target(url, timeout, create=create)

        async def start(store: Store) -> None:
            if create:
                await store.upgrade()
            elif isinstance(store, SQLiteStore):
                store.keep_journal_mode = True  # a file that is no store is left unchanged
            await store.connect()

        store = await open_driver(STORE_GROUP, target, Store, options, start=start)
        async with store:
            return await use(store)

    return run_store(main)


#: a run id as given: not text (bytes no UTF-8 decodes) is refused, for no run has such an id
_RUN_ID = text_only("no run has such an id")


def _when(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="milliseconds")


def _run_row(run: RunInfo) -> dict[str, Any]:
    return {
        "id": run.id,
        "workflow": f"{run.name} v{run.version}",
        "state": run.state.value,
        "created": _when(run.created),
        "updated": _when(run.updated),
        "owner": run.owner,
        "error": run.error,
        "problem": run.problem,
    }


@click.group()
@store_url_option("ANKER_WORKFLOW_URL", "sqlite:///var/lib/svc/workflows.db")
@store_timeout_option
@click.pass_context
def workflow(ctx: click.Context, url: str | None, timeout: float | None) -> None:
    """Workflow runs in a store: list, show, history; cancel, resume, retry; drift."""
    ctx.obj = (url, timeout)


@workflow.command("upgrade")
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Create or migrate the store's tables (run once, and after upgrades)."""

    async def use(store: Store) -> str:
        return str(store.url)

    click.echo(f"{_run(ctx, use, create=True)}: up to date")


@workflow.command("list")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(
        ["PENDING", "RUNNING", "SUCCEEDED", "REVERTING", "REVERTED", "FAILED", "CANCELLED"],
        case_sensitive=False,
    ),
    help="Only runs in this state (repeatable).",
)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1), help="At most.")
@output_format_option("text", "json")
@click.pass_context
def list_(ctx: click.Context, states: tuple[str, ...], limit: int, output_format: str) -> None:
    """Runs, newest first, with why no engine runs them (a problem) if so."""
    from anker.workflow import State

    async def use(store: Store) -> list[RunInfo]:
        return await store.runs([State(s.upper()) for s in states], limit)

    rows = [_run_row(run) for run in _run(ctx, use)]
    emit_rows(output_format, rows, ["id", "workflow", "state", "updated", "owner", "problem"])


def _task_rows(run: RunInfo) -> list[dict[str, Any]]:
    rows = []
    for name in run.graph or sorted(run.tasks):
        task = run.tasks[name]
        took = None
        if task.started is not None and task.finished is not None:
            took = round(task.finished - task.started, 6)
        rows.append(
            {
                "task": name,
                "state": task.state.value,
                "attempts": task.attempts,
                "seconds": took,
                "waits_for": run.graph.get(name, []),
                "key": task.key,
                "error": task.error,
            }
        )
    return rows


_COLOURS = {
    "PENDING": "#eeeeee",
    "RUNNING": "#cce5ff",
    "SUCCEEDED": "#d4edda",
    "REVERTING": "#fff3cd",
    "REVERTED": "#e2e3e5",
    "FAILED": "#f8d7da",
    "CANCELLED": "#d6d8d9",
}


def _mermaid(run: RunInfo, rows: list[dict[str, Any]]) -> str:
    lines = ["flowchart TD"]
    ids = {row["task"]: f"t{index}" for index, row in enumerate(rows)}
    for row in rows:
        label = f"{row['task']}<br/>{row['state']} x{row['attempts']}"
        if row["error"]:
            label += "<br/>" + row["error"][:60].replace('"', "'")
        lines.append(f'    {ids[row["task"]]}["{label}"]')
        lines.append(f"    style {ids[row['task']]} fill:{_COLOURS[row['state']]}")
    lines.extend(
        f"    {ids[before]} --> {ids[row['task']]}" for row in rows for before in row["waits_for"]
    )
    return "\n".join(lines)


def _dot(run: RunInfo, rows: list[dict[str, Any]]) -> str:
    title = json.dumps(f"{run.name} v{run.version} {run.id} {run.state.value}")
    lines = ["digraph workflow {", f"    label={title};", "    node [shape=box, style=filled];"]
    for row in rows:
        label = f"{row['task']}\\n{row['state']} x{row['attempts']}"
        if row["error"]:
            label += "\\n" + row["error"][:60]
        label = label.replace('"', "'")
        colour = _COLOURS[row["state"]]
        lines.append(f'    {json.dumps(row["task"])} [label="{label}", fillcolor="{colour}"];')
    lines.extend(
        f"    {json.dumps(before)} -> {json.dumps(row['task'])};"
        for row in rows
        for before in row["waits_for"]
    )
    lines.append("}")
    return "\n".join(lines)


def _svg(dot_text: str) -> str:
    """The DOT diagram rendered by Graphviz's ``dot`` (an SVG document)."""
    import shutil
    import subprocess

    dot = shutil.which("dot")
    if dot is None:
        raise click.ClickException(
            "--format svg needs Graphviz's dot (Debian: apt-get install graphviz);"
            " --format dot writes the diagram's source"
        )
    done = subprocess.run(
        [dot, "-Tsvg"], input=dot_text, capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise click.ClickException(f"dot failed: {done.stderr.strip()[-300:]}")
    return done.stdout


@workflow.command("show")
@click.argument("run_id", callback=_RUN_ID)
@output_format_option("text", "json", "mermaid", "dot", "svg")
@click.pass_context
def show(ctx: click.Context, run_id: str, output_format: str) -> None:
    """One run with each task's state, attempts, time, last error; as a diagram with
    ``--format mermaid``, ``dot`` or ``svg`` (drawn by Graphviz's dot)."""

    async def use(store: Store) -> RunInfo:
        return await store.get(run_id)

    run = _run(ctx, use)
    rows = _task_rows(run)
    if output_format in MACHINE_FORMATS:
        data = _run_row(run) | {
            "inputs": run.inputs,
            "deadline": _when(run.deadline),
            "cancel_requested": run.cancel_requested,
            "generation": run.generation,
            "retry_of": run.retry_of,
            "tasks": rows,
        }
        click.echo(dump(output_format, data))
    elif output_format == "mermaid":
        click.echo(_mermaid(run, rows))
    elif output_format == "dot":
        click.echo(_dot(run, rows))
    elif output_format == "svg":
        click.echo(_svg(_dot(run, rows)), nl=False)
    else:
        row = _run_row(run)
        for name in ("id", "workflow", "state", "created", "updated", "owner", "error", "problem"):
            if row[name] is not None:
                click.echo(f"{name}: {row[name]}")
        click.echo()
        emit_rows("text", rows, ["task", "state", "attempts", "seconds", "error"])


@workflow.command("watch")
@click.argument("run_id", callback=_RUN_ID)
@click.option(
    "--interval",
    default="500ms",
    show_default=True,
    type=Duration(minimum=0.05),
    help="Between reads, e.g. 2s or 0.5 (seconds).",
)
@click.option(
    "--timeout", "limit", type=Duration(), help="Give up after this long, e.g. 10m or 90 (seconds)."
)
@click.pass_context
def watch(ctx: click.Context, run_id: str, interval: float, limit: float | None) -> None:
    """Follow a run until it ends: on a terminal, its tasks redrawn as they change with a
    progress bar; otherwise one line per change. Exit status 0 if it SUCCEEDED, 1 if it
    ended otherwise (or --timeout passed)."""
    from anker.workflow import State

    live = sys.stdout.isatty()

    async def use(store: Store) -> RunInfo:
        seen: dict[str, tuple[str, int]] = {}
        ends = None if limit is None else time.monotonic() + limit
        while True:
            run = await store.get(run_id)
            rows = _task_rows(run)
            now = {row["task"]: (row["state"], row["attempts"]) for row in rows}
            if now != seen or run.state.value not in seen.get("", ("",)):
                _draw(run, rows, seen, live)
                seen = {**now, "": (run.state.value, 0)}
            if run.state in (State.SUCCEEDED, State.REVERTED, State.FAILED, State.CANCELLED):
                return run
            if ends is not None and time.monotonic() > ends:
                raise click.ClickException(f"{run_id} is still {run.state.value} after {limit} s")
            await asyncio.sleep(interval)

    run = _run(ctx, use)
    if run.state.value != "SUCCEEDED":
        raise SystemExit(1)


def _draw(
    run: RunInfo, rows: list[dict[str, Any]], seen: dict[str, tuple[str, int]], live: bool
) -> None:
    if not live:  # a log: one line per task that changed, then the run's own change
        stamp = time.strftime("%H:%M:%S")
        for row in rows:
            if seen.get(row["task"]) != (row["state"], row["attempts"]):
                tried = f" (attempt {row['attempts']})" if row["attempts"] > 1 else ""
                error = f": {row['error']}" if row["error"] and row["state"] == "FAILED" else ""
                click.echo(f"{stamp} {row['task']} {row['state']}{tried}{error}")
        if seen.get("", ("",))[0] != run.state.value:
            click.echo(
                f"{stamp} run {run.id} {run.state.value}" + (f": {run.error}" if run.error else "")
            )
        return
    done = sum(row["state"] in ("SUCCEEDED", "REVERTED") for row in rows)
    width = 30
    filled = width * done // max(1, len(rows))
    click.clear()
    click.echo(f"{run.name} v{run.version} {run.id}: {run.state.value}")
    click.echo(f"[{'#' * filled}{'.' * (width - filled)}] {done}/{len(rows)} tasks")
    click.echo()
    emit_rows("text", rows, ["task", "state", "attempts", "seconds", "error"])


@workflow.command("history")
@click.argument("run_id", callback=_RUN_ID)
@output_format_option("text", "json")
@click.pass_context
def history(ctx: click.Context, run_id: str, output_format: str) -> None:
    """Every transition of a run and its tasks, oldest first, with its time."""
    from anker.workflow import HistoryEntry

    async def use(store: Store) -> list[HistoryEntry]:
        await store.get(run_id)  # RunNotFound for an unknown id
        return await store.history(run_id)

    rows = [
        {
            "at": _when(entry.at),
            "task": entry.task or "(run)",
            "from": None if entry.old is None else entry.old.value,
            "to": entry.new.value,
            "attempt": entry.attempt,
            "error": entry.error,
        }
        for entry in _run(ctx, use)
    ]
    emit_rows(output_format, rows, ["at", "task", "from", "to", "attempt", "error"])


def _act(
    ctx: click.Context, output_format: str, act: Callable[[Store], Awaitable[RunInfo]]
) -> None:
    run = _run(ctx, act)
    if output_format in MACHINE_FORMATS:
        click.echo(dump(output_format, _run_row(run)))
    else:
        click.echo(
            f"{run.id}: {run.state.value}"
            + (
                " (cancel requested)"
                if run.cancel_requested and run.state.value != "CANCELLED"
                else ""
            )
        )


@workflow.command("cancel")
@click.argument("run_id", callback=_RUN_ID)
@output_format_option("text", "json")
@click.pass_context
def cancel(ctx: click.Context, run_id: str, output_format: str) -> None:
    """Cancel a run: its engine reverts its succeeded tasks; a run no engine holds yet that
    never started ends CANCELLED at once. A run that ended otherwise is an error."""
    from anker.workflow import State, WorkflowError

    async def use(store: Store) -> RunInfo:
        run = await store.request_cancel(run_id)
        if run.state in (State.SUCCEEDED, State.REVERTED, State.FAILED):
            # the store leaves an ended run as it is: say so rather than look like it worked
            hint = " (`resume` tries its failed revert again)" if run.state is State.FAILED else ""
            raise WorkflowError(
                f"workflow run {run_id} has ended {run.state.value}: nothing to cancel{hint}"
            )
        return run

    _act(ctx, output_format, use)


@workflow.command("resume")
@click.argument("run_id", callback=_RUN_ID)
@output_format_option("text", "json")
@click.pass_context
def resume(ctx: click.Context, run_id: str, output_format: str) -> None:
    """Give a FAILED run back to the engines (its failed reverts tried again), or clear the
    problem reported on a run so that an engine tries it again."""
    _act(ctx, output_format, lambda store: store.resume(run_id))


@workflow.command("retry")
@click.argument("run_id", callback=_RUN_ID)
@output_format_option("text", "json")
@click.pass_context
def retry(ctx: click.Context, run_id: str, output_format: str) -> None:
    """Start a new run with an ended run's workflow and inputs, for any engine to take."""
    from anker.workflow import RunInfo, State, WorkflowError
    from anker.workflow._states import TERMINAL

    async def use(store: Store) -> RunInfo:
        old = await store.get(run_id)
        if old.state not in TERMINAL:
            raise WorkflowError(f"workflow run {run_id} is {old.state}: only ended runs retry")
        new_id = uuid.uuid4().hex
        now = time.time()
        run = RunInfo(
            id=new_id,
            name=old.name,
            version=old.version,
            state=State.PENDING,
            inputs=old.inputs,
            created=now,
            updated=now,
            retry_of=old.id,
            graph=old.graph,
        )
        keys = {task: f"{new_id}:{task}" for task in old.tasks}
        await store.create(run, keys, None, 0.0)
        return await store.get(new_id)

    _act(ctx, output_format, use)


@workflow.command("drift")
@click.option("--all", "show_all", is_flag=True, help="Every expected state, drifted or not.")
@output_format_option("text", "json")
@click.pass_context
def drift(ctx: click.Context, show_all: bool, output_format: str) -> None:
    """Resources whose observed state differed from the expected one at their last check,
    with the repair run started for each and its state."""
    from anker.workflow import RunNotFound

    async def use(store: Store) -> list[dict[str, Any]]:
        rows = []
        for found in await store.expectations(drifted_only=not show_all):
            repair_state = None
            if found.repair_run is not None:
                try:
                    repair_state = (await store.get(found.repair_run)).state.value
                except RunNotFound:
                    repair_state = "(gone)"
            rows.append(
                {
                    "resource": found.resource,
                    "drifted": found.drifted,
                    "expected": found.expected,
                    "observed": found.observed,
                    "checked": _when(found.checked),
                    "repair_run": found.repair_run,
                    "repair_state": repair_state,
                }
            )
        return rows

    rows = _run(ctx, use)
    if output_format == "text":
        rows = [
            row | {"expected": json.dumps(row["expected"]), "observed": json.dumps(row["observed"])}
            for row in rows
        ]
    columns = ["resource", "expected", "observed", "checked", "repair_run", "repair_state"]
    if show_all:  # which of them drifted
        columns.insert(1, "drifted")
    emit_rows(output_format, rows, columns)
