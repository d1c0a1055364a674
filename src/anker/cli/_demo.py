"""``anker demo``: a small cloud built on anker, set up, driven through a scenario, and
stopped; or left running for curl (``--serve``)."""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import click

__all__ = ["demo"]

_REAL_DEFAULTS = {
    "rabbit": "rabbit://guest:guest@127.0.0.1:5672/",
    "etcd": "etcd://127.0.0.1:2379",
    "redis": "redis://127.0.0.1:6379/0",
    "postgres": "postgresql://postgres@127.0.0.1:5432/postgres",
}


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--backends",
    type=click.Choice(["embedded", "real"]),
    default="embedded",
    show_default=True,
    help="embedded: memory, files and SQLite, no server; real: RabbitMQ, etcd, Redis and"
    " PostgreSQL on the URLs below.",
)
@click.option("--serve", is_flag=True, help="Start the cloud and leave it running for curl.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the cloud's files here (default: a temporary directory, removed at the end).",
)
@click.option("--rabbit", default=_REAL_DEFAULTS["rabbit"], show_default=True, metavar="URL")
@click.option("--etcd", default=_REAL_DEFAULTS["etcd"], show_default=True, metavar="URL")
@click.option("--redis", default=_REAL_DEFAULTS["redis"], show_default=True, metavar="URL")
@click.option("--postgres", default=_REAL_DEFAULTS["postgres"], show_default=True, metavar="URL")
def demo(backends: str, serve: bool, directory: Path | None, **urls: str) -> None:
    """Run a small cloud built on anker and show it at work: servers created through a
    quota claim and a durable workflow (an RPC call to a scheduler, a host lock, a boot, a
    notification), a request refused by quota, a workflow that survives its process being
    killed, a live reload of the log level, a rolling restart of the scheduler with no call
    failing, and the health endpoint. Exit status 0 when every step did what it should."""
    from anker._drivers import require
    from anker.errors import MissingDependency

    try:
        for module in ("starlette", "sqlalchemy", "uvicorn", "httpx"):
            require(module, extra="demo", needed_for="anker demo")
    except MissingDependency as missing:
        raise click.ClickException(str(missing)) from None
    from anker.demo._setup import Backends, prepare

    if directory is not None and directory.exists() and any(directory.iterdir()):
        raise click.UsageError(f"--dir {directory}: not empty (give a new or empty directory)")
    workdir = directory or Path(tempfile.mkdtemp(prefix="anker-demo-"))
    try:
        began = time.monotonic()
        chosen = None
        if backends == "real":
            chosen = Backends.real(**urls)
        try:
            setup = asyncio.run(prepare(workdir, chosen))
        except Exception as failed:
            from anker._url import mask_urls

            raise click.ClickException(
                f"setting the demo up failed ({backends} backends): {mask_urls(str(failed))}"
            ) from failed
        if serve:
            asyncio.run(_serve(setup))
            return
        ok = asyncio.run(_scenario(setup, began, kept=directory is not None))
    finally:
        if directory is None:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(0 if ok else 1)


async def _scenario(setup: object, began: float, *, kept: bool) -> bool:
    from anker.demo._scenario import Scenario
    from anker.demo._setup import Setup

    assert isinstance(setup, Setup)
    scenario = Scenario(setup)
    show = scenario.show
    show.line(
        show.paint("anker demo", "bold")
        + f": a small cloud on {setup.backends.kind} backends, in {setup.directory}"
    )
    results = await scenario.run()
    show.summary(results, time.monotonic() - began)
    if not all(result.ok for result in results):
        if kept:
            show.line(f"the cloud's log: {scenario.cloud.log_path} (last lines below)")
        else:  # the temporary directory goes at the end: no path that will not be there
            show.line("the cloud's last log lines (--dir DIR keeps its files and whole log):")
        show.line(scenario.cloud.log_tail())
    return all(result.ok for result in results)


async def _serve(setup: object) -> None:
    from anker.demo._process import CloudDied, CloudProcess
    from anker.demo._setup import Setup

    assert isinstance(setup, Setup)
    cloud = CloudProcess(setup)
    try:
        api = await cloud.start()
    except CloudDied as died:  # a dead backend, a bad configuration: said, exit status 1
        raise click.ClickException(str(died)) from None
    except BaseException:  # Ctrl-C while it starts: the cloud, in a session of its own, stops too
        if cloud.running:
            await cloud.stop()
        raise
    token = setup.admin_token
    click.echo(
        f"""The demo cloud runs at {api} (pid {cloud.pid}; log: {cloud.log_path}).
Try:
  curl -s -X POST {api}/v1/servers -d '{{"name": "web-1", "cores": 2}}'
  curl -s {api}/v1/servers
  curl -s {api}/v1/servers/ID
  curl -s -X DELETE {api}/v1/servers/ID
  curl -s {api}/v1/quota
  curl -s {api}/v1/hosts
  curl -s {api}/v1/events
  curl -s {api}/healthz
  curl -s -H 'X-Health-Token: {token}' {api}/healthz
  curl -s -X POST -H 'X-Admin-Token: {token}' {api}/v1/admin/rolling-restart
  curl -s {api}/metrics
  kill -HUP {cloud.pid}    # after editing {setup.config_path}: a reload in place
Press Ctrl-C to stop it."""
    )
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    waiter = asyncio.create_task(stopped.wait())
    assert cloud.process is not None
    ended = asyncio.create_task(cloud.process.wait())
    await asyncio.wait({waiter, ended}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if ended.done():  # it died while serving: a failure, with what it logged last
        raise click.ClickException(
            f"the cloud exited with status {ended.result()}; its last log lines:\n"
            + cloud.log_tail()
        )
    status = await cloud.stop()
    click.echo(f"stopped (exit status {status})")
