"""anker: one asyncio-first foundation for distributed Python services.

Each subsystem lives in its own package (``anker.config``, ``anker.messaging``, ...) and is
imported only when used, so ``import anker`` stays as light as ``import json``.
"""

from anker._secret import Secret
from anker._version import __version__
from anker.errors import AnkerError

__all__ = ["AnkerError", "Secret", "__version__"]
