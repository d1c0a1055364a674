"""The progress bar of commands reading large files: it follows the bytes read, only for a
large regular file in front of a person, and leaves the data as it is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from anker.cli._progress import MIN_SIZE, reading
from anker.secrets.envelope import decrypt_file, encrypt_file


def test_a_large_file_is_read_behind_a_bar_that_reaches_its_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "image.raw"
    data = os.urandom(1024) * (MIN_SIZE // 1024 + 3)
    source.write_bytes(data)
    key = os.urandom(32)
    with reading(str(source), "encrypting image.raw", show=True) as read_from:
        assert not isinstance(read_from, str)
        encrypt_file(read_from, str(tmp_path / "image.raw.ake"), key, kek_id="k", kek_version=1)
    # off a terminal click shows the label only; the bar itself: test_secrets_cli_terminal
    assert "encrypting image.raw" in capsys.readouterr().err
    decrypt_file(str(tmp_path / "image.raw.ake"), str(tmp_path / "back"), lambda *_: key)
    assert (tmp_path / "back").read_bytes() == data


@pytest.mark.parametrize("size", [0, 10, MIN_SIZE - 1])
def test_no_bar_for_small_files_nor_when_nobody_watches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], size: int
) -> None:
    small = tmp_path / "small"
    small.write_bytes(b"x" * size)
    with reading(str(small), "reading", show=True) as read_from:
        assert read_from == str(small)
    big = tmp_path / "big"
    big.write_bytes(b"x" * MIN_SIZE)
    with reading(str(big), "reading") as read_from:  # standard error is not a terminal here
        assert read_from == str(big)
    with reading("-", "reading", show=True) as read_from:
        assert read_from == "-"
    assert capsys.readouterr().err == ""
