"""``anker config``: validate config files, generate samples and references, migrate old names."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from types import ModuleType

import click

from anker._typing import TYPE_CHECKING
from anker.cli._options import MACHINE_FORMATS, dump, output_format_option
from anker.config import Config, ConfigError, Problem
from anker.config._ini import MAX_FILE_BYTES, IniFile, decode_config, read_config_bytes
from anker.config._sample import FORMATS, render_sample
from anker.config._schema import Schema, schema_of
from anker.config._sources import expand_paths, read_file

if TYPE_CHECKING:
    from typing import Any

    from anker.config._declared import Unchecked

__all__ = ["config"]

SCHEMA_GROUP = "anker.config.schemas"
STDIN = "<stdin>"  # what problems call a file read from stdin


def load_schema(spec: str) -> Schema:
    """A schema named by an entry point of ``anker.config.schemas``, or by ``module:Class``."""
    target = spec
    if ":" not in spec:
        found = {ep.name: ep for ep in entry_points(group=SCHEMA_GROUP)}
        if spec not in found:
            known = ", ".join(sorted(found)) or "none are installed"
            raise click.BadParameter(
                f"no schema named '{spec}' (known: {known}); or give module:Class",
                param_hint="--schema",
            )
        target = found[spec].value
    module_name, _, attribute = target.partition(":")
    try:
        cls = getattr(_import(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise click.BadParameter(f"cannot load {target}: {exc}", param_hint="--schema") from exc
    if not (isinstance(cls, type) and issubclass(cls, Config)):
        raise click.BadParameter(f"{target} is not an anker.config.Config", param_hint="--schema")
    try:
        return schema_of(cls)
    except TypeError as exc:
        raise click.ClickException(f"the schema {target} is not valid: {exc}") from exc


def _import(name: str) -> ModuleType:
    """Import ``name``; as ``python -m`` does, the current directory is searched too, but
    last, so that a file there never shadows an installed module."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        here = os.getcwd()
        if exc.name != name.partition(".")[0] or here in sys.path or "" in sys.path:
            raise
    sys.path.append(here)
    importlib.invalidate_caches()
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(f"{exc} (searched sys.path and {here})", name=exc.name) from None


schema_option = click.option(
    "--schema",
    "schema_spec",
    metavar="NAME|MODULE:CLASS",
    help=f"The service's options: an entry point of {SCHEMA_GROUP}, or module:Class.",
)


namespace_option = click.option(
    "--namespace",
    "namespaces",
    multiple=True,
    metavar="NAME",
    help="An oslo.config namespace (repeatable): the options an installed OpenStack package "
    "declares through its oslo.config.opts entry point, as oslo-config-generator reads them.",
)
generator_config_option = click.option(
    "--generator-config",
    metavar="PATH",
    help="An oslo-config-generator --config-file file: its 'namespace =' lines add namespaces.",
)
cache_option = click.option(
    "--cache",
    is_flag=True,
    help="Keep the namespaces' declarations in $XDG_CACHE_HOME/anker/oslo-config (keyed by the"
    " installed packages' versions) and read them from there next time: 0.1 s instead of"
    " importing the packages. Off by default, so that checking a file writes nothing.",
)


class Declared:
    """The schema to check against, named by --schema or built from oslo.config namespaces."""

    __slots__ = ("data", "label", "names", "oslo", "schema", "unchecked")

    def __init__(
        self,
        schema: Schema,
        label: str,
        unchecked: list[Unchecked],
        *,
        oslo: bool,
        data: dict[str, Any] | None = None,
        names: list[str] | None = None,
    ) -> None:
        self.schema, self.label, self.unchecked, self.oslo = schema, label, unchecked, oslo
        #: the declarations and namespace names (oslo.config namespaces only)
        self.data, self.names = data, names or []


def declared_schema(
    schema_spec: str | None,
    namespaces: tuple[str, ...],
    generator_config: str | None,
    *,
    cache: bool = False,
) -> Declared | None:
    """The schema the options name, or None when none is named; a bad name is a one-line
    error that names it, never a traceback."""
    names = list(namespaces)
    if generator_config is not None or names:
        if schema_spec is not None:
            raise click.UsageError("give --schema or --namespace/--generator-config, not both")
        from anker.config import _oslo
        from anker.config._declared import schema_from_declarations

        try:
            if generator_config is not None:
                names += _oslo.namespaces_in_generator_config(generator_config)
            data = _oslo.declarations_for(names, cache=cache)
        except _oslo.NamespaceError as exc:
            raise click.ClickException(str(exc)) from exc
        schema, unchecked = schema_from_declarations(data)
        unique = list(dict.fromkeys(names))
        label = "namespaces " + ", ".join(unique)
        return Declared(schema, label, unchecked, oslo=True, data=data, names=unique)
    if schema_spec is None:
        return None
    return Declared(load_schema(schema_spec), schema_spec, [], oslo=False)


@click.group()
def config() -> None:
    """Validate configuration files, generate samples, migrate deprecated names."""


@config.command()
@schema_option
@namespace_option
@generator_config_option
@cache_option
@click.option(
    "--list-unchecked",
    is_flag=True,
    help="List what the namespaces declare that anker does not check.",
)
@click.argument("positional", nargs=-1, metavar="[FILE]...", type=click.Path(allow_dash=True))
@click.option(
    "--config-file",
    "files",
    multiple=True,
    metavar="PATH",
    help="A config file (repeatable); - reads one from stdin.",
)
@click.option(
    "--config-dir", "dirs", multiple=True, metavar="DIR", help="A config directory (repeatable)."
)
@click.option("--env-prefix", metavar="PREFIX", help="Also check <PREFIX>_* environment variables.")
@click.option("--strict", is_flag=True, help="Unknown options and sections are errors.")
@click.option(
    "--secrets",
    "secrets_url",
    envvar="ANKER_SECRETS_URL",
    metavar="URL",
    help="The secret store that resolves ${secret:NAME} (default: $ANKER_SECRETS_URL).",
)
@output_format_option("text", "json")
def validate(
    *,
    schema_spec: str | None,
    namespaces: tuple[str, ...],
    generator_config: str | None,
    cache: bool,
    list_unchecked: bool,
    positional: tuple[str, ...],
    files: tuple[str, ...],
    dirs: tuple[str, ...],
    env_prefix: str | None,
    strict: bool,
    secrets_url: str | None,
    output_format: str,
) -> None:
    """Check config files: every value against the schema's types, every name known.

    The options are an anker schema (--schema) or the declarations of installed OpenStack
    packages (--namespace, --generator-config). Without either, only the syntax is checked.
    Files are given as arguments or with --config-file. Exits 1 if there is any error.
    """
    files = files + positional
    if not files and not dirs:
        raise click.UsageError("give at least one --config-file or --config-dir")
    if files.count("-") > 1:
        raise click.UsageError("--config-file - (stdin) can be given only once")
    declared = declared_schema(schema_spec, namespaces, generator_config, cache=cache)
    with _stdin_copy(files) as (readable, copy):
        paths, problems = _validated(
            declared.schema if declared else None,
            files=readable,
            dirs=dirs,
            env_prefix=env_prefix,
            strict=strict,
            secrets=_secret_resolver(secrets_url),
        )
    for problem in problems:
        if problem.file is not None and problem.file == copy:
            problem.file = STDIN
        if declared is not None and declared.oslo:
            _say_not_declared(problem)
    paths = [STDIN if path == copy else path for path in paths]
    problems.sort(key=lambda p: (p.file or "", p.line or 0))
    errors = [p for p in problems if p.is_error]
    if output_format in MACHINE_FORMATS:
        report = {
            "valid": not errors,
            "errors": len(errors),
            "warnings": len(problems) - len(errors),
            "files": paths,
            "schema": declared.label if declared else None,
            "problems": [p.as_dict() for p in problems],
        }
        if declared is not None and declared.oslo:
            report["unchecked"] = [u.as_dict() for u in declared.unchecked]
        click.echo(dump(output_format, report))
    else:
        for problem in problems:
            click.echo(str(problem), err=problem.is_error)
        checked = "values and names" if declared else "syntax only (no --schema)"
        if declared is not None and declared.oslo:
            checked += f" ({declared.label})"
        click.echo(
            f"{len(errors)} error(s), {len(problems) - len(errors)} warning(s) in "
            f"{len(paths)} file(s); checked {checked}"
        )
        _report_unchecked(declared, list_unchecked)
    if errors:
        sys.exit(1)


def _say_not_declared(problem: Problem) -> None:
    """An unknown name with no close match is not a typo: say the release does not declare it."""
    if problem.code == "unknown-option" and problem.suggestion is None:
        problem.message += (
            "; the installed release does not declare it "
            "(removed, or an option of a namespace not given)"
        )


def _report_unchecked(declared: Declared | None, listed: bool) -> None:
    if declared is None or not declared.unchecked:
        return
    if listed:
        for item in declared.unchecked:
            click.echo(f"unchecked: {item}")
    else:
        click.echo(
            f"{len(declared.unchecked)} detail(s) of the declarations are not checked by anker; "
            "--list-unchecked lists them"
        )


def _validated(
    schema: Schema | None,
    *,
    files: tuple[str, ...],
    dirs: tuple[str, ...],
    env_prefix: str | None,
    strict: bool,
    secrets: Callable[[str], str] | None,
) -> tuple[list[str], list[Problem]]:
    """The files read and every problem found in them."""
    problems: list[Problem] = []
    paths = expand_paths([(f, False) for f in files] + [(d, True) for d in dirs], problems)
    if schema is None:
        for path in paths:
            problems += read_file(path).problems
        if strict:
            problems = [p.as_error() for p in problems]
        return paths, problems
    root: type[Config] = schema.root  # type: ignore[assignment]
    try:
        with _warnings_not_logged():
            loaded = root.load(
                files=files, dirs=dirs, env_prefix=env_prefix, strict=strict, secrets=secrets
            )
    except ConfigError as exc:
        return paths, list(exc.problems)
    return paths, list(loaded.warnings)


@contextlib.contextmanager
def _warnings_not_logged() -> Iterator[None]:
    """validate prints every warning itself; the anker.config logger would print each again."""
    import logging

    logger = logging.getLogger("anker.config")
    before, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = before


@contextlib.contextmanager
def _stdin_copy(files: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str | None]]:
    """``files`` with ``-`` replaced by a private copy of stdin (a load reads files by path),
    and the copy's path; the copy is removed afterwards."""
    if "-" not in files:
        yield files, None
        return
    data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)  # the load says if it is too large
    handle, copy = tempfile.mkstemp(prefix=".anker-stdin-", suffix=".conf")
    try:
        with os.fdopen(handle, "wb") as out:  # mode 0600: it may hold secrets
            out.write(data)
        yield tuple(copy if f == "-" else f for f in files), copy
    finally:
        os.unlink(copy)


@config.command()
@schema_option
@namespace_option
@generator_config_option
@cache_option
@output_format_option(*FORMATS, "python")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write here (atomically), not to stdout; - is stdout.",
)
def sample(
    *,
    schema_spec: str | None,
    namespaces: tuple[str, ...],
    generator_config: str | None,
    cache: bool,
    output_format: str,
    output: str | None,
) -> None:
    """Generate a sample config file, a JSON Schema or a Markdown reference.

    The options are an anker schema (--schema) or the declarations of installed OpenStack
    packages (--namespace, --generator-config). ``--format python`` writes those
    declarations as an anker schema module, where a service moving from oslo.config starts.
    """
    declared = declared_schema(schema_spec, namespaces, generator_config, cache=cache)
    if declared is None:
        raise click.UsageError("--schema or --namespace is required")
    if output_format == "python":
        if declared.data is None:
            raise click.UsageError(
                "--format python writes the declarations of --namespace as an anker schema"
                " module; an anker schema (--schema) is one already"
            )
        from anker.config._declared_python import python_module

        text = python_module(declared.data, declared.names)
    else:
        text = render_sample(declared.schema, output_format)
    if output is None or output == "-":
        click.echo(text, nl=False)
    else:
        _write_atomically(output, text)


@config.command()
@schema_option
@namespace_option
@generator_config_option
@cache_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--in-place", is_flag=True, help="Rewrite FILE (atomically) instead of printing.")
@output_format_option("text", "json")
def migrate(
    *,
    schema_spec: str | None,
    namespaces: tuple[str, ...],
    generator_config: str | None,
    cache: bool,
    file: str,
    in_place: bool,
    output_format: str,
) -> None:
    """Rename deprecated options in FILE (- for stdin) to their new names and sections.

    The names are those of an anker schema (--schema) or of the declarations of installed
    OpenStack packages (--namespace, --generator-config). Comments and order are kept. Prints
    the new file, what changed, and what needs a human (with --format json, all three in one
    document on stdout). With namespaces, what they do not declare (options removed from the
    service, typos, unknown sections) needs a human too.
    """
    from anker.config._migrate import migrate_text

    declared = declared_schema(schema_spec, namespaces, generator_config, cache=cache)
    if declared is None:
        raise click.UsageError("--schema or --namespace is required")
    if in_place and file == "-":
        raise click.UsageError("--in-place needs a FILE, not - (stdin)")
    if file.endswith(".toml"):
        raise click.ClickException(
            f"{file}: anker config migrate rewrites INI files, not TOML: rename the deprecated"
            " options that validate reports by hand; nothing changed"
        )
    schema = declared.schema
    name = STDIN if file == "-" else file
    result = migrate_text(_text_to_migrate(file, name), schema, name, undeclared=declared.oslo)
    if in_place and result.changed:
        _write_atomically(file, result.text)
    if output_format in MACHINE_FORMATS:
        document: dict[str, object] = {
            "file": name,
            "changed": result.changed,
            "manual": result.manual,
            "rewritten": in_place and bool(result.changed),
        }
        if not in_place:
            document["text"] = result.text
        click.echo(dump(output_format, document))
        return
    if not in_place:
        click.echo(result.text, nl=False)
    report = click.echo if in_place else lambda line: click.echo(line, err=True)
    for line in result.changed:
        report(f"changed: {line}")
    for line in result.manual:
        report(f"needs a human: {line}")
    report(f"{len(result.changed)} change(s), {len(result.manual)} left for a human")


def _text_to_migrate(file: str, name: str) -> str:
    """The text of ``file`` (``-``: stdin, read no further than a file would be), or a
    one-line error saying why it cannot be read."""
    holder = IniFile(name)
    if file == "-":
        data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise click.ClickException(
                f"{name}: is larger than {MAX_FILE_BYTES >> 20} MiB; nothing changed"
            )
        text = decode_config(data, name, holder)
    else:
        text = read_config_bytes(file, name, holder)
    if text is None:
        problem = holder.problems[0]
        raise click.ClickException(f"{problem.location}: {problem.message}; nothing changed")
    return text


def _secret_resolver(url: str | None) -> Callable[[str], str] | None:
    """A resolver over the store at ``url``, opened on anker's background loop (where the
    resolver's calls run too)."""
    if not url:
        return None
    from anker._runtime import run_blocking
    from anker.errors import AnkerError
    from anker.secrets import KeyManager

    try:
        return run_blocking(KeyManager.open(url)).resolver()
    except AnkerError as exc:
        raise click.ClickException(f"cannot open the secret store: {exc}") from exc


def _write_atomically(path: str, text: str) -> None:
    """Replace a file's content at once, keeping its mode and owner (and a symlink, by
    writing where it points); a failure is one line naming the file."""
    try:
        _replace(os.path.realpath(path), text)
    except OSError as exc:  # the error's own file name would be the temporary file's
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from exc


def _replace(path: str, text: str) -> None:
    directory = os.path.dirname(path)
    existing = os.stat(path) if os.path.exists(path) else None
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".anker-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, existing.st_mode & 0o7777 if existing else 0o644)
        if existing is not None:
            with contextlib.suppress(PermissionError):  # only root may give files away
                os.chown(temporary, existing.st_uid, existing.st_gid)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
