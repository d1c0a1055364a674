"""``anker service``: the live instances of services registered for discovery."""

from __future__ import annotations

import click

from anker.cli._coord import _run, _since, backend_options
from anker.cli._options import emit_rows, output_format_option

__all__ = ["service"]


@click.group()
@backend_options
@click.pass_context
def service(ctx: click.Context, url: str | None, prefix: str, timeout: float) -> None:
    """Live instances of services, as they registered for discovery."""
    ctx.obj = (url, prefix, timeout)


@service.command("list")
@click.argument("name")
@click.option("--region", help="List this region's instances first.")
@click.option("--zone", help="List this zone's instances first (of --region, if given).")
@output_format_option("text", "json")
@click.pass_context
def list_instances(
    ctx: click.Context, name: str, region: str | None, zone: str | None, output_format: str
) -> None:
    """The live instances of service NAME, nearest first (same zone, same region, others)."""
    from anker.service._discovery import discover

    found = _run(ctx, lambda coordinator: discover(coordinator, name, region=region, zone=zone))
    rows = []
    for instance in found:
        row = instance.as_dict()
        row["since"] = _since(instance.since)
        if output_format == "text":
            row["endpoints"] = " ".join(f"{k}={v}" for k, v in sorted(instance.endpoints.items()))
        rows.append(row)
    emit_rows(output_format, rows, ["id", "region", "zone", "host", "endpoints", "since"])
