"""Certificates of a test CA, made for a run, for the TLS tests of the brokers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["make_test_pki"]


def make_test_pki(directory: Path) -> None:
    """A test CA (``ca.pem``), a certificate it signs for the name localhost
    (``server.pem``, ``server.key``) and a client certificate (``client.pem``,
    ``client.key``), written to ``directory``; readable by the broker's own user."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def certificate(subject: str, key: Any, issuer: x509.Name, signer: Any) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
        )
        if subject == "anker test CA":
            builder = builder.add_extension(x509.BasicConstraints(True, None), critical=True)
        elif subject == "localhost":
            hosts = [x509.DNSName("localhost")]  # not 127.0.0.1: the host-name check is tested
            builder = builder.add_extension(x509.SubjectAlternativeName(hosts), critical=False)
        return builder.sign(signer, hashes.SHA256())

    def write(stem: str, cert: Any, key: Any | None) -> None:
        (directory / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        if key is not None:
            (directory / f"{stem}.key").write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate("anker test CA", ca_key, name("anker test CA"), ca_key)
    write("ca", ca, None)
    for stem, subject in (("server", "localhost"), ("client", "anker test client")):
        key = ec.generate_private_key(ec.SECP256R1())
        write(stem, certificate(subject, key, ca.subject, ca_key), key)
