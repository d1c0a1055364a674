"""Sub-commands on a service's command line (oslo.config's ``SubCommandOpt``), typed.

::

    class Sync(Command):
        \"\"\"Apply the pending migrations.\"\"\"

        version: int | None = option(None, positional=True, help="Stop at this version.")

    class Purge(Command, name="purge-deleted"):
        \"\"\"Delete soft-deleted rows.\"\"\"

        before: str = option(positional=True, help="Rows deleted before this date.")

    class Manage(Config):
        debug: bool = option(False, help="Log at debug level.")
        action: Sync | Purge = subcommand(help="What to do.")

    conf = Manage.load(argv=["--debug", "sync", "42"])
    conf.action  # a Sync with version == 42; conf.action.command_name == "sync"

The annotation lists the sub-commands; the first bare argument names the chosen one and the
arguments after it are its own (its options, then its positional ones), as with argparse's
sub-parsers. Options of the levels above may come before or after it: an option is looked up
in the innermost chosen sub-command first. A sub-command may itself declare a
``subcommand()`` (``svc-manage db sync``). A sub-command's values come from the command line
only (no config file or environment variable sets them), and are fixed for the life of the
configuration.
"""

from __future__ import annotations

from anker._typing import TYPE_CHECKING
from anker.config._inputs import Inputs
from anker.config._problems import Problem
from anker.config._schema import DEFAULT, MISSING, Group

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, ClassVar

    from anker.config._schema import Schema

__all__ = [
    "Command",
    "CommandSlot",
    "Subcommand",
    "load_commands",
    "slot_of",
    "split_argv",
    "subcommand",
]


class Command(Group):
    """One sub-command of a service's command line, with its own options.

    ``class Sync(Command, name="sync")`` names it (by default the class name in lower case,
    words joined by ``-``: ``ListCells`` is ``list-cells``); the class docstring's first
    paragraph is its ``--help`` description. Options declared on it are given after its name
    (``svc sync --dry-run 42``); ``positional=True`` ones without their ``--name``. The name
    is ``command_name`` on the class and on each loaded instance, so ``command_name`` cannot
    be an option of a sub-command.

    .. versionadded:: 0.1
    """

    if TYPE_CHECKING:
        command_name: ClassVar[str]

    __anker_reserved__ = frozenset({"command_name"})

    def __init_subclass__(cls, name: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        chosen = name if name is not None else _dashed(cls.__name__)
        if not chosen or chosen.startswith("-") or any(c.isspace() for c in chosen):
            raise TypeError(f"{cls.__qualname__}: {chosen!r} cannot name a sub-command")
        type.__setattr__(cls, "command_name", chosen)


class Subcommand:
    """The declaration made by :func:`subcommand`: what the help says about the choice."""

    __slots__ = ("help",)

    def __init__(self, help: str) -> None:
        self.help = help

    def __repr__(self) -> str:
        return "subcommand()"


def subcommand(*, help: str = "") -> Any:
    """Declare the attribute that holds the chosen sub-command; its annotation lists them.

    ``action: Sync | Purge = subcommand(help="What to do.")``: the command line must name one
    of them (``svc sync ...``), and ``conf.action`` is then that :class:`Command`, with its
    values. One per :class:`~anker.config.Config` (or per :class:`Command`, for a nested
    level), as oslo.config allows one ``SubCommandOpt``.

    .. versionadded:: 0.1
    """
    return Subcommand(help)


class CommandSlot:
    """The sub-commands a schema's command line chooses from, and the attribute that holds
    the chosen one."""

    __slots__ = ("attribute", "commands", "help")

    def __init__(self, attribute: str, commands: dict[str, type[Command]], help: str) -> None:
        self.attribute = attribute
        self.commands = commands  # by name as declared, in declaration order
        self.help = help

    def find(self, name: str) -> type[Command] | None:
        """The sub-command called ``name`` (``-`` and ``_`` alike, as in option names)."""
        wanted = name.replace("_", "-")
        for declared, command in self.commands.items():
            if declared.replace("_", "-") == wanted:
                return command
        return None


def slot_of(owner: type, attribute: str, declared: object, hint: object) -> CommandSlot | None:
    """The sub-commands ``attribute: hint = declared`` declares, or None if it declares none."""
    import types

    members = hint.__args__ if isinstance(hint, types.UnionType) else (hint,)
    commands = [m for m in members if isinstance(m, type) and issubclass(m, Command)]
    if not commands and not isinstance(declared, Subcommand):
        return None
    where = f"{owner.__qualname__}.{attribute}"
    if len(commands) != len(members):
        raise TypeError(f"{where}: a sub-command's annotation lists Command classes only")
    if declared is not MISSING and not isinstance(declared, Subcommand):
        raise TypeError(f"{where}: declare sub-commands with subcommand(...), not a default")
    by_name: dict[str, type[Command]] = {}
    for command in commands:
        name = command.command_name
        other = next((c for n, c in by_name.items() if _same(n, name)), None)
        if other is not None:
            raise TypeError(
                f"{where}: {other.__name__} and {command.__name__} are both called {name!r}"
            )
        by_name[name] = command
    return CommandSlot(
        attribute, by_name, declared.help if isinstance(declared, Subcommand) else ""
    )


# ---------------------------------------------------------------------- the command line
class Level:
    """One chosen level of a command line: the root schema, or a sub-command's."""

    __slots__ = ("argv", "command", "path", "schema")

    def __init__(self, schema: Schema, command: type[Command] | None, path: str) -> None:
        self.schema = schema
        self.command = command  # None for the root
        self.path = path  # "sync", "db sync"; "" for the root
        self.argv: list[str] = []

    def takes(self, name: str) -> bool | None:
        """Whether ``--name`` is an option of this level: None if not, else whether it is a
        flag (given without a value); as :func:`~anker.config._sources.argv_assignments`
        reads it, so that both agree on which argument is a value."""
        if self.command is None and name in ("config_file", "config_dir"):
            return False
        section, dot, key = name.rpartition(".")
        if dot and self.command is not None:
            return None
        flag = self.schema.is_flag(section if dot else DEFAULT, key)
        if (
            flag is None
            and key.startswith("no_")
            and self.schema.is_flag(section or DEFAULT, key[3:])
        ):
            return True
        return flag


class Split:
    """A command line cut into its levels: the root's arguments, then each chosen
    sub-command's; ``help`` is the level whose ``--help`` was asked for."""

    __slots__ = ("help", "levels", "problems")

    def __init__(self, root: Schema) -> None:
        self.levels = [Level(root, None, "")]
        self.help: Level | None = None
        self.problems: list[Problem] = []


def split_argv(root: Schema, argv: Sequence[str]) -> Split:
    """Cut ``argv`` at the sub-command names: each option goes to the innermost chosen level
    that declares it (an unknown one to the innermost, which reports it)."""
    split = Split(root)
    args = list(argv)
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        level = split.levels[-1]
        slot = level.schema.command
        if arg == "--":
            rest = args[index:]
            if slot is not None and rest:
                if not _choose(split, slot, rest[0]):
                    return split
                rest = rest[1:]
            split.levels[-1].argv += ["--", *rest]
            break
        if arg in ("-h", "--help"):
            split.help = level
            return split
        if arg.startswith("--"):
            name, has_value, _ = arg[2:].partition("=")
            name = name.replace("-", "_")
            owner, flag = level, None
            for candidate in reversed(split.levels):
                flag = candidate.takes(name)
                if flag is not None:
                    owner = candidate
                    break
            owner.argv.append(arg)
            if not has_value and not flag and index < len(args):
                owner.argv.append(args[index])  # its value, whatever it looks like
                index += 1
            continue
        if slot is None or arg.startswith("-"):
            level.argv.append(arg)  # a positional argument (or a stray -x, reported there)
            continue
        if not _choose(split, slot, arg):
            return split
    level = split.levels[-1]
    if level.schema.command is not None and split.help is None:
        names = ", ".join(level.schema.command.commands)
        of = f" of '{level.path}'" if level.path else ""
        split.problems.append(
            Problem("missing-command", f"missing sub-command{of}: give one of {names}")
        )
    return split


def _choose(split: Split, slot: CommandSlot, name: str) -> bool:
    """Go down into the sub-command called ``name``; False (and a problem) if there is none."""
    from anker.config._load import _closest
    from anker.config._schema import schema_of

    level = split.levels[-1]
    command = slot.find(name)
    if command is None:
        names = list(slot.commands)
        suggestion = _closest(name.replace("_", "-"), [n.replace("_", "-") for n in names])
        hint = f"; did you mean '{suggestion}'?" if suggestion else ""
        of = f" of '{level.path}'" if level.path else ""
        split.problems.append(
            Problem(
                "unknown-command",
                f"unknown sub-command '{name}'{of}{hint} (sub-commands: {', '.join(names)})",
                source=f"argument {name!r}",
                suggestion=suggestion,
            )
        )
        return False
    path = f"{level.path} {command.command_name}".strip()
    split.levels.append(Level(schema_of(command), command, path))
    return True


def load_commands(split: Split, inputs: Inputs) -> tuple[Command | None, list[Problem]]:
    """The chosen sub-command with its values (None if the command line chose none), and the
    problems of its arguments, every level's; ``inputs`` gives the environment and secrets
    that references in its values read."""
    from anker.config._load import resolve

    problems: list[Problem] = []
    loaded: list[tuple[Level, dict[str, object]]] = []
    for level in split.levels[1:]:
        outcome = resolve(
            level.schema,
            Inputs(
                paths=(),
                argv=level.argv,
                env_prefix=None,
                environ=inputs.environ,
                strict=inputs.strict,
                secrets=inputs.secrets,
                overrides={},
            ),
        )
        problems += [_reworded(problem, level, split) for problem in outcome.problems]
        loaded.append((level, outcome.values[DEFAULT]))
    chosen: Command | None = None
    for level, values in reversed(loaded):  # innermost first: each holds the one below it
        assert level.command is not None
        instance = object.__new__(level.command)
        instance.__dict__.update(values)
        if chosen is not None:
            slot = level.schema.command
            assert slot is not None
            instance.__dict__[slot.attribute] = chosen
        chosen = instance
    return chosen, problems


def _reworded(problem: Problem, level: Level, split: Split) -> Problem:
    """A problem of a sub-command's arguments, said as one: no [DEFAULT], no config file."""
    from anker.config._load import _closest

    head = f"sub-command '{level.path}'"
    name = problem.option or ""
    option = level.schema.sections[DEFAULT].options.get(name)
    if problem.code == "required" and option is not None:
        shown = name.upper() if option.positional else _flag(name)
        problem.message = f"{head}: {shown} is required"
    elif problem.code == "unknown-option":
        if problem.suggestion is None:  # maybe a misspelt option of a level above
            above = [n for o in split.levels[:-1] for n in o.schema.sections[DEFAULT].options]
            problem.suggestion = _closest(name, above)
        hint = f"; did you mean '{_flag(problem.suggestion)}'?" if problem.suggestion else ""
        problem.message = f"unknown option '{_flag(name)}' of {head}{hint}"
    elif problem.code == "deprecated-name" and problem.suggestion:
        new = problem.suggestion.rpartition(".")[2]
        problem.message = f"{head}: {_flag(name)} is deprecated; use {_flag(new)} instead"
    else:
        problem.message = f"{head}: " + problem.message.replace(f"[{DEFAULT}] ", "")
    problem.section = None
    return problem


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _same(one: str, other: str) -> bool:
    return one.replace("_", "-") == other.replace("_", "-")


def _dashed(name: str) -> str:
    """``ListCells`` -> ``list-cells``; ``DB`` stays ``db``."""
    words: list[str] = []
    for index, char in enumerate(name):
        after_lower = index > 0 and (name[index - 1].islower() or name[index - 1].isdigit())
        before_lower = 0 < index < len(name) - 1 and name[index + 1].islower()
        if char.isupper() and (after_lower or (before_lower and name[index - 1].isupper())):
            words.append("-")
        words.append(char.lower())
    return "".join(words).replace("_", "-")
