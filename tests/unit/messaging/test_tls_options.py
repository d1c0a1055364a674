"""TLS options that cannot work are an InvalidOption naming the option of the file at fault,
before anything is sent (tls_context is shared by rabbit:// and nats://; nothing listens on
port 1, so getting past the options would be a TransportUnavailable instead)."""

from __future__ import annotations

from pathlib import Path

import pytest

from anker.errors import InvalidOption
from anker.messaging import connect
from pki import make_test_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    make_test_pki(directory)
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key((directory / "client.key").read_bytes(), None)
    (directory / "encrypted.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pass phrase"),
        )
    )
    return directory


@pytest.mark.parametrize("scheme", ["rabbit://guest:guest@127.0.0.1:1/", "nats://127.0.0.1:1"])
async def test_a_bad_client_certificate_or_key_names_its_own_option(pki: Path, scheme: str) -> None:
    async def refused(**files: str) -> InvalidOption:
        query = "&".join(f"{name}={value}" for name, value in files.items())
        with pytest.raises(InvalidOption) as raised:
            await connect(f"{scheme}?timeout=1s&ssl=true&{query}")
        return raised.value

    cert = str(pki / "client.pem")
    missing = await refused(ssl_cert_file=cert, ssl_key_file=str(pki / "nope.key"))
    assert missing.option == "ssl_key_file"  # was ssl_cert_file, naming the certificate
    assert "nope.key" in str(missing)
    alone = await refused(ssl_cert_file=cert)  # was "[SSL] PEM lib (_ssl.c:3926)"
    assert alone.option == "ssl_cert_file"
    assert "holds no private key" in str(alone)
    # OpenSSL asked for the pass phrase on the terminal (blocking the event loop) and the
    # error blamed the certificate: "Invalid argument"
    encrypted = await refused(ssl_cert_file=cert, ssl_key_file=str(pki / "encrypted.key"))
    assert encrypted.option == "ssl_key_file"
    assert "the key is encrypted" in str(encrypted)
    mismatched = await refused(ssl_cert_file=cert, ssl_key_file=str(pki / "server.key"))
    assert mismatched.option == "ssl_cert_file"
    assert "mismatch" in str(mismatched)
    assert "server.key" in str(mismatched)
