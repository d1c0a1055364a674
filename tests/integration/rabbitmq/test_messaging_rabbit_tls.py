"""TLS to RabbitMQ (ssl=true and oslo.messaging's ssl_* options), against a private broker
with a TLS listener and certificates of a test CA made for the run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from anker.errors import InvalidOption
from anker.messaging import RPCClient, RPCServer, Target, Transport, TransportUnavailable
from rabbit_support import PrivateRabbit, _open, private_node

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tls_rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRabbit]:
    yield from private_node(tmp_path_factory, tls=True)


def tls_url(node: PrivateRabbit, **options: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in {"ssl": "true", **options}.items())
    return f"rabbit://guest:s3cret-guest@localhost:{node.tls_port}/?{query}"


class Echo:
    async def echo(self, context: Any, *, value: Any) -> Any:
        return value


async def rpc_round_trip(transport: Transport) -> Any:
    topic = f"t{uuid.uuid4().hex[:10]}"
    async with RPCServer(transport, Target(topic=topic), [Echo()]):
        return await RPCClient(transport, Target(topic=topic), timeout=10).call(
            {}, "echo", value={"over": "tls"}
        )


async def test_calls_go_over_tls_to_a_broker_signed_by_the_given_ca(
    tls_rabbit: PrivateRabbit, transports: list[Transport]
) -> None:
    url = tls_url(tls_rabbit, ssl_ca_file=str(tls_rabbit.directory / "ca.pem"))
    # guest's real password is "guest": a wrong one is refused only after TLS succeeded
    transport = await _open(transports, url.replace("s3cret-guest", "guest"))
    assert await rpc_round_trip(transport) == {"over": "tls"}


async def test_a_client_certificate_is_presented(
    tls_rabbit: PrivateRabbit, transports: list[Transport]
) -> None:
    directory = tls_rabbit.directory
    url = tls_url(
        tls_rabbit,
        ssl_ca_file=str(directory / "ca.pem"),
        ssl_cert_file=str(directory / "client.pem"),
        ssl_key_file=str(directory / "client.key"),
    ).replace("s3cret-guest", "guest")
    transport = await _open(transports, url)
    assert await rpc_round_trip(transport) == {"over": "tls"}


async def test_a_broker_the_system_cas_do_not_sign_is_refused(
    tls_rabbit: PrivateRabbit,
) -> None:
    with pytest.raises(TransportUnavailable) as refused:
        await _open([], tls_url(tls_rabbit), timeout=3)
    message = str(refused.value)
    assert "CERTIFICATE_VERIFY_FAILED" in message or "certificate verify failed" in message
    assert "s3cret-guest" not in message


async def test_the_host_name_is_checked_unless_verify_is_off(
    tls_rabbit: PrivateRabbit, transports: list[Transport]
) -> None:
    ca = str(tls_rabbit.directory / "ca.pem")
    # the certificate names localhost, not 127.0.0.1 (the same broker)
    wrong_name = tls_url(tls_rabbit, ssl_ca_file=ca).replace("localhost", "127.0.0.1")
    with pytest.raises(TransportUnavailable, match=r"(?i)mismatch|doesn't match|not valid for"):
        await _open([], wrong_name.replace("s3cret-guest", "guest"), timeout=3)
    unchecked = tls_url(tls_rabbit, ssl_verify="false").replace("s3cret-guest", "guest")
    transport = await _open(transports, unchecked)
    assert await rpc_round_trip(transport) == {"over": "tls"}


async def test_plain_amqp_to_the_tls_port_fails_within_the_timeout(
    tls_rabbit: PrivateRabbit,
) -> None:
    with pytest.raises(TransportUnavailable):
        await _open([], f"rabbit://guest:guest@localhost:{tls_rabbit.tls_port}/", timeout=3)


async def test_bad_tls_options_name_the_option_before_connecting(
    tls_rabbit: PrivateRabbit, tmp_path: Any
) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(InvalidOption, match=r"option 'ssl_ca_file' .*nope\.pem") as bad:
        await _open([], tls_url(tls_rabbit, ssl_ca_file=str(missing)))
    assert bad.value.option == "ssl_ca_file"
    not_a_cert = tmp_path / "garbage.pem"
    not_a_cert.write_text("not a certificate\n")
    with pytest.raises(InvalidOption, match="ssl_cert_file"):
        await _open(
            [],
            tls_url(
                tls_rabbit,
                ssl_cert_file=str(not_a_cert),
                ssl_key_file=str(tls_rabbit.directory / "client.key"),
            ),
        )
    with pytest.raises(InvalidOption, match=r"ssl_key_file.*needs its ssl_cert_file"):
        await _open([], tls_url(tls_rabbit, ssl_key_file=str(tls_rabbit.directory / "client.key")))
    with pytest.raises(InvalidOption, match="TLS options need ssl=true"):
        await _open(
            [],
            f"rabbit://localhost:{tls_rabbit.port}/?ssl_ca_file={tls_rabbit.directory}/ca.pem",
        )
    with pytest.raises(InvalidOption, match="did you mean 'ssl_ca_file'"):
        await _open([], tls_url(tls_rabbit, ssl_cafile="x"))
