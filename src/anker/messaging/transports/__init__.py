"""The transports anker ships: ``memory://`` and ``rabbit://`` (loaded by URL scheme)."""
