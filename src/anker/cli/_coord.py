"""``anker coord``: what a coordination backend holds right now (locks, groups, leaders)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from anker.cli._options import (
    Duration,
    emit_rows,
    output_format_option,
    reported_errors,
    store_target,
)

if TYPE_CHECKING:
    from anker._url import BackendURL
    from anker.coordination import Coordinator

__all__ = ["coord"]

T = TypeVar("T")


def _run(ctx: click.Context, use: Callable[[Coordinator], Awaitable[T]]) -> T:
    from anker.coordination import Coordinator

    url, prefix, timeout = ctx.obj
    if not url:
        raise click.UsageError("name the backend with --url URL or ANKER_COORDINATION_URL")

    async def main() -> T:
        target, options = store_target(url, timeout, create=False, takes_create=_can_create)
        if prefix:
            if target.param("prefix", prefix) != prefix:
                raise click.UsageError(
                    f"--prefix {prefix} contradicts the URL's ?prefix={target.param('prefix')}"
                )
            options["prefix"] = prefix
        coordinator = await Coordinator.connect(target, member_id="anker-cli", **options)
        async with coordinator:
            return await use(coordinator)

    with reported_errors():
        try:
            return asyncio.run(main())
        except ValueError as exc:  # a bad --url query option or --timeout, named by the backend
            raise click.ClickException(str(exc)) from exc


def _can_create(url: BackendURL) -> bool:
    """Whether the backend creates its storage when missing (and so takes ``create``)."""
    from anker._drivers import load_driver, option_names
    from anker.coordination._backend import Backend
    from anker.coordination._coordinator import BACKEND_GROUP

    driver, _ = load_driver(BACKEND_GROUP, url, Backend)
    return "create" in option_names(driver.settings_class)


def _since(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def backend_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--url``, ``--prefix`` and ``--timeout`` of a group that reads a coordination backend
    (with :func:`_run`), kept as ``ctx.obj``."""
    for option in reversed(
        (
            click.option(
                "--url",
                envvar="ANKER_COORDINATION_URL",
                metavar="URL",
                help="The backend, e.g. etcd://127.0.0.1:2379 (default: $ANKER_COORDINATION_URL).",
            ),
            click.option("--prefix", default="", help="The prefix the services use, if any."),
            click.option(
                "--timeout",
                type=Duration(minimum=0.1),
                help="Per backend call, e.g. 10s, 500ms or 1.5 (seconds); replaces the URL's "
                "?timeout= (default: the URL's, else 5s).",
            ),
        )
    ):
        command = option(command)
    return command


@click.group()
@backend_options
@click.pass_context
def coord(ctx: click.Context, url: str | None, prefix: str, timeout: float | None) -> None:
    """Locks, groups and leaders held on a coordination backend."""
    ctx.obj = (url, prefix, timeout)


@coord.command("locks")
@output_format_option("text", "json")
@click.pass_context
def locks(ctx: click.Context, output_format: str) -> None:
    """Every lock, semaphore and read/write lock: holders and waiters."""
    infos = _run(ctx, lambda coordinator: coordinator.locks())
    rows = [
        {
            "kind": info.kind,
            "name": info.name,
            "member": info.member,
            "state": "held" if info.held else "waiting",
            "mode": info.mode,
            "token": info.token,
            "since": _since(info.since),
            "expires_in": None if info.expires_in is None else round(info.expires_in, 3),
        }
        for info in infos
    ]
    emit_rows(
        output_format,
        rows,
        ["kind", "name", "member", "state", "mode", "token", "since", "expires_in"],
    )


@coord.command("groups")
@output_format_option("text", "json")
@click.pass_context
def groups(ctx: click.Context, output_format: str) -> None:
    """Every group and its live members."""
    found = _run(ctx, lambda coordinator: coordinator.groups())
    rows = [
        {
            "group": group,
            "member": member.id,
            "capabilities": json.dumps(dict(member.capabilities), sort_keys=True)
            if output_format == "text"
            else dict(member.capabilities),
            "since": _since(member.since),
        }
        for group, members in found.items()
        for member in members
    ]
    emit_rows(output_format, rows, ["group", "member", "capabilities", "since"])


@coord.command("leaders")
@output_format_option("text", "json")
@click.pass_context
def leaders(ctx: click.Context, output_format: str) -> None:
    """The leader of every election."""
    found = _run(ctx, lambda coordinator: coordinator.leaders())
    rows = [{"election": name, "leader": leader} for name, leader in found.items()]
    emit_rows(output_format, rows, ["election", "leader"])
