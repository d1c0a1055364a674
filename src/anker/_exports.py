"""Public paths: a class or function shows the module users import it from."""

from __future__ import annotations

from anker._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

__all__ = ["PUBLIC_NAMESPACES", "show_public_paths"]

#: Every public namespace: the user namespaces, the driver interfaces, and the public modules.
#: tests/unit/test_public_api.py checks each (and that none is missing); the documentation
#: site has an API reference page for each.
PUBLIC_NAMESPACES = (
    "anker",
    "anker.errors",
    "anker.drivers",
    "anker.config",
    "anker.messaging",
    "anker.messaging.transports",
    "anker.coordination",
    "anker.coordination.backends",
    "anker.coordination.fencing",
    "anker.secrets",
    "anker.secrets.stores",
    "anker.secrets.envelope",
    "anker.db",
    "anker.db.testing",
    "anker.health",
    "anker.limits",
    "anker.limits.stores",
    "anker.service",
    "anker.workflow",
    "anker.workflow.stores",
    "anker.demo",
)


def show_public_paths(module: str, namespace: dict[str, Any], names: Iterable[str]) -> None:
    """Set ``__module__`` of each class and function in ``names`` that lives in a private
    module (``anker.config._schema``) to ``module``, the public one that exports it; names
    whose home is public already (``anker.Secret`` re-exported elsewhere) keep it."""
    for name in names:
        obj = namespace[name]
        home = getattr(obj, "__module__", None)
        if (isinstance(obj, type) or callable(obj)) and home and "._" in f"{home}.":
            obj.__module__ = module
