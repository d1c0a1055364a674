"""The db suites' fixtures (defined in db_support.py)."""

from db_support import (  # noqa: F401 (fixtures, found by pytest through this import)
    database_url,
    metadata,
    prefix,
    server_tables,
    server_url,
)
