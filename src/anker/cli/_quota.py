"""``anker quota``: limits, usage, claims and the project tree of a limits store."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shlex
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING, Any, TypeVar

import click

from anker.cli._options import (
    MACHINE_FORMATS,
    dump,
    emit_rows,
    output_format_option,
    reported_errors,
    run_store,
    store_target,
    store_timeout_option,
    store_url_option,
)

if TYPE_CHECKING:
    from anker.limits import ClaimInfo, Drift, Quota, Usage

__all__ = ["quota"]

T = TypeVar("T")


def _run(ctx: click.Context, use: Callable[[Quota], Awaitable[T]], *, create: bool = False) -> T:
    from anker.limits import Quota

    url, model, timeout = ctx.obj
    if not url:
        raise click.UsageError("name the store with --url URL or ANKER_LIMITS_URL")

    async def main() -> T:
        target, options = store_target(url, timeout, create=create)
        if model:
            if target.param("model", model) != model:
                raise click.UsageError(
                    f"--model {model} contradicts the URL's ?model={target.param('model')}"
                )
            options["model"] = model
        quota = await Quota.open(target, upgrade=create, **options)
        async with quota:
            return await use(quota)

    return run_store(main, _in_cli_terms)


def _in_cli_terms(exc: Exception) -> str | None:
    """The library's error whose hint names a Python method, with the command instead."""
    from anker.limits import UnknownProject, UnknownResource

    if isinstance(exc, UnknownProject):
        name = shlex.quote(exc.project)
        return (
            f"no project {exc.project!r} in the tree (add it with `anker quota set {name} "
            f"--root` or `anker quota set {name} --parent PARENT`)"
        )
    if isinstance(exc, UnknownResource):
        return (
            f"resource {exc.resource!r} has no limit for project {exc.project!r} and no "
            f"registered default (register one with `anker quota set --default "
            f"{shlex.quote(exc.resource + '=LIMIT')}`)"
        )
    return None


def _read_json(path: Path) -> Any:
    """The JSON document in the file ``path`` (``-``: standard input)."""
    with reported_errors():
        raw = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    try:
        return json.loads(raw)
    except ValueError as exc:  # not JSON, or not UTF-8 text (UnicodeDecodeError)
        raise click.ClickException(f"{path}: not JSON: {exc}") from None
    except RecursionError:
        raise click.ClickException(f"{path}: not JSON anker reads: nested too deeply") from None


async def _as_of_now(opened: Quota) -> tuple[list[Usage], list[ClaimInfo]]:
    """The usage as the next claim will find it (expired reservations given back), and the
    expired claims, read without writing: ``Quota.usage`` and ``claims`` sweep first, which
    a store this command may only read refuses."""
    from anker.limits._model import given_back

    found, expired = await opened.store.usage(), await opened.store.expired()
    counters = {(e.project, e.resource): [e.used, e.reserved, e.subtree] for e in found}
    for gone in expired:
        for resource in gone.resources:
            own = counters.get((gone.project, resource))
            if own is None:
                continue
            taken, unreserved = given_back(gone, resource, own[0], own[1])
            own[0], own[1] = own[0] - taken, own[1] - unreserved
            for level in gone.path:
                if (counter := counters.get((level, resource))) is not None:
                    counter[2] = max(0, counter[2] - taken)
    usage = [
        dataclasses.replace(e, used=c[0], reserved=c[1], subtree=c[2])
        for e in found
        for c in [counters[(e.project, e.resource)]]
    ]
    return usage, expired


def _limit_text(limit: int) -> str:
    return "unlimited" if limit == -1 else str(limit)


def _parse_limits(pairs: tuple[str, ...]) -> dict[str, int | None]:
    """``cores=4 ram=unlimited gpus=default``: -1 for unlimited, None for the default; a
    resource at most once."""
    found: dict[str, int | None] = {}
    given: dict[str, str] = {}
    for pair in pairs:
        resource, equals, value = pair.partition("=")
        if not equals or not resource:
            raise click.BadParameter(
                f"{pair!r}: write RESOURCE=LIMIT, e.g. cores=8 (or =unlimited, =default)",
                param_hint="LIMITS",
            )
        if resource in found:  # the last one won, without a word
            raise click.BadParameter(
                f"resource {resource!r} is given twice ({pair!r} after "
                f"{given[resource]!r}): give each resource once",
                param_hint="LIMITS",
            )
        given[resource] = pair
        word = value.strip().lower()
        if word in ("unlimited", "-1"):
            found[resource] = -1
        elif word == "default":
            found[resource] = None
        elif word.isascii() and word.isdigit():
            found[resource] = int(word)
        else:
            raise click.BadParameter(
                f"{pair!r}: the limit {value!r} is not a whole number >= 0, 'unlimited' or "
                f"'default'",
                param_hint="LIMITS",
            )
    return found


@click.group()
@store_url_option("ANKER_LIMITS_URL", "sqlite:///var/lib/svc/limits.db")
@click.option(
    "--model",
    type=click.Choice(["flat", "strict-two-level", "hierarchical"]),
    help="The enforcement model the services use (default: the URL's, or hierarchical).",
)
@store_timeout_option
@click.pass_context
def quota(ctx: click.Context, url: str | None, model: str | None, timeout: float | None) -> None:
    """Limits, usage, claims and the project tree of a limits store."""
    ctx.obj = (url, model, timeout)


@quota.command("upgrade")
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Create or migrate the store's tables (SQL stores; run once, and after upgrades)."""

    async def use(opened: Quota) -> str:
        return str(opened.store.url)

    click.echo(f"{_run(ctx, use, create=True)}: up to date")


@quota.command("set")
@click.argument("project", required=False)
@click.argument("limits", nargs=-1)
@click.option("--parent", metavar="PROJECT", help="Add or move PROJECT under this one.")
@click.option("--root", is_flag=True, help="Add or move PROJECT to the top of the tree.")
@click.option("--default", "as_default", is_flag=True, help="Set registered defaults instead.")
@click.pass_context
def set_(
    ctx: click.Context,
    *,
    project: str | None,
    limits: tuple[str, ...],
    parent: str | None,
    root: bool,
    as_default: bool,
) -> None:
    """Set limits: 'set PROJECT cores=8 ram=unlimited' ('=default' removes one: the
    registered default applies again), 'set --default cores=4' ('--default cores=default'
    unregisters cores: claims of it are then refused where no limit of a project's own
    applies); --parent or --root add PROJECT to the tree (a new project needs one) or move
    it."""
    if as_default:
        pairs = ((project,) if project else ()) + limits
        if parent or root:
            raise click.UsageError("--default sets defaults: it takes no --parent or --root")
    else:
        pairs = limits
        if not project:
            raise click.UsageError("name a PROJECT (or use --default)")
        if parent and root:
            raise click.UsageError("give --parent or --root, not both")
    parsed = _parse_limits(pairs)
    if not parsed and not (parent or root):
        raise click.UsageError("nothing to set: give RESOURCE=LIMIT pairs, --parent or --root")
    from anker.limits._model import check_limit, check_name

    try:  # every pair before anything is set: a bad one sets none of them
        for resource, value in parsed.items():
            check_name("resource", resource)
            if value is not None:
                check_limit(resource, value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="LIMITS") from None

    async def use(opened: Quota) -> None:
        await _removable(opened, [r for r, value in parsed.items() if value is None])
        if as_default:
            for resource, value in parsed.items():
                await opened.set_default(resource, value)
            return
        assert project is not None
        if opened.model == "strict-two-level":
            await _two_level_first(opened, project, parent if parent or root else ..., parsed)
        if parent or root:
            await opened.set_project(project, parent)
        for resource, value in parsed.items():
            await opened.set_limit(project, resource, value)

    _run(ctx, use)


async def _two_level_first(
    opened: Quota, project: str, parent: str | EllipsisType | None, limits: dict[str, int | None]
) -> None:
    """Check strict-two-level's rules for the whole command before setting anything (a
    limit refused after the project was added or moved, or after the pairs before it were
    set, left them set); ``parent`` is ``...`` when the project stays where it is."""
    from anker.limits._two_level import TwoLevel

    rules = TwoLevel(await opened.projects(), await opened.limits(), await opened.defaults())
    if parent is not ...:
        rules.apply_project(project, parent)
    for resource, value in limits.items():
        rules.apply_limit(project, resource, value)


async def _removable(opened: Quota, resources: list[str]) -> None:
    """Refuse '=default' for a resource no limit names: a misspelt name, which would
    otherwise remove nothing and succeed."""
    if not resources:
        return
    registered, own = await opened.defaults(), await opened.limits()
    named = set(registered).union(*own.values())
    for resource in resources:
        if resource not in named:
            known = ", ".join(sorted(named)) or "none"
            raise click.ClickException(
                f"{resource}=default: no default or limit names resource {resource!r}, so "
                f"there is nothing to remove (resources with limits: {known})"
            )


@quota.command("show")
@click.argument("project", required=False)
@output_format_option("text", "json")
@click.pass_context
def show(ctx: click.Context, project: str | None, output_format: str) -> None:
    """The limits: every project's own ones and the registered defaults."""

    async def use(opened: Quota) -> tuple[dict[str, int], dict[str, dict[str, int]], list[str]]:
        tree = await opened.projects()
        if project is not None and project not in tree:
            from anker.limits import UnknownProject

            raise UnknownProject(project)
        return await opened.defaults(), await opened.limits(), sorted(tree)

    registered, own, names = _run(ctx, use)
    rows: list[dict[str, Any]] = [
        {"project": "(default)", "resource": r, "limit": v, "source": "registered"}
        for r, v in sorted(registered.items())
        if project is None
    ]
    for name in names if project is None else [project]:
        for resource in sorted(set(registered) | set(own.get(name, {}))):
            explicit = own.get(name, {}).get(resource)
            value = registered[resource] if explicit is None else explicit
            rows.append(
                {
                    "project": name,
                    "resource": resource,
                    "limit": value,
                    "source": "default" if explicit is None else "own",
                }
            )
    if output_format == "text":
        rows = [{**row, "limit": _limit_text(row["limit"])} for row in rows]
    emit_rows(output_format, rows, ["project", "resource", "limit", "source"])


def _usage_rows(found: list[Usage]) -> list[dict[str, Any]]:
    return [
        {
            "project": e.project,
            "resource": e.resource,
            "used": e.used,
            "reserved": e.reserved,
            "subtree": e.subtree,
            "limit": e.limit,
        }
        for e in found
    ]


@quota.command("usage")
@click.argument("project", required=False)
@output_format_option("text", "json")
@click.pass_context
def usage(ctx: click.Context, project: str | None, output_format: str) -> None:
    """Usage per project and resource: own (of it not yet committed: reserved), subtree."""

    async def use(opened: Quota) -> list[Usage]:
        if project is not None and project not in await opened.projects():
            from anker.limits import UnknownProject

            raise UnknownProject(project)
        found, _ = await _as_of_now(opened)
        return [e for e in found if project is None or e.project == project]

    rows = _usage_rows(_run(ctx, use))
    if output_format == "text":
        rows = [{**row, "limit": _limit_text(row["limit"])} for row in rows]
    emit_rows(output_format, rows, ["project", "resource", "used", "reserved", "subtree", "limit"])


@quota.command("tree")
@output_format_option("text", "json")
@click.pass_context
def tree(ctx: click.Context, output_format: str) -> None:
    """The project tree, with usage/limit of every resource at every node (the subtree's
    usage, or the project's own under the flat model)."""

    async def use(opened: Quota) -> tuple[str, dict[str, str | None], list[Usage]]:
        return opened.model, await opened.projects(), (await _as_of_now(opened))[0]

    model, parents, found = _run(ctx, use)
    by_project: dict[str, list[Usage]] = {}
    for entry in found:
        by_project.setdefault(entry.project, []).append(entry)
    children: dict[str | None, list[str]] = {}
    for name, parent in sorted(parents.items()):
        children.setdefault(parent, []).append(name)

    def node(name: str) -> dict[str, Any]:
        return {
            "project": name,
            "usage": {
                e.resource: {"used": e.subtree if model != "flat" else e.used, "limit": e.limit}
                for e in by_project.get(name, [])
            },
            "children": [node(child) for child in children.get(name, [])],
        }

    try:  # a node per level, drawn or nested: a chain deeper than Python recurses is refused
        roots = [node(name) for name in children.get(None, [])]
        if output_format in MACHINE_FORMATS:
            text = dump(output_format, {"model": model, "tree": roots})
        else:
            text = _drawn(model, roots)
    except RecursionError:
        raise click.ClickException(
            f"the tree of {len(parents)} projects is too deep to draw: "
            f"`anker quota usage` lists every project"
        ) from None
    click.echo(text)


def _drawn(model: str, roots: list[dict[str, Any]]) -> str:
    """The tree as text: a line per project, with usage/limit columns aligned."""
    if not roots:
        return "(no projects)"
    lines: list[tuple[str, dict[str, str]]] = []

    def draw(entry: Mapping[str, Any], lead: str, branch: str) -> None:
        cells = {
            resource: f"{resource} {u['used']}/{'∞' if u['limit'] == -1 else u['limit']}"
            for resource, u in entry["usage"].items()
        }
        lines.append((f"{lead}{branch}{entry['project']}", cells))
        below = entry["children"]
        for index, child in enumerate(below):
            last = index == len(below) - 1
            inner = lead + ("" if not branch else "    " if branch == "└── " else "│   ")
            draw(child, inner, "└── " if last else "├── ")

    for root_entry in roots:
        draw(root_entry, "", "")
    width = max(len(name) for name, _ in lines)
    resources = sorted({resource for _, cells in lines for resource in cells})
    # one column per resource, aligned down the tree
    widths = {r: max(len(cells.get(r, "")) for _, cells in lines) for r in resources}
    drawn = [f"model: {model}"]
    for name, cells in lines:
        row = "  ".join(cells.get(r, "").ljust(widths[r]) for r in resources)
        drawn.append(f"{name.ljust(width)}  {row}".rstrip())
    return "\n".join(drawn)


@quota.command("claims")
@click.argument("project", required=False)
@output_format_option("text", "json")
@click.pass_context
def claims(ctx: click.Context, project: str | None, output_format: str) -> None:
    """The live claims: committed ones and reservations with their expiry."""

    async def use(opened: Quota) -> list[ClaimInfo]:
        if project is not None and project not in await opened.projects():
            from anker.limits import UnknownProject

            raise UnknownProject(project)  # as usage and show do, not "(none)"
        held, expired = await opened.store.claims(project), await opened.store.expired()
        gone = {c.id for c in expired}
        return [c for c in held if c.id not in gone]

    found = _run(ctx, use)

    def when(timestamp: float | None) -> str | None:
        if timestamp is None:
            return None
        return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    rows = [
        {
            "id": c.id,
            "project": c.project,
            "resources": dict(c.resources)
            if output_format in MACHINE_FORMATS
            else " ".join(f"{k}={v}" for k, v in sorted(c.resources.items())),
            "state": "committed" if c.committed else "pending",
            "created": when(c.created),
            "expires": when(c.expires),
            "note": c.note,
        }
        for c in found
    ]
    emit_rows(
        output_format, rows, ["id", "project", "resources", "state", "created", "expires", "note"]
    )


@quota.command("recount")
@click.argument("counts", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--repair", is_flag=True, help="Set the recorded usage to the counted one.")
@output_format_option("text", "json")
@click.pass_context
def recount(ctx: click.Context, counts: Path, repair: bool, output_format: str) -> None:
    """Compare the committed usage with COUNTS, a JSON file of what the service really uses
    ('{"project": {"cores": 4}}', '-' for stdin); report the drift, and with --repair fix it.
    Projects and resources missing from COUNTS are not checked; names the store does not
    know are errors."""
    from anker.limits._model import MAX_AMOUNT

    counted = _read_json(counts)
    if not isinstance(counted, dict) or not all(
        isinstance(v, dict)
        and all(
            isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_AMOUNT
            for n in v.values()
        )
        for v in counted.values()
    ):
        raise click.ClickException(
            f'{counts}: expected {{"project": {{"resource": count, ...}}, ...}} with whole '
            f"counts from 0 to {MAX_AMOUNT}"
        )

    def counter(project: str, resources: list[str]) -> dict[str, int | None]:
        # a resource COUNTS does not list for its project was not counted: left alone
        # (counting it 0 would have --repair wipe the usage of every resource not listed)
        return {resource: counted[project].get(resource) for resource in resources}

    async def use(opened: Quota) -> list[Drift]:
        from anker.limits import UnknownProject, UnknownResource

        # a name COUNTS misspells is an error, not "no drift"
        tree = await opened.projects()
        known = {(e.project, e.resource) for e in await opened.store.usage()}  # no sweep
        for project, resources in counted.items():
            if project not in tree:
                raise UnknownProject(project)
            for resource in resources:
                if (project, resource) not in known:
                    raise UnknownResource(resource, project)
        return await opened.recount(counter, projects=list(counted), repair=repair)

    drifts = _run(ctx, use)
    rows = [
        {
            "project": d.project,
            "resource": d.resource,
            "recorded": d.recorded,
            "counted": d.counted,
            "delta": d.delta,
            "repaired": d.repaired,
        }
        for d in drifts
    ]
    if output_format == "text" and not rows:
        click.echo("no drift")
        return
    emit_rows(
        output_format, rows, ["project", "resource", "recorded", "counted", "delta", "repaired"]
    )


@quota.command("import")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--service-id", help="Only the limits of this Keystone service.")
@click.option("--region-id", help="Only the limits of this region (and region-less ones).")
@click.pass_context
def import_(
    ctx: click.Context, source: Path, service_id: str | None, region_id: str | None
) -> None:
    """Load Keystone unified limits from SOURCE (JSON: registered_limits, limits, projects,
    domains, as Keystone's API returns them; '-' for stdin). Every entry is checked first: a
    malformed file changes nothing."""
    from anker.limits import import_keystone

    data = _read_json(source)
    if not isinstance(data, dict):
        raise click.ClickException(f"{source}: expected a JSON object")
    done = _run(
        ctx,
        lambda opened: import_keystone(opened, data, service_id=service_id, region_id=region_id),
    )
    click.echo(f"imported {done.projects} projects, {done.defaults} defaults, {done.limits} limits")


@quota.command("export")
@click.option("--service-id", help="The service id to write on every limit.")
@click.option("--region-id", help="The region id to write on every limit.")
@click.pass_context
def export(ctx: click.Context, service_id: str | None, region_id: str | None) -> None:
    """Write the tree and limits as Keystone unified-limits JSON."""
    from anker.limits import export_keystone

    data = _run(
        ctx, lambda opened: export_keystone(opened, service_id=service_id, region_id=region_id)
    )
    click.echo(json.dumps(data, indent=2))
