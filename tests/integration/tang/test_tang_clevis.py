"""anker and clevis open each other's Tang bindings, through real tangd servers.

Uses the two shared Tang servers (``scripts/services --only tang``), private tangd instances
for the tests that stop a server, and the real ``clevis`` command as the independent peer.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from anker.secrets._jwe import b64url_decode, b64url_encode, dumps, thumbprint
from anker.secrets._tang import TangError, bind, fetch_advertisement, recover
from servers import PrivateTang

pytestmark = pytest.mark.integration

CLEVIS_TIMEOUT = 60.0


async def run(argv: list[str], data: bytes) -> tuple[int, bytes, bytes]:
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    async with asyncio.timeout(CLEVIS_TIMEOUT):
        out, err = await process.communicate(data)
    assert process.returncode is not None
    return process.returncode, out, err


async def clevis_decrypt(command: str, jwe: str) -> bytes:
    code, out, err = await run([command, "decrypt"], jwe.encode())  # no trailing newline
    assert code == 0, err.decode()
    return out


async def clevis_encrypt(command: str, pin: str, config: object, secret: bytes) -> str:
    code, out, err = await run([command, "encrypt", pin, json.dumps(config), "-y"], secret)
    assert code == 0, err.decode()
    return out.decode()


def sss_config(urls: list[str], threshold: int) -> dict[str, object]:
    return {"t": threshold, "pins": {"tang": [{"url": url} for url in urls]}}


def header(jwe: str) -> dict[str, object]:
    return json.loads(b64url_decode(jwe.split(".", 1)[0], "header"))  # type: ignore[no-any-return]


def with_header(jwe: str, **changes: object) -> str:
    rest = jwe.split(".", 1)[1]
    return f"{b64url_encode(dumps({**header(jwe), **changes}).encode())}.{rest}"


# ---------------------------------------------------------------------------- one server
async def test_anker_binds_and_clevis_decrypts(tang_url: str, clevis: str) -> None:
    secret = os.urandom(32)
    jwe = await bind(secret, [tang_url])
    assert header(jwe)["clevis"] == {  # type: ignore[comparison-overlap]
        "pin": "tang",
        "tang": {"adv": header(jwe)["clevis"]["tang"]["adv"], "url": tang_url},  # type: ignore[index]
    }
    assert await clevis_decrypt(clevis, jwe) == secret
    assert await recover(jwe) == secret


async def test_clevis_binds_and_anker_recovers(tang_url: str, clevis: str) -> None:
    secret = b"a master key \x00\xff from clevis"
    jwe = await clevis_encrypt(clevis, "tang", {"url": tang_url}, secret)
    assert await recover(jwe) == secret
    assert await recover(jwe + "\n") == secret


async def test_the_advertisement_names_the_servers_key(private_tang: PrivateTang) -> None:
    adv = await fetch_advertisement(private_tang.url)
    files = {path.name.removesuffix(".jwk") for path in private_tang.keys.glob("*.jwk")}
    assert adv.kid in files
    assert {thumbprint(key) for key in adv.signing_keys} < files


# ---------------------------------------------------------------------------- sss
@pytest.mark.parametrize("threshold", [1, 2])
async def test_anker_binds_sss_and_clevis_decrypts(
    tang_urls: list[str], clevis: str, threshold: int
) -> None:
    secret = os.urandom(64)
    jwe = await bind(secret, tang_urls, threshold=threshold)
    assert header(jwe)["alg"] == "dir"
    assert await clevis_decrypt(clevis, jwe) == secret
    assert await recover(jwe) == secret


@pytest.mark.parametrize("threshold", [1, 2])
async def test_clevis_binds_sss_and_anker_recovers(
    tang_urls: list[str], clevis: str, threshold: int
) -> None:
    secret = b"sss secret from clevis"
    jwe = await clevis_encrypt(clevis, "sss", sss_config(tang_urls, threshold), secret)
    assert await recover(jwe) == secret


async def test_recovery_needs_only_threshold_servers(
    tang_url: str, private_tang: PrivateTang, clevis: str
) -> None:
    urls = [tang_url, private_tang.url]
    secret = os.urandom(32)
    one_of_two = [
        await bind(secret, urls, threshold=1),
        await clevis_encrypt(clevis, "sss", sss_config(urls, 1), secret),
    ]
    two_of_two = await bind(secret, urls, threshold=2)
    private_tang.stop()
    for jwe in one_of_two:
        assert await recover(jwe, timeout=5) == secret
        assert await clevis_decrypt(clevis, jwe) == secret
    with pytest.raises(TangError) as caught:
        await recover(two_of_two, timeout=5)
    assert str(caught.value).startswith("cannot recover: 2 of 2 Tang servers needed, 1 failed (")
    [failure] = caught.value.failures
    assert failure.url == private_tang.url
    assert "POST /rec/" in failure.reason
    assert "ConnectError" in failure.reason
    assert secret.hex() not in str(caught.value)


async def test_all_servers_unreachable(
    private_tang: PrivateTang, tmp_path: Path, clevis: str
) -> None:
    second = PrivateTang(tmp_path / "second")
    second.start()
    try:
        urls = [private_tang.url, second.url]
        bindings = [
            await bind(b"k", urls[:1]),
            await bind(b"k", urls, threshold=1),
            await clevis_encrypt(clevis, "sss", sss_config(urls, 1), b"k"),
        ]
    finally:
        second.stop()
    private_tang.stop()
    for jwe in bindings:
        with pytest.raises(TangError) as caught:
            await recover(jwe, timeout=5)
        assert private_tang.url in str(caught.value)
    assert second.url in str(caught.value)
    assert len(caught.value.failures) == 2
    with pytest.raises(TangError, match="cannot bind: 2 of 2 Tang servers failed") as bound:
        await bind(b"k", urls, timeout=5)
    assert {failure.url for failure in bound.value.failures} == set(urls)


# ---------------------------------------------------------------------------- tampering
def flip(jwe: str, part: int) -> str:
    parts = jwe.split(".")
    data = bytearray(b64url_decode(parts[part], "part"))
    data[len(data) // 2] ^= 0x01
    parts[part] = b64url_encode(bytes(data))
    return ".".join(parts)


async def test_a_tampered_jwe_never_gives_bytes(tang_urls: list[str], clevis: str) -> None:
    secret = b"do not return anything else"
    bindings = [
        await bind(secret, tang_urls[:1]),
        await bind(secret, tang_urls, threshold=1),
        await clevis_encrypt(clevis, "tang", {"url": tang_urls[0]}, secret),
        await clevis_encrypt(clevis, "sss", sss_config(tang_urls, 2), secret),
    ]
    for jwe in bindings:
        for part in (0, 2, 3, 4):
            with pytest.raises(TangError) as caught:
                await recover(flip(jwe, part))
            assert secret.decode() not in str(caught.value)
        with pytest.raises(TangError, match="5 dot-separated parts"):
            await recover(jwe.rsplit(".", 1)[0])


async def test_a_header_pointing_elsewhere_fails(tang_urls: list[str]) -> None:
    jwe = await bind(b"secret", tang_urls[:1])
    clevis_header = header(jwe)["clevis"]
    tang = clevis_header["tang"]  # type: ignore[index]
    moved = {**clevis_header, "tang": {**tang, "url": tang_urls[1]}}  # type: ignore[dict-item]
    with pytest.raises(TangError, match=r"answered HTTP 404 \(the server no longer has") as caught:
        await recover(with_header(jwe, clevis=moved))
    assert caught.value.url == tang_urls[1]
    signing = next(key for key in tang["adv"]["keys"] if "verify" in key["key_ops"])
    with pytest.raises(TangError, match="answered HTTP 403"):
        await recover(with_header(jwe, kid=thumbprint(signing)))
    with pytest.raises(TangError, match="is not in its advertisement"):
        await recover(with_header(jwe, kid="A" * 43))


# ---------------------------------------------------------------------------- key rotation
async def test_rotated_keys_still_recover_until_deleted(private_tang: PrivateTang) -> None:
    jwe = await bind(b"old binding", [private_tang.url])
    before = (await fetch_advertisement(private_tang.url)).kid
    rotate = ["/usr/libexec/tangd-rotate-keys", "-d", str(private_tang.keys)]
    subprocess.run(rotate, check=True, capture_output=True)  # noqa: ASYNC221 (a quick local tool)
    assert (await fetch_advertisement(private_tang.url)).kid != before
    assert await recover(jwe) == b"old binding"
    for hidden in private_tang.keys.glob(".*.jwk"):
        hidden.unlink()
    with pytest.raises(TangError, match="HTTP 404") as caught:
        await recover(jwe)
    assert caught.value.url == private_tang.url


# ---------------------------------------------------------------------------- bad servers
async def test_a_silent_server_times_out() -> None:
    writers: list[asyncio.StreamWriter] = []
    finished = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.read()  # never answers; returns when the connection closes
        finished.set()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(TangError, match=r"GET /adv got no answer within 0\.3 s") as caught:
            await fetch_advertisement(f"http://127.0.0.1:{port}", timeout=0.3)
        assert loop.time() - began < 2
        assert caught.value.url == f"http://127.0.0.1:{port}"
        for writer in writers:
            writer.close()
        async with asyncio.timeout(5):
            await finished.wait()
            for writer in writers:
                await writer.wait_closed()


async def test_a_server_that_is_not_tang(tang_url: str) -> None:
    with pytest.raises(TangError, match="GET /adv answered HTTP 404"):
        await fetch_advertisement(f"{tang_url}/not-here")
    with pytest.raises(TangError, match="not an http"):
        await fetch_advertisement("ftp://127.0.0.1:8561")


# ---------------------------------------------------------------------------- pinning
def jose_thumbprint(key_file: Path, algorithm: str = "S256") -> str:
    """The thumbprint jose (clevis's library) gives a key file: the independent check."""
    done = subprocess.run(
        ["jose", "jwk", "thp", "-i", str(key_file), "-a", algorithm],
        capture_output=True,
        check=True,
        timeout=30,
    )
    return done.stdout.decode().strip()


def key_file(tang: PrivateTang, operation: str) -> Path:
    """The server's (visible) key file whose key_ops include ``operation``."""
    [found] = [
        path
        for path in tang.keys.glob("*.jwk")
        if not path.name.startswith(".")  # rotated keys: hidden from /adv
        and operation in json.loads(path.read_text())["key_ops"]
    ]
    return found


@pytest.mark.parametrize("algorithm", ["S256", "S1"])
async def test_anker_binds_pinned_and_clevis_decrypts(
    private_tang: PrivateTang, clevis: str, algorithm: str
) -> None:
    pin = jose_thumbprint(key_file(private_tang, "verify"), algorithm)
    secret = os.urandom(32)
    jwe = await bind(secret, [private_tang.url], thumbprints=[pin])
    assert await clevis_decrypt(clevis, jwe) == secret
    assert await recover(jwe) == secret
    adv = await fetch_advertisement(private_tang.url, thumbprints=[pin])
    assert adv.thumbprints == (jose_thumbprint(key_file(private_tang, "verify")),)


async def test_pinned_sss_bindings_open_both_ways(
    private_tang: PrivateTang, tmp_path: Path, clevis: str
) -> None:
    second = PrivateTang(tmp_path / "second")
    second.start()
    try:
        tangs = [private_tang, second]
        pins = {tang.url: [jose_thumbprint(key_file(tang, "verify"))] for tang in tangs}
        secret = os.urandom(32)
        ours = await bind(secret, list(pins), threshold=2, thumbprints=pins)
        assert await clevis_decrypt(clevis, ours) == secret
        # clevis with thp and without -y: it asks nobody, as the pin is the trust decision
        config = {"t": 2, "pins": {"tang": [{"url": u, "thp": p[0]} for u, p in pins.items()]}}
        code, out, err = await run([clevis, "encrypt", "sss", json.dumps(config)], secret)
        assert code == 0, err.decode()
        assert await recover(out.decode()) == secret
    finally:
        second.stop()


async def test_clevis_binds_pinned_and_anker_recovers(
    private_tang: PrivateTang, clevis: str
) -> None:
    pin = jose_thumbprint(key_file(private_tang, "verify"))
    config = json.dumps({"url": private_tang.url, "thp": pin})
    code, out, err = await run([clevis, "encrypt", "tang", config], b"pinned by clevis")
    assert code == 0, err.decode()
    assert await recover(out.decode()) == b"pinned by clevis"


async def test_a_key_clevis_refuses_to_pin_anker_refuses_too(
    private_tang: PrivateTang, clevis: str
) -> None:
    signing = key_file(private_tang, "verify")
    old_pin = jose_thumbprint(signing)
    wrong = [jose_thumbprint(key_file(private_tang, "deriveKey")), "A" * 43]
    rotate = ["/usr/libexec/tangd-rotate-keys", "-d", str(private_tang.keys)]
    subprocess.run(rotate, check=True, capture_output=True)  # noqa: ASYNC221 (a quick local tool)
    wrong.append(old_pin)  # rotated: hidden from /adv, as clevis sees it too
    for pin in wrong:
        config = json.dumps({"url": private_tang.url, "thp": pin})
        code, _, err = await run([clevis, "encrypt", "tang", config], b"x")
        assert code == 1, f"clevis bound to {pin}"
        assert b"Unable to fetch" in err or b"did not sign the advertisement" in err
        with pytest.raises(TangError, match="cannot bind: 1 of 1") as caught:
            await bind(b"x", [private_tang.url], thumbprints=[pin])
        [failure] = caught.value.failures
        assert failure.url == private_tang.url
        assert f"not signed by the pinned key {pin} " in failure.reason
    new_pin = jose_thumbprint(key_file(private_tang, "verify"))
    assert new_pin != old_pin
    assert await recover(await bind(b"y", [private_tang.url], thumbprints=[new_pin])) == b"y"
