"""``anker health``: ask health endpoints, one service or a whole fleet."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import click

from anker.cli._options import (
    MACHINE_FORMATS,
    Duration,
    dump,
    output_format_option,
    reported_errors,
)

__all__ = ["health"]


@click.group()
def health() -> None:
    """Ask services' health endpoints (/readyz, /healthz, ...)."""


token_option = click.option(
    "--token",
    envvar="ANKER_HEALTH_TOKEN",
    help="The [health] details_token, to see each check (or ANKER_HEALTH_TOKEN).",
)
timeout_option = click.option(
    "--timeout",
    type=Duration(minimum=0.001),
    default="5s",
    show_default=True,
    help="How long to wait per endpoint, e.g. 5s, 500ms or 2 (seconds).",
)


@health.command()
@click.argument("url")
@token_option
@timeout_option
@output_format_option("text", "json")
def check(url: str, token: str | None, timeout: float, output_format: str) -> None:
    """Ask one endpoint (e.g. http://10.0.0.5:8081/readyz); exit status 1 unless it passes
    or warns."""
    from anker.health._fleet import observe

    with reported_errors():
        (seen,) = asyncio.run(observe([url], token=token, timeout=timeout))
    if output_format in MACHINE_FORMATS:
        click.echo(
            dump(
                output_format,
                {
                    "service": seen.url,
                    "status": seen.status,
                    "failing": seen.failing,
                    "warning": seen.warning,
                    "error": seen.error,
                },
            )
        )
    else:
        click.echo(f"{seen.url}: {seen.status}" + (f" ({seen.error})" if seen.error else ""))
        for name, output in seen.failing.items():
            click.echo(f"  [-] {name}: {output or 'failed'}")
        for name, output in seen.warning.items():
            click.echo(f"  [!] {name}: {output or 'warn'}")
    if seen.status not in ("pass", "warn"):
        raise SystemExit(1)


@health.command()
@click.argument("urls", nargs=-1)
@click.option(
    "--file",
    "from_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file listing endpoints, one per line (# comments).",
)
@token_option
@timeout_option
@click.option(
    "--watch",
    type=Duration(minimum=0.001),
    default=None,
    help="Ask again every this long, e.g. 10s or 1m (seconds if bare).",
)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=None,
    help="With --watch: stop after this many rounds.",
)
@output_format_option("text", "json")
def fleet(
    urls: tuple[str, ...],
    *,
    from_file: Path | None,
    token: str | None,
    timeout: float,
    watch: float | None,
    count: int | None,
    output_format: str,
) -> None:
    """Ask many endpoints (their /healthz, with details) and group the failures by the check
    they share, so that one dependency down reads as one line. Exit status 1 unless all pass."""
    from anker.health._fleet import observe, summarize

    endpoints = list(urls)
    if from_file is not None:
        with reported_errors():
            lines = from_file.read_text().splitlines()
        endpoints += [s for line in lines if (s := line.split("#", 1)[0].strip())]
    if not endpoints:
        raise click.UsageError("name endpoints as arguments or with --file")
    if count is not None and watch is None:
        raise click.UsageError("--count counts the rounds of --watch: give --watch too")
    rounds = 0
    while True:
        started = time.monotonic()
        summary = summarize(asyncio.run(observe(endpoints, token=token, timeout=timeout)))
        rounds += 1
        if output_format in MACHINE_FORMATS:
            click.echo(dump(output_format, summary.as_dict()))
        else:
            if watch is not None:
                click.echo(time.strftime("%H:%M:%S"))
            _print_fleet(summary)
        if watch is None or (count is not None and rounds >= count):
            break
        time.sleep(max(0.0, watch - (time.monotonic() - started)))
    if not summary.healthy:
        raise SystemExit(1)


def _print_fleet(summary: object) -> None:
    from anker.health._fleet import Fleet

    assert isinstance(summary, Fleet)
    total = len(summary.observations)
    for name, urls in summary.by_check.items():
        click.echo(f"FAIL {name}: {len(urls)} of {total} services: {', '.join(urls)}")
    for observation in summary.unreachable:
        click.echo(f"DOWN {observation.url}: {observation.error}")
    for url in summary.failing_without_details:
        click.echo(f"FAIL {url}: no details shown (enable [health] details for all, or --token)")
    for name, urls in summary.warnings.items():
        click.echo(f"WARN {name}: {len(urls)} of {total} services: {', '.join(urls)}")
    click.echo(f"{len(summary.passing)} of {total} services ready")


@health.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--reason", default="", help="Shown as the maintenance check's output.")
@click.option("--off", is_flag=True, help="End maintenance (remove the file).")
def maintenance(file: Path, reason: str, off: bool) -> None:
    """Start (or with --off end) maintenance: write the service's [health] maintenance_file,
    so its /readyz fails and load balancers drain it while /livez stays up."""
    with reported_errors():
        if off:
            try:
                file.unlink()
            except FileNotFoundError:
                click.echo(f"maintenance off: {file} was not there (maintenance was off)")
                return
            click.echo(f"maintenance off: {file} removed")
            return
        first_line = reason.splitlines()[0] if reason.strip() else ""
        file.write_text(f"{first_line}\n")
    click.echo(f"maintenance on: {file}" + (f" ({first_line})" if first_line else ""))
