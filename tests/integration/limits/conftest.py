"""The limits suites' fixtures (defined in limits_support.py)."""

from limits_support import (  # noqa: F401 (fixtures, found by pytest through this import)
    open_quota,
    store_url,
)
