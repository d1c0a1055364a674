"""``anker run package.module:factory``: run a service until a signal stops it."""

from __future__ import annotations

import importlib
import os
import sys

import click

__all__ = ["run"]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("target")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes, forked and supervised (restarted if they crash).",
)
@click.option(
    "--listen",
    "addresses",
    multiple=True,
    metavar="HOST:PORT",
    help="Bind this address once, before forking, and share it among the workers: their"
    " servers on it take connections from one queue, so a rolling restart (SIGUSR2) refuses"
    " none. Repeat for several.",
)
def run(target: str, workers: int, addresses: tuple[str, ...]) -> None:
    """Run the service TARGET (``package.module:factory``, or ``package.module:service``)
    until SIGTERM or SIGINT; SIGHUP reloads its configuration; with ``--workers``, SIGUSR2
    replaces the workers one at a time.

    The factory is called with no arguments (on the service's event loop, so it may be
    async) and returns an ``anker.service.Service``. Exit codes: 0 stopped with all work
    finished, 1 a component failed to start, 2 TARGET cannot be loaded, 3 the drain deadline
    abandoned work, 4 a second signal did.
    """
    from anker import _sockets

    for text in addresses:
        try:
            host, port = _sockets.parse_address(text)
        except ValueError as bad:
            raise click.BadParameter(str(bad), param_hint="--listen") from None
        try:
            _sockets.bind(host, port)
        except OSError as failed:
            raise click.ClickException(f"--listen {text}: {failed.strerror or failed}") from None
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise click.UsageError(f"{target!r}: expected package.module:factory")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: the current directory's modules
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise click.UsageError(f"cannot import {module_name}: {exc}") from None
    except Exception as exc:
        # the module ran and raised (a configuration loaded at import, a syntax error): the
        # target cannot be loaded, which is exit status 2, not a bug of anker's (70)
        if click.get_current_context().find_root().params.get("debug"):
            raise
        from anker._url import mask_urls

        raise click.UsageError(
            f"cannot import {module_name}: {type(exc).__name__}: {mask_urls(str(exc))}"
            " (anker --debug run ... shows the traceback)"
        ) from None
    try:
        found = getattr(module, attribute)
    except AttributeError:
        raise click.UsageError(f"{module_name} has no attribute {attribute!r}") from None

    from anker.service import Service
    from anker.service import run as run_service

    if not isinstance(found, Service) and not callable(found):
        raise click.UsageError(f"{target} is neither a Service nor a factory of one")
    sys.exit(run_service(found, workers=workers))
