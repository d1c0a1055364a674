"""The errors of anker.secrets; each names the object, store or file it is about."""

from __future__ import annotations

from collections.abc import Sequence

from anker.errors import AnkerError, Unavailable

__all__ = [
    "SecretInUse",
    "SecretNotFound",
    "SecretTampered",
    "SecretsError",
    "StoreUnavailable",
    "TangError",
    "WrongMasterKey",
]


class SecretsError(AnkerError):
    """Something went wrong storing, finding or decrypting a secret."""


class SecretNotFound(SecretsError, LookupError):
    """No object (or no such version of it) has that id or name."""


class SecretTampered(SecretsError):
    """Stored or encrypted data failed authentication: modified, truncated, or reordered.

    Nothing decrypted from it is ever returned.
    """


class WrongMasterKey(SecretsError):
    """The master key given does not open this store."""


class SecretInUse(SecretsError):
    """The object has consumers; delete it with ``force=True`` to do so anyway."""


class StoreUnavailable(SecretsError, Unavailable):
    """The store (a server, a directory, its master key) cannot be reached or used right now.

    ``reason`` says why; ``url`` (credentials masked) and ``operation`` name the store and
    what was being done when the store's driver knows them (see
    :class:`anker.errors.Unavailable`).
    """

    what = "secret store"

    def __init__(self, reason: str, *, url: str = "", operation: str = "") -> None:
        if url:
            Unavailable.__init__(self, url=url, operation=operation or "use", reason=reason)
        else:
            self.url, self.operation, self.reason = url, operation, reason
            Exception.__init__(self, reason)


class TangError(SecretsError):
    """A Tang server could not be used, or a JWE bound to Tang could not be opened.

    ``url`` names the server when one is to blame; ``reason`` says what failed. When several
    servers were tried, ``failures`` holds one :class:`TangError` per server that failed, and
    the message lists them all. Never contains the secret.
    """

    def __init__(
        self, reason: str, *, url: str | None = None, failures: Sequence[TangError] = ()
    ) -> None:
        self.reason = reason
        self.url = url
        self.failures = tuple(failures)
        message = f"Tang server {url}: {reason}" if url else reason
        if self.failures:
            message += " (" + "; ".join(str(failure) for failure in self.failures) + ")"
        super().__init__(message)
