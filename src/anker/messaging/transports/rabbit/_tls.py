"""TLS to RabbitMQ: the SSL context the rabbit transport's settings ask for."""

from __future__ import annotations

import ssl
from typing import Any

from anker.errors import InvalidOption

__all__ = ["DEFAULT_TLS_PORT", "tls_context"]

#: AMQP over TLS, where the URL names no port
DEFAULT_TLS_PORT = 5671


def tls_context(settings: Any, where: str) -> ssl.SSLContext | None:
    """The context for ``settings`` (``ssl``, ``ssl_ca_file``, ``ssl_cert_file``,
    ``ssl_key_file``, ``ssl_verify``), or None without ``ssl``. A file that cannot be read or
    is not what its option says is an :class:`~anker.errors.InvalidOption` naming the option,
    before anything is sent to the broker."""
    files = ("ssl_ca_file", "ssl_cert_file", "ssl_key_file")
    if not settings.ssl:
        given = [name for name in files if getattr(settings, name) is not None]
        if given:
            raise InvalidOption(given[0], where, "TLS options need ssl=true")
        return None
    if settings.ssl_key_file is not None and settings.ssl_cert_file is None:
        raise InvalidOption("ssl_key_file", where, "a key needs its ssl_cert_file")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if settings.ssl_ca_file is not None:
        try:
            context.load_verify_locations(cafile=settings.ssl_ca_file)
        except (OSError, ssl.SSLError) as exc:
            reason = _unreadable(settings.ssl_ca_file, exc)
            raise InvalidOption("ssl_ca_file", where, reason) from exc
    if settings.ssl_cert_file is not None:
        _load_client_certificate(context, settings.ssl_cert_file, settings.ssl_key_file, where)
    if not settings.ssl_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _Encrypted(Exception):
    """Raised instead of OpenSSL asking for the key's pass phrase on the terminal."""


def _no_pass_phrase() -> str:
    raise _Encrypted


def _load_client_certificate(
    context: ssl.SSLContext, cert_file: str, key_file: str | None, where: str
) -> None:
    """The client certificate and its key into ``context``; what is wrong with either is an
    ``InvalidOption`` naming the option of the file at fault."""
    texts = {}
    for option, path in (("ssl_cert_file", cert_file), ("ssl_key_file", key_file)):
        if path is not None:
            try:
                with open(path, "rb") as file:
                    texts[option] = file.read()
            except OSError as exc:
                raise InvalidOption(option, where, _unreadable(path, exc)) from exc
    if key_file is None and b"PRIVATE KEY-----" not in texts["ssl_cert_file"]:
        reason = f"{cert_file} holds no private key: give the key's file as ssl_key_file"
        raise InvalidOption("ssl_cert_file", where, reason)
    try:  # a password callback: OpenSSL would otherwise prompt on the terminal, and block
        context.load_cert_chain(cert_file, key_file, password=_no_pass_phrase)
    except _Encrypted:
        option, path = (
            ("ssl_cert_file", cert_file) if key_file is None else ("ssl_key_file", key_file)
        )
        reason = f"{path}: the key is encrypted; give it unencrypted (readable by the service only)"
        raise InvalidOption(option, where, reason) from None
    except (OSError, ssl.SSLError) as exc:
        reason = _unreadable(cert_file, exc)
        if key_file is not None:
            reason += f" (with the key {key_file})"
        raise InvalidOption("ssl_cert_file", where, reason) from exc


def _unreadable(path: str, exc: BaseException) -> str:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"cannot use {path}: {reason}"
