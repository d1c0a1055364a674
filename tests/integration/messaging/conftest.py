"""The messaging suites' fixtures (defined in messaging_support.py)."""

from messaging_support import (  # noqa: F401 (fixtures, found by pytest through this import)
    names,
    open_transport,
    refused,
    transport_url,
)
