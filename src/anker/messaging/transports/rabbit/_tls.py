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
        try:
            context.load_cert_chain(settings.ssl_cert_file, settings.ssl_key_file)
        except (OSError, ssl.SSLError) as exc:
            reason = _unreadable(settings.ssl_cert_file, exc)
            raise InvalidOption("ssl_cert_file", where, reason) from exc
    if not settings.ssl_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _unreadable(path: str, exc: BaseException) -> str:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"cannot use {path}: {reason}"
