"""The interface of limits stores, for driver authors; anker's own stores (``sqlite://``,
``postgresql://``, ``redis://``) are loaded by URL scheme, so importing this package imports
none of them.

A store derives from :class:`Store`, declares its options as a subclass of
:class:`StoreSettings`, and is registered under its URL scheme in the ``anker.limits.stores``
entry point group. See ``anker.limits._store`` for the contract.

.. versionadded:: 0.1
"""

from anker._exports import show_public_paths
from anker.limits._model import ClaimInfo, Usage
from anker.limits._store import Store, StoreSettings

__all__ = ["ClaimInfo", "Store", "StoreSettings", "Usage"]

show_public_paths(__name__, globals(), __all__)
