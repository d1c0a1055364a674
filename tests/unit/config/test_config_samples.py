"""Samples: the INI sample loads back to the defaults, TOML parses, the schema is complete."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from config_schemas import ServiceConfig

from anker import Secret
from anker.config import Config, option
from anker.config._sample import render_sample
from anker.config._schema import MISSING, schema_of

SCHEMA = schema_of(ServiceConfig)
REQUIRED = {"database.connection": "sqlite://"}


def uncommented(sample: str) -> str:
    """The sample with every commented-out ``#name = value`` line switched on."""
    return re.sub(r"^#(\w+ = )", r"\1", sample, flags=re.MULTILINE)


def test_the_ini_sample_loads_as_is_to_the_defaults(tmp_path: Path) -> None:
    sample = tmp_path / "sample.conf"
    sample.write_text(render_sample(SCHEMA, "ini"))
    as_is = ServiceConfig.load(files=[sample], overrides=REQUIRED)
    defaults = ServiceConfig.load(overrides=REQUIRED)
    assert as_is.values() == defaults.values()
    assert as_is.warnings == ()


def test_the_ini_sample_switched_on_gives_the_same_values(tmp_path: Path) -> None:
    text = uncommented(render_sample(SCHEMA, "ini"))
    text = text.replace("\n#connection =\n", "\nconnection = sqlite://\n")  # required
    text = re.sub(r"\n\w+ = <None>", "", text)
    sample = tmp_path / "on.conf"
    sample.write_text(text)
    switched_on = ServiceConfig.load(files=[sample]).values(reveal=True)
    defaults = ServiceConfig.load(overrides=REQUIRED).values(reveal=True)
    # the one default a sample must not show as it is: the password inside a URL
    assert "guest:guest" not in text
    assert switched_on["messaging"].pop("transport_url") == "rabbit://guest:****@localhost:5672/"
    assert defaults["messaging"].pop("transport_url") == "rabbit://guest:****@localhost:5672/"
    assert switched_on == defaults


def test_every_option_is_documented_in_every_format() -> None:
    outputs = {
        fmt: render_sample(SCHEMA, fmt) for fmt in ("ini", "toml", "json-schema", "markdown")
    }
    document = json.loads(outputs["json-schema"])
    for spec in SCHEMA.options():
        name = re.escape(spec.name)
        assert re.search(rf"^#{name} =", outputs["ini"], re.MULTILINE), spec.name
        assert re.search(rf"^# {name} = ", outputs["toml"], re.MULTILINE), spec.name
        assert spec.name in document["properties"][spec.section]["properties"]
        assert f"| `{spec.name}` |" in outputs["markdown"]
        if spec.help:
            assert spec.help in outputs["markdown"]


def test_secrets_never_show_a_value() -> None:
    class Conf(Config):
        token: Secret[str] = option("s3cret-default", help="A token.")

    for fmt in ("ini", "toml", "markdown"):
        text = render_sample(schema_of(Conf), fmt)
        assert "s3cret" not in text, fmt
        assert "<secret>" in text, fmt
    document = json.loads(render_sample(schema_of(Conf), "json-schema"))
    assert "default" not in document["properties"]["DEFAULT"]["properties"]["token"]
    # Nothing to hide: an unset secret is <None> and a required one is empty, as any option
    # (and as oslo-config-generator writes them); docs/config.md says the same.
    class_sample = render_sample(SCHEMA, "ini")
    assert "\n#connection =\n" in class_sample
    assert "\n#slave_connection = <None>\n" in class_sample
    assert "<secret>" not in class_sample
    document = json.loads(render_sample(SCHEMA, "json-schema"))
    connection = document["properties"]["database"]["properties"]["connection"]
    assert connection["writeOnly"] is True
    assert "default" not in connection
    assert document["properties"]["database"]["required"] == ["connection"]


def test_the_toml_sample_switched_on_loads_to_the_defaults(tmp_path: Path) -> None:
    text = re.sub(r"^# (\w+ = )", r"\1", render_sample(SCHEMA, "toml"), flags=re.MULTILINE)
    text = re.sub(r'^connection = ""', 'connection = "sqlite://"', text, flags=re.M)
    text = re.sub(r'\n\w+ = ""', "", text)  # unset defaults
    assert tomllib.loads(text)["DEFAULT"]["workers"] == 4
    sample = tmp_path / "sample.toml"
    sample.write_text(text)
    switched_on = ServiceConfig.load(files=[sample]).values(reveal=True)
    defaults = ServiceConfig.load(overrides=REQUIRED).values(reveal=True)
    assert switched_on["messaging"].pop("transport_url") == "rabbit://guest:****@localhost:5672/"
    assert defaults["messaging"].pop("transport_url") == "rabbit://guest:****@localhost:5672/"
    assert switched_on == defaults


def test_multi_line_defaults_and_sample_defaults() -> None:
    class Conf(Config):
        banner: str = option("line one\nline two")
        my_ip: str = option("10.1.2.3", sample_default="<this host's address>")

    schema = schema_of(Conf)
    assert "#banner = line one\n#    line two\n" in render_sample(schema, "ini")
    document = json.loads(render_sample(schema, "json-schema"))
    assert document["properties"]["DEFAULT"]["properties"]["my_ip"]["default"] == (
        "<this host's address>"
    )


def test_the_json_schema_holds_types_bounds_and_defaults() -> None:
    document = json.loads(render_sample(SCHEMA, "json-schema"))
    pool = document["properties"]["database"]["properties"]["max_pool_size"]
    assert pool == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "description": "Connections kept open.",
        "default": 5,
    }
    level = document["properties"]["limits"]["properties"]["level"]
    assert level["enum"] == ["low", "high"]
    legacy = document["properties"]["limits"]["properties"]["legacy"]
    assert legacy["deprecated"] is True
    required = [o for o in SCHEMA.options() if o.default is MISSING]
    assert [o.name for o in required] == ["connection"]
