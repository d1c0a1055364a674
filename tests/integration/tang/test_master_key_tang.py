"""A local store whose master key is bound to Tang: usable only while Tang answers."""

from __future__ import annotations

import asyncio
import base64
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from anker.cli import cli
from anker.secrets import KeyManager
from anker.secrets._master import decode_master_key
from anker.secrets._tang import TangError
from servers import PrivateTang

pytestmark = pytest.mark.integration


def bind_tang(key_file: Path, jwe: Path, urls: list[str], threshold: int = 1) -> None:
    args = ["secrets", "bind-tang", "--master-key-file", str(key_file), "-o", str(jwe)]
    args += [part for url in urls for part in ("--url", url)] + ["--threshold", str(threshold)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output


def test_a_tang_bound_store_opens_while_tang_answers(
    tmp_path: Path, tang_urls: list[str], clevis: str
) -> None:
    key_file, jwe = tmp_path / "master.key", tmp_path / "master.jwe"
    assert CliRunner().invoke(cli, ["secrets", "init", str(key_file)]).exit_code == 0
    bind_tang(key_file, jwe, tang_urls)
    key = decode_master_key(key_file.read_bytes(), str(key_file))
    assert base64.b64encode(key) not in jwe.read_bytes()
    # clevis, the independent peer, recovers the same key from anker's binding
    recovered = subprocess.run(
        [clevis, "decrypt"], input=jwe.read_bytes(), capture_output=True, timeout=60, check=True
    ).stdout
    assert recovered == key
    store = f"local://{tmp_path}/store"

    async def write_then_read() -> str:
        async with await KeyManager.initialize(f"{store}?master_key_tang={jwe}") as km:
            key_id = await km.store("passphrase", "behind tang", name="p")
        async with await KeyManager.open(f"{store}?master_key_file={key_file}") as km:
            return (await km.get(key_id)).text()

    assert asyncio.run(write_then_read()) == "behind tang"


def test_without_tang_the_store_does_not_open(tmp_path: Path, private_tang: PrivateTang) -> None:
    key_file, jwe = tmp_path / "master.key", tmp_path / "master.jwe"
    assert CliRunner().invoke(cli, ["secrets", "init", str(key_file)]).exit_code == 0
    bind_tang(key_file, jwe, [private_tang.url])
    store = f"local://{tmp_path}/store?master_key_tang={jwe}"

    async def make_store() -> None:
        async with await KeyManager.initialize(store):
            pass

    async def use_store() -> None:
        async with await KeyManager.open(store) as km:
            await km.create_key()

    asyncio.run(make_store())
    asyncio.run(use_store())
    private_tang.stop()
    with pytest.raises(TangError, match=private_tang.url.removeprefix("http://")):
        asyncio.run(use_store())
