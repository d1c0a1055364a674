"""The NATS suites' fixtures (defined in nats_support.py)."""

from nats_support import (  # noqa: F401 (fixtures, found by pytest through this import)
    mtls_nats,
    private_nats,
    tls_nats,
)
