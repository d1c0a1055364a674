"""Every code example of README.md and docs/*.md runs (those that need a server run in
tests/integration/test_docs_examples_with_servers.py), or says right above it why it cannot."""

from __future__ import annotations

from pathlib import Path

import pytest

from docs_examples import LANGUAGES, PAGES, fences, run_page, skip_reasons


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_example_of_the_page_runs_or_says_why_not(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run = run_page(page, tmp_path, servers=False)
    code = {line for line, language in fences(page) if language != "text"}
    assert code <= set(run.ran) | set(run.skipped), "a code block neither ran nor was skipped"
    for line, reason in run.skipped.items():
        assert reason, f"{page.name}:{line} is skipped without a reason"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_fence_names_its_language_and_every_skip_its_reason(page: Path) -> None:
    unknown = [(line, language) for line, language in fences(page) if language not in LANGUAGES]
    assert unknown == [], f"{page.name}: fences must name one of {sorted(LANGUAGES)}"
    assert all(reason.startswith(('"', "if(")) for reason in skip_reasons(page))


def test_the_runner_fails_on_a_failing_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    page = tmp_path / "page.md"
    page.write_text("```python\nx = 1\n```\n\n```sh\nanker --version\nfalse\n```\n")
    with pytest.raises(AssertionError, match="exit status 1"):
        run_page(page, tmp_path, servers=False)
    page.write_text("```python\nassert 1 == 2\n```\n")
    with pytest.raises(AssertionError):
        run_page(page, tmp_path, servers=False)
    page.write_text('<!-- skip: next "no reason to run" -->\n```python\nassert 1 == 2\n```\n')
    assert run_page(page, tmp_path, servers=False).skipped == {2: "no reason to run"}
