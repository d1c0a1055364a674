"""The INI reader follows oslo.config's dialect and reports every problem with its line."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from anker.config._ini import MAX_FILE_BYTES, IniFile, parse_ini
from anker.config._sources import read_file


def entries(text: str) -> list[tuple[str, str, object, int | None]]:
    parsed = parse_ini(text, "t.conf")
    assert [p for p in parsed.problems if p.is_error] == []
    return [(e.section, e.key, e.value, e.line) for e in parsed.entries]


def problems(text: str) -> list[str]:
    return [str(p) for p in parse_ini(text, "t.conf").problems]


def test_the_oslo_dialect() -> None:
    text = (
        "# a comment\n"
        "; another\n"
        "[DEFAULT]\n"
        "debug = true\n"
        "host: example.org\n"
        "url = http://h:80/x\n"  # '=' comes before ':' so it separates
        "name : a=b\n"  # ':' comes first
        'quoted = "  spaced  "\n'
        "single = 'x'\n"
        "mismatched = \"x'\n"
        "empty =\n"
        'lone = "\n'
        "\n"
        "[database]\n"
        "connection=sqlite://\n"
    )
    assert entries(text) == [
        ("DEFAULT", "debug", "true", 4),
        ("DEFAULT", "host", "example.org", 5),
        ("DEFAULT", "url", "http://h:80/x", 6),
        ("DEFAULT", "name", "a=b", 7),
        ("DEFAULT", "quoted", "  spaced  ", 8),
        ("DEFAULT", "single", "x", 9),
        ("DEFAULT", "mismatched", "\"x'", 10),
        ("DEFAULT", "empty", "", 11),
        ("DEFAULT", "lone", "", 12),
        ("database", "connection", "sqlite://", 15),
    ]


def test_continuation_lines_join_with_newlines_until_a_blank_line() -> None:
    text = "[s]\nkey = first\n  second\n\tthird\n\nother = x\n"
    assert entries(text) == [("s", "key", "first\nsecond\nthird", 2), ("s", "other", "x", 6)]


def test_an_indented_hash_continues_a_value_and_a_first_column_hash_ends_it() -> None:
    text = "[s]\nkey = a\n  # still the value\n# a comment\n  stray\n"
    parsed = parse_ini(text, "t.conf")
    assert [(e.key, e.value) for e in parsed.entries] == [("key", "a\n# still the value")]
    assert [str(p) for p in parsed.problems] == [
        "t.conf:5: error: indented line continues no value"
    ]


def test_repeated_keys_keep_every_value_in_order() -> None:
    text = "[s]\nns = a\nns = b\n[t]\nx = 1\n[s]\nns = c\n"
    assert [e.value for e in parse_ini(text, "t").entries if e.key == "ns"] == ["a", "b", "c"]


def test_crlf_and_cr_line_ends() -> None:
    assert entries("[s]\r\na = 1\r\nb = 2\rc = 3") == [
        ("s", "a", "1", 2),
        ("s", "b", "2", 3),
        ("s", "c", "3", 4),
    ]


def test_every_syntax_error_is_reported_with_its_line_not_just_the_first() -> None:
    text = "orphan = 1\n[bad\n[]\n[s]\nno separator\n= value\n  \n"
    assert problems(text) == [
        "t.conf:1: error: 'orphan' is set before any [section]",
        "t.conf:2: error: section header '[bad' must end with ']'",
        "t.conf:3: error: empty section name",
        "t.conf:5: error: no '=' or ':' in 'no separator'",
        "t.conf:6: error: empty key in '= value'",
    ]


def test_bom_duplicate_section_and_unclosed_quote_are_warnings() -> None:
    text = '\ufeff[s]\na = "open\n[s]\nb = 1\n'
    parsed = parse_ini(text, "t.conf")
    assert [(e.key, e.value) for e in parsed.entries] == [("a", '"open'), ("b", "1")]
    assert [str(p) for p in parsed.problems] == [
        "t.conf:1: warning: starts with a UTF-8 byte order mark (ignored)",
        "t.conf:2: warning: the value of 'a' opens a quote it does not close (kept as written)",
        "t.conf:3: warning: [s] appears again (first at line 1); its entries are merged",
    ]


def test_unreadable_files_are_problems_not_tracebacks(tmp_path: Path) -> None:
    missing = read_file(str(tmp_path / "nope.conf"))
    assert [str(p) for p in missing.problems] == [f"{tmp_path / 'nope.conf'}: error: no such file"]
    directory = read_file(str(tmp_path))
    assert "is a directory" in str(directory.problems[0])
    binary = tmp_path / "bin.conf"
    binary.write_bytes(b"[s]\na = 1\nb = \xff\xfe\n")
    assert [str(p) for p in read_file(str(binary)).problems] == [
        f"{binary}:3: error: byte 0xff is not valid UTF-8"
    ]
    huge = tmp_path / "huge.conf"
    with huge.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    assert "is larger than 16 MiB" in str(read_file(str(huge)).problems[0])


def test_a_path_that_cannot_be_opened_says_why(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file.conf"
    not_a_dir.write_text("[s]\n")
    result = read_file(str(not_a_dir / "x.conf"))
    assert [str(p) for p in result.problems] == [
        f"{not_a_dir / 'x.conf'}: error: cannot be read: Not a directory"
    ]


@given(st.text(max_size=300))
def test_any_text_parses_into_entries_and_located_problems(text: str) -> None:
    parsed = parse_ini(text, "fuzz.conf")
    assert isinstance(parsed, IniFile)
    line_count = text.replace("\r\n", "\n").replace("\r", "\n").count("\n") + 1
    for problem in parsed.problems:
        assert problem.file == "fuzz.conf"
        assert problem.line is not None
        assert 1 <= problem.line <= line_count
    for entry in parsed.entries:
        assert entry.key == entry.key.strip()
        assert entry.key


@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True),
            st.text(
                st.characters(
                    codec="utf-8", exclude_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
                ),
                max_size=20,
            )
            .map(str.strip)
            .filter(lambda v: v[:1] not in "\"'"),
        ),
        max_size=10,
    )
)
def test_written_assignments_read_back(pairs: list[tuple[str, str]]) -> None:
    text = "[s]\n" + "".join(f"{key} = {value}\n" for key, value in pairs)
    assert [(e.key, e.value) for e in parse_ini(text, "t").entries] == pairs
