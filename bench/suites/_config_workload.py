"""The shared workload of the config benchmarks: 10 sections of 100 options each, five types,
and a file that sets 300 of them (30 per section), declared the same way to every library."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

SECTIONS = 10
OPTIONS = 100
SET_PER_SECTION = 30
TYPES = ("str", "int", "bool", "float", "list")
DEFAULTS: dict[str, Any] = {"str": "text", "int": 7, "bool": False, "float": 0.5, "list": ["a"]}
WRITTEN = {"str": "value-{n}", "int": "{n}", "bool": "true", "float": "{n}.25", "list": "x,y,{n}"}


def layout() -> list[tuple[str, list[tuple[str, str]]]]:
    """[(section, [(option, type), ...]), ...]"""
    return [
        (f"group{s}", [(f"opt{o}", TYPES[o % len(TYPES)]) for o in range(OPTIONS)])
        for s in range(SECTIONS)
    ]


def write_file() -> Path:
    lines = []
    for section, options in layout():
        lines.append(f"[{section}]")
        for n, (name, kind) in enumerate(options[:SET_PER_SECTION]):
            lines.append(f"{name} = {WRITTEN[kind].format(n=n)}")
        lines.append("")
    handle = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)  # noqa: SIM115
    with handle:
        handle.write("\n".join(lines))
    return Path(handle.name)


def anker_config_class() -> type:
    from anker.config import Config, Group, option

    python_types: dict[str, Any] = {
        "str": str,
        "int": int,
        "bool": bool,
        "float": float,
        "list": list[str],
    }
    annotations: dict[str, Any] = {}
    for section, options in layout():
        fields = {name: python_types[kind] for name, kind in options}
        defaults = {name: option(DEFAULTS[kind], help=f"{name} help") for name, kind in options}
        annotations[section] = type(section, (Group,), {"__annotations__": fields, **defaults})
    return type("BenchConfig", (Config,), {"__annotations__": annotations})


def oslo_config(path: Path) -> Any:
    from oslo_config import cfg

    makers = {
        "str": cfg.StrOpt,
        "int": cfg.IntOpt,
        "bool": cfg.BoolOpt,
        "float": cfg.FloatOpt,
        "list": cfg.ListOpt,
    }
    conf = cfg.ConfigOpts()
    for section, options in layout():
        conf.register_opts(
            [
                makers[kind](name, default=DEFAULTS[kind], help=f"{name} help")
                for name, kind in options
            ],
            group=section,
        )
    conf(args=[], default_config_files=[str(path)], use_env=False)
    return conf
