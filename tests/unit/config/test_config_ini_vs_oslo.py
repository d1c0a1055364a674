"""The INI reader against oslo.config's own parser, on generated files of its dialect."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from oslo_config import cfg

from anker.config._ini import parse_ini

WORD = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,8}", fullmatch=True)
TEXT = st.text(
    st.characters(codec="utf-8", exclude_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
    max_size=12,
)
LINE = st.one_of(
    st.builds(lambda name: f"[{name}]", WORD),
    st.builds(lambda name: f"[{name}", WORD),  # a broken header
    st.builds(
        lambda k, sep, v: f"{k}{sep}{v}",
        WORD,
        st.sampled_from(["=", " = ", ":", " : ", "= "]),
        TEXT,
    ),
    st.builds(lambda k, q, v: f"{k} = {q}{v}{q}", WORD, st.sampled_from(['"', "'"]), TEXT),
    st.builds(lambda v: f"  {v}", TEXT),  # a continuation line
    st.builds(lambda v: f"#{v}", TEXT),
    st.builds(lambda v: f";{v}", TEXT),
    st.just(""),
    TEXT,  # anything at all
)


def oslo_parse(text: str) -> dict[str, dict[str, list[str]]] | None:
    """What oslo.config's parser reads, or None when it refuses the file."""
    with tempfile.NamedTemporaryFile("w", suffix=".conf", encoding="utf-8", delete=False) as f:
        f.write(text)
    sections: dict[str, dict[str, list[str]]] = {}
    try:
        cfg.ConfigParser(f.name, sections).parse()
    except cfg.ParseError:
        return None
    finally:
        Path(f.name).unlink()
    return sections


@given(st.lists(LINE, max_size=15))
@settings(max_examples=300, deadline=None)
def test_the_same_entries_as_oslo_config(lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    theirs = oslo_parse(text)
    parsed = parse_ini(text, "t.conf")
    errors = [p for p in parsed.problems if p.is_error]
    if theirs is None:
        assert errors, "oslo.config refuses this file; anker must report an error too"
        return
    assert errors == []
    ours: dict[str, dict[str, list[str]]] = {}
    for section in parsed.sections:
        ours.setdefault(section, {})
    for entry in parsed.entries:
        ours.setdefault(entry.section, {}).setdefault(entry.key, []).append(str(entry.value))
    assert ours == theirs
