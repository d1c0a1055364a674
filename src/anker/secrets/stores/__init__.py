"""The interface of secret stores, for driver authors; anker's own stores (``local:///dir``
and ``barbican://host:port``) are loaded by URL scheme, so importing this package imports none
of them.

A store derives from :class:`Store`, declares its options as a subclass of
:class:`StoreSettings`, and is registered under its URL scheme in the ``anker.secrets.stores``
entry point group. See docs/index.md ("Writing a driver").
"""

from anker._exports import show_public_paths
from anker.secrets._store import Store, StoreSettings

__all__ = ["Store", "StoreSettings"]

show_public_paths(__name__, globals(), __all__)
