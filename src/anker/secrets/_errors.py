"""The errors of anker.secrets; each names the object, store or file it is about."""

from __future__ import annotations

from anker.errors import AnkerError

__all__ = [
    "SecretInUse",
    "SecretNotFound",
    "SecretTampered",
    "SecretsError",
    "StoreUnavailable",
    "WrongMasterKey",
]


class SecretsError(AnkerError):
    """Something went wrong storing, finding or decrypting a secret."""

    __module__ = "anker.secrets"


class SecretNotFound(SecretsError, LookupError):
    """No object (or no such version of it) has that id or name."""

    __module__ = "anker.secrets"


class SecretTampered(SecretsError):
    """Stored or encrypted data failed authentication: modified, truncated, or reordered.

    Nothing decrypted from it is ever returned.
    """

    __module__ = "anker.secrets"


class WrongMasterKey(SecretsError):
    """The master key given does not open this store."""

    __module__ = "anker.secrets"


class SecretInUse(SecretsError):
    """The object has consumers; delete it with ``force=True`` to do so anyway."""

    __module__ = "anker.secrets"


class StoreUnavailable(SecretsError):
    """The store (a server, a directory) cannot be reached or used right now."""

    __module__ = "anker.secrets"
