"""anker.secrets: a key manager over pluggable stores, and envelope encryption for large data.

::

    from anker.secrets import KeyManager

    url = "local:///var/lib/svc/secrets?master_key_file=/etc/svc/master.key"
    async with await KeyManager.open(url) as km:
        key_id = await km.create_key(name="images")
        password_id = await km.store("passphrase", "s3cret", name="rabbit-password")

Stores: ``local:///dir`` (embedded: every object encrypted at rest under a master key from a
file, an environment variable, or Tang servers) and ``barbican://host:port``; the interface a
store implements (for driver authors) is in ``anker.secrets.stores``. The streaming
envelope format lives in
:mod:`anker.secrets.envelope`, which needs only ``cryptography``. See ``docs/secrets.md``.

.. versionadded:: 0.1
"""

from anker._exports import show_public_paths
from anker._secret import Secret
from anker.secrets._errors import (
    SecretInUse,
    SecretNotFound,
    SecretsError,
    SecretTampered,
    StoreUnavailable,
    WrongMasterKey,
)
from anker.secrets._manager import BlockingKeyManager, KeyManager
from anker.secrets._objects import Consumer, ManagedObject
from anker.secrets._tang import TangError

__all__ = [
    "BlockingKeyManager",
    "Consumer",
    "KeyManager",
    "ManagedObject",
    "Secret",
    "SecretInUse",
    "SecretNotFound",
    "SecretTampered",
    "SecretsError",
    "StoreUnavailable",
    "TangError",
    "WrongMasterKey",
]

show_public_paths(__name__, globals(), __all__)
