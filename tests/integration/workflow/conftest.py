"""The workflow suites' fixtures (defined in workflow_support.py)."""

from workflow_support import (  # noqa: F401 (fixtures, found by pytest through this import)
    postgres_store,
    store_url,
)
