"""The documentation site: Sphinx with MyST, built from docs/*.md by ``make docs`` into site/.

Pages that are generated when the site is built (never committed) go to docs/_generated/:
an API reference page per public namespace (autodoc, from the docstrings), the option
reference of every config group a subsystem exports (anker.config's own Markdown
reference), and the benchmark harness's README, which pages link to. Warnings are errors
(``sphinx-build -W``): a broken link, a cross-reference to an anker name no page documents,
or a docstring that is not valid reStructuredText, fails the build.
"""

from __future__ import annotations

import builtins
import importlib
import re
import shutil
import sys
from pathlib import Path

from docutils.nodes import Element
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util import logging

from anker import __version__
from anker._exports import PUBLIC_NAMESPACES

DOCS = Path(__file__).resolve().parent
GENERATED = DOCS / "_generated"
#: the guides, in the order docs/index.md's table links them (a page it does not link is
#: in no toctree, and the build fails: the map and the site cannot drift apart)
GUIDES = list(dict.fromkeys(re.findall(r"\]\(([a-z_-]+)\.md\)", (DOCS / "index.md").read_text())))

project = "anker"
release = version = __version__
root_doc = "index"
extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["README.md"]
html_theme = "furo"
html_title = f"anker {release}"
html_static_path: list[str] = []
# links to headings within and across pages ([...](config.md#the-command-line))
myst_heading_anchors = 4
autodoc_default_options = {
    "members": True,
    "undoc-members": True,
    "imported-members": True,
    "show-inheritance": True,
}
autodoc_member_order = "bysource"
# every documented object a sidebar entry would make each page carry the whole API (slow)
toc_object_entries = False
autodoc_typehints = "signature"
autodoc_class_signature = "separated"  # the constructor's signature apart from the class
# An annotation anker could not evaluate (a name imported for type checking only) stays a bare
# name, and a bare name two namespaces export (State: anker.service's and anker.workflow's)
# links to the first with a warning; that is no broken link, so it is not an error here.
suppress_warnings = ["ref.python"]
logger = logging.getLogger(__name__)
#: top-level names a cross-reference may name that the site does not document
_FOREIGN = frozenset(sys.stdlib_module_names) | {"sqlalchemy", "alembic", "starlette", "uvicorn"}
#: page text that points outside docs/, and where the site has it instead
REWRITES = {"](../bench/README.md)": "](_generated/bench.md)"}


def _api_page(namespace: str) -> str:
    module = importlib.import_module(namespace)
    return (
        f"# `{namespace}`\n\n```{{eval-rst}}\n.. automodule:: {namespace}\n```\n"
        if getattr(module, "__all__", None)
        else f"# `{namespace}`\n"
    )


def _option_reference() -> str:
    """Every config group a public namespace exports, as anker.config's Markdown reference."""
    from anker.config import Config, Group
    from anker.config._sample import render_sample
    from anker.config._schema import schema_of

    out = [
        "# Option reference\n",
        "The options of every config group anker's subsystems export, generated from their",
        "declarations when the site is built. A service adds a group as a section of its",
        "`Config` class (`database: DatabaseOptions` is the `[database]` section).\n",
    ]
    seen: set[type] = set()
    for namespace in PUBLIC_NAMESPACES:
        module = importlib.import_module(namespace)
        for name in module.__all__:
            group = getattr(module, name)
            if not (isinstance(group, type) and issubclass(group, Group)) or group in seen:
                continue
            if issubclass(group, Config) or group.__module__.startswith("anker.config"):
                continue  # the base classes themselves, not a subsystem's group
            seen.add(group)
            section = name.removesuffix("Options").lower()
            holder = type("Holder", (Config,), {"__annotations__": {section: group}})
            reference = render_sample(schema_of(holder), "markdown")
            body = reference.split(f"## [{section}]\n", 1)[1]
            out += [f"## `{namespace}.{name}`: `[{section}]`\n", body.strip() + "\n"]
    return "\n".join(out)


def _generate(app: Sphinx, config: object) -> None:
    shutil.rmtree(GENERATED, ignore_errors=True)
    (GENERATED / "api").mkdir(parents=True)
    for namespace in PUBLIC_NAMESPACES:
        (GENERATED / "api" / f"{namespace}.md").write_text(_api_page(namespace))
    (GENERATED / "options.md").write_text(_option_reference())
    bench = (DOCS.parent / "bench" / "README.md").read_text()
    (GENERATED / "bench.md").write_text(bench)


def _index_toctree() -> str:
    api = "\n".join(f"_generated/api/{namespace}" for namespace in PUBLIC_NAMESPACES)
    return (
        "\n\n```{toctree}\n:hidden:\n:caption: Guides\n\n" + "\n".join(GUIDES) + "\n```\n"
        "\n```{toctree}\n:hidden:\n:caption: Reference\n\n_generated/options\n"
        f"{api}\n_generated/bench\n```\n"
    )


def _source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    text = source[0]
    if "/" not in docname:  # a page of docs/ itself
        for old, new in REWRITES.items():
            text = text.replace(old, new)
    if docname == root_doc:
        text += _index_toctree()
    source[0] = text


def _option_docstring(  # noqa: PLR0917 (the signature of a Sphinx event)
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    """An option of a config group is documented by its help and default, not by the
    docstring of the class of its declaration."""
    from anker.config import MISSING, Option

    if isinstance(obj, Option):
        default = "Required: it has no default." if obj.default is MISSING else ""
        lines[:] = [obj.help, "", default or f"Default: ``{obj.default!r}``."]


def _public_bases(app: Sphinx, name: str, obj: object, options: object, bases: list[type]) -> None:
    """Show no private base class (``anker._typing.Generic``) as a base."""
    bases[:] = [
        base
        for base in bases
        if not base.__name__.startswith("_") and "._" not in f"{base.__module__}."
    ]


def _missing_reference(app: Sphinx, env: object, node: Element, contnode: Element) -> None:
    """A cross-reference in a docstring or page (not a signature's annotation, which may name
    what no page documents: the standard library, TYPE_CHECKING imports) to an anker name
    that no page documents is a broken link: a warning, so an error with -W."""
    if node.get("refdomain") != "py" or _in_signature(node):
        return
    target = node.get("reftarget", "")
    first = target.lstrip("~.").split(".")[0]
    if first in _FOREIGN or first in dir(builtins):
        return  # documented elsewhere (no network at build time for intersphinx)
    logger.warning("broken cross-reference to %r (%s)", target, node.get("reftype"), location=node)


def _in_signature(node: Element) -> bool:
    parent = node.parent
    while parent is not None:
        if isinstance(parent, addnodes.desc_signature):
            return True
        parent = parent.parent
    return False


def setup(app: Sphinx) -> None:
    app.connect("config-inited", _generate)
    app.connect("source-read", _source_read)
    app.connect("autodoc-process-docstring", _option_docstring)
    app.connect("autodoc-process-bases", _public_bases)
    app.connect("missing-reference", _missing_reference)
