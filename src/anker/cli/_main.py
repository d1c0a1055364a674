"""The root of the ``anker`` command."""

from __future__ import annotations

import click

from anker._version import __version__
from anker.cli._lazy import LazyGroup

__all__ = ["cli", "main"]

# One entry per command group: "name": ("module:attribute", "one-line summary").
# Subsystems add theirs here as they land (config, coord, secrets, health, workflow, ...).
COMMAND_GROUPS: dict[str, tuple[str, str]] = {
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
    "health": (
        "anker.cli._health:health",
        "Ask health endpoints: one service, or a fleet with failures grouped by dependency.",
    ),
    "info": ("anker.cli._info:info", "Show anker's version, subsystems, drivers and extras."),
    "quota": (
        "anker.cli._quota:quota",
        "Limits, usage, claims and the project tree of a limits store.",
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


@click.group(
    cls=LazyGroup,
    lazy_commands={name: target for name, (target, _) in COMMAND_GROUPS.items()},
    summaries={name: summary for name, (_, summary) in COMMAND_GROUPS.items()},
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(
    __version__, "-V", "--version", prog_name="anker", message="%(prog)s %(version)s"
)
def cli() -> None:
    """anker: the foundation of distributed Python services.

    Configuration, messaging, coordination, secrets, health, workflows and limits, with
    embedded defaults for one laptop and real engines for production clusters.
    """


def main() -> None:
    """Entry point of the ``anker`` console script."""
    cli(prog_name="anker")
