"""A local store whose master key is bound to Tang: usable only while Tang answers."""

from __future__ import annotations

import asyncio
import base64
import json
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


def signing_thumbprint(tang: PrivateTang, algorithm: str = "S256") -> str:
    """The server's signing-key thumbprint, as jose (clevis's library) computes it."""
    [key_file] = [
        path
        for path in tang.keys.glob("*.jwk")
        if not path.name.startswith(".") and "verify" in json.loads(path.read_text())["key_ops"]
    ]
    command = ["jose", "jwk", "thp", "-i", str(key_file), "-a", algorithm]
    return subprocess.run(command, capture_output=True, check=True, timeout=30).stdout.decode()


def bind_args(key_file: Path, jwe: Path, *more: str) -> list[str]:
    return ["secrets", "bind-tang", "--master-key-file", str(key_file), "-o", str(jwe), *more]


def test_bind_tang_prints_the_thumbprints_to_pin_and_pins_them(
    tmp_path: Path, tang_url: str, private_tang: PrivateTang, clevis: str
) -> None:
    key_file = tmp_path / "master.key"
    assert CliRunner().invoke(cli, ["secrets", "init", str(key_file)]).exit_code == 0
    first = CliRunner().invoke(cli, bind_args(key_file, tmp_path / "a.jwe", "--url", tang_url))
    assert first.exit_code == 0, first.output
    lines = first.stdout.splitlines()
    assert lines[1].startswith(f"  {tang_url} signing key ")
    assert lines[1].endswith(" (not pinned)")
    assert "pin them with --thumbprint" in lines[2]
    shared_pin = lines[1].split()[3]  # what an operator would check, then pin
    own_pin = signing_thumbprint(private_tang, "S1")
    urls = ["--url", tang_url, "--url", private_tang.url]
    pins = ["--thumbprint", f"{tang_url}={shared_pin}", "--thumbprint", own_pin]
    jwe = tmp_path / "b.jwe"
    result = CliRunner().invoke(
        cli, bind_args(key_file, jwe, *urls, *pins, "--threshold", "2", "--format", "json")
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "master_key_file": str(key_file),
        "output": str(jwe),
        "threshold": 2,
        "servers": [
            {"url": tang_url, "thumbprints": [shared_pin], "pinned": True},
            {
                "url": private_tang.url,
                "thumbprints": [signing_thumbprint(private_tang)],
                "pinned": True,
            },
        ],
    }
    key = decode_master_key(key_file.read_bytes(), str(key_file))
    recovered = subprocess.run(
        [clevis, "decrypt"], input=jwe.read_bytes(), capture_output=True, timeout=60, check=True
    ).stdout
    assert recovered == key


def test_bind_tang_refuses_a_server_no_pinned_key_signed_for(
    tmp_path: Path, tang_url: str, private_tang: PrivateTang
) -> None:
    key_file, jwe = tmp_path / "master.key", tmp_path / "master.jwe"
    assert CliRunner().invoke(cli, ["secrets", "init", str(key_file)]).exit_code == 0
    own = signing_thumbprint(private_tang)
    urls = ["--url", private_tang.url, "--url", tang_url]
    result = CliRunner().invoke(cli, bind_args(key_file, jwe, *urls, "--thumbprint", own))
    assert result.exit_code == 1
    assert f"Tang server {tang_url}: the advertisement is not signed by the pinned key {own}" in (
        result.stderr
    )
    assert private_tang.url + ":" not in result.stderr, "the other server was fine"
    assert not jwe.exists()
    for pins, message in [
        ([f"http://elsewhere={own}"], "http://elsewhere is not one of the --url servers"),
        ([f"{tang_url}={own}"], "pin every server or none"),
        (["nope"], "'nope' is not an RFC 7638 thumbprint"),
    ]:
        args = [part for pin in pins for part in ("--thumbprint", pin)]
        result = CliRunner().invoke(cli, bind_args(key_file, jwe, *urls, *args))
        assert result.exit_code == 2, result.output
        assert message in result.stderr
    assert not jwe.exists()
