"""A click group whose subcommands are imported only when they run."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

import click

__all__ = ["LazyGroup"]


class LazyGroup(click.Group):
    """A group that knows its subcommands by ``"module:attribute"`` and imports them on use.

    ``summaries`` gives each lazy command's one-line help, so ``--help`` lists the commands
    without importing them. ``plugin_group`` names an entry point group whose entries
    (``name = "module:attribute"``) add command groups from other packages; a plugin never
    replaces one of anker's own commands.
    """

    def __init__(
        self,
        *args: object,
        lazy_commands: Mapping[str, str],
        summaries: Mapping[str, str],
        plugin_group: str | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._lazy_commands = dict(lazy_commands)
        self._summaries = dict(summaries)
        self._plugin_group = plugin_group
        self._plugins_read = plugin_group is None

    def _read_plugins(self) -> None:
        """Add the plugin groups' commands (once; their modules are imported only on use)."""
        if self._plugins_read:
            return
        self._plugins_read = True
        from importlib.metadata import entry_points

        assert self._plugin_group is not None
        for entry in entry_points(group=self._plugin_group):
            if entry.name not in self._lazy_commands:
                self._lazy_commands[entry.name] = entry.value
                source = entry.dist.name if entry.dist else entry.module
                self._summaries[entry.name] = f"Commands added by {source}."

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._read_plugins()
        return sorted({*super().list_commands(ctx), *self._lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self._lazy_commands:
            self._read_plugins()
        if cmd_name in self._lazy_commands:
            return self._load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in self._lazy_commands:
                rows.append((name, self._summaries.get(name, "")))
            else:
                command = super().get_command(ctx, name)
                if command is not None and not command.hidden:
                    rows.append((name, command.get_short_help_str()))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def _load(self, name: str) -> click.Command:
        module_name, _, attribute = self._lazy_commands[name].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module_name}:{attribute} is not a click command")
        return command
