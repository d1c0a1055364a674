"""The NATS suites' fixtures (defined in nats_support.py)."""

from nats_support import private_nats  # noqa: F401 (a fixture, found by pytest through this import)
