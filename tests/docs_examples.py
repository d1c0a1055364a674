"""Runs the code examples of README.md and docs/*.md, in order, as a reader would (with sybil).

A page's examples share one namespace and one working directory. ``python`` blocks run as
they are; ``sh`` blocks run in bash (``set -euo pipefail``) with this environment's ``anker``
first on the PATH; ``console`` blocks run each ``$ `` command and compare the first line it
prints with the page's; ``toml`` blocks must parse. Blocks that are not code (grammars, trees,
synopses) are fenced as ``text``. A block that cannot run says why right above it:

    <!-- skip: next "make test runs this very suite" -->

and a block that needs a server says so the same way; the unit run skips it and the
integration run (tests/integration/test_docs_examples_with_servers.py) runs the page with
every URL and path the page shows rewritten to the test servers' and a temporary directory:

    <!-- skip: next if(no_servers, reason="talks to RabbitMQ: runs in the integration run") -->

A block that needs OpenStack services installed (nova's option declarations) is skipped
``if(no_openstack, reason=...)`` and run by tests/openstack, in the environment that has them.

Setup a page shows no reader (a schema installed as a package, a server-side table) sits in
``<!-- invisible-code-block: python -->`` blocks, which run like the others.
"""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from unittest import SkipTest

from sybil import Document, Example, Sybil
from sybil.evaluators.python import pad
from sybil.parsers.markdown import CodeBlockParser, SkipParser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: absolute paths the pages use, which the examples get inside their directory instead
PATHS = ("/etc/svc", "/var/lib/svc")
#: the languages a fence may name: these run or are checked; ``text`` is not code
LANGUAGES = {"python", "sh", "console", "toml", "text"}
FENCE = re.compile(r"^(?:`{3,}|~{3,})(.*)$", re.MULTILINE)
SKIP = re.compile(r"<!--\s*skip:\s*(next|start)(.*?)-->")


@dataclass
class Run:
    """What running one page did."""

    page: str
    ran: list[int] = field(default_factory=list)  # line of each block that ran
    skipped: dict[int, str] = field(default_factory=dict)  # line -> reason


def rewrite(text: str, rewrites: Mapping[str, str]) -> str:
    for old, new in rewrites.items():
        text = text.replace(old, new)
    return text


def _environment(directory: Path, commands: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    first = commands or Path(sys.executable).parent
    env["PATH"] = f"{first}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(directory)  # what a page writes there (a schema) imports
    env.pop("ANKER_SECRETS_URL", None)
    return env


def _shell(command: str, directory: Path, where: str, commands: Path | None = None) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=directory,
        env=_environment(directory, commands),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"{where}: exit status {done.returncode}\n{command}\n"
            f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
    return done.stdout


class Evaluators:
    """The evaluators of one page's run: its directory, its rewrites, and what ran."""

    def __init__(
        self,
        run: Run,
        directory: Path,
        rewrites: Mapping[str, str],
        commands: Path | None = None,
    ) -> None:
        self.run, self.directory, self.rewrites = run, directory, rewrites
        self.commands = commands  # the bin directory shell blocks find `anker` in

    def where(self, example: Example) -> str:
        return f"{Path(example.path).name}:{example.line}"

    def python(self, example: Example) -> None:
        source = pad(rewrite(example.parsed, self.rewrites), example.line)
        exec(compile(source, example.path, "exec", dont_inherit=True), example.namespace)
        self.run.ran.append(example.line)

    def sh(self, example: Example) -> None:
        _shell(
            rewrite(example.parsed, self.rewrites),
            self.directory,
            self.where(example),
            self.commands,
        )
        self.run.ran.append(example.line)

    def console(self, example: Example) -> None:
        lines = rewrite(example.parsed, self.rewrites).splitlines()
        commands = [i for i, line in enumerate(lines) if line.startswith("$ ")]
        for index in commands:
            shown = lines[index + 1] if index + 1 < len(lines) else "$ "
            printed = _shell(lines[index][2:], self.directory, self.where(example), self.commands)
            if not shown.startswith("$ "):  # the page shows output: its first line must match
                first = printed.splitlines()[0] if printed else ""
                assert first.split() == shown.split(), (self.where(example), first, shown)
        assert commands, f"{self.where(example)}: a console block without a $ command"
        self.run.ran.append(example.line)

    def toml(self, example: Example) -> None:
        tomllib.loads(example.parsed)
        self.run.ran.append(example.line)


def _parsers(evaluators: Evaluators) -> list[object]:
    return [
        CodeBlockParser("python", evaluators.python),
        CodeBlockParser("sh", evaluators.sh),
        CodeBlockParser("console", evaluators.console),
        CodeBlockParser("toml", evaluators.toml),
        SkipParser(),
    ]


def run_page(
    page: Path,
    directory: Path,
    *,
    servers: bool,
    rewrites: Mapping[str, str] | None = None,
    openstack: Path | None = None,
) -> Run:
    """Run every example of ``page`` in ``directory`` (the caller's working directory).

    ``openstack``: the bin directory of an environment with OpenStack services installed
    (tests/openstack); its ``anker`` runs the shell blocks, and blocks skipped
    ``if(no_openstack, ...)`` run."""
    # A reader runs a page in a new process. Here it shares one with the tests that ran
    # before: collect what they dropped (engines are cycles) so that a health registry on
    # the page discovers only the parts the page opens.
    gc.collect()
    run = Run(page.name)
    rewrites = dict(rewrites or {})
    for path in PATHS:  # the pages' system paths, inside the run's directory
        rewrites[path] = str(directory) + path
    evaluators = Evaluators(run, directory, rewrites, openstack)
    document: Document = Sybil(_parsers(evaluators)).parse(page)  # type: ignore[arg-type]
    document.namespace.update(
        __name__=f"docs_{page.stem}",
        no_servers=not servers,
        no_openstack=openstack is None,
        install_package=install_package,
        python_example=lambda number: example_source(page, number),
    )
    for example in document:
        try:
            example.evaluate()
        except SkipTest as skip:
            run.skipped[example.line] = str(skip)
    return run


def install_package(
    name: str, files: Mapping[str, str], entry_points: Mapping[str, Mapping[str, str]]
) -> None:
    """Lay out a package in the working directory as if pip had installed it (the shell
    examples run with it on PYTHONPATH), with its entry points."""
    for path, text in files.items():
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    info = Path(f"{name}-0.dist-info")
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0\n")
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in points.items())
            for group, points in entry_points.items()
        )
    )


def fences(page: Path) -> list[tuple[int, str]]:
    """(line, language) of every opening fence of the page."""
    found, opened = [], False
    text = page.read_text()
    for match in FENCE.finditer(text):
        if not opened:
            found.append((text.count("\n", 0, match.start()) + 1, match.group(1).strip()))
        opened = not opened
    return found


def skip_reasons(page: Path) -> list[str]:
    """The reason of every skip directive of the page ('' where one has none)."""
    return [arguments.strip() for _, arguments in SKIP.findall(page.read_text())]


def example_source(page: Path, number: int) -> str:
    """The source of the page's ``number``-th python block (from 1)."""
    blocks = re.findall(r"^```python\n(.*?)^```", page.read_text(), re.MULTILINE | re.DOTALL)
    return str(blocks[number - 1])


__all__ = ["LANGUAGES", "PAGES", "Run", "fences", "run_page", "skip_reasons"]
