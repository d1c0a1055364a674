"""anker: one asyncio-first foundation for distributed Python services.

Each subsystem lives in its own package (``anker.config``, ``anker.messaging``, ...) and is
imported only when used, so ``import anker`` stays as light as ``import json``.
"""

from anker._exports import show_public_paths
from anker._secret import Secret
from anker._typing import TYPE_CHECKING
from anker._version import __version__
from anker.errors import AnkerError

if TYPE_CHECKING:
    from anker._url import BackendURL, Endpoint, parse_url

__all__ = ["AnkerError", "BackendURL", "Endpoint", "Secret", "__version__", "parse_url"]

#: names loaded on first use: the URL grammar needs dataclasses and re, which `import anker`
#: does not pay for
_LAZY = frozenset({"BackendURL", "Endpoint", "parse_url"})

show_public_paths(__name__, globals(), [name for name in __all__ if name not in _LAZY])


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'anker' has no attribute {name!r}")
    from anker import _url

    show_public_paths(__name__, vars(_url), _LAZY)
    value: object = getattr(_url, name)
    globals()[name] = value
    return value
