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
def run(target: str, workers: int) -> None:
    """Run the service TARGET (``package.module:factory``, or ``package.module:service``)
    until SIGTERM or SIGINT; SIGHUP reloads its configuration.

    The factory is called with no arguments (on the service's event loop, so it may be
    async) and returns an ``anker.service.Service``. Exit codes: 0 stopped with all work
    finished, 1 a component failed to start, 2 TARGET cannot be loaded, 3 the drain deadline
    abandoned work, 4 a second signal did.
    """
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise click.UsageError(f"{target!r}: expected package.module:factory")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: the current directory's modules
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise click.UsageError(f"cannot import {module_name}: {exc}") from None
    try:
        found = getattr(module, attribute)
    except AttributeError:
        raise click.UsageError(f"{module_name} has no attribute {attribute!r}") from None

    from anker.service import Service
    from anker.service import run as run_service

    if not isinstance(found, Service) and not callable(found):
        raise click.UsageError(f"{target} is neither a Service nor a factory of one")
    sys.exit(run_service(found, workers=workers))
