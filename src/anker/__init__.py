"""anker: one asyncio-first foundation for distributed Python services.

Each subsystem lives in its own package (``anker.config``, ``anker.messaging``, ...) and is
imported only when used, so ``import anker`` stays as light as ``import json``.
"""

from anker._exports import show_public_paths
from anker._secret import Secret
from anker._version import __version__
from anker.errors import AnkerError

__all__ = ["AnkerError", "Secret", "__version__"]

show_public_paths(__name__, globals(), __all__)
