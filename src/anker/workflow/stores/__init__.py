"""The interface of workflow stores, for driver authors; anker's own stores (``sqlite://``,
``postgresql://``) are loaded by URL scheme, so importing this package imports none of them.

A store derives from :class:`Store`, declares its options as a subclass of
:class:`StoreSettings`, and is registered under its URL scheme in the ``anker.workflow.stores``
entry point group. See ``anker.workflow._store`` for the contract.

.. versionadded:: 0.1
"""

from anker._exports import show_public_paths
from anker.workflow._store import (
    Change,
    Expectation,
    HistoryEntry,
    RunInfo,
    Store,
    StoreSettings,
    TaskInfo,
)

__all__ = [
    "Change",
    "Expectation",
    "HistoryEntry",
    "RunInfo",
    "Store",
    "StoreSettings",
    "TaskInfo",
]

show_public_paths(__name__, globals(), __all__)
