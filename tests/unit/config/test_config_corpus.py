"""Real OpenStack files: every one loads, and anker reads the values oslo.config reads.

The corpus (``tests/data/corpus/config``, with its MANIFEST.tsv of where each file comes from)
holds files written by OpenStack projects and operators.
For the comparison, each file's own options are declared to both libraries (a string option per
key, multi-valued where the key repeats, plus the names its ``$references`` use), and every
value is compared, interpolation included.
"""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from anker.config import Config, Group, option
from anker.config._sources import read_file

CORPUS = Path(__file__).resolve().parents[2] / "data" / "corpus" / "config"
OSLO_KINDS = {"oslo.config", "oslo-config-generator"}
REFERENCE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_.]*)\}?")


def corpus_files(kinds: set[str]) -> list[Path]:
    if not CORPUS.is_dir():
        return []
    with (CORPUS / "MANIFEST.tsv").open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [CORPUS / row["file"] for row in rows if row["kind"] in kinds]


OSLO_FILES = corpus_files(OSLO_KINDS)


def test_the_corpus_is_there() -> None:
    assert len(OSLO_FILES) >= 30, f"expected the corpus in the repository at {CORPUS}"
    missing = [path.name for path in OSLO_FILES if not path.is_file()]
    assert missing == [], f"files named in {CORPUS / 'MANIFEST.tsv'} but absent"


@pytest.mark.parametrize("path", OSLO_FILES, ids=lambda p: p.name)
def test_every_oslo_file_reads_without_a_problem(path: Path) -> None:
    parsed = read_file(str(path))
    assert [str(p) for p in parsed.problems] == []


def declarations(path: Path) -> dict[str, dict[str, bool]]:
    """{section: {key: multi}} for every identifier-named section and key of the file."""
    parsed = read_file(str(path))
    counts = Counter((e.section, e.key) for e in parsed.entries)
    found: dict[str, dict[str, bool]] = defaultdict(dict)
    for (section, key), count in counts.items():
        if section.isidentifier() and key.isidentifier():
            found[section][key] = count > 1
    for entry in parsed.entries:  # names used by $references must exist for both libraries
        for name in REFERENCE.findall(str(entry.value)):
            section, _, key = name.rpartition(".")
            section = section or entry.section
            if section.isidentifier() and key.isidentifier():
                found[section].setdefault(key, False)
                if section != "DEFAULT" and "." not in name:
                    found["DEFAULT"].setdefault(key, False)
    return found


def anker_values(path: Path, declared: dict[str, dict[str, bool]]) -> dict[tuple[str, str], Any]:
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {}
    for section, keys in declared.items():
        fields = {key: list[str] if multi else str | None for key, multi in keys.items()}
        defaults = {key: option([] if multi else None, multi=multi) for key, multi in keys.items()}
        if section == "DEFAULT":
            annotations.update(fields)
            namespace.update(defaults)
        else:
            group = type(f"Group_{section}", (Group,), {"__annotations__": fields, **defaults})
            annotations[section] = group
    namespace["__annotations__"] = annotations
    conf_class = type("CorpusConfig", (Config,), namespace, foreign=("*",))
    conf = conf_class.load(files=[str(path)])
    values = {}
    for section, keys in declared.items():
        holder = conf if section == "DEFAULT" else getattr(conf, section)
        for key in keys:
            values[(section, key)] = getattr(holder, key)
    return values


def oslo_values(path: Path, declared: dict[str, dict[str, bool]]) -> dict[tuple[str, str], Any]:
    from oslo_config import cfg

    conf = cfg.ConfigOpts()
    for section, keys in declared.items():
        opts = [cfg.MultiStrOpt(k) if multi else cfg.StrOpt(k) for k, multi in keys.items()]
        conf.register_opts(opts, group=None if section == "DEFAULT" else section)
    conf(args=[], default_config_files=[str(path)], use_env=False)
    values = {}
    for section, keys in declared.items():
        holder = conf if section == "DEFAULT" else conf[section]
        for key in keys:
            values[(section, key)] = holder[key]
    return values


COMPARED = [p for p in OSLO_FILES if sum(len(k) for k in declarations(p).values()) >= 2]


@pytest.mark.parametrize("path", COMPARED, ids=lambda p: p.name)
def test_anker_reads_what_oslo_config_reads(path: Path) -> None:
    declared = declarations(path)
    ours, theirs = anker_values(path, declared), oslo_values(path, declared)
    assert len(ours) >= 2
    differences = {key: (ours[key], theirs[key]) for key in ours if ours[key] != theirs[key]}
    assert differences == {}


def test_the_comparison_covers_multi_values_and_interpolation() -> None:
    multi = [p for p in COMPARED if any(any(k.values()) for k in declarations(p).values())]
    interpolated = [
        p
        for p in COMPARED
        if any(REFERENCE.search(str(e.value)) for e in read_file(str(p)).entries)
    ]
    assert len(COMPARED) >= 10
    assert multi, "no compared file has a repeated key"
    assert interpolated, "no compared file uses $references"
