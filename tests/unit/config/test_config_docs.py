"""Every Python example in docs/config.md runs, in order, as a reader would run them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "config.md"


def test_the_examples_in_the_user_guide_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "docs_config_example"}
    for number, block in enumerate(blocks, start=1):
        code = compile(block, f"{DOC.name} example {number}", "exec", dont_inherit=True)
        exec(code, namespace)
