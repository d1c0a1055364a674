"""The coordination suites' fixtures (defined in coordination_support.py)."""

from coordination_support import (  # noqa: F401 (fixtures, found by pytest through this import)
    backend_url,
    coordinator,
    open_backend,
    prefix,
)
