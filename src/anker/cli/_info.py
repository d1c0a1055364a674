"""``anker info``: what this installation of anker holds."""

from __future__ import annotations

import importlib.util
import platform
import re
import sys
from dataclasses import asdict, dataclass
from importlib import metadata

import click

from anker._drivers import GROUPS, available_drivers
from anker._version import __version__
from anker.cli._options import MACHINE_FORMATS, dump, output_format_option

__all__ = ["info"]

SUBSYSTEMS = (
    "config",
    "messaging",
    "coordination",
    "secrets",
    "db",
    "health",
    "workflow",
    "limits",
    "service",
)

#: extras that install, but whose driver is still to come: `anker info` must not suggest otherwise
PLANNED_EXTRAS: dict[str, str] = {}

_REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


@dataclass(frozen=True)
class Subsystem:
    name: str
    built: bool
    driver_group: str | None
    drivers: list[str]


@dataclass(frozen=True)
class Extra:
    name: str
    packages: dict[str, str | None]  # distribution -> installed version, or None
    planned: str | None = None  # why nothing uses it yet, for an extra of a planned driver

    @property
    def installed(self) -> bool:
        return all(version is not None for version in self.packages.values())


def subsystems() -> list[Subsystem]:
    """Each subsystem, whether its package exists, and the drivers registered for it."""
    found = []
    for name in SUBSYSTEMS:
        group = GROUPS.get(name)
        drivers = sorted(available_drivers(group)) if group else []
        built = importlib.util.find_spec(f"anker.{name}") is not None
        found.append(Subsystem(name, built, group, drivers))
    return found


def extras() -> list[Extra]:
    """anker's extras as its package metadata declares them, and what of each is installed."""
    by_extra: dict[str, dict[str, str | None]] = {}
    for requirement in metadata.requires("anker") or []:
        marker = _EXTRA_MARKER.search(requirement)
        name = _REQUIREMENT_NAME.match(requirement)
        if marker is None or name is None or name.group() == "anker":
            continue
        by_extra.setdefault(marker.group(1), {})[name.group()] = _installed_version(name.group())
    return [Extra(n, packages, PLANNED_EXTRAS.get(n)) for n, packages in sorted(by_extra.items())]


def _installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


@click.command()
@output_format_option("text", "json")
def info(output_format: str) -> None:
    """Show anker's version, subsystems, registered drivers and installed extras."""
    found_subsystems, found_extras = subsystems(), extras()
    if output_format in MACHINE_FORMATS:
        document = {
            "version": __version__,
            "python": platform.python_version(),
            "subsystems": [asdict(item) for item in found_subsystems],
            "extras": [{**asdict(item), "installed": item.installed} for item in found_extras],
        }
        click.echo(dump(output_format, document))
        return
    click.echo(f"anker {__version__} on Python {platform.python_version()} ({sys.platform})")
    click.echo("\nSubsystems:")
    for item in found_subsystems:
        state = "available" if item.built else "not built yet"
        drivers = ", ".join(f"{name}://" for name in item.drivers) or "none registered"
        group = f"drivers ({item.driver_group}): {drivers}" if item.driver_group else ""
        click.echo(f"  {item.name:<13} {state:<14} {group}".rstrip())
    click.echo("\nExtras (pip install 'anker[NAME]'):")
    for extra in found_extras:
        mark = "planned" if extra.planned else "installed" if extra.installed else "missing"
        packages = ", ".join(
            f"{name} {version}" if version else f"{name} (not installed)"
            for name, version in extra.packages.items()
        )
        if extra.planned:
            packages += f" ({extra.planned})"
        click.echo(f"  {extra.name:<10} {mark:<10} {packages}")
