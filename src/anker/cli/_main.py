"""The root of the ``anker`` command."""

from __future__ import annotations

import click

from anker._version import __version__
from anker.cli._lazy import LazyGroup

__all__ = ["PLUGIN_GROUP", "RootGroup", "Unexpected", "cli", "main"]

#: the entry point group through which other packages add command groups to ``anker``
PLUGIN_GROUP = "anker.cli"

# One entry per command group: "name": ("module:attribute", "one-line summary").
# Subsystems add theirs here as they land (config, coord, secrets, health, workflow, ...).
COMMAND_GROUPS: dict[str, tuple[str, str]] = {
    "completion": (
        "anker.cli._completion:completion",
        "Print the shell completion script of anker (bash, zsh or fish).",
    ),
    "config": (
        "anker.cli._config:config",
        "Validate configuration files, generate samples, migrate deprecated names.",
    ),
    "coord": (
        "anker.cli._coord:coord",
        "Locks, groups and leaders held on a coordination backend.",
    ),
    "db": (
        "anker.cli._db:db",
        "Schema migrations (Alembic) of a service's database, run on purpose.",
    ),
    "demo": (
        "anker.cli._demo:demo",
        "Run a small cloud built on anker through a scenario (or leave it running: --serve).",
    ),
    "health": (
        "anker.cli._health:health",
        "Ask health endpoints: one service, or a fleet with failures grouped by dependency.",
    ),
    "info": ("anker.cli._info:info", "Show anker's version, subsystems, drivers and extras."),
    "quota": (
        "anker.cli._quota:quota",
        "Limits, usage, claims and the project tree of a limits store.",
    ),
    "run": (
        "anker.cli._run:run",
        "Run a service (package.module:factory) until a signal stops it.",
    ),
    "service": (
        "anker.cli._service:service",
        "Live instances of services, as they registered for discovery.",
    ),
    "secrets": (
        "anker.cli._secrets:secrets",
        "Keys and secrets in a store; Tang binding; envelope encryption of files.",
    ),
    "workflow": (
        "anker.cli._workflow:workflow",
        "Workflow runs in a store: list, show, history; cancel, resume, retry; drift.",
    ),
}


class RootGroup(LazyGroup):
    """The ``anker`` group: anker's own errors are reported by each command as one line
    (exit status 1); any other exception is a bug or an environment problem, reported as one
    line too, with its type and its message (credentials masked), exit status 70
    (EX_SOFTWARE), unless ``--debug`` comes before the command, which shows the traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            # the reader of the output went away (``anker ... | head``): click stops quietly
            raise
        except Exception as error:
            if ctx.params.get("debug"):
                raise
            raise Unexpected(error) from error


class Unexpected(click.ClickException):
    """An exception no command expected, as one line."""

    exit_code = 70

    def __init__(self, error: Exception) -> None:
        from anker._url import mask_urls

        message = mask_urls(str(error))
        what = f"{type(error).__name__}: {message}" if message else type(error).__name__
        super().__init__(f"unexpected {what} (run anker --debug ... for the traceback)")


@click.group(
    cls=RootGroup,
    lazy_commands={name: target for name, (target, _) in COMMAND_GROUPS.items()},
    summaries={name: summary for name, (_, summary) in COMMAND_GROUPS.items()},
    plugin_group=PLUGIN_GROUP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(
    __version__, "-V", "--version", prog_name="anker", message="%(prog)s %(version)s"
)
@click.option(
    "--debug",
    is_flag=True,
    help="Show the traceback of an unexpected error (by default: one line saying what).",
)
def cli(debug: bool) -> None:
    """anker: the foundation of distributed Python services.

    Configuration, messaging, coordination, secrets, health, workflows and limits, with
    embedded defaults for one laptop and real engines for production clusters. Other
    packages add command groups through the ``anker.cli`` entry point group.
    """


def main() -> None:
    """Entry point of the ``anker`` console script."""
    cli(prog_name="anker")
