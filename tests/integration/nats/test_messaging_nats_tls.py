"""TLS to NATS (ssl=true and the rabbit transport's ssl_* options), against a private server
that requires TLS, with certificates of a test CA made for the run."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from nats_support import PrivateNats

from anker.errors import InvalidOption
from anker.messaging import RPCClient, RPCServer, Target, TransportUnavailable, connect

pytestmark = pytest.mark.integration


class Echo:
    async def echo(self, context: Any, *, value: Any) -> Any:
        return value


def tls_url(server: PrivateNats, **options: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in {"ssl": "true", **options}.items())
    return f"nats://alice:s3cret-pw@localhost:{server.port}?timeout=3s&{query}"


async def test_calls_go_over_tls_to_a_server_signed_by_the_given_ca(tls_nats: PrivateNats) -> None:
    url = tls_url(tls_nats, ssl_ca_file=str(tls_nats.directory / "ca.pem"))
    async with await connect(url) as transport:
        topic = f"t{uuid.uuid4().hex[:10]}"
        async with RPCServer(transport, Target(topic=topic, server="a"), [Echo()]):
            client = RPCClient(transport, Target(topic=topic), timeout=10)
            assert await client.call(None, "echo", value="sealed") == "sealed"


async def test_a_client_certificate_is_presented(mtls_nats: PrivateNats) -> None:
    pki = mtls_nats.directory
    without = tls_url(mtls_nats, ssl_ca_file=str(pki / "ca.pem"))
    with pytest.raises(TransportUnavailable):
        await connect(without)  # the server wants a client certificate
    with_certificate = tls_url(
        mtls_nats,
        ssl_ca_file=str(pki / "ca.pem"),
        ssl_cert_file=str(pki / "client.pem"),
        ssl_key_file=str(pki / "client.key"),
    )
    async with await connect(with_certificate) as transport:
        await transport.probe()


async def test_without_tls_or_the_ca_the_server_is_refused(tls_nats: PrivateNats) -> None:
    plain = f"nats://alice:s3cret-pw@localhost:{tls_nats.port}?timeout=3s"
    with pytest.raises(TransportUnavailable) as error:
        await connect(plain)  # the server requires TLS
    assert "s3cret-pw" not in str(error.value)
    with pytest.raises(TransportUnavailable, match=r"(?i)certificate"):
        await connect(tls_url(tls_nats))  # the system's CAs do not sign the test CA


async def test_the_host_name_is_checked_unless_verify_is_off(tls_nats: PrivateNats) -> None:
    ca = str(tls_nats.directory / "ca.pem")
    by_address = f"nats://127.0.0.1:{tls_nats.port}?timeout=3s&ssl=true&ssl_ca_file={ca}"
    with pytest.raises(TransportUnavailable):
        await connect(by_address)  # the certificate names localhost, not 127.0.0.1
    async with await connect(by_address + "&ssl_verify=false") as transport:
        await transport.probe()


async def test_bad_tls_options_name_the_option_before_connecting(tmp_path: Any) -> None:
    with pytest.raises(InvalidOption, match="ssl_ca_file"):
        await connect(f"nats://127.0.0.1:4222?ssl_ca_file={tmp_path}/ca.pem")  # no ssl=true
    with pytest.raises(InvalidOption, match="ssl_ca_file"):
        await connect(f"nats://127.0.0.1:4222?ssl=true&ssl_ca_file={tmp_path}/missing.pem")


async def test_ssl_true_refuses_a_server_without_tls(private_nats: PrivateNats) -> None:
    # nats-py upgrades only when the server requires TLS: without the check, ssl=true talked
    # (password included) in plain text to a server with no TLS, and said nothing
    url = f"nats://alice:s3cret-pw@127.0.0.1:{private_nats.port}?timeout=3s&ssl=true"
    with pytest.raises(TransportUnavailable, match="does not require TLS") as error:
        await connect(url)
    assert "s3cret-pw" not in str(error.value)
